// The elementwise family's kernels on every backend, through the Backend primitives: every unary and binary op
// code on contiguous (aligned and not), strided and broadcast views whose sizes span several CUDA blocks and
// leave tails; where; fills, ranges and Philox draws against exact references; copy/cast into strided
// destinations and to and from bfloat16 device buffers; SwiGLU in and out of place; bad arguments naming the kernel.
import { describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import type { BinaryOpName, UnaryOpName } from '../src/backend/codes.js';
import { cudaAddon, CudaBuffer } from '../src/backend/cuda.js';
import { expectClose, forEachBackend, permuteRef, randomArray } from './helpers/reference.js';

// One correctly rounded float32 op is within 1 ulp; fast_exp/fast_log/tanh_f ~2 ulp, CUDA's powf up to 4 ulp.
const F32 = { atol: 2e-6, rtol: 4e-6 };
const EXACT = { atol: 0, rtol: 0 };

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const K = Math.sqrt(2 / Math.PI);
const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(K * (x + 0.044715 * x ** 3)));
const geluGrad = (x: number) => {
  const t = Math.tanh(K * (x + 0.044715 * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K * (1 + 3 * 0.044715 * x * x);
};
const siluGrad = (x: number) => sigmoid(x) * (1 + x * (1 - sigmoid(x)));
const f32 = Math.fround;

const P0 = 0.75;
const P1 = 1.5;
// [op, reference, input domain]: inputs are uniform in [-3, 3) mapped by the domain.
const unaryOps: [UnaryOpName, (x: number) => number, (x: number) => number][] = [
  ['neg', (x) => -x, (x) => x],
  ['exp', Math.exp, (x) => x],
  ['log', Math.log, (x) => Math.abs(x) + 0.1],
  ['sqrt', Math.sqrt, (x) => Math.abs(x)],
  ['rsqrt', (x) => 1 / Math.sqrt(x), (x) => Math.abs(x) + 0.1],
  ['abs', Math.abs, (x) => x],
  ['tanh', Math.tanh, (x) => x],
  ['sigmoid', sigmoid, (x) => 3 * x],
  ['silu', (x) => x * sigmoid(x), (x) => 3 * x],
  ['gelu', gelu, (x) => x],
  ['relu', (x) => Math.max(0, x), (x) => x],
  ['sign', Math.sign, (x) => (Math.abs(x) < 0.3 ? 0 : x)],
  ['square', (x) => x * x, (x) => x],
  ['reciprocal', (x) => 1 / x, (x) => Math.sign(x) * (Math.abs(x) + 0.5)],
  ['addScalar', (x) => x + P0, (x) => x],
  ['mulScalar', (x) => x * P0, (x) => x],
  ['affine', (x) => x * P0 + P1, (x) => x],
  ['powScalar', (x) => x ** P0, (x) => Math.abs(x)],
  ['rdivScalar', (x) => P0 / x, (x) => Math.sign(x) * (Math.abs(x) + 0.5)],
  ['rpowScalar', (x) => P0 ** x, (x) => x],
  ['clamp', (x) => Math.min(Math.max(x, P0), P1), (x) => x],
  ['eqScalar', (x) => Number(x === P0), (x) => Math.round(x * 4) / 4],
  ['neScalar', (x) => Number(x !== P0), (x) => Math.round(x * 4) / 4],
  ['ltScalar', (x) => Number(x < P0), (x) => Math.round(x * 4) / 4],
  ['leScalar', (x) => Number(x <= P0), (x) => Math.round(x * 4) / 4],
  ['gtScalar', (x) => Number(x > P0), (x) => Math.round(x * 4) / 4],
  ['geScalar', (x) => Number(x >= P0), (x) => Math.round(x * 4) / 4],
  ['isNan', (x) => Number(Number.isNaN(x)), (x) => (x > 2 ? NaN : x)],
  ['log1p', Math.log1p, (x) => Math.abs(x)],
  ['expm1', Math.expm1, (x) => x],
  ['sin', Math.sin, (x) => x],
  ['cos', Math.cos, (x) => x],
];

// [op, reference, domain of a, domain of b]
const binaryOps: [BinaryOpName, (a: number, b: number) => number, (x: number) => number, (x: number) => number][] = [
  ['add', (a, b) => a + b, (x) => x, (x) => x],
  ['sub', (a, b) => a - b, (x) => x, (x) => x],
  ['mul', (a, b) => a * b, (x) => x, (x) => x],
  ['div', (a, b) => a / b, (x) => x, (x) => Math.sign(x) * (Math.abs(x) + 0.5)],
  ['pow', (a, b) => a ** b, (x) => Math.abs(x) + 0.1, (x) => x],
  ['maximum', (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)), (x) => (x > 2.9 ? NaN : x), (x) => x],
  ['minimum', (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)), (x) => x, (x) => (x < -2.9 ? NaN : x)],
  ['eq', (a, b) => Number(a === b), (x) => Math.round(x), (x) => Math.round(x)],
  ['ne', (a, b) => Number(a !== b), (x) => Math.round(x), (x) => Math.round(x)],
  ['lt', (a, b) => Number(a < b), (x) => Math.round(x), (x) => Math.round(x)],
  ['le', (a, b) => Number(a <= b), (x) => Math.round(x), (x) => Math.round(x)],
  ['gt', (a, b) => Number(a > b), (x) => Math.round(x), (x) => Math.round(x)],
  ['ge', (a, b) => Number(a >= b), (x) => Math.round(x), (x) => Math.round(x)],
  ['siluBackward', (x, dy) => dy * siluGrad(x), (x) => 3 * x, (x) => x],
  ['geluBackward', (x, dy) => dy * geluGrad(x), (x) => x, (x) => x],
  ['reluBackward', (x, dy) => (x > 0 ? dy : 0), (x) => x, (x) => x],
  ['sigmoidBackward', (y, dy) => dy * y * (1 - y), (x) => (x + 3) / 6, (x) => x],
  ['tanhBackward', (y, dy) => dy * (1 - y * y), (x) => x / 3, (x) => x],
];

