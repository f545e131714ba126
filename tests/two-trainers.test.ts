// Two GRPO trainers in one process: each owns its sampling generator and passes its matmul precision to its
// own calls, so running them together under Promise.all (their async rewards interleave the steps) gives each
// exactly its solo result, and nothing process-wide changes. A resumed trainer equals the uninterrupted one.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { GRPOTrainer, type GRPOConfig } from '../src/train/grpo.js';
import type { LogRecord } from '../src/train/logger.js';
import type { RewardFunction } from '../src/rl/rewards/types.js';
import { additionTokenizer, additionTrainProblems } from '../src/tasks/addition.js';

const tok = additionTokenizer();
const rows = additionTrainProblems(32, 7).map((p) => ({ prompt: p.prompt, answer: p.answer }));
const tiny = (seed: number) => new tg.nn.LlamaForCausalLM({
  vocabSize: tok.vocabSize, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 2, tieWordEmbeddings: true,
  maxPositionEmbeddings: 64, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId,
}, { seed });
const base: Partial<GRPOConfig> = {
  maxSteps: 3, numGenerations: 4, generationBatchSize: 16, microBatchSize: 8, learningRate: 3e-3, maxCompletionLength: 12, beta: 0,
};

// A reward that yields to the event loop `waits` times before scoring, so another trainer's step runs meanwhile;
// `calls` records which trainer scored when. Scores vary with the completion, so advantages are non-zero.
function slowReward(name: string, waits: number, calls: string[]): RewardFunction {
  const fn = async ({ completions }: { completions: string[] }) => {
    calls.push(name);
    for (let i = 0; i < waits; i++) await new Promise((resolve) => setTimeout(resolve, 1));
    return completions.map((c) => (c.length % 5) / 4 + (c.includes('<think>') ? 0.5 : 0));
  };
  Object.defineProperty(fn, 'name', { value: 'shape' });
  return fn as RewardFunction;
}

// What must match bit for bit: every logged number but the timings, and every parameter.
const numbers = (logs: LogRecord[]) => logs.map(({ step_time: _t, generation_time_share: _g, ...rest }) => rest);
const parameters = (model: tg.nn.LlamaForCausalLM) => Object.entries(model.stateDict()).map(([name, t]) => [name, Array.from(t.data())]);

interface Run {
  logs: LogRecord[];
  params: ReturnType<typeof parameters>;
}

function makeTrainer(config: Partial<GRPOConfig>, modelSeed: number, waits: number, calls: string[], name: string) {
  const model = tiny(modelSeed);
  return new GRPOTrainer(model, tok, rows, [slowReward(name, waits, calls)], { ...base, ...config });
}

function finish(trainer: GRPOTrainer, logs: LogRecord[]): Run {
  const run = { logs: numbers(logs), params: parameters(trainer.model) };
  trainer.model.dispose();
  return run as Run;
}

