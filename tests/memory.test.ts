// Native memory ownership: dispose is idempotent, tidy frees every intermediate, use-after-dispose throws,
// freed blocks are reused, and 10,000 training-like steps leave tensor and byte counts where they started.
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { fromArray, randomArray } from './helpers/reference.js';

describe('memory', () => {
  it('dispose is idempotent, views keep storage alive, and use after dispose throws', () => {
    const start = tg.memory();
    const x = tg.ones([4, 4]);
    const v = x.transpose(0, 1);
    x.dispose();
    x.dispose();
    expect(tg.memory().numBuffers).toBe(start.numBuffers + 1); // the view still holds the storage
    expect(tg.tidy(() => v.sum().item())).toBe(16);
    expect(() => x.add(1)).toThrow(/has been disposed/);
    expect(() => x.data()).toThrow(/has been disposed/);
    v.dispose();
    expect(tg.memory().numBuffers).toBe(start.numBuffers);
    expect(tg.memory().numBytes).toBe(start.numBytes);
  });

  it('tidy frees everything it did not return, also when fn throws', () => {
    const start = tg.memory();
    const kept = tg.tidy(() => {
      const a = tg.randn([8, 8]);
      const b = tg.exp(a).add(1);
      return { b, list: [tg.sum(b)] };
    });
    expect(tg.memory().numTensors).toBe(start.numTensors + 2);
    kept.b.dispose();
    kept.list[0].dispose();
    expect(() => tg.tidy(() => {
      tg.ones([100]);
      throw new Error('boom');
    })).toThrow('boom');
    expect(tg.memory().numTensors).toBe(start.numTensors);
    expect(tg.memory().numBytes).toBe(start.numBytes);
    expect(() => tg.tidy(() => Promise.resolve(1) as unknown as number)).toThrow(/synchronous/);
  });

  it('keep() exempts a tensor from its tidy scope', () => {
    let t: tg.Tensor | undefined;
    tg.tidy(() => {
      t = tg.keep(tg.ones([3]));
      tg.ones([3]);
    });
    expect(t!.isDisposed).toBe(false);
    t!.dispose();
  });

  it('reuses freed blocks instead of allocating new memory', () => {
    tg.tidy(() => {
      tg.zeros([1 << 16]);
    });
    const cached = tg.memory().cachedBytes;
    expect(cached).toBeGreaterThanOrEqual(4 << 16);
    tg.tidy(() => {
      tg.zeros([1 << 16]);
    });
    expect(tg.memory().cachedBytes).toBe(cached);
  });

  it('keeps a block past the cache budget for the next step, and returns it before holding more than at the peak', () => {
    const MiB = 2 ** 20;
    const floats = (320 * MiB) / 4;  // past the budget's 256 MiB floor; never written, so never resident
    tg.emptyCache();
    tg.empty([floats]).dispose();
    const kept = tg.memory().cachedBytes;
    expect(kept).toBeGreaterThanOrEqual(320 * MiB);
    const again = tg.empty([floats]);
    expect(tg.memory().cachedBytes).toBeLessThanOrEqual(kept - 320 * MiB);
    again.dispose();
    expect(tg.memory().cachedBytes).toBe(kept);
    const larger = tg.empty([floats * 1.5]);  // another size class: with the kept block, more than ever held
    expect(tg.memory().cachedBytes).toBeLessThan(320 * MiB);
    larger.dispose();
    tg.emptyCache();
    expect(tg.memory().cachedBytes).toBe(0);
  });

  it('10,000 forward/backward steps inside tidy leave live tensors and bytes unchanged', () => {
    const w = fromArray(randomArray(8 * 8, 11, 0.3), [8, 8], true);
    const x = fromArray(randomArray(4 * 8, 12), [4, 8]);
    const warm = () => tg.tidy(() => {
      const h = tg.tanh(tg.matmul(x, w));
      const loss = tg.mul(h, h).mean();
      loss.backward();
      tg.noGrad(() => w.backend.copy(w, tg.sub(w, tg.mul(w.grad!, 0.01))));
      w.zeroGrad();
    });
    warm();
    const start = tg.memory();
    for (let i = 0; i < 10_000; i++) warm();
    const end = tg.memory();
    expect(end.numTensors).toBe(start.numTensors);
    expect(end.numBuffers).toBe(start.numBuffers);
    expect(end.numBytes).toBe(start.numBytes);
    w.dispose();
    x.dispose();
  });
});