/** A float32 tensor of `n` values in [-3, 3) mapped by `domain`. */
function values(n: number, seed: number, domain: (x: number) => number = (x) => x): Float32Array {
  return Float32Array.from(randomArray(n, seed, 3), domain);
}

// Views of n = 67 * 61 = 4087 elements (16 CUDA blocks of vector work, a tail of 3): contiguous at offset 0
// (16-byte loads), contiguous at offset 1 (scalar loads), a transpose (the strided path) and a row broadcast
// along dim 0 (stride 0 in a strided layout).
type Layout = 'contiguous' | 'offset 1' | 'transposed' | 'broadcast rows';
const layouts: Layout[] = ['contiguous', 'offset 1', 'transposed', 'broadcast rows'];
const R = 67;
const C = 61;

/** A contiguous 1-d view of `data` at element offset 1 of its buffer (not 16-byte aligned). */
function atOffset1(data: Float32Array): tg.Tensor {
  const padded = new Float32Array(data.length + 1);
  padded.set(data, 1);
  return tg.tensor(padded, [data.length + 1]).narrow(0, 1, data.length);
}

/** A view of `layout` whose row-major elements are `logical(data)`, and those elements. */
function viewOf(layout: Layout, data: Float32Array): { view: tg.Tensor; logical: Float32Array } {
  switch (layout) {
    case 'contiguous':
      return { view: tg.tensor(data, [R, C]), logical: data };
    case 'offset 1':
      return { view: atOffset1(data).reshape([R, C]), logical: data };
    case 'transposed': {
      const view = tg.tensor(data, [C, R]).transpose(0, 1);
      return { view, logical: view.data() as Float32Array };
    }
    case 'broadcast rows': {
      const row = data.subarray(0, C);
      const view = tg.tensor(Float32Array.from(row), [1, C]).expand([R, C]);
      const logical = new Float32Array(R * C);
      for (let r = 0; r < R; r++) logical.set(row, r * C);
      return { view, logical };
    }
  }
}

/** philox4x32-10 (native/math/philox.h) in JS, for exact references of the random fills. */
function philox(counter: number, key: number): number[] {
  const mulhilo = (a: number, b: number): [number, number] => {
    const p = BigInt(a) * BigInt(b);
    return [Number(p >> 32n), Number(p & 0xffffffffn)];
  };
  let c0 = counter >>> 0;
  let c1 = Math.floor(counter / 2 ** 32) >>> 0;
  let c2 = 0;
  let c3 = 0;
  let k0 = key >>> 0;
  let k1 = Math.floor(key / 2 ** 32) >>> 0;
  for (let round = 0; round < 10; round++) {
    const [hi0, lo0] = mulhilo(0xd2511f53, c0);
    const [hi1, lo1] = mulhilo(0xcd9e8d57, c2);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + 0x9e3779b9) >>> 0;
    k1 = (k1 + 0xbb67ae85) >>> 0;
  }
  return [c0, c1, c2, c3];
}

