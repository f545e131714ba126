// The runnable examples, run the way a user runs them (importing the package by name, from its build), and
// type-checked against the package's published types.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function runExample(file: string, env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs'), `examples/${file}`],
    { cwd: root, encoding: 'utf8', env: { ...process.env, ...env } });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout;
}

const numbers = (text: string, re: RegExp) => [...text.matchAll(re)].map((m) => Number(m[1]));

describe('examples', () => {
  it('every example is tested here', () => {
    const tested = ['quickstart.ts', 'custom-grpo-loop.ts', 'fused-loss-own-logits.ts', 'hf-folder.ts', 'async-reward.ts', 'mixed-precision.ts',
      'cuda-grpo-step.ts', 'gpu-training.ts'];
    expect(readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.ts')).sort()).toEqual([...tested].sort());
  });

  it('type-check against the published types', () => {
    const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'examples/tsconfig.json'], { cwd: root, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('quickstart trains, samples and takes a GRPO gradient', () => {
    const out = runExample('quickstart.ts');
    const losses = numbers(out, /step \d+: loss (\d+\.\d+)/g);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] / 10);
    expect(out).toMatch(/gradients reached \d+ parameters/);
  });

  it('custom-grpo-loop: a hand-written GRPO loop raises the reward and frees its intermediates', () => {
    const out = runExample('custom-grpo-loop.ts');
    const fractions = numbers(out, /fraction of 'a' (\d+\.\d+)/g);
    expect(fractions).toHaveLength(4);
    expect(fractions[0]).toBeLessThan(0.5);
    expect(fractions[fractions.length - 1]).toBeGreaterThan(0.9);
    const live = out.match(/live tensors: (\d+) after the first step, (\d+) at the end/);
    expect(live).not.toBeNull();
    expect(Number(live![2])).toBe(Number(live![1]));
  });

  it('mixed-precision: float32 and medium precision train alike; the bf16 cache samples like the float32 one', () => {
    const out = runExample('mixed-precision.ts');
    const runs = [...out.matchAll(/(float32|medium): loss (\d+\.\d+) -> (\d+\.\d+), [\d.]+ ms\/step/g)].map((m) => [Number(m[2]), Number(m[3])]);
    expect(runs).toHaveLength(2);
    for (const [first, last] of runs) expect(last).toBeLessThan(first / 10);
    expect(Math.abs(runs[0][1] - runs[1][1])).toBeLessThan(0.05);
    const agree = out.match(/bf16 KV cache: (\d+) of (\d+) greedy tokens/);
    expect(Number(agree![1])).toBeGreaterThanOrEqual(Number(agree![2]) - 2);
  });

  // On the CPU emulator of the CUDA addon (built by npm install in a checkout; a GPU machine runs it as is).
  it.runIf(process.platform !== 'win32')('cuda-grpo-step: the device GRPO step equals the CPU autograd step', () => {
    const out = runExample('cuda-grpo-step.ts', { THINKGRAD_CUDA_PATH: join(root, 'cuda/emulator/build/Release/thinkgrad_cuda_emulated.node') });
    expect(out).toMatch(/device: thinkgrad CUDA emulator/);
    const [cudaLoss, cpuLoss] = numbers(out, /loss (-?\d+\.\d+)/g);
    expect(cudaLoss).toBeCloseTo(cpuLoss, 5);
    expect(out).toMatch(/1 zero-std groups/);
    const diff = out.match(/max \|d logits, cuda - cpu\| = (\S+)/);
    expect(Number(diff![1])).toBeLessThan(1e-6);
  });

  it.runIf(process.platform !== 'win32')('gpu-training: SFT then GRPO with device cuda give the CPU run\'s losses', () => {
    const out = runExample('gpu-training.ts', { THINKGRAD_CUDA_PATH: join(root, 'cuda/emulator/build/Release/thinkgrad_cuda_emulated.node') });
    expect(out).toMatch(/device: thinkgrad CUDA emulator/);
    expect(out).toMatch(/^cuda: trained on cuda;/m);
    expect(out).toMatch(/^cpu: trained on cpu;/m);
    const losses = (device: string) => numbers(out.match(new RegExp(`^${device}: .*$`, 'm'))![0], /(\d+\.\d{4})/g);
    expect(losses('cuda')).toHaveLength(losses('cpu').length);
    const diff = out.match(/largest loss difference, cuda vs cpu: (\S+)/);
    expect(Number(diff![1])).toBeLessThan(1e-5);
  }, 120_000);

  it('fused-loss-own-logits: the fused loss on user logits matches plain float64 JavaScript', () => {
    const out = runExample('fused-loss-own-logits.ts');
    const diff = Number(out.match(/\|difference\| (\S+)/)![1]);
    expect(diff).toBeLessThan(1e-5);
    expect(numbers(out, /w[12] (\d+\.\d+)/g).every((n) => n > 0)).toBe(true);
  });

  it('hf-folder: saves a Hugging Face folder, loads it back identically and samples a chat reply', () => {
    const out = runExample('hf-folder.ts');
    expect(out).toMatch(/config\.json, model\.safetensors, tokenizer\.json, tokenizer_config\.json/);
    expect(out).toContain('largest logit difference between the saved and the loaded model: 0\n');
    expect(out).toContain('(eos): "the answer is 42"');
  });

  it('async-reward: a reward served over HTTP drives GRPO, refused requests score null', () => {
    const out = runExample('async-reward.ts');
    const means = numbers(out, /mean digit fraction (\d+\.\d+)/g);
    expect(means).toHaveLength(4);
    expect(means[means.length - 1]).toBeGreaterThan(means[0]);
    expect(out).toMatch(/\d+ refused by the service/);
  });
});
