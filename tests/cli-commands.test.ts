// Every config-driven `thinkgrad` command end to end on a tiny model (a few steps each), through the exported
// command functions, plus a real spawn of the binary's --help.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { distillCommand, evalCommand, generateCommand, grpoCommand, runConfigCommand, sampleCommand, sftCommand } from '../src/cli/commands/index.js';
import { additionExamples, additionTrainProblems } from '../src/tasks/addition.js';
import { readJsonl } from '../src/io/jsonl.js';
import * as tg from '../src/index.js';
import { loadPretrained } from '../src/io/pretrained.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-cli-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const at = (...p: string[]) => path.join(root, ...p);
const lines = (file: string) => fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
const tiny = { hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 1, numAttentionHeads: 2, maxPositionEmbeddings: 64 };
const quiet = { quiet: true, source: 'run.json' };

const sftData = at('sft.jsonl');
fs.writeFileSync(sftData, additionExamples(32, { seed: 3 }).map(({ prompt, completion }) => JSON.stringify({ prompt, completion })).join('\n') + '\n');
const promptData = at('prompts.jsonl');
fs.writeFileSync(promptData, additionTrainProblems(6, 4).map((p, i) => JSON.stringify({ prompt: p.prompt, answer: i % 2 ? Number(p.answer) : p.answer })).join('\n') + '\n');

function expectReport(dir: string, ...texts: string[]) {
  const html = fs.readFileSync(path.join(dir, 'report.html'), 'utf8');
  expect(html).toMatch(/^<!doctype html>/);
  expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/); // self-contained
  for (const t of texts) expect(html).toContain(t);
}

