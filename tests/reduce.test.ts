// Reductions vs float64 references over every kernel path (trailing dims -> rows, leading dims -> columns,
// middle or scattered dims -> permute + rows), on non-contiguous inputs; extremes, arg-extremes with ties
// and NaN, stable logsumexp, variance/std, gradients and bad inputs.
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { gradcheck } from './helpers/gradcheck.js';
import { expectClose, flatIndex, forEachBackend, fromArray, indices, permuteRef, randomArray } from './helpers/reference.js';

// float32 sums of n terms of size ~1 carry up to ~n*eps relative error; n <= 300 here, and the kernels sum in
// 16 lanes (error ~ (n/16 + 16)*eps ~ 4e-6 of sum|x|).
const SUM = { atol: 2e-5, rtol: 1e-5 };
// variance: two float32 passes (mean, then squared deviations); each ~1e-6 relative.
const VAR = { atol: 2e-5, rtol: 5e-5 };
// logsumexp: fast_exp/log are within ~2 ulp, plus the float32 sum of exps.
const LSE = { atol: 1e-5, rtol: 1e-5 };

/** Reduces x (row-major `shape`) over `dims` with `fn` applied to each group of values (float64). */
function reduceRef(x: ArrayLike<number>, shape: number[], dims: number[], fn: (v: number[]) => number): Float64Array {
  const norm = dims.map((d) => (d < 0 ? d + shape.length : d));
  const kept = shape.map((s, i) => (norm.includes(i) ? 1 : s));
  const groups: number[][] = Array.from({ length: kept.reduce((a, b) => a * b, 1) }, () => []);
  let f = 0;
  for (const idx of indices(shape)) {
    groups[flatIndex(kept, idx.map((v, i) => (norm.includes(i) ? 0 : v)))].push(x[f++]);
  }
  return Float64Array.from(groups.map(fn));
}

const sumOf = (v: number[]) => v.reduce((a, b) => a + b, 0);
const meanOf = (v: number[]) => sumOf(v) / v.length;
const lseOf = (v: number[]) => {
  const m = Math.max(...v);
  if (!Number.isFinite(m)) return m;
  return m + Math.log(sumOf(v.map((u) => Math.exp(u - m))));
};
const varOf = (unbiased: boolean) => (v: number[]) => {
  const m = meanOf(v);
  return sumOf(v.map((u) => (u - m) ** 2)) / (unbiased ? v.length - 1 : v.length);
};

function keptShape(shape: number[], dims: number[], keepdim: boolean): number[] {
  const norm = dims.map((d) => (d < 0 ? d + shape.length : d));
  return shape.flatMap((s, i) => (norm.includes(i) ? (keepdim ? [1] : []) : [s]));
}

// Dim sets over (3, 4, 5) covering the leading (column), trailing (row) and middle/scattered (permute) paths.
const DIM_SETS: number[][] = [[0], [1], [2], [-1], [0, 1], [1, 2], [0, 2], [0, 1, 2], [2, 0]];