describe('two trainers in one process', () => {
  afterEach(() => {
    tg.setFloat32MatmulPrecision('highest');
  });

  it('run together under Promise.all, each gives its solo result bit for bit; process-wide state is untouched', async () => {
    // One mixed-precision trainer and one at the process default, with different seeds and reward timings.
    const configA: Partial<GRPOConfig> = { seed: 11, bf16: true };
    const configB: Partial<GRPOConfig> = { seed: 23, bf16: false, temperature: 0.9 };
    const soloCalls: string[] = [];
    const trainerA = makeTrainer(configA, 1, 3, soloCalls, 'A');
    const soloA = finish(trainerA, await trainerA.train());
    const trainerB = makeTrainer(configB, 2, 1, soloCalls, 'B');
    const soloB = finish(trainerB, await trainerB.train());

    tg.manualSeed(5);
    const rngBefore = tg.getRngState();
    const calls: string[] = [];
    const a = makeTrainer(configA, 1, 3, calls, 'A');
    const b = makeTrainer(configB, 2, 1, calls, 'B');
    const [logsA, logsB] = await Promise.all([a.train(), b.train()]);
    // The steps really interleaved: each trainer sampled while the other awaited its reward.
    expect(calls.slice(0, 2)).toEqual(['A', 'B']);
    expect(calls).toHaveLength(6);
    const together = [finish(a, logsA), finish(b, logsB)];

    expect(together[0]).toEqual(soloA);
    expect(together[1]).toEqual(soloB);
    expect(tg.getFloat32MatmulPrecision()).toBe('highest');
    expect(tg.getRngState()).toEqual(rngBefore);
    // The two runs differ from each other (different seeds), and training moved the weights.
    expect(soloA.logs).not.toEqual(soloB.logs);
    expect(soloA.logs.every((l) => Number.isFinite(l.loss as number) && (l.reward_std as number) > 0)).toBe(true);
  });

  it('bf16 computes at medium precision where the CPU has AVX512-BF16, the process default staying highest', async () => {
    const run = async (bf16: boolean) => {
      const trainer = makeTrainer({ seed: 11, bf16, maxSteps: 1 }, 1, 0, [], 'A');
      return finish(trainer, await trainer.train());
    };
    const mixed = await run(true);
    const f32 = await run(false);
    expect(tg.getFloat32MatmulPrecision()).toBe('highest');
    // Elsewhere 'medium' computes in float32, but the bf16 KV cache still rounds keys and values.
    if (tg.matmulKernel('medium') === 'avx512-bf16') expect(mixed.params).not.toEqual(f32.params);
    expect(mixed.logs[0].reward).toBeTypeOf('number');
  });

  it('a run resumed from its checkpoint equals the uninterrupted run, sampling included', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-two-trainers-'));
    try {
      const config: Partial<GRPOConfig> = { seed: 17, bf16: true, maxSteps: 4, outputDir: dir, saveEvery: 2 };
      const whole = makeTrainer(config, 3, 1, [], 'A');
      const uninterrupted = finish(whole, await whole.train());

      // Another draw from the process-wide generator between the runs must not matter.
      tg.manualSeed(99);
      tg.rand([7]).dispose();
      const resumed = makeTrainer({ ...config, outputDir: null }, 3, 1, [], 'A');
      const fresh = resumed.generator.getState();
      const processRng = tg.getRngState();
      resumed.resume(path.join(dir, 'checkpoint-2'));
      expect(tg.getRngState(), 'resume leaves the process-wide generator alone').toEqual(processRng);
      expect(resumed.globalStep).toBe(2);
      expect(resumed.generator.getState()).not.toEqual(fresh);
      const rest = finish(resumed, await resumed.train());
      expect(rest.logs).toEqual(uninterrupted.logs.slice(2));
      expect(rest.params).toEqual(uninterrupted.params);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('RandomGenerator', () => {
  it('draws its own stream: same seed same numbers, state round-trips through JSON, the default untouched', () => {
    tg.manualSeed(3);
    const before = tg.getRngState();
    const g = new tg.RandomGenerator(42);
    const first = tg.tidy(() => Array.from(tg.rand([10], { generator: g }).data()));
    const state = JSON.parse(JSON.stringify(g.getState()));
    const second = tg.tidy(() => Array.from(tg.randn([6], { generator: g }).data()));
    expect(tg.getRngState()).toEqual(before);
    expect(tg.tidy(() => Array.from(tg.rand([10], { generator: new tg.RandomGenerator(42) }).data()))).toEqual(first);
    g.setState(state);
    expect(tg.tidy(() => Array.from(tg.randn([6], { generator: g }).data()))).toEqual(second);
    // The default generator at the same seed gives the same stream as a RandomGenerator.
    tg.manualSeed(42);
    expect(tg.tidy(() => Array.from(tg.rand([10]).data()))).toEqual(first);
    expect(g.manualSeed(42).initialSeed()).toBe(42);
    expect(tg.tidy(() => Array.from(tg.rand([10], { generator: g }).data()))).toEqual(first);
    const ints = tg.tidy(() => Array.from(tg.randint(0, 5, [8], { generator: g.manualSeed(1) }).data()));
    expect(tg.tidy(() => Array.from(tg.randint(0, 5, [8], { generator: new tg.RandomGenerator(1) }).data()))).toEqual(ints);
  });

  it('rejects bad seeds, states and generators naming the function', () => {
    expect(() => new tg.RandomGenerator(-1)).toThrow(/RandomGenerator: seed must be a non-negative safe integer, got -1/);
    expect(() => new tg.RandomGenerator(1.5)).toThrow(RangeError);
    const g = new tg.RandomGenerator(1);
    expect(() => g.manualSeed(Number.NaN)).toThrow(/RandomGenerator.manualSeed: seed/);
    expect(() => g.setState(null as never)).toThrow(/RandomGenerator.setState: expected \{ seed, counter \}, got null/);
    expect(() => g.setState({ seed: 1, counter: -2 })).toThrow(/RandomGenerator.setState: invalid counter -2/);
    expect(g.getState()).toEqual({ seed: 1, counter: 0 });
    expect(() => tg.rand([2], { generator: {} as never })).toThrow(/rand: generator must be a RandomGenerator, got object/);
    const model = tiny(1);
    expect(() => tg.generate(model, [[1, 2]], { maxNewTokens: 2, seed: 1, generator: g })).toThrow(/generate: give seed or generator, not both/);
    expect(() => tg.generate(model, [[1, 2]], { maxNewTokens: 2, matmulPrecision: 'low' as never })).toThrow(/generate: precision must be 'highest' or 'medium'/);
    model.dispose();
  });

  it('rejectionSample and evaluatePolicy draw from a given generator, leaving the process-wide one alone', () => {
    const model = tiny(5);
    const problems = rows.slice(0, 3);
    const sample = (generator: tg.RandomGenerator) => tg.rejectionSample(model, tok, problems, {
      k: 2, maxNewTokens: 6, temperature: 3, isCorrect: () => true, generator, matmulPrecision: 'medium' }).examples;
    const evaluate = (generator: tg.RandomGenerator) => tg.evaluatePolicy(model, tok, problems, {
      k: 2, maxNewTokens: 6, temperature: 3, extractAnswer: (c) => c, generator }).samples;
    const before = tg.getRngState();
    expect(sample(new tg.RandomGenerator(3))).toEqual(sample(new tg.RandomGenerator(3)));
    expect(evaluate(new tg.RandomGenerator(4))).toEqual(evaluate(new tg.RandomGenerator(4)));
    expect(evaluate(new tg.RandomGenerator(4))).not.toEqual(evaluate(new tg.RandomGenerator(5)));
    expect(tg.getRngState()).toEqual(before);
    expect(() => tg.rejectionSample(model, tok, problems, { maxNewTokens: 2, isCorrect: () => true, seed: 1, generator: new tg.RandomGenerator(1) }))
      .toThrow(/rejectionSample: give seed or generator, not both/);
    expect(() => tg.evaluatePolicy(model, tok, problems, { maxNewTokens: 2, extractAnswer: (c) => c, seed: 1, generator: new tg.RandomGenerator(1) }))
      .toThrow(/evaluatePolicy: give seed or generator, not both/);
    model.dispose();
  });

  it('generate with a generator equals generate with its seed, and advances only that generator', () => {
    const model = tiny(4);
    const prompts = [[1, 2, 3], [4, 5]];
    const bySeed = tg.generate(model, prompts, { maxNewTokens: 6, seed: 8 });
    const g = new tg.RandomGenerator(8);
    const before = tg.getRngState();
    const byGenerator = tg.generate(model, prompts, { maxNewTokens: 6, generator: g });
    expect(byGenerator.completionIds).toEqual(bySeed.completionIds);
    expect(byGenerator.logprobs).toEqual(bySeed.logprobs);
    expect(g.getState().counter).toBeGreaterThan(0);
    expect(tg.getRngState()).toEqual(before);
    // The next call continues the stream rather than repeating it.
    const next = tg.generate(model, prompts, { maxNewTokens: 6, generator: g, temperature: 5 });
    expect(next.completionIds).not.toEqual(tg.generate(model, prompts, { maxNewTokens: 6, seed: 8, temperature: 5 }).completionIds);
    model.dispose();
  });
});
