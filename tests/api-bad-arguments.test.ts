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

describe('bad step counts, batch sizes and module sizes throw at once', () => {
  const sftData = [{ prompt: '1+2=', completion: '<answer>3</answer>' }];

  it('trainers: untilStep (Infinity ran for ever) and SFTTrainer.evaluate batchSize (0 looped for ever)', async () => {
    const sft = new tg.SFTTrainer(model, tok, sftData, { maxSteps: 1e9, batchSize: 1 }, {}, sftData);
    const grpo = new tg.GRPOTrainer(model, tok, problems, [tg.rewards.accuracy()], { maxSteps: 1e9, numGenerations: 2, generationBatchSize: 2, microBatchSize: 2 });
    for (const v of [Infinity, NaN, -1, 1.5]) {
      rejects(() => sft.fit(undefined, v), /SFTTrainer.fit: untilStep must be an integer >= 0/);
      await expect(grpo.train(undefined, v)).rejects.toThrow(/GRPOTrainer.train: untilStep must be an integer >= 0/);
    }
    for (const v of [0, -1, NaN, 1.5, Infinity]) rejects(() => sft.evaluate(v), /SFTTrainer.evaluate: batchSize/);
    expect(sft.fit(undefined, 0)).toEqual([]);
  });

  it('KVCache, RotaryEmbedding, RMSNorm sizes', () => {
    for (const v of [NaN, -1, 1.5, 0, Infinity]) {
      rejects(() => new tg.nn.KVCache(v, 1, 1, 4, 2), /KVCache: numLayers must be a positive integer/);
      rejects(() => new tg.nn.KVCache(1, 1, 1, v, 2), /KVCache: maxLength must be a positive integer/);
      rejects(() => model.createCache(v, 4), /KVCache: batch must be a positive integer/);
      rejects(() => new tg.nn.RotaryEmbedding(8, 10000, v), /RotaryEmbedding: maxPositions/);
      rejects(() => new tg.nn.RMSNorm(v), /RMSNorm: dim must be a positive integer/);
    }
  });

  it('rewards and JSONL: n-gram sizes, batch sizes, maxLength, limit', () => {
    const rm = new tg.nn.LlamaForSequenceClassification({ vocabSize: tok.vocabSize, hiddenSize: 8, intermediateSize: 16, numHiddenLayers: 1,
      numAttentionHeads: 2, maxPositionEmbeddings: 32, padTokenId: tok.padTokenId }, { seed: 1 });
    for (const v of [0, -1, NaN, 1.5, Infinity]) {
      rejects(() => tg.rewards.repeatedNgramFraction(['a', 'b'], v), /repeatedNgramFraction: n must be a positive integer/);
      rejects(() => tg.rewards.rewardModel(rm, tok, { batchSize: v }), /rewards.rewardModel: batchSize/);
      rejects(() => tg.rewards.scoreWithRewardModel(rm, tok, ['1+2='], ['3'], { batchSize: v }), /scoreWithRewardModel: batchSize/);
      rejects(() => tg.rewards.rewardModelInput(tok, '1+2=', '3', true, v), /rewardModelInput: maxLength/);
    }
    for (const v of [NaN, -1, 1.5]) rejects(() => tg.parseJsonl('{"a":1}\n', 'inline', { limit: v }), /parseJsonl: limit/);
    expect(tg.parseJsonl('{"a":1}\n{"a":2}\n', 'inline', { limit: 1 })).toEqual([{ a: 1 }]);
    rm.dispose();
  });
});