describe('thinkgrad commands on tiny configs', () => {
  it('sft: trains a fresh model, writes model, checkpoint, logs and report', async () => {
    const res = await sftCommand({
      modelConfig: tiny, modelSeed: 1, tokenizer: { type: 'addition' }, data: sftData, evalData: { path: sftData, limit: 8 },
      trainer: { maxSteps: 4, batchSize: 8, learningRate: 1e-2, logEvery: 1, seed: 1 }, output: at('sft'),
    }, quiet);
    expect(res.logs.filter((l) => typeof l.loss === 'number')).toHaveLength(4);
    expect(res.evalLoss).toBeGreaterThan(0);
    for (const f of ['model/config.json', 'model/model.safetensors', 'model/tokenizer.json', 'checkpoint-4/trainer_state.json', 'run_config.json']) expect(fs.existsSync(at('sft', f))).toBe(true);
    expect(lines(at('sft', 'sft_logs.jsonl')).length).toBe(4);
    expectReport(at('sft'), '<svg', 'Loss', '<h2>Config</h2>', '&quot;maxSteps&quot;: 4');
    const reloaded = loadPretrained(at('sft', 'model'));
    expect(reloaded.config.hiddenSize).toBe(32);
    reloaded.dispose();
  });

  it('grpo: starts from the SFT folder, logs TRL metrics, evaluates held-out problems', async () => {
    const res = await grpoCommand({
      model: at('sft', 'model'), data: { task: 'addition', count: 16, seed: 2 },
      rewards: [{ name: 'accuracy' }, { name: 'format', weight: 0.1 }, { name: 'tagCount', weight: 0.05, options: { newlines: false } }],
      trainer: { maxSteps: 2, numGenerations: 4, generationBatchSize: 8, microBatchSize: 8, maxCompletionLength: 10, learningRate: 1e-3, beta: 0.04, seed: 1 },
      eval: { data: { task: 'addition', split: 'heldout', count: 3 }, k: 2, every: 1 }, output: at('grpo'),
    }, quiet);
    expect(res.logs).toHaveLength(2);
    expect(res.logs[0]).toHaveProperty('rewards/accuracy/mean');
    expect(res.logs[0]).toHaveProperty('kl');
    expect(res.evals.map((e) => e.step)).toEqual([0, 1, 2]);
    expect(lines(at('grpo', 'grpo_logs.jsonl'))).toHaveLength(2);
    expect(lines(at('grpo', 'eval.jsonl'))).toHaveLength(3);
    expect(fs.existsSync(at('grpo', 'model', 'model.safetensors'))).toBe(true);
    expect(fs.existsSync(at('grpo', 'checkpoint-2', 'trainer_state.json'))).toBe(true);
    expectReport(at('grpo'), 'Held-out accuracy', 'Per-reward means', 'KL and entropy', 'Clip ratio', 'Completion length',
      'Sample completions at the start of GRPO (step 1, 4 of 8 logged)', 'Sample completions at the end of GRPO (step 2, 4 of 8 logged)',
      '<h2>Config</h2>', '&quot;logCompletions&quot;: true', 'with numIterations = 1 each round takes one optimizer step');
    const completions = lines(at('grpo', 'completions.jsonl')).map((l) => JSON.parse(l));
    expect(completions).toHaveLength(16);
    expect(Object.keys(completions[0])).toEqual(['step', 'prompt', 'completion', 'rewards/accuracy', 'rewards/format', 'rewards/tagCount', 'advantage']);
  });

  it('sample: k completions per prompt from a JSONL file, kept ones written as an SFT dataset', async () => {
    const res = await sampleCommand({ model: at('sft', 'model'), data: promptData, sampling: { k: 3, maxNewTokens: 10, requireFormat: false, seed: 1 }, output: at('sample') }, quiet);
    expect(res.sampled).toBe(18);
    expect(res.accepted).toBe(res.examples.length);
    const written = fs.readFileSync(at('sample', 'samples.jsonl'), 'utf8');
    expect(written.split('\n').filter(Boolean).map((l) => JSON.parse(l))).toEqual(res.examples);
    expect(lines(at('sample', 'sample_logs.jsonl')).length).toBeGreaterThan(0);
    expectReport(at('sample'), 'Acceptance rate');
  });

  it('distill: SFT of a smaller student on teacher samples, then its evaluation', async () => {
    const res = await distillCommand({
      modelConfig: { ...tiny, hiddenSize: 16, numAttentionHeads: 1 }, tokenizer: { type: 'addition' }, data: sftData,
      trainer: { maxSteps: 3, batchSize: 8, learningRate: 1e-2, logEvery: 1 }, eval: { data: { task: 'addition', count: 2 }, k: 2, maxNewTokens: 8 }, output: at('distill'),
    }, quiet);
    expect(res.examples).toBe(32);
    expect(res.evalResult!.passAt1).toBeGreaterThanOrEqual(0);
    expect(JSON.parse(fs.readFileSync(at('distill', 'eval.json'), 'utf8')).k).toBe(2);
    expect(fs.existsSync(at('distill', 'model', 'config.json'))).toBe(true);
    expectReport(at('distill'), 'student pass@1');
  });

  it('eval: pass@1, cons@k, pass@k curve and per-problem samples', async () => {
    const res = await evalCommand({ model: at('grpo', 'model'), data: promptData, k: 3, maxNewTokens: 10, output: at('eval') }, quiet);
    expect(res.passAtK).toHaveLength(3);
    expect(res.passAtK[0]).toBeCloseTo(res.passAt1, 10);
    const saved = JSON.parse(fs.readFileSync(at('eval', 'eval.json'), 'utf8'));
    expect(saved.problems).toBe(6);
    const samples = readJsonl(at('eval', 'samples.jsonl'), { columns: { prompt: 'string', completions: 'any', correct: 'any' } });
    expect(samples).toHaveLength(6);
    expect((samples[0].completions as string[]).length).toBe(3);
    expectReport(at('eval'), 'pass@k');
  });

  it('generate: completions of listed prompts, several per prompt', async () => {
    const res = await generateCommand({ model: at('sft', 'model'), prompts: ['123+456=', '1+2='], sampling: { maxNewTokens: 6, numReturnSequences: 2, temperature: 0.7 }, output: at('gen') }, quiet);
    expect(res.completions).toHaveLength(4);
    expect(res.completions.map((c) => c.prompt)).toEqual(['123+456=', '123+456=', '1+2=', '1+2=']);
    expect(lines(at('gen', 'completions.jsonl'))).toHaveLength(4);
    expectReport(at('gen'), 'Completions');
  });

  it('generate and eval take bf16 (mixed precision, bf16 KV cache) and restore the matmul precision', async () => {
    const f32 = await generateCommand({ model: at('sft', 'model'), prompts: ['123+456=', '1+2='], sampling: { maxNewTokens: 8, greedy: true }, output: at('gen-f32') }, quiet);
    const mixed = await generateCommand({ model: at('sft', 'model'), prompts: ['123+456=', '1+2='], sampling: { maxNewTokens: 8, greedy: true, bf16: true }, output: at('gen-bf16') }, quiet);
    expect(tg.getFloat32MatmulPrecision()).toBe('highest');
    expect(mixed.completions.map((c) => c.tokens)).toHaveLength(2);
    // the SFT model is confident: greedy picks survive bf16 rounding
    expect(mixed.completions.map((c) => c.completion)).toEqual(f32.completions.map((c) => c.completion));
    const ev = await evalCommand({ model: at('sft', 'model'), data: { task: 'addition', count: 4 }, k: 2, maxNewTokens: 12, bf16: true, output: at('eval-bf16') }, quiet);
    expect(ev.passAt1).toBeGreaterThanOrEqual(0);
    expect(tg.getFloat32MatmulPrecision()).toBe('highest');
    await expect(generateCommand({ model: at('sft', 'model'), prompts: ['1+2='], sampling: { maxNewTokens: 2, bf16: 1 }, output: at('gen-bad') }, quiet))
      .rejects.toThrow(/field 'sampling'.*'bf16' must be true or false, got 1/);
  });

  it('runs from a config file via runConfigCommand', async () => {
    const file = at('gen2.json');
    fs.writeFileSync(file, JSON.stringify({ model: at('sft', 'model'), prompts: { task: 'addition', split: 'heldout', count: 2 }, sampling: { maxNewTokens: 4, greedy: true }, output: at('gen2') }));
    const log = console.log;
    console.log = () => {};
    try {
      expect(await runConfigCommand('generate', ['--config', file])).toBe(0);
    } finally {
      console.log = log;
    }
    expect(lines(at('gen2', 'completions.jsonl'))).toHaveLength(2);
  });
});

describe('the thinkgrad binary', () => {
  it('prints each command\'s help with an example', () => {
    const r = spawnSync('npx', ['tsx', 'src/cli/main.ts', 'sft', '--help'], { encoding: 'utf8', cwd: path.resolve(__dirname, '..') });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('thinkgrad sft --config run.json');
    expect(r.stdout).toContain('Example');
  });

  it('exits 1 with the message alone on a bad config', () => {
    const file = at('bad.json');
    fs.writeFileSync(file, JSON.stringify({ data: sftData, output: at('never'), trainr: {} }));
    const r = spawnSync('npx', ['tsx', 'src/cli/main.ts', 'sft', '--config', file], { encoding: 'utf8', cwd: path.resolve(__dirname, '..') });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^thinkgrad: .*bad\.json: unknown field 'trainr'/);
    expect(fs.existsSync(at('never'))).toBe(false);
  });
});