/** bfloat16 bits of x, rounded to nearest even, NaN quieted (native/math/bf16.h). */
function bf16Bits(x: number): number {
  const u = new Uint32Array(Float32Array.of(x).buffer)[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

forEachBackend((device) => describe(`elementwise kernels on ${device}`, () => {
  for (const layout of layouts) {
    it(`every unary op on a ${layout} view matches float64`, () => {
      tg.tidy(() => {
        for (const [op, ref, domain] of unaryOps) {
          const { view, logical } = viewOf(layout, values(R * C, 11, domain));
          const out = tg.zeros([R, C]);
          out.backend.unary(op, out, view, P0, P1);
          expectClose(out.data(), Array.from(logical, (x) => ref(x)), F32, `${op} (${layout})`);
        }
      });
    });

    it(`every binary op with a ${layout} left operand and broadcast right operands matches float64`, () => {
      tg.tidy(() => {
        for (const [op, ref, domainA, domainB] of binaryOps) {
          // gelu' = 0.5 (1 + t) + ... cancels to ~0 near x = -0.75 from terms ~0.5: absolute float32 error ~1e-6 |dy|
          const tol = op === 'geluBackward' ? { atol: 2e-5, rtol: 4e-6 } : F32;
          const { view: a, logical: la } = viewOf(layout, values(R * C, 21, domainA));
          // b: a full contiguous tensor, a column broadcast along dim 1, and a single element broadcast everywhere
          const bFull = values(R * C, 22, domainB);
          const bCol = values(R, 23, domainB);
          const bOne = values(1, 24, domainB);
          const cases: [string, tg.Tensor, (i: number) => number][] = [
            ['full', tg.tensor(bFull, [R, C]), (i) => bFull[i]],
            ['column', tg.tensor(bCol, [R, 1]).expand([R, C]), (i) => bCol[Math.floor(i / C)]],
            ['scalar', tg.tensor(bOne, [1, 1]).expand([R, C]), () => bOne[0]],
          ];
          for (const [name, b, bAt] of cases) {
            const out = tg.zeros([R, C]);
            out.backend.binary(op, out, a, b);
            expectClose(out.data(), Array.from(la, (x, i) => ref(x, bAt(i))), tol, `${op} (${layout}, b ${name})`);
            const swapped = tg.zeros([R, C]);
            swapped.backend.binary(op, swapped, b, a);
            expectClose(swapped.data(), Array.from(la, (x, i) => ref(bAt(i), x)), tol, `${op} (b ${name}, ${layout})`);
          }
        }
      });
    });
  }

  it('where over broadcast and strided operands', () => {
    tg.tidy(() => {
      const cond = Float32Array.from(values(R, 31), (x) => (x > 0 ? 1 : 0));
      const { view: a, logical: la } = viewOf('transposed', values(R * C, 32));
      const { view: b, logical: lb } = viewOf('offset 1', values(R * C, 33));
      const out = tg.zeros([R, C]);
      out.backend.where(out, tg.tensor(cond, [R, 1]).expand([R, C]), a, b);
      expectClose(out.data(), Array.from(la, (x, i) => (cond[Math.floor(i / C)] !== 0 ? x : lb[i])), EXACT, 'where');
    });
  });

  it('fill, arange and full write exactly their elements, at any offset', () => {
    tg.tidy(() => {
      const t = tg.zeros([5003]);
      t.backend.fill(t.narrow(0, 1, 5001), 2.5);
      expect(Array.from(t.data()), 'only the view is filled').toEqual(Array.from({ length: 5003 }, (_, i) => (i === 0 || i === 5002 ? 0 : 2.5)));
      const ints = tg.zeros([4099], { dtype: 'int32' });
      ints.backend.fill(ints, -7);
      expect(Array.from(ints.data()).every((x) => x === -7)).toBe(true);
      expectClose(tg.arange(-3.5, 1021.25, 0.25).data(), Array.from({ length: 4099 }, (_, i) => -3.5 + 0.25 * i), EXACT, 'arange float32');
      expect(Array.from(tg.arange(-5, 4094, 1, { dtype: 'int32' }).data())).toEqual(Array.from({ length: 4099 }, (_, i) => i - 5));
    });
  });

  it('rand is philox4x32-10 exactly; rand and randn give the cpu\'s numbers for the same seed', () => {
    tg.tidy(() => {
      const n = 4099;
      const u = tg.rand([n], { generator: new tg.RandomGenerator(77) }).data();
      const expected = Array.from({ length: n }, (_, i) => (philox(Math.floor(i / 4), 77)[i % 4] >>> 8) / 2 ** 24);
      expectClose(u, expected, EXACT, 'rand');
      // Box-Muller in float64 on the same uniforms: float32 log/sqrt/sin/cos are within a few ulp
      const z = tg.randn([n], { generator: new tg.RandomGenerator(78), mean: 0.5, std: 2 }).data();
      const zRef = Array.from({ length: n }, (_, i) => {
        const r = philox(Math.floor(i / 4), 78);
        const pair = (i % 4) >> 1;
        const u1 = ((r[2 * pair] >>> 8) + 1) / 2 ** 24;
        const u2 = ((r[2 * pair + 1] >>> 8) + 1) / 2 ** 24;
        const radius = Math.sqrt(-2 * Math.log(u1));
        return 0.5 + 2 * radius * (i % 2 === 0 ? Math.cos(2 * Math.PI * u2) : Math.sin(2 * Math.PI * u2));
      });
      expectClose(z, zRef, { atol: 2e-5, rtol: 2e-5 }, 'randn');
      // the same functions (math/random.h) on every device: bit-identical to the cpu's draws
      for (const [name, draw] of [['rand', (d: tg.Device) => tg.rand([n], { device: d, generator: new tg.RandomGenerator(5), low: -2, high: 3 })],
        ['randn', (d: tg.Device) => tg.randn([n], { device: d, generator: new tg.RandomGenerator(5), mean: -1, std: 0.5 })]] as const) {
        expect(Array.from(draw(device).data()), `${name} on ${device} vs cpu`).toEqual(Array.from(draw('cpu').data()));
      }
    });
  });

  it('copy writes strided destinations and casts float32 <-> int32 by truncation, saturating, NaN -> 0', () => {
    tg.tidy(() => {
      const src = values(R * C, 41);
      const dst = tg.zeros([C, R]);
      dst.backend.copy(dst.transpose(0, 1), tg.tensor(src, [R, C]));
      expectClose(dst.transpose(0, 1).data(), src, EXACT, 'copy into a transposed view');
      // 12 dims that do not coalesce: every level of the index arithmetic
      const shape12 = [3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 5];
      const dims = shape12.map((_, d) => 11 - d);
      const x12 = values(shape12.reduce((a, b) => a * b), 42);
      expectClose(tg.tensor(x12, shape12).permute(dims).contiguous().data(), permuteRef(x12, shape12, dims), EXACT, 'copy of 12 permuted dims');
      const special = Float32Array.from([2.7, -2.7, 0.5, -0.5, NaN, 3e9, -3e9, Infinity, -Infinity, 16777217, -0]);
      const ints = tg.zeros([special.length], { dtype: 'int32' });
      ints.backend.copy(ints, tg.tensor(special, [special.length]));
      expect(Array.from(ints.data())).toEqual([2, -2, 0, 0, 0, 2147483647, -2147483648, 2147483647, -2147483648, 16777216, 0]);
      const back = tg.zeros([4099]);
      const big = Int32Array.from({ length: 4099 }, (_, i) => (i - 2000) * 524287);
      back.backend.copy(back, tg.tensor(big, [4099], { dtype: 'int32' }));
      expectClose(back.data(), Array.from(big, (x) => f32(x)), EXACT, 'int32 -> float32 rounds to nearest');
    });
  });

  it('swiglu forward and backward, out of place at odd offsets and in place', () => {
    tg.tidy(() => {
      const n = 4099;
      const g = values(n, 51);
      const u = values(n, 52);
      const dh = values(n, 53);
      const silu = (x: number) => x * sigmoid(x);
      const h = tg.zeros([n]);
      h.backend.swigluForward(h, atOffset1(g), atOffset1(u), n);
      expectClose(h.data(), Array.from(g, (x, i) => silu(x) * u[i]), F32, 'swiglu');
      const gate = tg.tensor(g, [n]);
      gate.backend.swigluForward(gate, gate, tg.tensor(u, [n]), n);
      expectClose(gate.data(), h.data(), EXACT, 'swiglu in place');
      const dgate = tg.tensor(g, [n]);
      const up = tg.tensor(u, [n]);
      dgate.backend.swigluBackward(dgate, up, tg.tensor(dh, [n]), dgate, up, n);
      expectClose(dgate.data(), Array.from(g, (x, i) => dh[i] * u[i] * siluGrad(x)), F32, 'dgate');
      expectClose(up.data(), Array.from(g, (x, i) => dh[i] * silu(x)), F32, 'dup');
    });
  });

  it('refuses bad views and outputs with errors naming the kernel', () => {
    tg.tidy(() => {
      const x = tg.ones([4, 5]);
      const small = tg.zeros([3]);
      expect(() => small.backend.unary('exp', small, x)).toThrow(/unary: out: elements \[0, 20\) exceed its buffer of 3/);
      expect(() => x.backend.copy(tg.zeros([1, 5]).expand([4, 5]), x)).toThrow(RangeError);
      expect(() => x.backend.copy(tg.zeros([1, 5]).expand([4, 5]), x)).toThrow(/copy: dst cannot be a broadcast view/);
      const h = tg.zeros([8]);
      expect(() => h.backend.swigluForward(h.narrow(0, 1, 4), h.narrow(0, 0, 4), tg.ones([4]), 4)).toThrow(/swigluForward: h overlaps gate/);
    });
  });

  it.runIf(device === 'cuda')('copies float32 <-> bfloat16 device buffers with round to nearest even, strided', () => {
    const specials = [1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -2.5e-39, 3.4e38, NaN, Infinity, -0];
    const n = 4099;
    const data = Float32Array.from({ length: n }, (_, i) => (i < specials.length ? specials[i] : Math.sin(i) * 1000));
    const addon = cudaAddon('test');
    const f = CudaBuffer.from(data);
    const bf = new CudaBuffer(n, 'bfloat16');
    const back = new CudaBuffer(n, 'float32');
    try {
      addon.copy(bf.handle, 0, [1], f.handle, 0, [1], [n]);
      const bits = new Uint16Array(n);
      addon.download(bf.handle, 0, bits);
      expect(Array.from(bits)).toEqual(Array.from(data, bf16Bits));
      // bfloat16 -> float32 is exact; read back through a transposed (59 x 69 + 28 tail untouched) layout
      addon.copy(back.handle, 0, [1, 59], bf.handle, 0, [69, 1], [59, 69]);
      const out = back.download();
      const widened = Float32Array.from(bits, (b) => new Float32Array(Uint32Array.of(b << 16).buffer)[0]);
      for (let r = 0; r < 59; r++) {
        for (let c = 0; c < 69; c++) expect(Object.is(out[c * 59 + r], widened[r * 69 + c]) || (Number.isNaN(out[c * 59 + r]) && Number.isNaN(widened[r * 69 + c]))).toBe(true);
      }
      // fill rounds its value as the copy does: 1 + 3 * 2^-8 is a tie between 0x3f81 and 0x3f82 (even)
      addon.fill(bf.handle, 1, 3, 1 + 3 * 2 ** -8);
      addon.download(bf.handle, 0, bits);
      expect(Array.from(bits.subarray(0, 5))).toEqual([bf16Bits(data[0]), 0x3f82, 0x3f82, 0x3f82, bf16Bits(data[4])]);
      expect(() => addon.copy(bf.handle, 0, [1], f.handle, 1, [1], [n])).toThrow(/cuda.copy: src: view .* exceeds its buffer/);
      expect(() => addon.unary(99, back.handle, f.handle, 0, [n], [1], 0, 0)).toThrow(/cuda.unary: unknown op code 99/);
      expect(() => addon.unary(1, back.handle, bf.handle, 0, [n], [1], 0, 0)).toThrow(/cuda.unary: x must be float32, got bfloat16/);
    } finally {
      f.dispose();
      bf.dispose();
      back.dispose();
    }
  });
}));
