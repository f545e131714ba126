// The CUDA addon's sources built for the CPU emulator (cuda/emulator, built by npm install in a checkout):
// the same kernels, launch configurations and binding as on a GPU, checked against the CPU kernels and, through
// bench/gpu-grpo.mjs (the script a lent GPU machine runs), against float64 references.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { cudaAddon } from '../src/backend/cuda.js';
import { grpoCudaSuite } from './helpers/grpo-cuda-suite.js';

const emulated = resolve('cuda/emulator/build/Release/thinkgrad_cuda_emulated.node');

// The module caches the addon it loads first: point it at the emulated build for this file only.
const saved = process.env.THINKGRAD_CUDA_PATH;
process.env.THINKGRAD_CUDA_PATH = emulated;
const status = existsSync(emulated) ? tg.cudaAvailable() : { available: false, reason: `${emulated} is not built` };
if (saved === undefined) delete process.env.THINKGRAD_CUDA_PATH;
else process.env.THINKGRAD_CUDA_PATH = saved;

// The emulator needs POSIX fibers (ucontext): everywhere but Windows it must be there.
const supported = process.platform !== 'win32';
if (!supported) console.log('grpo-cuda-emulated: skipped: the CUDA emulator does not build on Windows');

describe.runIf(supported)('the emulated CUDA build', () => {
  it('is built by npm install and loads', () => {
    expect(status.reason).toBe('');
    expect(status.available).toBe(true);
  });
});

describe.skipIf(!status.available)('the CUDA emulator', () => {
  it('is the device the CUDA path loaded', () => {
    expect(tg.cudaAvailable().device?.name).toMatch(/emulator/);
  });

  it('device memory starts poisoned and every buffer is freed', () => {
    const c = cudaAddon('test');
    const before = c.stats().liveBytes;
    const ids = Array.from({ length: 100 }, (_, k) => c.alloc(1 + k * 37, k % 3));
    const f = new Float32Array(5);
    c.download(ids[3], 0, f);
    expect(Array.from(f).every(Number.isNaN)).toBe(true);
    for (const id of ids) expect(c.free(id)).toBe(true);
    expect(c.stats().liveBytes).toBe(before);
  });

  it('bench/gpu-grpo.mjs (what bench/gpu.sh runs) passes its checks and prints its timing table', () => {
    const out = mkdtempSync(join(tmpdir(), 'tg-gpu-check-'));
    try {
      const r = spawnSync(process.execPath, ['bench/gpu-grpo.mjs', emulated, out, '--bench-small'], { encoding: 'utf8' });
      expect(r.stdout.split('\n').filter((l) => l.startsWith('FAIL')), r.stderr).toEqual([]);
      const summary = r.stdout.match(/correctness: (\d+) passed, (\d+) failed/);
      expect(summary, r.stdout + r.stderr).not.toBeNull();
      expect(Number(summary![1])).toBeGreaterThan(70);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/\| bfloat16 N=16 V=4096 \| \d+\.\d+ \|/);
      const report = JSON.parse(readFileSync(join(out, 'gpu-grpo.json'), 'utf8'));
      expect(report.checks.every((c: { ok: boolean }) => c.ok)).toBe(true);
      expect(report.bench.map((b: { V: number }) => b.V)).toEqual([64, 4096]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('bench/gpu-ops.mjs (the GPU engine beside PyTorch in bench/gpu.sh) runs every case and writes its report', () => {
    const out = mkdtempSync(join(tmpdir(), 'tg-gpu-ops-'));
    try {
      const r = spawnSync(process.execPath, ['bench/gpu-ops.mjs', emulated, out, '--small'], { encoding: 'utf8' });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/GEMM kernels: highest simt-f32, medium mma-bf16/);
      const report = JSON.parse(readFileSync(join(out, 'gpu-ops.json'), 'utf8'));
      for (const { ms } of Object.values(report.gemm) as { ms: Record<string, unknown> }[]) {
        expect(Object.keys(ms)).toEqual(['highest simt-f32', 'medium mma-bf16']);
        for (const t of Object.values(ms)) expect(t).toBeGreaterThan(0);
      }
      for (const op of ['copy', 'add', 'silu']) expect(report.bandwidth[op]).toBeGreaterThan(0);
      for (const { ms } of Object.values(report.attention) as { ms: Record<string, { forwardBackward: number }> }[]) {
        expect(ms.highest.forwardBackward).toBeGreaterThan(0);
        expect(ms.medium.forwardBackward).toBeGreaterThan(0);
      }
      for (const { ms } of Object.values(report.sampling) as { ms: Record<string, number> }[]) {
        expect(Object.keys(ms)).toEqual(['top-p 0.95', 'top-k 50, top-p 0.95', 'greedy']);
        for (const t of Object.values(ms)) expect(t).toBeGreaterThan(0);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('bench/gpu-train.mjs (W2, W4, W5 on the 0.5B shape in bench/gpu.sh) runs every workload in miniature', () => {
    const out = mkdtempSync(join(tmpdir(), 'tg-gpu-train-'));
    try {
      const r = spawnSync(process.execPath, ['bench/gpu-train.mjs', emulated, out, '--small'], { encoding: 'utf8' });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      const report = JSON.parse(readFileSync(join(out, 'gpu-train.json'), 'utf8'));
      expect(report.config.numAttentionHeads / report.config.numKeyValueHeads).toBe(7);
      expect(report.w2.tokensPerSecond).toBeGreaterThan(0);
      expect(report.w2.peakGiB).toBeGreaterThan(0);
      for (const w of Object.values(report.w4) as { tokensPerSecond: number }[]) expect(w.tokensPerSecond).toBeGreaterThan(0);
      const phases = report.w5.seconds;
      expect(Object.keys(phases)).toEqual(['gen', 'reward', 'ref_fwd', 'policy_fwd_bwd', 'adamw', 'total']);
      expect(phases.total).toBeGreaterThanOrEqual(phases.gen + phases.policy_fwd_bwd);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

grpoCudaSuite('GRPO kernels: CUDA (emulated) vs CPU', status);
