// Trainer smoke tests on a tiny model: SFT learns and validates its config, gradient accumulation matches
// one big batch, GRPO runs steps with TRL's metric names and reports bad rewards and configs clearly,
// rejection sampling keeps only accepted completions.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { GRPOTrainer } from '../src/train/grpo.js';
import type { RewardFunction } from '../src/rl/rewards/types.js';
import { SFTTrainer } from '../src/train/sft.js';
import { labeledSequence, packSequences } from '../src/train/batching.js';
import { rejectionSample } from '../src/train/rejection-sampling.js';
import { evaluatePolicy } from '../src/eval/evaluate.js';
import { additionExamples, additionTokenizer, additionTrainProblems } from '../src/tasks/addition.js';

const tok = additionTokenizer();
const tiny = (seed = 1) => new tg.nn.LlamaForCausalLM({
  vocabSize: tok.vocabSize, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 2, tieWordEmbeddings: true,
  maxPositionEmbeddings: 64, eosTokenId: tok.eosTokenId, padTokenId: tok.padTokenId,
}, { seed });
const data = additionExamples(64, { seed: 3 }).map(({ prompt, completion }) => ({ prompt, completion }));
const rows = additionTrainProblems(64, 5).map((p) => ({ prompt: p.prompt, answer: p.answer }));
const accuracy = tg.rewards.accuracy();
const format = tg.rewards.format();

describe('SFTTrainer', () => {
  it('lowers the completion loss of a tiny model', () => {
    const model = tiny();
    const logs = new SFTTrainer(model, tok, data, { maxSteps: 60, batchSize: 16, learningRate: 1e-2, logEvery: 10, seed: 1 }).fit();
    expect(logs[logs.length - 1].loss as number).toBeLessThan((logs[0].loss as number) * 0.6);
    model.dispose();
  });

  it('gradient accumulation gives the same update as one batch', () => {
    const run = (accumulation: number) => {
      const model = tiny(4);
      new SFTTrainer(model, tok, data, { maxSteps: 1, batchSize: 16, gradientAccumulationSteps: accumulation, learningRate: 1e-2, seed: 2 }).fit();
      const w = Array.from(model.stateDict()['model.layers.0.mlp.up_proj.weight'].data());
      model.dispose();
      return w;
    };
    const one = run(1);
    const four = run(4);
    // float32 sums in a different order: agreement to ~1e-6 of the weights' scale.
    one.forEach((v, i) => expect(Math.abs(v - four[i])).toBeLessThan(1e-5));
  });

  it('packs examples into fixed-length rows without labels across example boundaries', () => {
    const seqs = data.slice(0, 5).map((e) => labeledSequence({ promptIds: tok.encode(e.prompt), completionIds: tok.encode(e.completion) }, true));
    const rows = packSequences(seqs, 24);
    expect(rows.slice(0, -1).every((r) => r.ids.length === 24)).toBe(true);
    expect(rows.flatMap((r) => r.ids)).toEqual(seqs.flatMap((s) => s.ids));
    // Each example's first token (a prompt token) is unlabeled, so nothing is predicted across a boundary.
    let at = 0;
    for (const s of seqs) {
      expect(rows.flatMap((r) => r.labels)[at]).toBe(-100);
      at += s.ids.length;
    }
    const model = tiny();
    const logs = new SFTTrainer(model, tok, data, { maxSteps: 40, batchSize: 8, packing: true, maxLength: 48, learningRate: 1e-2, logEvery: 10 }).fit();
    expect(logs[logs.length - 1].loss as number).toBeLessThan(logs[0].loss as number);
    expect(() => new SFTTrainer(model, tok, data, { packing: true })).toThrow(/packing needs maxLength/);
    model.dispose();
  });

  it('bf16: bfloat16 weights with float32 master weights at medium matmul precision (process default untouched) track the float32 run', () => {
    const seen: string[] = [];
    const run = (bf16: boolean) => {
      const model = tiny();
      const trainer = new SFTTrainer(model, tok, data, { maxSteps: 60, batchSize: 16, learningRate: 1e-2, logEvery: 10, seed: 1, bf16 },
        { onStep: () => seen.push(tg.getFloat32MatmulPrecision()) });
      expect(new Set(model.parameters().map((p) => p.dtype))).toEqual(new Set([bf16 ? 'bfloat16' : 'float32']));
      const logs = trainer.fit();
      const state = trainer.optimizer.stateDict().state['0'];
      expect(state.masterWeight instanceof tg.Tensor ? state.masterWeight.dtype : null).toBe(bf16 ? 'float32' : null);
      if (bf16) {
        // The parameter is its master weight rounded to bfloat16.
        const master = (state.masterWeight as tg.Tensor).data();
        const param = model.parameters()[0].data();
        expect(Array.from(param)).toEqual(Array.from(master.map((v) => tg.tensor([v], [1], { dtype: 'bfloat16' }).item())));
      }
      model.dispose();
      return logs.map((l) => l.loss as number);
    };
    const f32 = run(false);
    const mixed = run(true);
    expect(new Set(seen)).toEqual(new Set(['highest']));
    expect(mixed[mixed.length - 1]).toBeLessThan(mixed[0] * 0.6);
    // Every logged loss (steps 10, 20, ..., 60) within 3% of the float32 run's (measured: at most 1.2%).
    mixed.forEach((loss, i) => expect(Math.abs(loss - f32[i]), `step ${10 * (i + 1)}`).toBeLessThan(0.03 * f32[i]));
  });

  it('rejects bad configs and data with messages naming the field', () => {
    const model = tiny();
    expect(() => new SFTTrainer(model, tok, data, { maxStep: 3 } as never)).toThrow(/unknown config field 'maxStep'/);
    expect(() => new SFTTrainer(model, tok, data, { batchSize: 0 })).toThrow(/'batchSize' must be an integer in \[1, inf\], got 0/);
    expect(() => new SFTTrainer(model, tok, data, { batchSize: 10, gradientAccumulationSteps: 3 })).toThrow(/divisible/);
    expect(() => new SFTTrainer(model, tok, [{ prompt: 'x' } as never])).toThrow(/example 0 needs string fields/);
    expect(() => new SFTTrainer(model, tok, [])).toThrow(/dataset is empty/);
    model.dispose();
  });
});