forEachBackend((device) => describe(`reductions on ${device}`, () => {
  it('sum and mean over single, multiple, non-adjacent and all dims, with keepdim', () => {
    const shape = [3, 4, 5];
    const a = randomArray(60, 201);
    tg.tidy(() => {
      const x = fromArray(a, shape);
      for (const dims of DIM_SETS) {
        for (const keepdim of [false, true]) {
          const s = tg.sum(x, dims, keepdim);
          expect(s.shape).toEqual(keptShape(shape, dims, keepdim));
          expectClose(s.data(), reduceRef(a, shape, dims, sumOf), SUM, `sum ${dims} keepdim=${keepdim}`);
          const m = x.mean(dims, keepdim);
          expect(m.shape).toEqual(keptShape(shape, dims, keepdim));
          expectClose(m.data(), reduceRef(a, shape, dims, meanOf), SUM, `mean ${dims} keepdim=${keepdim}`);
        }
      }
      expect(x.sum().shape).toEqual([]);
      expectClose([x.sum().item()], [sumOf([...a])], SUM, 'sum all');
      expectClose([x.mean().item()], [meanOf([...a])], SUM, 'mean all');
      expect(x.sum(undefined, true).shape).toEqual([1, 1, 1]);
      expectClose(x.sum(1).data(), x.sum(-2).data(), { atol: 0, rtol: 0 }, 'negative dim');
    });
  });

  it('sum and mean of non-contiguous inputs on every path', () => {
    const a = randomArray(60, 202);
    const shape = [3, 4, 5];
    tg.tidy(() => {
      const base = fromArray(a, shape);
      const views: [string, tg.Tensor, Float64Array, number[]][] = [
        ['permute', base.permute([2, 0, 1]), permuteRef(a, shape, [2, 0, 1]), [5, 3, 4]],
        ['transpose', base.transpose(0, 1), permuteRef(a, shape, [1, 0, 2]), [4, 3, 5]],
      ];
      const sl = base.slice(2, 1, 5, 2); // (3, 4, 2), strides (20, 5, 2)
      const slRef = Float64Array.from([...indices([3, 4, 2])], ([i, j, k]) => a[i * 20 + j * 5 + 1 + 2 * k]);
      views.push(['slice', sl, slRef, [3, 4, 2]]);
      const ex = fromArray(a.slice(0, 4), [4, 1]).expand(4, 3); // stride-0 dim
      views.push(['expand', ex, Float64Array.from([...indices([4, 3])], ([i]) => a[i]), [4, 3]]);
      for (const [name, v, ref, vshape] of views) {
        expect(v.isContiguous(), name).toBe(false);
        const sets = vshape.length === 3 ? DIM_SETS : [[0], [1], [0, 1]];
        for (const dims of sets) {
          expectClose(v.sum(dims).data(), reduceRef(ref, vshape, dims, sumOf), SUM, `sum ${dims} of ${name}`);
          expectClose(v.mean(dims, true).data(), reduceRef(ref, vshape, dims, meanOf), SUM, `mean ${dims} of ${name}`);
        }
      }
    });
  });

  it('sum and mean over wide columns and long rows (several kernel blocks)', () => {
    const a = randomArray(7 * 300, 203);
    tg.tidy(() => {
      const x = fromArray(a, [7, 300]);
      expectClose(x.sum(0).data(), reduceRef(a, [7, 300], [0], sumOf), SUM, 'sum of columns');
      expectClose(x.mean(0).data(), reduceRef(a, [7, 300], [0], meanOf), SUM, 'mean of columns');
      expectClose(x.sum(1).data(), reduceRef(a, [7, 300], [1], sumOf), SUM, 'sum of rows');
      expectClose(x.transpose().sum(1).data(), reduceRef(a, [7, 300], [0], sumOf), SUM, 'rows of a transpose');
    });
  });

  it('a whole-tensor sum, mean, max and min split across threads: matches float64, the same for any thread count', () => {
    // 300,000 values: blocks of 65,536 reduced in parallel (the last one partial), combined in block order.
    const n = 300_000;
    const a = randomArray(n, 204);
    const withNaN = Float64Array.from(a);
    withNaN[200_000] = NaN;
    const before = tg.getNumThreads();
    const results = [1, 2].map((threads) => {
      tg.setNumThreads(threads);
      return tg.tidy(() => {
        const x = fromArray(a, [n]);
        const two = fromArray(a, [1, n]);
        return [x.sum().item(), x.mean().item(), x.max().item(), x.min().item(), two.sum(1).item(), fromArray(withNaN, [n]).max().item()];
      });
    });
    tg.setNumThreads(before);
    let sum = 0, max = -Infinity, min = Infinity;
    for (const v of a) {
      sum += v;
      max = Math.max(max, v);
      min = Math.min(min, v);
    }
    // float32: 16-lane partial sums per block, then 5 block sums: error ~ (n/80 + 21) eps |x|max, under 3e-3 here
    const SUM_N = { atol: 3e-3, rtol: 1e-5 };
    expectClose([results[1][0], results[1][4]], [sum, sum], SUM_N, 'sum');
    expectClose([results[1][1]], [sum / n], { atol: SUM_N.atol / n, rtol: 1e-5 }, 'mean');
    expect([results[1][2], results[1][3]]).toEqual([Math.fround(max), Math.fround(min)]);
    expect(Number.isNaN(results[1][5])).toBe(true);
    expect(results[0].slice(0, 5)).toEqual(results[1].slice(0, 5));
  });

  it('size-1 and empty dims', () => {
    const a = randomArray(5, 204);
    tg.tidy(() => {
      const x = fromArray(a, [1, 5, 1]);
      expectClose(x.sum(0).data(), a, { atol: 0, rtol: 0 }, 'sum over size-1 dim');
      expectClose(x.sum([0, 2]).data(), a, { atol: 0, rtol: 0 }, 'sum over size-1 dims');
      expectClose(x.mean(2).data(), a, { atol: 0, rtol: 0 }, 'mean over size-1 dim');
      const e = tg.zeros([0, 3]);
      expect(e.sum(0).toArray()).toEqual([0, 0, 0]);
      expect(e.sum(1).shape).toEqual([0]);
      expect(e.sum().item()).toBe(0);
      expect(e.transpose().sum(1).toArray()).toEqual([0, 0, 0]);
      expect(Array.from(e.mean(0).data()).every(Number.isNaN), 'mean over an empty dim is NaN (like PyTorch)').toBe(true);
      expect(Number.isNaN(e.mean().item())).toBe(true);
      expect(tg.tensor(3).sum().item()).toBe(3);
      // a 0-d tensor accepts dim 0 and reduces nothing (like PyTorch)
      expect(tg.tensor(3).sum(0).item()).toBe(3);
      expect(tg.tensor(3).mean(0, true).shape).toEqual([]);
      expect(tg.tensor(3).logsumexp(0).item()).toBe(3);
      expect(tg.tensor(3).max(0).item()).toBe(3);
      expect(tg.tensor(3).argmax(0).item()).toBe(0);
      expect(() => tg.tensor(3).sum(1)).toThrow(/sum: dim 1 out of range for a 0-d tensor/);
    });
  });

  it('gradients of sum and mean (including non-contiguous incoming gradients)', () => {
    const a = randomArray(60, 205);
    gradcheck({
      inputs: [{ values: a, shape: [3, 4, 5] }],
      engine: ([x]) => x.sum([0, 2], true),
      reference: ([x]) => reduceRef(x, [3, 4, 5], [0, 2], sumOf),
    });
    gradcheck({
      inputs: [{ values: a, shape: [3, 4, 5] }],
      engine: ([x]) => x.sum(2).transpose(), // the gradient reaching sum is a transposed view
      reference: ([x]) => permuteRef(reduceRef(x, [3, 4, 5], [2], sumOf), [3, 4], [1, 0]),
    });
    gradcheck({
      inputs: [{ values: a, shape: [3, 4, 5] }],
      engine: ([x]) => x.transpose(0, 2).mean([0, 1]),
      reference: ([x]) => reduceRef(x, [3, 4, 5], [1, 2], meanOf),
    });
    gradcheck({
      inputs: [{ values: a, shape: [3, 4, 5] }],
      engine: ([x]) => x.mean(1).transpose(),
      reference: ([x]) => permuteRef(reduceRef(x, [3, 4, 5], [1], meanOf), [3, 5], [1, 0]),
    });
    gradcheck({ inputs: [{ values: a, shape: [60] }], engine: ([x]) => x.mean(), reference: ([x]) => Float64Array.of(meanOf([...x])) });
  });

  it('max and min values along each dim, all dims, non-contiguous, and NaN propagation', () => {
    const shape = [3, 4, 5];
    const a = randomArray(60, 206);
    tg.tidy(() => {
      const x = fromArray(a, shape);
      for (const dim of [0, 1, 2, -1]) {
        for (const keepdim of [false, true]) {
          const mx = x.max(dim, keepdim);
          expect(mx.shape).toEqual(keptShape(shape, [dim], keepdim));
          expectClose(mx.data(), reduceRef(a, shape, [dim], (v) => Math.max(...v)), { atol: 0, rtol: 0 }, `max ${dim}`);
          expectClose(tg.min(x, dim, keepdim).data(), reduceRef(a, shape, [dim], (v) => Math.min(...v)), { atol: 0, rtol: 0 }, `min ${dim}`);
        }
      }
      expect(x.max().item()).toBe(Math.max(...a));
      expect(x.min().item()).toBe(Math.min(...a));
      const p = x.permute([1, 2, 0]);
      expectClose(p.max(2).data(), reduceRef(permuteRef(a, shape, [1, 2, 0]), [4, 5, 3], [2], (v) => Math.max(...v)), { atol: 0, rtol: 0 }, 'max of permute');
      expect(p.min().item()).toBe(Math.min(...a));
      // NaN propagates (like PyTorch), on the column path and the row path
      const n = fromArray([1, NaN, 3, 4, 5, 6], [2, 3]);
      expect(Array.from(n.max(0).data()).map(String)).toEqual(['4', 'NaN', '6']);
      expect(Array.from(n.min(1).data()).map(String)).toEqual(['NaN', '4']);
      expect(Number.isNaN(n.max().item())).toBe(true);
      expect(fromArray([-Infinity, -Infinity], [2]).max().item()).toBe(-Infinity);
      expect(tg.tensor(2).max().item()).toBe(2);
      expect(() => tg.zeros([0, 3]).max(1)).toThrow(/max: reduction of an empty tensor of shape \[0, 3\]/);
      expect(() => tg.zeros([0]).min()).toThrow(RangeError);
    });
  });

  it('max and min of rows long enough for the vector loop: exact, and NaN at any position propagates', () => {
    // 50 columns: three 16-wide vector steps (both 8-lane halves) and a 2-value tail; row r holds NaN at column r.
    const cols = 50;
    const a = randomArray(cols * cols, 207);
    a[3] = -Infinity;
    a[cols + 7] = Infinity;
    const clean = a.slice(0, 2 * cols);
    const withNaN = Float64Array.from(a);
    for (let r = 0; r < cols; r++) withNaN[r * cols + r] = NaN;
    tg.tidy(() => {
      const x = fromArray(clean, [2, cols]);
      expectClose(x.max(1).data(), reduceRef(clean, [2, cols], [1], (v) => Math.max(...v)), { atol: 0, rtol: 0 }, 'max of rows');
      expectClose(x.min(1).data(), reduceRef(clean, [2, cols], [1], (v) => Math.min(...v)), { atol: 0, rtol: 0 }, 'min of rows');
      const y = fromArray(withNaN, [cols, cols]);
      expect(Array.from(y.max(1).data()).every(Number.isNaN)).toBe(true);
      expect(Array.from(y.min(1).data()).every(Number.isNaN)).toBe(true);
    });
  });

  it('max/min gradients go to the first extreme only', () => {
    tg.tidy(() => {
      const x = fromArray([1, 3, 3, 2, 2, 0, 5, 5, 5], [3, 3], true);
      x.max(1).sum().backward();
      expect(Array.from(x.grad!.data())).toEqual([0, 1, 0, 1, 0, 0, 1, 0, 0]);
      x.zeroGrad();
      x.min(0).mul(fromArray([1, 2, 3], [3])).sum().backward();
      expect(Array.from(x.grad!.data())).toEqual([1, 0, 0, 0, 2, 3, 0, 0, 0]);
      x.zeroGrad();
      x.max().backward();
      expect(Array.from(x.grad!.data())).toEqual([0, 0, 0, 0, 0, 0, 1, 0, 0]);
      x.zeroGrad();
      x.transpose().max(1, true).sum().backward(); // max down the columns of x, first row wins
      expect(Array.from(x.grad!.data())).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1]);
      x.zeroGrad();
    });
    const a = randomArray(60, 207); // distinct values: the max is unique and differentiable
    gradcheck({ inputs: [{ values: a, shape: [3, 4, 5] }], engine: ([x]) => x.max(1), reference: ([x]) => reduceRef(x, [3, 4, 5], [1], (v) => Math.max(...v)) });
    gradcheck({ inputs: [{ values: a, shape: [3, 4, 5] }], engine: ([x]) => x.transpose(0, 2).max(2, true), reference: ([x]) => permuteRef(reduceRef(x, [3, 4, 5], [0], (v) => Math.max(...v)), [4, 5], [1, 0]) });
    gradcheck({ inputs: [{ values: a, shape: [3, 4, 5] }], engine: ([x]) => x.min(0), reference: ([x]) => reduceRef(x, [3, 4, 5], [0], (v) => Math.min(...v)) });
    gradcheck({ inputs: [{ values: a, shape: [60] }], engine: ([x]) => x.max(), reference: ([x]) => Float64Array.of(Math.max(...x)) });
  });

  it('argmax/argmin: int32 indices, ties -> first, NaN counts as the extreme (like PyTorch)', () => {
    const shape = [3, 4, 5];
    const a = randomArray(60, 208);
    const argOf = (want: 1 | -1) => (v: number[]) => v.reduce((best, u, i) => (u * want > v[best] * want ? i : best), 0);
    tg.tidy(() => {
      const x = fromArray(a, shape);
      for (const dim of [0, 1, 2, -1]) {
        const am = x.argmax(dim);
        expect(am.dtype).toBe('int32');
        expect(am.shape).toEqual(keptShape(shape, [dim], false));
        expect(Array.from(am.data())).toEqual(Array.from(reduceRef(a, shape, [dim], argOf(1))));
        expect(Array.from(x.argmin(dim).data())).toEqual(Array.from(reduceRef(a, shape, [dim], argOf(-1))));
        expect(x.argmax(dim, true).shape).toEqual(keptShape(shape, [dim], true));
      }
      expect(x.argmax().item()).toBe(argOf(1)([...a]));
      expect(x.argmin().item()).toBe(argOf(-1)([...a]));
      // flat index of a non-contiguous tensor is in its own row-major order
      const t = x.transpose(0, 2);
      expect(t.argmax().item()).toBe(argOf(1)([...permuteRef(a, shape, [2, 1, 0])]));
      expect(Array.from(t.argmin(1, true).data())).toEqual(Array.from(reduceRef(permuteRef(a, shape, [2, 1, 0]), [5, 4, 3], [1], argOf(-1))));
      // ties -> first index
      const ties = fromArray([2, 7, 7, 1, 1, 0, 3, 3, 3], [3, 3]);
      expect(Array.from(ties.argmax(1).data())).toEqual([1, 0, 0]);
      expect(Array.from(ties.argmin(1).data())).toEqual([0, 2, 0]);
      expect(Array.from(ties.argmax(0).data())).toEqual([2, 0, 0]);
      expect(ties.argmax().item()).toBe(1);
      // NaN is the max and the min: its first position wins
      const nan = fromArray([1, NaN, 5, NaN, -Infinity, Infinity, 0, 0], [2, 4]);
      expect(Array.from(nan.argmax(1).data())).toEqual([1, 1]);
      expect(Array.from(nan.argmin(1).data())).toEqual([1, 0]);
      expect(Array.from(nan.argmax(0).data())).toEqual([0, 0, 0, 0]);
      expect(nan.argmax().item()).toBe(1);
      expect(fromArray([NaN, 1], [2]).argmin().item()).toBe(0);
      expect(fromArray([-Infinity, 2, Infinity], [3]).argmax().item()).toBe(2);
      expect(() => tg.zeros([2, 0]).argmax(1)).toThrow(/argmax: empty tensor of shape \[2, 0\]/);
      expect(() => tg.argmin(tg.arange(0, 3))).toThrow(/argmin: expects a float32 or bfloat16 tensor, got int32/);
    });
  });

  it('logsumexp is stable for large offsets, -inf entries and all -inf rows', () => {
    const shape = [3, 4, 5];
    const a = randomArray(60, 209, 3);
    tg.tidy(() => {
      const x = fromArray(a, shape);
      for (const dims of DIM_SETS) {
        for (const keepdim of [false, true]) {
          const y = x.logsumexp(dims, keepdim);
          expect(y.shape).toEqual(keptShape(shape, dims, keepdim));
          expectClose(y.data(), reduceRef(a, shape, dims, lseOf), LSE, `logsumexp ${dims}`);
        }
      }
      expectClose(x.permute([2, 0, 1]).logsumexp(1).data(), reduceRef(permuteRef(a, shape, [2, 0, 1]), [5, 3, 4], [1], lseOf), LSE, 'logsumexp of permute');
      // +-1e4 offsets: a naive exp overflows/underflows; float32 spacing at 1e4 is ~1e-3, hence rtol 2e-7 on top
      for (const offset of [1e4, -1e4]) {
        const big = a.map((v) => Math.fround(v + offset));
        const y = fromArray(big, shape).logsumexp(2);
        expectClose(y.data(), reduceRef(big, shape, [2], lseOf), { atol: 1e-5, rtol: 2e-7 }, `logsumexp with offset ${offset}`);
      }
      const inf = fromArray([-Infinity, 0, Math.log(3), -Infinity, -Infinity, -Infinity, 1, Infinity, 2, NaN, 1, 2], [4, 3]);
      const y = inf.logsumexp(1);
      expectClose(y.data(), [Math.log(4), -Infinity, Infinity, NaN], LSE, 'logsumexp with infinities');
      expectClose(inf.logsumexp(0).data(), [NaN, Infinity, lseOf([Math.log(3), -Infinity, 2, 2])], LSE, 'logsumexp of columns with infinities');
      expect(tg.zeros([2, 0]).logsumexp(1).toArray()).toEqual([-Infinity, -Infinity]);
      expect(tg.zeros([0, 2]).logsumexp(1).shape).toEqual([0]);
      // gradient with -inf entries: softmax weights, exactly 0 at -inf
      const z = fromArray([-Infinity, 0, Math.log(3)], [3], true);
      z.logsumexp().backward();
      expectClose(z.grad!.data(), [0, 0.25, 0.75], LSE, 'logsumexp gradient with -inf');
      z.zeroGrad();
    });
    gradcheck({ inputs: [{ values: a, shape: [3, 4, 5] }], engine: ([x]) => x.logsumexp([0, 2]), reference: ([x]) => reduceRef(x, [3, 4, 5], [0, 2], lseOf) });
    gradcheck({ inputs: [{ values: a, shape: [3, 4, 5] }], engine: ([x]) => x.logsumexp(2).transpose(), reference: ([x]) => permuteRef(reduceRef(x, [3, 4, 5], [2], lseOf), [3, 4], [1, 0]) });
    const big = a.slice(0, 20).map((v) => Math.fround(v + 1e4));
    // near 1e4 the float32 forward rounds to ~1e-3, so the forward check uses atol 2e-3; gradients are O(1) softmax weights
    gradcheck({ inputs: [{ values: big, shape: [4, 5] }], engine: ([x]) => x.logsumexp(1, true), reference: ([x]) => reduceRef(x, [4, 5], [1], lseOf), tolerance: { atol: 2e-3, rtol: 1e-3 } });
  });

  it('variance and std, unbiased and biased, stable for large offsets', () => {
    const shape = [3, 4, 5];
    const a = randomArray(60, 210, 2);
    tg.tidy(() => {
      const x = fromArray(a, shape);
      for (const dims of DIM_SETS) {
        for (const unbiased of [true, false]) {
          const v = x.var(dims, { unbiased, keepdim: true });
          expect(v.shape).toEqual(keptShape(shape, dims, true));
          const ref = reduceRef(a, shape, dims, varOf(unbiased));
          expectClose(v.data(), ref, VAR, `var ${dims} unbiased=${unbiased}`);
          expectClose(tg.std(x, dims, { unbiased }).data(), ref.map(Math.sqrt), VAR, `std ${dims} unbiased=${unbiased}`);
        }
      }
      expectClose([x.var().item()], [varOf(true)([...a])], VAR, 'var all (unbiased by default)');
      expectClose(x.transpose(0, 1).std(0).data(), reduceRef(a, shape, [1], varOf(true)).map(Math.sqrt), VAR, 'std of transpose');
      // two-pass variance of 1e4 + N(0, 1): a one-pass E[x^2] - E[x]^2 would lose everything in float32
      const shifted = a.map((v) => Math.fround(v + 1e4));
      expectClose(fromArray(shifted, [60]).var([0], { unbiased: false }).data(), [varOf(false)([...shifted])], { atol: 1e-4, rtol: 1e-4 }, 'var with offset');
      // one element: unbiased -> NaN (like PyTorch), biased -> 0
      expect(Number.isNaN(fromArray([3], [1]).var().item())).toBe(true);
      expect(fromArray([3], [1]).var(0, { unbiased: false }).item()).toBe(0);
      expect(() => tg.variance(tg.arange(0, 3))).toThrow(/var: expects a float32 or bfloat16 tensor/);
    });
    gradcheck({ inputs: [{ values: a, shape: [3, 4, 5] }], engine: ([x]) => x.var([0, 2]), reference: ([x]) => reduceRef(x, [3, 4, 5], [0, 2], varOf(true)) });
    gradcheck({ inputs: [{ values: a, shape: [3, 4, 5] }], engine: ([x]) => x.transpose(0, 1).var(2, { unbiased: false }), reference: ([x]) => permuteRef(reduceRef(x, [3, 4, 5], [2], varOf(false)), [3, 4], [1, 0]) });
    gradcheck({ inputs: [{ values: a, shape: [3, 4, 5] }], engine: ([x]) => x.std(1, { keepdim: true }), reference: ([x]) => reduceRef(x, [3, 4, 5], [1], varOf(true)).map(Math.sqrt) });
    gradcheck({ inputs: [{ values: a, shape: [60] }], engine: ([x]) => x.std(undefined, { unbiased: false }), reference: ([x]) => Float64Array.of(Math.sqrt(varOf(false)([...x]))) });
  });

  it('rejects bad inputs naming the op, and the process lives', () => {
    const x = tg.ones([2, 3]);
    const ops: [string, (t: tg.Tensor, dims?: number[]) => unknown][] = [
      ['sum', (t, d) => tg.sum(t, d)], ['mean', (t, d) => tg.mean(t, d)], ['logsumexp', (t, d) => tg.logsumexp(t, d)],
      ['var', (t, d) => tg.variance(t, d)], ['max', (t, d) => tg.max(t, d?.[0])], ['min', (t, d) => tg.min(t, d?.[0])],
      ['argmax', (t, d) => tg.argmax(t, d?.[0])], ['argmin', (t, d) => tg.argmin(t, d?.[0])],
    ];
    for (const [name, op] of ops) {
      expect(() => op(x, [2]), name).toThrow(RangeError);
      expect(() => op(x, [2]), name).toThrow(new RegExp(`^${name}: dim 2 out of range for a 2-d tensor`));
      expect(() => op(x, [-3]), name).toThrow(RangeError);
      expect(() => op(x, [0.5]), name).toThrow(TypeError);
      expect(() => op(tg.arange(0, 4), [0]), name).toThrow(new RegExp(`^${name}: expects a float32 or bfloat16 tensor, got int32`));
      expect(() => op(null as unknown as tg.Tensor), name).toThrow(TypeError);
      expect(() => op([1, 2] as unknown as tg.Tensor), name).toThrow(new RegExp(`^${name}: expected a Tensor`));
    }
    expect(() => x.sum([0, 0])).toThrow(/sum: repeated dim/);
    expect(() => x.mean([1, -1])).toThrow(/mean: repeated dim/);
    x.dispose();
    expect(() => x.sum()).toThrow(/sum: tensor \[2, 3\] has been disposed/);
    expect(tg.tidy(() => tg.ones([4]).sum().item())).toBe(4);
  });
}));
