// The CUDA GRPO kernels on a CUDA device against the CPU kernels; skipped with the reason printed when this
// machine has no CUDA device or the CUDA addon is not built (the emulated build runs everywhere).
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { grpoCudaSuite } from './helpers/grpo-cuda-suite.js';

const status = tg.cudaAvailable();
if (!status.available) console.log(`grpo-cuda: skipped: ${status.reason}`);

describe('cudaAvailable', () => {
  it('reports availability with a reason and never throws', () => {
    const s = tg.cudaAvailable();
    expect(typeof s.available).toBe('boolean');
    if (!s.available) expect(s.reason).toMatch(/CUDA/);
  });

  it.skipIf(status.available)('a tensor on cuda where CUDA cannot run throws the reason', () => {
    expect(() => tg.tensor([1, 2], [2], { device: 'cuda' })).toThrow(`thinkgrad.cuda: ${status.reason}`);
    expect(tg.backends()).toEqual(['cpu']);
  });
});

grpoCudaSuite('GRPO kernels: CUDA vs CPU', status);