describe('GRPOTrainer', () => {
  it('runs steps and logs TRL metric names', async () => {
    const model = tiny();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-grpo-'));
    const trainer = new GRPOTrainer(model, tok, rows, [accuracy, format], {
      maxSteps: 2, numGenerations: 4, generationBatchSize: 16, microBatchSize: 8, learningRate: 1e-3, maxCompletionLength: 12,
      numIterations: 2, beta: 0.04, outputDir: dir,
    }, {}, tiny());
    const logs = await trainer.train();
    expect(logs).toHaveLength(2);
    for (const key of ['reward', 'reward_std', 'frac_reward_zero_std', 'kl', 'entropy', 'clip_ratio/low_mean', 'clip_ratio/high_mean',
      'clip_ratio/region_mean', 'completions/mean_length', 'completions/min_length', 'completions/max_length', 'completions/clipped_ratio',
      'loss', 'grad_norm', 'learning_rate', 'step_time', 'generation_time_share', 'rewards/accuracy/mean', 'rewards/format/mean']) {
      expect(logs[1], key).toHaveProperty(key);
    }
    expect(Number.isFinite(logs[1].loss as number)).toBe(true);
    const lines = fs.readFileSync(path.join(dir, 'grpo_logs.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[1]).step).toBe(2);
    model.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('logCompletions: records numCompletionsToPrint completions per logged step with each reward and the advantage', async () => {
    const model = tiny();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-grpo-completions-'));
    const seen: tg.LogRecord[][] = [];
    const trainer = new GRPOTrainer(model, tok, rows, [accuracy, format], {
      maxSteps: 4, numGenerations: 4, generationBatchSize: 8, microBatchSize: 8, maxCompletionLength: 8, logEvery: 2,
      logCompletions: true, numCompletionsToPrint: 6, outputDir: dir,
    }, { onCompletions: (records) => seen.push(records) });
    await trainer.train();
    const written = fs.readFileSync(path.join(dir, 'completions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(seen.map((records) => records.length)).toEqual([6, 6]);
    expect(written).toEqual(JSON.parse(JSON.stringify(seen.flat())));
    expect(written.map((r) => r.step)).toEqual([2, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 4]);
    for (const r of written) {
      expect(Object.keys(r)).toEqual(['step', 'prompt', 'completion', 'rewards/accuracy', 'rewards/format', 'advantage']);
      expect(rows.some((row) => row.prompt === r.prompt)).toBe(true);
      expect(typeof r.completion).toBe('string');
      expect([0, 1]).toContain(r['rewards/format']);
    }
    // The first G records are one prompt's group: one prompt, and advantages that sum to ~0 (group-normalized).
    const group = written.slice(0, 4);
    expect(new Set(group.map((r) => r.prompt)).size).toBe(1);
    expect(Math.abs(group.reduce((a, r) => a + r.advantage, 0))).toBeLessThan(1e-4);
    expect(() => new GRPOTrainer(model, tok, rows, [accuracy], { numCompletionsToPrint: 0 })).toThrow(/'numCompletionsToPrint' must be an integer in \[1, inf\] or null/);
    const silentDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-grpo-silent-'));
    await new GRPOTrainer(model, tok, rows, [accuracy], { maxSteps: 1, numGenerations: 2, generationBatchSize: 4, microBatchSize: 4, maxCompletionLength: 4, outputDir: silentDir },
      { onCompletions: (records) => seen.push(records) }).train();
    expect(seen).toHaveLength(2);
    expect(fs.existsSync(path.join(silentDir, 'completions.jsonl'))).toBe(false);
    fs.rmSync(silentDir, { recursive: true, force: true });
    model.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('bf16: steps at medium matmul precision with a bfloat16 KV cache, leaving the process default alone', async () => {
    const model = tiny();
    const seen: string[] = [];
    const trainer = new GRPOTrainer(model, tok, rows, [accuracy, format], {
      maxSteps: 2, numGenerations: 4, generationBatchSize: 16, microBatchSize: 8, learningRate: 1e-3, maxCompletionLength: 12, bf16: true,
    }, { onStep: () => seen.push(tg.getFloat32MatmulPrecision()) });
    const logs = await trainer.train();
    expect(seen).toEqual(['highest', 'highest']);
    expect(tg.getFloat32MatmulPrecision()).toBe('highest');
    expect(logs.every((l) => Number.isFinite(l.loss as number) && Number.isFinite(l.grad_norm as number))).toBe(true);
    expect(() => new GRPOTrainer(model, tok, rows, [accuracy], { bf16: 'yes' as never })).toThrow(/config field 'bf16' must be true or false/);
    model.dispose();
  });

  it('gives rewards every column any row of the batch has; rows lacking one read null', async () => {
    const model = tiny();
    const mixed = rows.slice(0, 8).map((r, i) => (i % 2 ? { prompt: r.prompt } : r));
    const seen: unknown[][] = [];
    const probe: RewardFunction = function probe(args) {
      seen.push(args.answer as unknown[]);
      return args.completions.map(() => 0);
    };
    await new GRPOTrainer(model, tok, mixed, [probe], { maxSteps: 1, numGenerations: 2, generationBatchSize: 16, microBatchSize: 16, maxCompletionLength: 4 }).train();
    expect(seen[0]).toHaveLength(16);
    expect(seen[0].filter((v) => v === null)).toHaveLength(8);
    expect(seen[0].filter((v) => v !== null && v !== undefined)).toHaveLength(8);
    model.dispose();
  });

  it('evaluates on an eval set every evalEvery steps and calls onEvaluate', async () => {
    const model = tiny();
    const seen: tg.LogRecord[] = [];
    const trainer = new GRPOTrainer(model, tok, rows, [accuracy, format], {
      maxSteps: 2, numGenerations: 2, generationBatchSize: 4, microBatchSize: 4, maxCompletionLength: 6, evalEvery: 1,
    }, { onEvaluate: (m) => seen.push(m) }, null, rows.slice(0, 3));
    await trainer.train();
    expect(seen.map((m) => m.step)).toEqual([1, 2]);
    expect(seen[1]).toHaveProperty('eval_reward');
    expect(seen[1]).toHaveProperty('eval_rewards/accuracy/mean');
    expect(() => new GRPOTrainer(model, tok, rows, [accuracy], { evalEvery: 1 })).toThrow(/evalEvery needs an evalDataset/);
    model.dispose();
  });

  it('explains bad configs and names a reward that throws, with the sample', async () => {
    const model = tiny();
    expect(() => new GRPOTrainer(model, tok, rows, [accuracy], { numGenerations: 8, generationBatchSize: 20 }))
      .toThrow(/generationBatchSize 20 is not a multiple of numGenerations 8; use e.g. generationBatchSize 24/);
    expect(() => new GRPOTrainer(model, tok, rows, [accuracy], { beta: 0.1, generationBatchSize: 16, microBatchSize: 16 })).toThrow(/needs a reference model/);
    expect(() => new GRPOTrainer(model, tok, rows, [], {})).toThrow(/rewardFuncs/);
    const broken: RewardFunction = function broken({ completions }) {
      return completions.map(() => {
        throw new Error('cannot parse');
      });
    };
    const trainer = new GRPOTrainer(model, tok, rows, [broken], { maxSteps: 1, numGenerations: 2, generationBatchSize: 4, microBatchSize: 4, maxCompletionLength: 4 });
    await expect(trainer.trainStep()).rejects.toThrow(/reward 'broken' threw on sample 0 \(prompt "\d+\+\d+=", completion .*\): cannot parse/);
    model.dispose();
  });
});

describe('resuming from a checkpoint', () => {
  const weights = (m: tg.nn.LlamaForCausalLM) => Object.values(m.stateDict()).flatMap((t) => Array.from(t.data()));

  for (const bf16 of [false, true]) it(`SFT${bf16 ? ' (bf16)' : ''}: 3 steps, save, a fresh trainer resumes, 3 more steps equal 6 straight steps bit for bit`, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-sft-resume-'));
    const config = { maxSteps: 6, batchSize: 8, learningRate: 1e-2, warmupSteps: 2, lrSchedule: 'cosine' as const, seed: 3, logEvery: 1, bf16 };
    const straight = tiny(7);
    const straightLogs = new SFTTrainer(straight, tok, data, config).fit();
    const first = tiny(7);
    const a = new SFTTrainer(first, tok, data, config);
    a.fit(undefined, 3);
    a.save(dir);
    const second = tiny(99);
    const b = new SFTTrainer(second, tok, data, config);
    b.resume(dir);
    const resumedLogs = b.fit();
    expect(resumedLogs.map((l) => l.loss)).toEqual(straightLogs.slice(3).map((l) => l.loss));
    expect(weights(second)).toEqual(weights(straight));
    for (const m of [straight, first, second]) m.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('GRPO: 2 rounds, save, a fresh trainer resumes, 2 more equal 4 straight rounds bit for bit', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-grpo-resume-'));
    const config = { maxSteps: 4, numGenerations: 4, generationBatchSize: 8, microBatchSize: 8, learningRate: 1e-3, maxCompletionLength: 8, seed: 5 };
    tg.manualSeed(11);
    const straight = tiny(8);
    const straightLogs = await new GRPOTrainer(straight, tok, rows, [accuracy, format], config).train();
    tg.manualSeed(11);
    const first = tiny(8);
    const a = new GRPOTrainer(first, tok, rows, [accuracy, format], config);
    await a.train(undefined, 2);
    a.save(dir);
    tg.manualSeed(12345);
    const second = tiny(99);
    const b = new GRPOTrainer(second, tok, rows, [accuracy, format], config);
    b.resume(dir);
    const resumedLogs = await b.train();
    expect(resumedLogs.map((l) => l.loss)).toEqual(straightLogs.slice(2).map((l) => l.loss));
    expect(weights(second)).toEqual(weights(straight));
    for (const m of [straight, first, second]) m.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('rejection sampling and evaluation', () => {
  it('keeps only correct, well-formed completions and writes JSONL', () => {
    const model = tiny();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-rs-'));
    const file = path.join(dir, 'kept.jsonl');
    // Accept by a rule the untrained model meets sometimes: completions of even length.
    const result = rejectionSample(model, tok, rows.slice(0, 8), { k: 4, maxNewTokens: 6, seed: 3, isCorrect: (c) => c.length % 2 === 0, outputFile: file });
    expect(result.sampled).toBe(32);
    expect(result.examples.every((e) => e.completion.length % 2 === 0)).toBe(true);
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(lines).toEqual(result.examples);
    model.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('evaluates pass@1 and cons@k consistently with the samples', () => {
    const model = tiny();
    const problems = additionTrainProblems(6, 9).map((p) => ({ prompt: p.prompt, answer: p.answer }));
    const r = evaluatePolicy(model, tok, problems, { k: 4, maxNewTokens: 8, extractAnswer: (c) => c.slice(0, 1) || null, isCorrect: (a, ref) => a === ref[0], seed: 1 });
    const expected = r.samples.reduce((a, s) => a + s.correct.filter(Boolean).length / 4, 0) / problems.length;
    expect(r.passAt1).toBeCloseTo(expected, 12);
    expect(r.samples).toHaveLength(6);
    expect(r.greedyAccuracy).not.toBeNull();
    model.dispose();
  });
});
