// Shape ops vs float64 references: views that must share storage (reshape, view, permute, narrow, slice,
// expand, squeeze), copies (contiguous, clone, cast, cat, stack), splits, gradients and bad inputs.
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { gradcheck } from './helpers/gradcheck.js';
import { expectClose, flatIndex, forEachBackend, fromArray, indices, permuteRef, randomArray, rng } from './helpers/reference.js';

// Shape ops move float32 values without arithmetic: results must be bit-exact.
const EXACT = { atol: 0, rtol: 0 };

/** The row-major values of x with `dim` restricted to the positions `picks` (narrow/slice/split reference). */
function pickRef(x: ArrayLike<number>, shape: number[], dim: number, picks: number[]): Float64Array {
  const outShape = [...shape];
  outShape[dim] = picks.length;
  const out: number[] = [];
  for (const idx of indices(outShape)) {
    const src = [...idx];
    src[dim] = picks[idx[dim]];
    out.push(x[flatIndex(shape, src)]);
  }
  return Float64Array.from(out);
}

/** Concatenation of row-major blocks along `dim`. */
function catRef(xs: ArrayLike<number>[], shapes: number[][], dim: number): Float64Array {
  const outShape = [...shapes[0]];
  outShape[dim] = shapes.reduce((n, s) => n + s[dim], 0);
  const out: number[] = [];
  for (const idx of indices(outShape)) {
    let k = 0;
    let at = idx[dim];
    while (at >= shapes[k][dim]) at -= shapes[k++][dim];
    const src = [...idx];
    src[dim] = at;
    out.push(xs[k][flatIndex(shapes[k], src)]);
  }
  return Float64Array.from(out);
}

const range = (start: number, end: number, step = 1) => {
  const out: number[] = [];
  for (let i = start; i < end; i += step) out.push(i);
  return out;
};

