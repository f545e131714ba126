// The autograd engine: accumulation, shared inputs, deep graphs, noGrad/detach, retained graphs, and
// tidy keeping what a returned graph needs.
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { expectClose, fromArray, randomArray } from './helpers/reference.js';

describe('autograd engine', () => {
  it('accumulates into .grad across backward calls and sums over shared uses', () => {
    const x = fromArray([1.5, -2, 3], [3], true);
    tg.tidy(() => {
      // y = sum(x*x + 3x) -> dy/dx = 2x + 3; used twice through a diamond
      const y = tg.add(tg.mul(x, x), tg.mul(x, 3)).sum();
      y.backward();
    });
    expectClose(x.grad!.data(), [6, -1, 9], { atol: 1e-6, rtol: 0 });
    tg.tidy(() => tg.mul(x, 2).sum().backward());
    expectClose(x.grad!.data(), [8, 1, 11], { atol: 1e-6, rtol: 0 });
    x.zeroGrad();
    expect(x.grad).toBeNull();
    x.dispose();
  });

  it('handles graphs deeper than any recursion limit', () => {
    const x = fromArray([0.5], [1], true);
    tg.tidy(() => {
      let y = x;
      for (let i = 0; i < 20_000; i++) y = tg.add(y, 1e-4);
      y.sum().backward();
    });
    expect(x.grad!.item()).toBe(1);
    x.dispose();
  });

  it('noGrad records nothing and detach cuts the graph', () => {
    const x = fromArray([1, 2], [2], true);
    tg.tidy(() => {
      const y = tg.noGrad(() => tg.mul(x, 2));
      expect(y.requiresGrad).toBe(false);
      expect(y.gradFn).toBeNull();
      const z = tg.mul(x.detach(), x).sum(); // d/dx = detached x
      z.backward();
    });
    expectClose(x.grad!.data(), [1, 2], { atol: 0, rtol: 0 });
    x.dispose();
  });

  it('refuses a second backward through a freed graph, and allows it with retainGraph', () => {
    const x = fromArray([1, 2], [2], true);
    tg.tidy(() => {
      const y = tg.exp(x).sum();
      y.backward(undefined, { retainGraph: true });
      y.backward();
      expect(() => y.backward()).toThrow(/already freed/);
    });
    expectClose(x.grad!.data(), [2 * Math.E, 2 * Math.E ** 2], { atol: 1e-5, rtol: 1e-6 });
    x.dispose();
  });

  it('needs an explicit gradient for non-scalar outputs, of the right shape', () => {
    const x = fromArray([1, 2, 3], [3], true);
    tg.tidy(() => {
      const y = tg.mul(x, x);
      expect(() => y.backward()).toThrow(/gradient argument is needed/);
      expect(() => y.backward(tg.ones([2]))).toThrow(/gradient shape/);
      y.backward(fromArray([1, 0, -1], [3]));
    });
    expectClose(x.grad!.data(), [2, 0, -6], { atol: 0, rtol: 0 });
    expect(() => tg.ones([1]).backward()).toThrow(/does not require grad/);
    x.dispose();
  });

  it('tidy frees intermediates but keeps a returned graph usable for backward', () => {
    const x = fromArray(randomArray(6, 1), [2, 3], true);
    const before = tg.memory().numTensors;
    tg.tidy(() => {
      const loss = tg.tidy(() => tg.tanh(tg.matmul(x, tg.transpose(x))).sum());
      expect(tg.memory().numTensors).toBeLessThanOrEqual(before + 5); // loss, its graph's two intermediates and a view
      loss.backward();
    });
    expect(x.grad).not.toBeNull();
    expect(tg.memory().numTensors).toBe(before + 1); // x.grad
    x.dispose();
  });

  it('a tiny MLP overfits a fixed batch (loss falls by 10x)', () => {
    tg.manualSeed(3);
    const params = [tg.randn([4, 16], { std: 0.5 }), tg.zeros([16]), tg.randn([16, 1], { std: 0.5 }), tg.zeros([1])];
    for (const p of params) p.requiresGrad_();
    const x = tg.randn([16, 4]);
    const y = tg.tidy(() => tg.sin(tg.matmul(x, fromArray([1, -2, 0.5, 1.5], [4, 1]))));
    const step = () => tg.tidy(() => {
      const h = tg.tanh(tg.add(tg.matmul(x, params[0]), params[1]));
      const loss = tg.sub(tg.add(tg.matmul(h, params[2]), params[3]), y).square().mean();
      loss.backward();
      tg.noGrad(() => {
        for (const p of params) {
          const updated = tg.sub(p, tg.mul(p.grad!, 0.1));
          p.backend.copy(p, updated);
          p.zeroGrad();
        }
      });
      return loss.item();
    });
    const first = step();
    let last = first;
    for (let i = 0; i < 400; i++) last = step();
    expect(last).toBeLessThan(first / 10);
    for (const t of [...params, x, y]) t.dispose();
  });
});
