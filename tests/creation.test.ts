// Creating tensors: from nested/typed arrays, constants, ranges and the seeded Philox generator (replay,
// state save/restore, distribution moments), plus reading values back (data, toArray, item).
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { expectClose, forEachBackend, indices, randomArray, randomInts } from './helpers/reference.js';

// Values written from JS are stored as float32: the reference is Math.fround of the input, bit-exact.
const EXACT = { atol: 0, rtol: 0 };

const moments = (v: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  const mean = s / v.length;
  let q = 0;
  for (let i = 0; i < v.length; i++) q += (v[i] - mean) ** 2;
  return { mean, std: Math.sqrt(q / (v.length - 1)) };
};

forEachBackend((device) => describe(`creation on ${device}`, () => {
  it('tensor() from nested arrays, typed arrays, flat arrays with a shape, and scalars', () => {
    const a = randomArray(24, 601, 10);
    tg.tidy(() => {
      const nested = [...Array(2)].map((_, i) => [...Array(3)].map((_, j) => [...Array(4)].map((_, k) => a[i * 12 + j * 4 + k])));
      const t = tg.tensor(nested, undefined, { device });
      expect(t.shape).toEqual([2, 3, 4]);
      expect(t.dtype).toBe('float32');
      expect(t.device).toBe(device);
      expectClose(t.data(), a, EXACT, 'nested');
      expect(t.toArray()).toEqual(nested);
      const f = tg.tensor(Float32Array.from(a));
      expect(f.shape).toEqual([24]);
      expectClose(f.data(), a, EXACT, 'Float32Array');
      const shaped = tg.tensor(Float32Array.from(a), [4, 6]);
      expect(shaped.shape).toEqual([4, 6]);
      const i = tg.tensor(Int32Array.from([3, -1, 2147483647, -2147483648]));
      expect(i.dtype).toBe('int32');
      expect(Array.from(i.data())).toEqual([3, -1, 2147483647, -2147483648]);
      expect(tg.tensor(Int32Array.from([1, 2]), [2], { dtype: 'float32' }).dtype).toBe('float32');
      expect(tg.tensor([1, 2, 3, 4, 5, 6], [2, 3]).toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
      expect(tg.tensor([[1, 2], [3, 4]], [4]).toArray()).toEqual([1, 2, 3, 4]); // nested data, new shape
      expect(tg.tensor([7, 8], [2], { dtype: 'int32' }).dtype).toBe('int32');
      expect((tg.tensor([0.1, 1e-50, 1e40, -0, NaN, -Infinity]).toArray() as number[]).map(String))
        .toEqual([Math.fround(0.1), 0, Infinity, 0, NaN, -Infinity].map(String)); // float32 rounding
      const s = tg.tensor(2.5);
      expect(s.shape).toEqual([]);
      expect(s.item()).toBe(2.5);
      expect(tg.tensor([5], []).shape).toEqual([]);
      expect(tg.tensor([]).shape).toEqual([0]);
      expect(tg.tensor([[], []]).shape).toEqual([2, 0]);
      expect(tg.tensor(new Float32Array(0), [3, 0]).shape).toEqual([3, 0]);
      expect(tg.tensor([1, 2], undefined, { requiresGrad: true }).requiresGrad).toBe(true);
    });
  });

  it('tensor() rejects ragged arrays, bad values and mismatched shapes', () => {
    expect(() => tg.tensor([[1, 2], [3]])).toThrow(RangeError);
    expect(() => tg.tensor([[1, 2], [3]])).toThrow(/tensor: ragged nested array/);
    expect(() => tg.tensor([1, [2]] as unknown as number[])).toThrow(/tensor: ragged/);
    expect(() => tg.tensor([[1], 2] as unknown as number[][])).toThrow(/tensor: ragged/);
    expect(() => tg.tensor([[[1, 2]], [[3]]])).toThrow(/tensor: ragged/);
    expect(() => tg.tensor(['a', 'b'] as unknown as number[])).toThrow(TypeError);
    expect(() => tg.tensor(['a', 'b'] as unknown as number[], [2])).toThrow(/tensor: expected numbers or nested arrays, got string/);
    expect(() => tg.tensor([[1, 2], [3, 4]], [2])).toThrow(/tensor: 4 values do not fill shape \[2\]/);
    expect(() => tg.tensor([1, 2, 3], [2, 2])).toThrow(/tensor: 3 values do not fill shape \[2, 2\]/);
    expect(() => tg.tensor(Float32Array.from([1, 2, 3]), [2, 2])).toThrow(RangeError);
    expect(() => tg.tensor([1, 2], [-1, -2])).toThrow(/tensor: invalid shape/);
    expect(() => tg.tensor('12' as unknown as number[])).toThrow(/tensor: unsupported data/);
    expect(() => tg.tensor(new Float64Array(2) as unknown as number[])).toThrow(TypeError);
    expect(() => tg.tensor([1.5], [1], { dtype: 'int32' })).toThrow(/tensor: int32 tensor needs integers, got 1.5/);
    expect(() => tg.tensor([2 ** 31], [1], { dtype: 'int32' })).toThrow(/tensor: .*2147483648.*int32/);
    expect(() => tg.tensor([1, 2], [2], { requiresGrad: true, dtype: 'int32' })).toThrow(TypeError);
    expect(tg.tidy(() => tg.tensor([1, 2]).sum().item())).toBe(3);
  });

  it('zeros, ones, full and the *Like variants', () => {
    tg.tidy(() => {
      expect(tg.zeros([2, 3]).toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
      expect(tg.ones([3]).toArray()).toEqual([1, 1, 1]);
      expect(tg.ones([]).item()).toBe(1);
      expect(tg.full([2, 2], -2.5).toArray()).toEqual([[-2.5, -2.5], [-2.5, -2.5]]);
      expect(tg.full([2], 0.1).toArray()).toEqual([Math.fround(0.1), Math.fround(0.1)]);
      expect(Array.from(tg.full([2], NaN).data()).every(Number.isNaN)).toBe(true);
      const zi = tg.zeros([2], { dtype: 'int32' });
      expect(zi.dtype).toBe('int32');
      expect(Array.from(tg.full([3], 7, { dtype: 'int32' }).data())).toEqual([7, 7, 7]);
      expect(tg.zeros([0, 4]).shape).toEqual([0, 4]);
      expect(tg.full([3, 0], 1).numel).toBe(0);
      const big = tg.full([1000], 3); // past the first kernel chunk
      expect(Array.from(big.data()).every((v) => v === 3)).toBe(true);
      const like = tg.onesLike(zi);
      expect(like.dtype).toBe('int32');
      expect(Array.from(like.data())).toEqual([1, 1]);
      expect(tg.zerosLike(tg.ones([2, 3])).toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
      expect(tg.fullLike(tg.ones([2]).transpose(), 4).toArray()).toEqual([4, 4]);
      expect(tg.zerosLike(zi, { dtype: 'float32' }).dtype).toBe('float32');
      expect(tg.ones([2], { requiresGrad: true }).requiresGrad).toBe(true);
      expect(() => tg.zeros([2, -1])).toThrow(/full: invalid shape \[2, -1\]/);
      expect(() => tg.ones([1.5])).toThrow(RangeError);
      expect(() => tg.full([2], '1' as unknown as number)).toThrow(/full: value must be a number, got string/);
      expect(() => tg.full(3 as unknown as number[], 1)).toThrow(/full: shape must be an array/);
      expect(() => tg.empty([-3])).toThrow(/empty: invalid shape/);
      expect(tg.empty([2, 3]).shape).toEqual([2, 3]);
    });
  });

  it('arange: int and float, negative steps, empty ranges, bad arguments', () => {
    tg.tidy(() => {
      const r = tg.arange(5);
      expect(r.dtype).toBe('int32');
      expect(r.toArray()).toEqual([0, 1, 2, 3, 4]);
      expect(tg.arange(2, 8, 3).toArray()).toEqual([2, 5]);
      expect(tg.arange(-3, 3, 2).toArray()).toEqual([-3, -1, 1]);
      expect(tg.arange(5, 0, -1).toArray()).toEqual([5, 4, 3, 2, 1]);
      expect(tg.arange(5, 0, -2).toArray()).toEqual([5, 3, 1]);
      const f = tg.arange(0, 1, 0.25);
      expect(f.dtype).toBe('float32');
      expect(f.toArray()).toEqual([0, 0.25, 0.5, 0.75]);
      const g = tg.arange(1, -1, -0.3);
      expectClose(g.data(), [0, 1, 2, 3, 4, 5, 6].map((i) => 1 - 0.3 * i), { atol: 0, rtol: 1e-7 }, 'arange float negative step');
      expect(tg.arange(0.5, 3).toArray()).toEqual([0.5, 1.5, 2.5]);
      expect(tg.arange(0, 3, 1, { dtype: 'float32' }).dtype).toBe('float32');
      expect(tg.arange(0, 0.1 * 3, 0.1).numel).toBe(4); // like torch: ceil(0.30000000000000004 / 0.1) = 4
      for (const [s, e, st] of [[3, 3, 1], [5, 0, 1], [0, 5, -1], [0, 0.5, 1]]) {
        const t = tg.arange(s, e, st);
        expect(t.shape, `arange(${s}, ${e}, ${st})`).toEqual([s === 0 && e === 0.5 ? 1 : 0]);
      }
      const big = tg.arange(100000);
      const d = big.data();
      expect(d[99999]).toBe(99999);
      expect(tg.arange(0, 4, 1, { requiresGrad: true, dtype: 'float32' }).requiresGrad).toBe(true);
      expect(() => tg.arange(0, 5, 0)).toThrow(/arange: invalid step 0/);
      expect(() => tg.arange(0, 5, NaN)).toThrow(RangeError);
      expect(() => tg.arange(NaN)).toThrow(/arange/);
      expect(() => tg.arange(0, Infinity)).toThrow(/arange/);
      expect(() => tg.arange(0, '5' as unknown as number)).toThrow(/arange/);
    });
  });

  it('rand and randn replay under manualSeed and move on after', () => {
    tg.tidy(() => {
      tg.manualSeed(1234);
      const a = tg.rand([257]).data();
      const n = tg.randn([257]).data();
      tg.manualSeed(1234);
      expect(Array.from(tg.rand([257]).data())).toEqual(Array.from(a));
      expect(Array.from(tg.randn([257]).data())).toEqual(Array.from(n));
      const after = tg.rand([257]).data();
      expect(Array.from(after)).not.toEqual(Array.from(a));
      tg.manualSeed(1235);
      expect(Array.from(tg.rand([257]).data())).not.toEqual(Array.from(a));
      // draws of odd sizes use whole 4-lane blocks and never overlap: rand(3), rand(3) == rand(8)[0:3], [4:7]
      tg.manualSeed(7);
      const p = Array.from(tg.rand([3]).data());
      const q = Array.from(tg.rand([3]).data());
      tg.manualSeed(7);
      const whole = Array.from(tg.rand([8]).data());
      expect(p).toEqual(whole.slice(0, 3));
      expect(q).toEqual(whole.slice(4, 7));
      // the result does not depend on the thread split: one big draw equals its prefix drawn alone
      tg.manualSeed(9);
      const long = tg.randn([50000]).data();
      tg.manualSeed(9);
      expect(Array.from(tg.randn([12]).data())).toEqual(Array.from(long.subarray(0, 12)));
      expect(tg.rand([0]).shape).toEqual([0]);
      expect(tg.randn([2, 0, 3]).shape).toEqual([2, 0, 3]);
      expect(tg.rand([2], { requiresGrad: true }).requiresGrad).toBe(true);
      expect(() => tg.manualSeed(-1)).toThrow(/manualSeed: seed must be a non-negative safe integer, got -1/);
      expect(() => tg.manualSeed(1.5)).toThrow(RangeError);
      expect(() => tg.rand([-2])).toThrow(/rand: invalid shape/);
      expect(() => tg.randn([2.5])).toThrow(/randn: invalid shape/);
    });
  });

  it('getRngState/setRngState replays a stream; bad states are rejected without changing it', () => {
    tg.tidy(() => {
      tg.manualSeed(42);
      tg.rand([10]);
      const state = tg.getRngState();
      const x = Array.from(tg.randn([33]).data());
      const y = Array.from(tg.rand([5]).data());
      tg.manualSeed(0);
      tg.rand([100]);
      tg.setRngState(state);
      expect(Array.from(tg.randn([33]).data())).toEqual(x);
      expect(Array.from(tg.rand([5]).data())).toEqual(y);
      // the state is a copy: mutating it does not move the generator
      const s2 = tg.getRngState();
      s2.counter += 1000;
      expect(tg.getRngState().counter).not.toBe(s2.counter);
      const before = tg.getRngState();
      expect(() => tg.setRngState({ seed: 5, counter: -1 })).toThrow(/setRngState: invalid counter/);
      expect(() => tg.setRngState({ seed: -5, counter: 0 })).toThrow(RangeError);
      expect(() => tg.setRngState(null as unknown as { seed: number; counter: number })).toThrow(TypeError);
      expect(() => tg.setRngState(null as unknown as { seed: number; counter: number })).toThrow(/setRngState/);
      expect(tg.getRngState(), 'a rejected state leaves the generator as it was').toEqual(before);
    });
  });

  it('100k draws: randn mean/std within 1%, rand uniform on [low, high)', () => {
    // standard errors at n = 1e5: mean 0.0032 (sigma 1), std 0.0022, uniform mean 0.0009: the bounds are 3-5 sigma
    tg.manualSeed(2024);
    tg.tidy(() => {
      const n = tg.randn([100000]).data();
      const m = moments(n);
      expect(Math.abs(m.mean)).toBeLessThan(0.01);
      expect(Math.abs(m.std - 1)).toBeLessThan(0.01);
      const shifted = moments(tg.randn([100000], { mean: 3, std: 0.5 }).data());
      expect(Math.abs(shifted.mean - 3)).toBeLessThan(0.005);
      expect(Math.abs(shifted.std - 0.5)).toBeLessThan(0.005);
      const u = tg.rand([100000]).data();
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of u) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(hi).toBeLessThan(1);
      const mu = moments(u);
      expect(Math.abs(mu.mean - 0.5)).toBeLessThan(0.005);
      expect(Math.abs(mu.std - Math.sqrt(1 / 12))).toBeLessThan(0.01 * Math.sqrt(1 / 12));
      const r = tg.rand([100000], { low: -2, high: 3 }).data();
      expect(Math.min(...r)).toBeGreaterThanOrEqual(-2);
      expect(Math.max(...r)).toBeLessThan(3);
      expect(Math.abs(moments(r).mean - 0.5)).toBeLessThan(0.025);
    });
  });

  it('randint draws int32 values in [low, high), reproducibly', () => {
    tg.tidy(() => {
      tg.manualSeed(5);
      const r = tg.randint(-3, 4, [10000]);
      expect(r.dtype).toBe('int32');
      const d = Array.from(r.data());
      expect(Math.min(...d)).toBe(-3);
      expect(Math.max(...d)).toBe(3);
      const counts = new Map<number, number>();
      for (const v of d) counts.set(v, (counts.get(v) ?? 0) + 1);
      expect(counts.size).toBe(7);
      for (const c of counts.values()) expect(Math.abs(c - 10000 / 7)).toBeLessThan(150); // ~4 sigma
      tg.manualSeed(5);
      expect(Array.from(tg.randint(-3, 4, [10000]).data())).toEqual(d);
      expect(Array.from(tg.randint(7, 8, [5]).data())).toEqual([7, 7, 7, 7, 7]);
      expect(tg.randint(0, 10, [2, 0]).shape).toEqual([2, 0]);
      expect(tg.randint(0, 10, [2, 3]).shape).toEqual([2, 3]);
      expect(() => tg.randint(5, 5, [2])).toThrow(/randint: need integers low < high, got 5, 5/);
      expect(() => tg.randint(0, 2.5, [2])).toThrow(RangeError);
      expect(() => tg.randint(0, 2, [-1])).toThrow(/invalid shape/);
    });
  });

  it('data, toArray and item read values back', () => {
    const ints = randomInts(6, 100, 602);
    tg.tidy(() => {
      const x = tg.tensor([[1, 2, 3], [4, 5, 6]]);
      const d = x.data();
      expect(d).toBeInstanceOf(Float32Array);
      d[0] = 99; // a copy: the tensor is unchanged
      expect(x.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
      expect(x.transpose().toArray()).toEqual([[1, 4], [2, 5], [3, 6]]);
      expect(Array.from(x.slice(1, 0, 3, 2).data())).toEqual([1, 3, 4, 6]);
      const i = tg.tensor(Int32Array.from(ints), [3, 2]);
      expect(i.data()).toBeInstanceOf(Int32Array);
      expect(i.toArray()).toEqual([...indices([3, 2])].reduce<number[][]>((rows, [r, c]) => {
        (rows[r] ??= []).push(ints[r * 2 + c]);
        return rows;
      }, []));
      expect(tg.zeros([2, 0]).toArray()).toEqual([[], []]);
      expect(tg.zeros([0, 2]).toArray()).toEqual([]);
      expect(tg.tensor(3).toArray()).toBe(3);
      expect(tg.tensor([[[7]]]).item()).toBe(7);
      expect(tg.arange(4, 5).item()).toBe(4);
      expect(x.narrow(1, 2, 1).narrow(0, 1, 1).item()).toBe(6);
      expect(() => x.item()).toThrow(RangeError);
      expect(() => x.item()).toThrow(/item: tensor of shape \[2, 3\] has 6 elements, expected 1/);
      expect(() => tg.zeros([0]).item()).toThrow(/item: tensor of shape \[0\] has 0 elements/);
      expect(String(x)).toBe('Tensor([2, 3], float32)');
    });
    const dead = tg.ones([1]);
    dead.dispose();
    expect(() => dead.data()).toThrow(/data: tensor \[1\] has been disposed/);
    expect(() => dead.item()).toThrow(/disposed/);
    expect(() => dead.toArray()).toThrow(/disposed/);
  });
}));