forEachBackend((device) => describe(`shape ops on ${device}`, () => {
  it('reshape is a view on contiguous input, infers -1, and keeps row-major order', () => {
    const a = randomArray(24, 101);
    tg.tidy(() => {
      const x = fromArray(a, [2, 3, 4]);
      const y = x.reshape([4, -1]);
      expect(y.shape).toEqual([4, 6]);
      expect(y.storage === x.storage, 'contiguous reshape must be a view').toBe(true);
      expectClose(y.data(), a, EXACT, 'reshape [4, -1]');
      expect(tg.reshape(x, [-1]).shape).toEqual([24]);
      expect(tg.reshape(x, [2, -1, 2]).shape).toEqual([2, 6, 2]);
      expect(x.reshape(3, 8).shape).toEqual([3, 8]);
      // size-1 dims, scalars and empty tensors
      expect(x.reshape([1, 24, 1]).shape).toEqual([1, 24, 1]);
      const s = tg.tensor(5);
      expect(s.reshape([1, 1]).toArray()).toEqual([[5]]);
      expect(s.reshape([1, 1]).reshape([]).item()).toBe(5);
      const e = tg.zeros([0, 3]);
      expect(e.reshape([3, 0]).shape).toEqual([3, 0]);
      expect(e.reshape([-1]).shape).toEqual([0]);
      expect(e.reshape([2, -1, 3]).shape).toEqual([2, 0, 3]);
    });
  });

  it('reshape of non-contiguous input is a view when strides allow and a copy otherwise', () => {
    const a = randomArray(24, 102);
    tg.tidy(() => {
      const x = fromArray(a, [2, 3, 4]);
      // narrow keeps dims 0 and 1 mergeable: (2, 3, 2) with strides (12, 4, 1) -> (6, 2) is a view
      const n = x.narrow(2, 1, 2);
      const nv = n.reshape([6, 2]);
      expect(nv.storage === x.storage, 'mergeable dims must give a view').toBe(true);
      expectClose(nv.data(), pickRef(a, [2, 3, 4], 2, [1, 2]), EXACT, 'reshape of narrow');
      // splitting a dim of a transposed tensor is a view too: (4, 3, 2) strides (1, 4, 12) -> (2, 2, 3, 2)
      const t = x.permute([2, 1, 0]);
      const tv = t.reshape([2, 2, 3, 2]);
      expect(tv.storage === x.storage, 'splitting a dim must give a view').toBe(true);
      expectClose(tv.data(), permuteRef(a, [2, 3, 4], [2, 1, 0]), EXACT, 'split dim of a permute');
      // unsqueeze of a non-contiguous tensor is a view
      expect(t.reshape([4, 1, 3, 2]).storage === x.storage).toBe(true);
      // merging dims that are not adjacent in memory needs a copy
      const c = t.reshape([12, 2]);
      expect(c.storage === x.storage, 'unmergeable dims must copy').toBe(false);
      expectClose(c.data(), permuteRef(a, [2, 3, 4], [2, 1, 0]), EXACT, 'copy reshape');
    });
  });

  it('reshape keeps row-major order for random strided layouts (view or copy)', () => {
    const r = rng(103);
    const a = randomArray(4 * 6 * 5, 104);
    const targets: number[][] = [];
    for (let trial = 0; trial < 30; trial++) {
      tg.tidy(() => {
        const x = fromArray(a, [4, 6, 5]);
        const dims = [0, 1, 2].sort(() => r() - 0.5);
        let v = x.permute(dims);
        const d = Math.floor(r() * 3);
        const size = v.shape[d] as number;
        const start = Math.floor(r() * size);
        v = v.narrow(d, start, size - start);
        if (r() < 0.5) v = v.unsqueeze(Math.floor(r() * 4));
        const expected = v.data();
        // random factorization of numel into 1-4 dims, sometimes with -1
        const numel = v.numel;
        const shape: number[] = [];
        let rest = numel;
        for (let k = 0; k < 3 && rest > 1; k++) {
          const divisors = range(1, rest + 1).filter((q) => rest % q === 0);
          const q = divisors[Math.floor(r() * divisors.length)];
          shape.push(q);
          rest /= q;
        }
        shape.push(rest);
        targets.push(shape);
        const y = v.reshape(shape);
        expect(y.shape).toEqual(shape);
        expectClose(y.data(), expected, EXACT, `reshape ${JSON.stringify(v.shape)}/${JSON.stringify(v.strides)} -> ${JSON.stringify(shape)}`);
      });
    }
    expect(targets.length).toBe(30);
  });

  it('reshape and view reject bad shapes naming the op', () => {
    const x = tg.ones([2, 3, 4]);
    expect(() => x.reshape([5, -1])).toThrow(RangeError);
    expect(() => x.reshape([5, -1])).toThrow(/reshape: cannot reshape \[2, 3, 4\]/);
    expect(() => x.reshape([-1, -1])).toThrow(/reshape: only one dimension can be -1/);
    expect(() => x.reshape([25])).toThrow(/reshape: cannot reshape \[2, 3, 4\] \(24 elements\)/);
    expect(() => x.reshape([-2, -12])).toThrow(RangeError);
    expect(() => x.reshape([2.5, 9.6])).toThrow(/reshape/);
    expect(() => tg.reshape(x, null as unknown as number[])).toThrow(TypeError);
    expect(() => tg.reshape(x, null as unknown as number[])).toThrow(/reshape/);
    expect(() => tg.zeros([0, 3]).reshape([-1, 0])).toThrow(/reshape/);
    expect(() => tg.reshape('x' as unknown as tg.Tensor, [1])).toThrow(/reshape: expected a Tensor/);
    expect(() => x.view([7, -1])).toThrow(/view: cannot reshape/);
    x.dispose();
    expect(() => x.reshape([24])).toThrow(/reshape: .*disposed/);
  });

  it('view shares storage and throws when a copy would be needed', () => {
    const a = randomArray(24, 105);
    tg.tidy(() => {
      const x = fromArray(a, [2, 3, 4]);
      const v = x.view([6, 4]);
      expect(v.storage === x.storage).toBe(true);
      expectClose(v.data(), a, EXACT, 'view');
      const n = x.narrow(2, 0, 3).view([6, 3]);
      expect(n.storage === x.storage).toBe(true);
      expectClose(n.data(), pickRef(a, [2, 3, 4], 2, [0, 1, 2]), EXACT, 'view of narrow');
      const t = x.transpose(0, 2);
      expect(() => t.view([-1])).toThrow(RangeError);
      expect(() => t.view([-1])).toThrow(/view: .*\[4, 3, 2\].*use reshape/);
      expect(() => x.narrow(2, 0, 3).view([-1])).toThrow(/view:/);
    });
    gradcheck({
      inputs: [{ values: a, shape: [2, 3, 4] }],
      engine: ([x]) => x.narrow(2, 1, 2).view([6, 2]),
      reference: ([x]) => pickRef(x, [2, 3, 4], 2, [1, 2]),
    });
  });

  it('flatten merges a range of dims', () => {
    const a = randomArray(24, 106);
    tg.tidy(() => {
      const x = fromArray(a, [2, 3, 4]);
      expect(x.flatten().shape).toEqual([24]);
      expect(x.flatten(1).shape).toEqual([2, 12]);
      expect(x.flatten(0, 1).shape).toEqual([6, 4]);
      expect(x.flatten(-2, -1).shape).toEqual([2, 12]);
      expect(x.flatten(1, 1).shape).toEqual([2, 3, 4]);
      expect(x.flatten().storage === x.storage).toBe(true);
      expect(tg.tensor(3).flatten().shape).toEqual([1]);
      expect(tg.zeros([2, 0, 3]).flatten(1).shape).toEqual([2, 0]);
      const t = x.transpose(0, 1);
      expectClose(t.flatten().data(), permuteRef(a, [2, 3, 4], [1, 0, 2]), EXACT, 'flatten of transpose');
      expect(() => x.flatten(2, 1)).toThrow(/flatten: endDim/);
      expect(() => x.flatten(0, 3)).toThrow(/flatten: dim 3 out of range/);
    });
  });

  it('permute and transpose are views with the permuted values and gradients', () => {
    const a = randomArray(2 * 3 * 4, 107);
    tg.tidy(() => {
      const x = fromArray(a, [2, 3, 4]);
      for (const dims of [[0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0]]) {
        const p = x.permute(dims);
        expect(p.storage === x.storage).toBe(true);
        expect(p.shape).toEqual(dims.map((d) => [2, 3, 4][d]));
        expectClose(p.data(), permuteRef(a, [2, 3, 4], dims), EXACT, `permute ${dims}`);
      }
      expectClose(x.permute(-1, 0, 1).data(), permuteRef(a, [2, 3, 4], [2, 0, 1]), EXACT, 'negative dims');
      expectClose(x.transpose().data(), permuteRef(a, [2, 3, 4], [0, 2, 1]), EXACT, 'transpose()');
      expectClose(x.transpose(0, 2).data(), permuteRef(a, [2, 3, 4], [2, 1, 0]), EXACT, 'transpose(0, 2)');
      expect(tg.transpose(fromArray([1, 2], [2])).shape).toEqual([2]);
      expect(tg.zeros([0, 3]).transpose().shape).toEqual([3, 0]);
      expect(() => x.permute([0, 1])).toThrow(/permute: 2 dims given for a 3-d tensor/);
      expect(() => x.permute([0, 1, 1])).toThrow(/permute: repeated dim/);
      expect(() => x.permute([0, 1, 3])).toThrow(RangeError);
      expect(() => x.transpose(0, 5)).toThrow(/transpose: dim 5 out of range/);
    });
    gradcheck({
      inputs: [{ values: a, shape: [2, 3, 4] }],
      engine: ([x]) => x.permute([2, 0, 1]).mul(x.permute([2, 0, 1])).transpose(0, 1),
      reference: ([x]) => permuteRef(permuteRef(x, [2, 3, 4], [2, 0, 1]).map((v) => v * v), [4, 2, 3], [1, 0, 2]),
    });
  });

  it('narrow picks a window (negative start counts from the end) and routes its gradient', () => {
    const a = randomArray(5 * 6, 108);
    tg.tidy(() => {
      const x = fromArray(a, [5, 6]);
      const n = x.narrow(1, 2, 3);
      expect(n.storage === x.storage).toBe(true);
      expectClose(n.data(), pickRef(a, [5, 6], 1, [2, 3, 4]), EXACT, 'narrow');
      expectClose(x.narrow(0, -2, 2).data(), pickRef(a, [5, 6], 0, [3, 4]), EXACT, 'narrow negative start');
      expect(x.narrow(1, 6, 0).shape).toEqual([5, 0]);
      expect(() => x.narrow(1, 4, 3)).toThrow(RangeError);
      expect(() => x.narrow(1, 4, 3)).toThrow(/narrow: \[4, 4 \+ 3\) out of range for dim 1 of size 6/);
      expect(() => x.narrow(1, -7, 1)).toThrow(/narrow/);
      expect(() => x.narrow(1, 0, -1)).toThrow(/narrow/);
      expect(() => x.narrow(1, 0.5, 1)).toThrow(/narrow/);
      expect(() => x.narrow(2, 0, 1)).toThrow(/narrow: dim 2 out of range/);
    });
    gradcheck({
      inputs: [{ values: a, shape: [5, 6] }],
      engine: ([x]) => x.transpose().narrow(0, 1, 4).narrow(1, -3, 2),
      reference: ([x]) => pickRef(pickRef(permuteRef(x, [5, 6], [1, 0]), [6, 5], 0, [1, 2, 3, 4]), [4, 5], 1, [2, 3]),
    });
  });

  it('slice follows Python semantics: step, negative and clamped indices', () => {
    const a = randomArray(4 * 7, 109);
    tg.tidy(() => {
      const x = fromArray(a, [4, 7]);
      const cases: [number, number | undefined, number, number[]][] = [
        [0, undefined, 1, range(0, 7)],
        [1, 6, 2, [1, 3, 5]],
        [1, 7, 2, [1, 3, 5]],
        [-5, -1, 2, [2, 4]],
        [-100, 100, 3, [0, 3, 6]],
        [5, 2, 1, []],
        [5, 2, 2, []],
        [6, undefined, 4, [6]],
        [-1, undefined, 1, [6]],
      ];
      for (const [start, end, step, picks] of cases) {
        const s = x.slice(1, start, end, step);
        expect(s.shape).toEqual([4, picks.length]);
        expect(s.storage === x.storage, 'slice is a view').toBe(true);
        expectClose(s.data(), pickRef(a, [4, 7], 1, picks), EXACT, `slice(${start}, ${end}, ${step})`);
      }
      expectClose(x.slice(0, 1, undefined, 2).data(), pickRef(a, [4, 7], 0, [1, 3]), EXACT, 'slice dim 0');
      expectClose(x.slice(-1, 0, 7, 3).slice(0, -3, undefined, 2).data(),
        pickRef(pickRef(a, [4, 7], 1, [0, 3, 6]), [4, 3], 0, [1, 3]), EXACT, 'slice of slice');
      expect(() => x.slice(1, 0, 7, 0)).toThrow(/slice: step must be a positive integer, got 0/);
      expect(() => x.slice(1, 0, 7, -1)).toThrow(RangeError);
      expect(() => x.slice(1, 0, 7, 1.5)).toThrow(/slice/);
      expect(() => x.slice(3)).toThrow(/slice: dim 3 out of range/);
    });
    gradcheck({
      inputs: [{ values: a, shape: [4, 7] }],
      engine: ([x]) => x.slice(1, -6, undefined, 2).slice(0, 1, 4, 2),
      reference: ([x]) => pickRef(pickRef(x, [4, 7], 1, [1, 3, 5]), [4, 3], 0, [1, 3]),
    });
    // empty slices with steps still produce (zero) gradients
    tg.tidy(() => {
      const x = fromArray(a, [4, 7], true);
      x.slice(1, 5, 2, 2).sum().add(x.slice(0, 0, 4, 3).sum()).backward();
      const expected = Float64Array.from(a, (_, f) => (Math.floor(f / 7) === 0 || Math.floor(f / 7) === 3 ? 1 : 0));
      expectClose(x.grad!.data(), expected, EXACT, 'slice gradient');
      x.zeroGrad();
    });
  });

  it('expand broadcasts with stride 0 without copying and sums gradients back', () => {
    const a = randomArray(3, 110);
    tg.tidy(() => {
      const x = fromArray(a, [3, 1]);
      const e = x.expand([2, 3, 4]);
      expect(e.shape).toEqual([2, 3, 4]);
      expect(e.strides).toEqual([0, 1, 0]);
      expect(e.storage === x.storage).toBe(true);
      expectClose(e.data(), [...indices([2, 3, 4])].map(([, j]) => a[j]), EXACT, 'expand');
      expect(x.expand(-1, 5).shape).toEqual([3, 5]);
      expect(x.expand([3, 0]).shape).toEqual([3, 0]);
      expect(x.expand([3, 1]).shape).toEqual([3, 1]);
      expect(() => x.expand([4, 4])).toThrow(/expand: cannot expand \[3, 1\] to \[4, 4\]/);
      expect(() => x.expand([4])).toThrow(/expand: cannot expand \[3, 1\] to fewer dims/);
      expect(() => x.expand([-1, 3, 2])).toThrow(/expand: invalid target shape/);
      // expanding a transposed view
      const y = fromArray(randomArray(4, 111), [1, 4]).transpose().expand(4, 3);
      expect(y.strides).toEqual([1, 0]);
    });
    gradcheck({
      inputs: [{ values: a, shape: [3, 1] }],
      engine: ([x]) => x.expand([2, 3, 4]),
      reference: ([x]) => Float64Array.from([...indices([2, 3, 4])], ([, j]) => x[j]),
    });
    // each expanded copy adds its gradient: d(sum(expand(x)))/dx = number of copies
    tg.tidy(() => {
      const x = fromArray(a, [3, 1], true);
      x.expand([2, 3, 4]).sum().backward();
      expectClose(x.grad!.data(), [8, 8, 8], EXACT, 'expand gradient count');
      x.zeroGrad();
    });
  });

  it('squeeze and unsqueeze add and remove size-1 dims', () => {
    const a = randomArray(6, 112);
    tg.tidy(() => {
      const x = fromArray(a, [1, 2, 1, 3]);
      expect(x.squeeze().shape).toEqual([2, 3]);
      expect(x.squeeze(0).shape).toEqual([2, 1, 3]);
      expect(x.squeeze(-2).shape).toEqual([1, 2, 3]);
      expect(x.squeeze(1).shape).toEqual([1, 2, 1, 3]); // not size 1: unchanged
      expect(x.squeeze().storage === x.storage).toBe(true);
      expect(x.unsqueeze(0).shape).toEqual([1, 1, 2, 1, 3]);
      expect(x.unsqueeze(-1).shape).toEqual([1, 2, 1, 3, 1]);
      expect(x.unsqueeze(4).shape).toEqual([1, 2, 1, 3, 1]);
      expect(tg.tensor(2).unsqueeze(0).shape).toEqual([1]);
      expect(tg.ones([1]).squeeze().shape).toEqual([]);
      expect(tg.zeros([0, 1]).squeeze().shape).toEqual([0]);
      const t = fromArray(a, [2, 3]).transpose();
      const u = t.unsqueeze(1);
      expect(u.storage === t.storage, 'unsqueeze of a non-contiguous tensor is a view').toBe(true);
      expectClose(u.data(), permuteRef(a, [2, 3], [1, 0]), EXACT, 'unsqueeze of transpose');
      expectClose(u.squeeze(1).data(), permuteRef(a, [2, 3], [1, 0]), EXACT, 'squeeze of transpose');
      expect(() => x.unsqueeze(6)).toThrow(/unsqueeze: dim 6 out of range/);
      expect(() => x.squeeze(4)).toThrow(/squeeze: dim 4 out of range/);
    });
    gradcheck({
      inputs: [{ values: a, shape: [2, 1, 3] }],
      engine: ([x]) => x.squeeze(1).transpose().unsqueeze(0).mul(2),
      reference: ([x]) => permuteRef(x, [2, 3], [1, 0]).map((v) => 2 * v),
    });
  });

  it('contiguous copies only when needed; clone always copies', () => {
    const a = randomArray(12, 113);
    tg.tidy(() => {
      const x = fromArray(a, [3, 4]);
      const c = x.contiguous();
      expect(c.storage === x.storage, 'contiguous of contiguous is a view').toBe(true);
      const t = x.transpose();
      expect(t.isContiguous()).toBe(false);
      const tc = t.contiguous();
      expect(tc.storage === x.storage).toBe(false);
      expect(tc.isContiguous()).toBe(true);
      expect(tc.strides).toEqual([3, 1]);
      expectClose(tc.data(), permuteRef(a, [3, 4], [1, 0]), EXACT, 'contiguous of transpose');
      const cl = x.clone();
      expect(cl.storage === x.storage).toBe(false);
      expectClose(cl.data(), a, EXACT, 'clone');
      const cs = x.slice(1, 0, 4, 3).clone();
      expect(cs.isContiguous()).toBe(true);
      expectClose(cs.data(), pickRef(a, [3, 4], 1, [0, 3]), EXACT, 'clone of strided view');
      expect(tg.zeros([0, 4]).transpose().contiguous().shape).toEqual([4, 0]);
      expect(tg.zeros([2, 0]).clone().shape).toEqual([2, 0]);
    });
    gradcheck({
      inputs: [{ values: a, shape: [3, 4] }],
      engine: ([x]) => x.transpose().contiguous().mul(x.transpose().clone()),
      reference: ([x]) => permuteRef(x, [3, 4], [1, 0]).map((v) => v * v),
    });
  });

  it('detach shares data but no gradient flows through it', () => {
    const a = randomArray(6, 114);
    tg.tidy(() => {
      const x = fromArray(a, [2, 3], true);
      const d = x.detach();
      expect(d.storage === x.storage).toBe(true);
      expect(d.requiresGrad).toBe(false);
      expect(d.gradFn).toBeNull();
      expect(d.sum().requiresGrad).toBe(false);
      expect(() => d.sum().backward()).toThrow(/backward: tensor does not require grad/);
      // d(x * detach(x))/dx = detach(x) = x, not 2x
      x.mul(d).sum().backward();
      expectClose(x.grad!.data(), a, EXACT, 'gradient through detach');
      x.zeroGrad();
      expect(x.transpose().detach().strides).toEqual([1, 3]);
    });
  });

  it('cast truncates toward zero, saturates, maps NaN to 0, and is exact for small ints', () => {
    tg.tidy(() => {
      const f = tg.tensor([1.7, -1.7, 2.5, -0.5, 0.99, -0, NaN, 3e9, -3e9, Infinity, -Infinity, 16777216]);
      const i = f.to('int32');
      expect(i.dtype).toBe('int32');
      // NOTE: float->int of NaN/out-of-range is UB in C++; the engine defines NaN -> 0 and saturation.
      expect(Array.from(i.data())).toEqual([1, -1, 2, 0, 0, 0, 0, 2147483647, -2147483648, 2147483647, -2147483648, 16777216]);
      const back = tg.tensor(Int32Array.from([-3, 0, 7, 16777217, -2147483648])).float();
      expect(back.dtype).toBe('float32');
      expect(Array.from(back.data())).toEqual([-3, 0, 7, 16777216, -2147483648]); // float32 rounding of 2^24 + 1
      // non-contiguous source, empty, and int -> int / float -> float copies
      const m = fromArray([1.5, 2.5, 3.5, 4.5, 5.5, 6.5], [2, 3]).transpose().int();
      expect(m.toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
      expect(tg.zeros([0, 2]).int().shape).toEqual([0, 2]);
      const ii = tg.arange(0, 4).to('int32');
      expect(ii.storage === tg.arange(0, 4).storage).toBe(false);
      expect(() => f.to('float64' as unknown as tg.DType)).toThrow(TypeError);
      expect(() => f.to('float64' as unknown as tg.DType)).toThrow(/cast: unsupported dtype float64/);
    });
    const a = randomArray(6, 115);
    gradcheck({ inputs: [{ values: a, shape: [2, 3] }], engine: ([x]) => x.transpose().float(), reference: ([x]) => permuteRef(x, [2, 3], [1, 0]) });
    tg.tidy(() => {
      const x = fromArray(a, [6], true);
      expect(x.int().requiresGrad, 'int results are not differentiable').toBe(false);
    });
  });

  it('cat joins along any dim, handles empty parts, and splits the gradient', () => {
    const s0 = [2, 1, 3];
    const s1 = [2, 2, 3];
    const s2 = [2, 3, 3];
    const a0 = randomArray(6, 116);
    const a1 = randomArray(12, 117);
    const a2 = randomArray(18, 118);
    tg.tidy(() => {
      const y = tg.cat([fromArray(a0, s0), fromArray(a1, s1), fromArray(a2, s2)], 1);
      expect(y.shape).toEqual([2, 6, 3]);
      expectClose(y.data(), catRef([a0, a1, a2], [s0, s1, s2], 1), EXACT, 'cat dim 1');
      const z = tg.cat([fromArray(a1, [4, 3]), fromArray(a0, [2, 3])], -2);
      expectClose(z.data(), catRef([a1, a0], [[4, 3], [2, 3]], 0), EXACT, 'cat dim -2');
      // transposed (non-contiguous) parts and an empty part
      const t = fromArray(a1, [3, 4]).transpose();
      const w = tg.cat([t, tg.zeros([4, 0]), fromArray(a0.slice(0, 4), [4, 1]).slice(0, 0, 4)], 1);
      expectClose(w.data(), catRef([permuteRef(a1, [3, 4], [1, 0]), a0.slice(0, 4)], [[4, 3], [4, 1]], 1), EXACT, 'cat of views');
      expect(tg.cat([tg.zeros([0, 2]), tg.zeros([0, 2])]).shape).toEqual([0, 2]);
      expect(tg.cat([fromArray([1, 2], [2])]).toArray()).toEqual([1, 2]);
      expect(tg.cat([tg.arange(0, 2), tg.arange(5, 7)]).toArray()).toEqual([0, 1, 5, 6]);
      expect(() => tg.cat([])).toThrow(/cat: expected a non-empty array/);
      expect(() => tg.cat([tg.ones([2, 3]), tg.ones([3, 3])], 1)).toThrow(/cat: shapes \[2, 3\] float32, \[3, 3\] float32 do not match outside dim 1/);
      expect(() => tg.cat([tg.ones([2]), tg.arange(0, 2)])).toThrow(/cat: shapes/);
      expect(() => tg.cat([tg.ones([2]), tg.ones([2, 1])])).toThrow(RangeError);
      expect(() => tg.cat([tg.ones([2]), null as unknown as tg.Tensor])).toThrow(TypeError);
      expect(() => tg.cat([tg.ones([2])], 2)).toThrow(/cat: dim 2 out of range/);
    });
    gradcheck({
      inputs: [{ values: a0, shape: s0 }, { values: a1, shape: s1 }, { values: a2, shape: s2 }],
      engine: ([x, y, z]) => tg.cat([x, y, z], 1),
      reference: ([x, y, z]) => catRef([x, y, z], [s0, s1, s2], 1),
    });
    // a non-contiguous part: cat([x, y^T]) along the last dim
    gradcheck({
      inputs: [{ values: a0, shape: [3, 2] }, { values: a1, shape: [4, 3] }],
      engine: ([x, y]) => tg.cat([x, y.transpose()], 1),
      reference: ([x, y]) => catRef([x, permuteRef(y, [4, 3], [1, 0])], [[3, 2], [3, 4]], 1),
    });
  });

  it('stack adds a new dim at any position', () => {
    const a = randomArray(6, 119);
    const b = randomArray(6, 120);
    tg.tidy(() => {
      const x = fromArray(a, [2, 3]);
      const y = fromArray(b, [2, 3]);
      const s0 = tg.stack([x, y]);
      expect(s0.shape).toEqual([2, 2, 3]);
      expectClose(s0.data(), [...a, ...b], EXACT, 'stack dim 0');
      const s2 = tg.stack([x, y], -1);
      expect(s2.shape).toEqual([2, 3, 2]);
      expectClose(s2.data(), [...indices([2, 3, 2])].map(([i, j, k]) => (k === 0 ? a : b)[i * 3 + j]), EXACT, 'stack dim -1');
      const s1 = tg.stack([x, y.transpose().transpose()], 1);
      expectClose(s1.data(), [...indices([2, 2, 3])].map(([i, k, j]) => (k === 0 ? a : b)[i * 3 + j]), EXACT, 'stack dim 1');
      expect(tg.stack([tg.tensor(1), tg.tensor(2)]).toArray()).toEqual([1, 2]);
      expect(tg.stack([tg.zeros([0])], 1).shape).toEqual([0, 1]);
      expect(() => tg.stack([x, tg.ones([3, 2])])).toThrow(/stack: shapes differ: \[2, 3\], \[3, 2\]/);
      expect(() => tg.stack([])).toThrow(/stack: expected a non-empty array/);
      expect(() => tg.stack([x], 3)).toThrow(/stack: dim 3 out of range/);
    });
    gradcheck({
      inputs: [{ values: a, shape: [2, 3] }, { values: b, shape: [2, 3] }],
      engine: ([x, y]) => tg.stack([x, y.mul(y)], 1),
      reference: ([x, y]) => Float64Array.from([...indices([2, 2, 3])], ([i, k, j]) => (k === 0 ? x[i * 3 + j] : y[i * 3 + j] ** 2)),
    });
  });

  it('split and chunk return views that carry gradients', () => {
    const a = randomArray(3 * 5, 121);
    tg.tidy(() => {
      const x = fromArray(a, [3, 5]);
      const parts = x.split(2, 1);
      expect(parts.map((p) => p.shape)).toEqual([[3, 2], [3, 2], [3, 1]]);
      for (const p of parts) expect(p.storage === x.storage).toBe(true);
      expectClose(parts[1].data(), pickRef(a, [3, 5], 1, [2, 3]), EXACT, 'split part 1');
      const bySizes = x.split([1, 0, 4], -1);
      expect(bySizes.map((p) => p.shape)).toEqual([[3, 1], [3, 0], [3, 4]]);
      expectClose(bySizes[2].data(), pickRef(a, [3, 5], 1, [1, 2, 3, 4]), EXACT, 'split by sizes');
      expect(x.split(5, 1).length).toBe(1);
      expect(x.split(7, 1).map((p) => p.shape)).toEqual([[3, 5]]);
      expect(x.chunk(3, 1).map((p) => p.shape)).toEqual([[3, 2], [3, 2], [3, 1]]);
      expect(tg.ones([6]).chunk(4).map((p) => p.shape)).toEqual([[2], [2], [2]]); // like torch.chunk
      expect(x.chunk(1, 0)[0].shape).toEqual([3, 5]);
      expect(x.transpose().chunk(2, 0).map((p) => p.shape)).toEqual([[3, 3], [2, 3]]);
      expectClose(x.transpose().chunk(2, 0)[1].data(), pickRef(permuteRef(a, [3, 5], [1, 0]), [5, 3], 0, [3, 4]), EXACT, 'chunk of transpose');
      expect(() => x.split([2, 2], 1)).toThrow(/split: sizes \[2, 2\] do not sum to 5/);
      expect(() => x.split(0, 1)).toThrow(/split: size must be a positive integer, got 0/);
      expect(() => x.split([6, -1], 1)).toThrow(/split/);
      expect(() => x.chunk(0, 1)).toThrow(RangeError);
      expect(() => x.chunk(0, 1)).toThrow(/chunk/);
      expect(() => x.chunk(1.5, 1)).toThrow(/chunk/);
      expect(() => x.split(2, 2)).toThrow(/split: dim 2 out of range/);
    });
    gradcheck({
      inputs: [{ values: a, shape: [3, 5] }],
      engine: ([x]) => {
        const [p, q, r] = x.split(2, 1);
        return p.mul(q).add(r);
      },
      reference: ([x]) => Float64Array.from([...indices([3, 2])], ([i, j]) => x[i * 5 + j] * x[i * 5 + 2 + j] + x[i * 5 + 4]),
    });
    gradcheck({
      inputs: [{ values: a, shape: [5, 3] }],
      engine: ([x]) => {
        const [p, q] = x.chunk(2, 0);
        return tg.cat([q, p.mul(3)], 0);
      },
      reference: ([x]) => Float64Array.from([...x.slice(9), ...x.slice(0, 9).map((v) => 3 * v)]),
    });
  });

  it('rejects non-tensors and disposed tensors in every op, and the process lives', () => {
    const notTensor = { shape: [2] } as unknown as tg.Tensor;
    const ops: [string, (t: tg.Tensor) => unknown][] = [
      ['reshape', (t) => tg.reshape(t, [-1])], ['view', (t) => tg.view(t, [-1])], ['flatten', (t) => tg.flatten(t)],
      ['permute', (t) => tg.permute(t, [0])], ['transpose', (t) => tg.transpose(t)], ['narrow', (t) => tg.narrow(t, 0, 0, 1)],
      ['slice', (t) => tg.slice(t, 0)], ['expand', (t) => tg.expand(t, [2])], ['squeeze', (t) => tg.squeeze(t)],
      ['unsqueeze', (t) => tg.unsqueeze(t, 0)], ['contiguous', (t) => tg.contiguous(t)], ['clone', (t) => tg.clone(t)],
      ['detach', (t) => tg.detach(t)], ['cast', (t) => tg.cast(t, 'int32')], ['cat', (t) => tg.cat([t])],
      ['stack', (t) => tg.stack([t])], ['split', (t) => tg.split(t, 1)], ['chunk', (t) => tg.chunk(t, 1)],
    ];
    const dead = tg.ones([2]);
    dead.dispose();
    for (const [name, op] of ops) {
      expect(() => op(notTensor), name).toThrow(TypeError);
      expect(() => op(notTensor), name).toThrow(new RegExp(`^${name}: expected a Tensor`));
      expect(() => op(dead), name).toThrow(new RegExp(`^${name}: tensor \\[2\\] has been disposed`));
    }
    tg.tidy(() => {
      expect(tg.ones([2]).reshape([2, 1]).shape).toEqual([2, 1]);
    });
  });
}));
