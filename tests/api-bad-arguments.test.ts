// Counts and sizes that used to start work that never ends (or silently return nonsense) are rejected up
// front with a RangeError naming the function and, where a count exceeds what exists, the maximum.
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';

const tok = tg.additionTokenizer();
const model = new tg.nn.LlamaForCausalLM({ vocabSize: tok.vocabSize, hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 1,
  numAttentionHeads: 2, maxPositionEmbeddings: 32, tieWordEmbeddings: true, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId }, { seed: 1 });
const problems = [{ prompt: '1+2=', answer: '3' }];

function rejects(call: () => unknown, pattern: RegExp): void {
  const started = performance.now();
  expect(call).toThrow(RangeError);
  expect(call).toThrow(pattern);
  expect(performance.now() - started).toBeLessThan(5000);
}

describe('bad counts and sizes throw at once', () => {
  it('additionHeldOut: more than the 810,000 distinct problems, or not a count', () => {
    rejects(() => tg.additionHeldOut(810_001), /additionHeldOut: count is at most 810,000 \(the number of distinct problems\)/);
    for (const v of [1e12, Infinity, NaN, -1, 1.5]) rejects(() => tg.additionHeldOut(v), /additionHeldOut: count/);
    for (const seed of [NaN, 1.5, Infinity]) rejects(() => tg.additionHeldOut(4, seed), /additionHeldOut: seed/);
    expect(tg.additionHeldOut(0)).toEqual([]);
  });

  it('additionTrainProblems / additionExamples / additionSolution', () => {
    for (const v of [1e12, Infinity, NaN, -1, 1.5]) {
      rejects(() => tg.additionTrainProblems(v, 1), /additionTrainProblems: count/);
      rejects(() => tg.additionExamples(v, { seed: 1 }), /additionExamples: count/);
    }
    rejects(() => tg.additionExamples(10_000_001, { seed: 1 }), /at most 10,000,000/);
    for (const seed of [NaN, 1.5, Infinity]) rejects(() => tg.additionTrainProblems(4, seed), /additionTrainProblems: trainSeed/);
    for (const noise of [NaN, -0.5, 1.5]) rejects(() => tg.additionExamples(4, { seed: 1, noise }), /additionExamples: options.noise/);
    for (const a of [Infinity, NaN, -5, 1.5, 1e300]) rejects(() => tg.additionSolution(a, 12), /additionSolution: a must be an integer >= 0/);
  });

  it('passAtK: sample counts beyond the bound (the estimator loops once per correct sample)', () => {
    for (const n of [2 ** 52, 1e15]) rejects(() => tg.passAtK(n, n - 1, 1), /passAtK: numSamples is at most 10,000,000/);
    expect(tg.passAtK(10, 3, 2)).toBeCloseTo(1 - (7 * 6) / (10 * 9), 12);
  });

  it('evaluatePolicy / rejectionSample: k, batchSize and maxNewTokens', () => {
    const extractAnswer = () => null;
    for (const v of [Infinity, NaN, -1, 1.5, 0]) {
      rejects(() => tg.evaluatePolicy(model, tok, problems, { k: 1, maxNewTokens: 2, batchSize: v, extractAnswer }), /evaluatePolicy: batchSize/);
      rejects(() => tg.evaluatePolicy(model, tok, problems, { k: 1, maxNewTokens: v, extractAnswer }), /evaluatePolicy: maxNewTokens/);
      rejects(() => tg.rejectionSample(model, tok, problems, { k: 1, maxNewTokens: 2, batchSize: v, isCorrect: () => true }), /rejectionSample: batchSize/);
      rejects(() => tg.rejectionSample(model, tok, problems, { k: 1, maxNewTokens: v, isCorrect: () => true }), /rejectionSample: maxNewTokens/);
    }
    for (const k of [1e12, Infinity, NaN, 0]) {
      rejects(() => tg.evaluatePolicy(model, tok, problems, { k, maxNewTokens: 2, extractAnswer }), /evaluatePolicy: k must be an integer in \[1, 1000000\]/);
      rejects(() => tg.rejectionSample(model, tok, problems, { k, maxNewTokens: 2, isCorrect: () => true }), /rejectionSample: k must be an integer in \[1, 1000000\]/);
    }
  });
});
