// Every native entry point of the core families, called wrongly: each throws a JS TypeError/RangeError
// naming the op, and the process lives on to run the next call correctly.
import { describe, expect, it } from 'vitest';
import { native } from '../src/native.js';
import * as tg from '../src/index.js';

const F32 = 0;
const I32 = 1;
const BF16 = 2;

describe('native entry points reject bad input', () => {
  it('memory functions', () => {
    expect(() => native.alloc(-1, F32)).toThrow(RangeError);
    expect(() => native.alloc(1.5, F32)).toThrow(/alloc: numel must be an integer/);
    expect(() => native.alloc(4, 7)).toThrow(/unknown dtype/);
    expect(() => (native.alloc as unknown as () => number)()).toThrow(/missing argument/);
    const id = native.alloc(4, F32);
    expect(() => native.write(id, 0, new Int32Array(4))).toThrow(/needs a Float32Array/);
    expect(() => native.write(id, 2, new Float32Array(4))).toThrow(/exceed its buffer of 4/);
    expect(() => native.read(id, -1, new Float32Array(1))).toThrow(RangeError);
    expect(() => native.read(id, 0, [1, 2] as unknown as Float32Array)).toThrow(/typed array/);
    expect(() => native.read(12345678, 0, new Float32Array(1))).toThrow(/disposed or unknown buffer/);
    expect(() => native.read('x' as unknown as number, 0, new Float32Array(1))).toThrow(TypeError);
    expect(() => native.fill(id, 0, 5, 1)).toThrow(RangeError);
    expect(() => native.randomFill(id, 4, 9, 1, 0, 0, 1)).toThrow(/kind must be/);
    expect(() => native.setNumThreads(0)).toThrow(RangeError);
    expect(native.free(id)).toBe(true);
    expect(native.free(id)).toBe(false);
    expect(() => native.read(id, 0, new Float32Array(1))).toThrow(/disposed/);
  });

  it('bfloat16 buffers: host arrays, ranges in 2-byte elements, kernels that take only float32', () => {
    const b = native.alloc(4, BF16);
    expect(native.stats().liveBytes).toBeGreaterThanOrEqual(8);
    expect(() => native.write(b, 0, new Int32Array(4))).toThrow(/write: a bfloat16 buffer needs a Float32Array \(values\) or a Uint16Array/);
    expect(() => native.write(b, 1, new Uint16Array(4))).toThrow(/exceed its buffer of 4/);
    expect(() => native.read(b, 0, new Float64Array(4) as unknown as Float32Array)).toThrow(TypeError);
    expect(() => native.arange(b, 4, 0, 1)).toThrow(/arange: id must be float32 or int32, got bfloat16/);
    expect(() => native.randomFill(b, 4, 0, 1, 0, 0, 1)).toThrow(/must be float32, got bfloat16/);
    const out = native.alloc(4, F32);
    expect(() => native.unary(0, out, b, 0, [4], [1], 0, 0)).toThrow(/unary: x must be float32, got bfloat16/);
    expect(() => native.indexAdd(b, out, 0, 1, 4, 1, out, 0, 0)).toThrow(/indexAdd: out must be float32, got bfloat16/);
    native.write(b, 0, new Float32Array([1, 1 + 2 ** -8, -0, 3]));
    const bits = new Uint16Array(4);
    native.read(b, 0, bits);
    expect(Array.from(bits)).toEqual([0x3f80, 0x3f80, 0x8000, 0x4040]);
    native.free(b);
    native.free(out);
  });

  it('elementwise, reduce and index functions', () => {
    const x = native.alloc(6, F32);
    const out = native.alloc(6, F32);
    const ints = native.alloc(6, I32);
    expect(() => native.unary(99, out, x, 0, [6], [1], 0, 0)).toThrow(/unknown op code/);
    expect(() => native.unary(0, out, x, 0, [7], [1], 0, 0)).toThrow(/exceeds its buffer/);
    expect(() => native.unary(0, out, x, 0, [2, 3], [3], 0, 0)).toThrow(/differ in length/);
    expect(() => native.unary(0, out, x, 0, [2, 3], [-3, 1], 0, 0)).toThrow(/negative stride/);
    expect(() => native.unary(0, out, ints, 0, [6], [1], 0, 0)).toThrow(/must be float32, got int32/);
    expect(() => native.unary(0, out, x, 0, [6], ['a'] as unknown as number[], 0, 0)).toThrow(TypeError);
    expect(() => native.unary(0, out, x, 0, new Array(13).fill(1), new Array(13).fill(1), 0, 0)).toThrow(/more than 12/);
    expect(() => native.binary(0, out, x, 0, [1, 1], x, 0, [3, 1], [3, 3])).toThrow(/exceeds its buffer/);
    expect(() => native.where(out, x, 0, [1], x, 0, [1], x, 1, [1], [6])).toThrow(RangeError);
    expect(() => native.copy(out, 0, [0], x, 0, [1], [6])).toThrow(/broadcast view/);
    expect(() => native.reduceRows(0, out, x, 0, 3, 3)).toThrow(/exceed/);
    expect(() => native.reduceRows(5, out, x, 0, 2, 3)).toThrow(/must be int32/);
    expect(() => native.reduceCols(5, ints, x, 0, 2, 3)).toThrow(/rows only/);
    expect(() => native.reduceRows(5, ints, x, 0, 2, 0)).toThrow(/empty dimension/);
    native.write(ints, 0, Int32Array.from([0, 1, 2, 9, 0, 0]));
    expect(() => native.indexSelect(out, x, 0, 1, 3, 2, ints, 1, 3)).toThrow(/index 9 at position 2 is out of range for a dimension of size 3/);
    expect(() => native.gather(out, x, 0, 1, 3, 2, x, 0, 1)).toThrow(/must be int32/);
    expect(() => native.scatterAdd(out, x, 0, 1, 6, 1, ints, 0, 6)).toThrow(/out of range/);
    expect(() => native.indexAdd(out, x, 0, 1, 6, 1, ints, 4, 3)).toThrow(/exceed/);
    expect(() => native.matmul(out, x, new Float64Array([0]), 3, false, x, new Float64Array([0]), 2, false, 3, 2, 3, 1, 1, 0))
      .toThrow(/a: a 3x3 operand at offset 0 exceeds its buffer of 6/);
    expect(() => native.matmul(out, x, [0] as unknown as Float64Array, 3, false, x, new Float64Array([0]), 2, false, 2, 2, 3, 1, 1, 0))
      .toThrow(/Float64Array/);
    expect(() => native.matmul(out, x, new Float64Array([0, 0]), 3, false, x, new Float64Array([0]), 2, false, 2, 2, 3, 1, 1, 0))
      .toThrow(/expected 1/);
    expect(() => native.matmul(out, x, new Float64Array([-1]), 3, false, x, new Float64Array([0]), 2, false, 1, 1, 1, 1, 1, 0))
      .toThrow(/invalid offset/);
    expect(() => native.matmul(out, x, new Float64Array([0]), 3, false, x, new Float64Array([0]), 2, false, 2, 2, 3, 1, 1, 0, 'low'))
      .toThrow(/thinkgrad.matmul: precision must be 'highest' or 'medium', got 'low'/);
    expect(() => native.matmul(out, x, new Float64Array([0]), 3, false, x, new Float64Array([0]), 2, false, 2, 2, 3, 1, 1, 0, 7 as never))
      .toThrow(TypeError);
    expect(() => native.gemmPackedSize(4, 4, 'fast')).toThrow(/gemmPackedSize: precision must be 'highest' or 'medium'/);
    for (const id of [x, out, ints]) native.free(id);
  });

  it('public ops stay alive after NaN-producing inputs: NaN propagates as in IEEE arithmetic', () => {
    tg.tidy(() => {
      const x = tg.tensor([-1, 0, 1, NaN]);
      expect(Array.from(tg.log(x).data()).map((v) => (Number.isNaN(v) ? 'nan' : v))).toEqual(['nan', -Infinity, 0, 'nan']);
      expect(Number.isNaN(tg.sum(x).item())).toBe(true);
      expect(Number.isNaN(tg.max(x).item())).toBe(true);
      expect(tg.argmax(x).item()).toBe(3);
      expect(Number.isNaN(tg.logsumexp(x, 0).item())).toBe(true);
      expect(Array.from(tg.isNan(x).data())).toEqual([0, 0, 0, 1]);
    });
  });
});
