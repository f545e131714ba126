// matmul vs a float64 reference: odd 2-D sizes, 1-D operands, batched and broadcast batch dims, transposed
// views read in place vs strided views that need a copy, empty dims, gradients, and every GEMM kernel of each
// device's addon (forced by name) at each precision, called directly with offsets, alpha and beta.
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';
import { cudaAddon } from '../src/backend/cuda.js';
import type { Device } from '../src/backend/backend.js';
import type { ComputeAddon } from '../src/native-entry-points.js';
import { native } from '../src/native.js';
import { gradcheck } from './helpers/gradcheck.js';
import { expectClose, forEachBackend, fromArray, indices, randomArray } from './helpers/reference.js';

/**
 * float32 dot products of length K: rounding errors of K products random-walk to ~eps*sqrt(K)*|a||b| (blocked
 * kernels sum in short chains), so atol = 1e-5*sqrt(K) times the operands' scale, plus 1e-5 relative.
 */
const dotTol = (K: number, scale = 1) => ({ atol: 1e-5 * Math.sqrt(Math.max(K, 1)) * scale, rtol: 1e-5 });

/** C (M, N) = A (M, K) @ B (K, N), all row-major, in float64. */
function mm(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let k = 0; k < K; k++) {
      const aik = a[i * K + k];
      for (let j = 0; j < N; j++) c[i * N + j] += aik * b[k * N + j];
    }
  }
  return c;
}

/** Row-major transpose of an (R, C) matrix. */
function tr(x: ArrayLike<number>, R: number, C: number): Float64Array {
  const out = new Float64Array(R * C);
  for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) out[j * R + i] = x[i * C + j];
  return out;
}

/** Batched reference with NumPy broadcasting of the batch dims: a (...batchA, M, K) @ b (...batchB, K, N). */
function bmm(a: ArrayLike<number>, aBatch: number[], b: ArrayLike<number>, bBatch: number[], M: number, K: number, N: number) {
  const n = Math.max(aBatch.length, bBatch.length);
  const pa = [...Array(n - aBatch.length).fill(1), ...aBatch];
  const pb = [...Array(n - bBatch.length).fill(1), ...bBatch];
  const batch = pa.map((s, i) => Math.max(s, pb[i]));
  const out: number[] = [];
  const offset = (shape: number[], idx: number[]) => idx.reduce((f, v, i) => f * shape[i] + (shape[i] === 1 ? 0 : v), 0);
  for (const idx of indices(batch)) {
    const ao = offset(pa, idx) * M * K;
    const bo = offset(pb, idx) * K * N;
    out.push(...mm(Array.prototype.slice.call(a, ao, ao + M * K), Array.prototype.slice.call(b, bo, bo + K * N), M, K, N));
  }
  return { shape: [...batch, M, N], values: Float64Array.from(out) };
}

/** Bytes the op allocated on `device` at its peak beyond what was live there before (output included). */
function peakExtraBytes(device: Device, fn: () => void): number {
  const before = tg.memory().devices[device]!.numBytes;
  tg.resetPeakMemory();
  fn();
  return tg.memory().devices[device]!.peakBytes - before;
}

const SIZES = [1, 3, 17, 65, 130];

/**
 * The GEMM kernels of a device's addon, forced by name with gemmKernel ('auto' = the best one there): the CPU's
 * micro-kernels (avx512-bf16: the AVX-512 one, with the AVX512-BF16 one at medium precision even on a CPU where it
 * is the slower), or on cuda cuBLASLt and the addon's own (mma: bf16 tensor cores at medium precision, float32
 * CUDA cores at highest; simt: float32 CUDA cores at both). `portable` runs everywhere.
 */
type GemmAddon = Pick<ComputeAddon, 'matmul' | 'gemmKernel' | 'matmulPrecision'>;
const GEMM_KERNELS: Record<Device, { addon: () => GemmAddon; names: string[]; portable: string[]; unsupported: string }> = {
  cpu: { addon: () => native, names: ['scalar', 'avx2', 'avx512', 'avx512-bf16'], portable: ['scalar'], unsupported: 'this CPU' },
  cuda: { addon: () => cudaAddon(), names: ['simt', 'mma', 'cublaslt'], portable: ['simt', 'mma'], unsupported: 'this device/build' },
};

/** float32 rounded to bfloat16, nearest even (what 'medium' kernels do to their operands). */
function bf16(x: number): number {
  const bits = new Uint32Array(new Float32Array([x]).buffer);
  const lsb = (bits[0] >>> 16) & 1;
  bits[0] = (((bits[0] + 0x7fff + lsb) >>> 16) << 16) >>> 0;
  return new Float32Array(bits.buffer)[0];
}

interface GemmCase {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  batch: number;
  alpha: number;
  beta: number;
  /** Leading dims and offsets multiples of 4 floats: the kernels' 16-byte loads, scalar ones otherwise. */
  aligned: boolean;
}

/**
 * One call of the addon's matmul entry point: A and B stored with leading dimensions wider than their rows, batch
 * b's operands at out-of-order, unevenly spaced offsets (B's first two batches share one matrix), C initialized
 * to random values (beta != 0) or NaN (beta = 0 must not read it). Returns the result and its float64 reference
 * (operands rounded to bf16 first with `rounded`).
 */
function runGemm(addon: GemmAddon, c: GemmCase, precision: tg.Float32MatmulPrecision, rounded: boolean, seed: number) {
  const { M, N, K, transA, transB, batch, alpha, beta, aligned } = c;
  const pad = (n: number) => (aligned ? Math.ceil(n / 4) * 4 : n);
  const lda = pad((transA ? M : K) + 3), ldb = pad((transB ? K : N) + 2);
  const sizeA = (transA ? K : M) * lda, sizeB = (transB ? N : K) * ldb;
  const aOffsets = Float64Array.from({ length: batch }, (_, b) => ((2 * b) % batch) * pad(sizeA + 5) + pad(1));
  const bOffsets = Float64Array.from({ length: batch }, (_, b) => Math.max(b - 1, 0) * pad(sizeB + 3));
  const a = randomArray(batch * pad(sizeA + 5) + pad(1), seed);
  const b = randomArray(batch * pad(sizeB + 3), seed + 1);
  const c0 = beta === 0 ? new Float64Array(batch * M * N).fill(NaN) : randomArray(batch * M * N, seed + 2);
  const ar = rounded ? a.map(bf16) : a, br = rounded ? b.map(bf16) : b;
  const ref = new Float64Array(batch * M * N);
  for (let bi = 0; bi < batch; bi++) {
    const ao = aOffsets[bi], bo = bOffsets[bi];
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let sum = 0;
        for (let k = 0; k < K; k++) {
          sum += ar[ao + (transA ? k * lda + i : i * lda + k)] * br[bo + (transB ? j * ldb + k : k * ldb + j)];
        }
        const o = (bi * M + i) * N + j;
        ref[o] = alpha * sum + (beta === 0 ? 0 : beta * c0[o]);
      }
    }
  }
  return tg.tidy(() => {
    const A = fromArray(a, [a.length]), B = fromArray(b, [b.length]), C = fromArray(c0, [c0.length]);
    addon.matmul(C.storage.id, A.storage.id, aOffsets, lda, transA, B.storage.id, bOffsets, ldb, transB, M, N, K, batch,
      alpha, beta, precision);
    return { out: C.data(), ref };
  });
}

forEachBackend((device) => describe(`matmul on ${device}`, () => {
  it('2-D products for every combination of odd sizes', () => {
    let seed = 300;
    for (const M of SIZES) {
      for (const K of SIZES) {
        for (const N of SIZES) {
          const a = randomArray(M * K, seed++);
          const b = randomArray(K * N, seed++);
          tg.tidy(() => {
            const y = tg.matmul(fromArray(a, [M, K]), fromArray(b, [K, N]));
            expect(y.shape).toEqual([M, N]);
            expectClose(y.data(), mm(a, b, M, K, N), dotTol(K), `(${M}, ${K}) @ (${K}, ${N})`);
          });
        }
      }
    }
  });

  it('1-D operands follow torch.matmul', () => {
    const [M, K, N, B] = [5, 7, 3, 2];
    const v = randomArray(K, 401);
    const a = randomArray(M * K, 402);
    const b = randomArray(K * N, 403);
    const bb = randomArray(B * K * N, 404);
    const ab = randomArray(B * M * K, 405);
    tg.tidy(() => {
      const vt = fromArray(v, [K]);
      const vm = tg.matmul(vt, fromArray(b, [K, N]));
      expect(vm.shape).toEqual([N]);
      expectClose(vm.data(), mm(v, b, 1, K, N), dotTol(K), '1-D @ 2-D');
      const mv = tg.matmul(fromArray(a, [M, K]), vt);
      expect(mv.shape).toEqual([M]);
      expectClose(mv.data(), mm(a, v, M, K, 1), dotTol(K), '2-D @ 1-D');
      const vv = tg.matmul(vt, vt);
      expect(vv.shape).toEqual([]);
      expectClose([vv.item()], [v.reduce((s, x) => s + x * x, 0)], dotTol(K), '1-D @ 1-D');
      const vb = vt.matmul(fromArray(bb, [B, K, N]));
      expect(vb.shape).toEqual([B, N]);
      expectClose(vb.data(), bmm(v, [1], bb, [B], 1, K, N).values, dotTol(K), '1-D @ 3-D');
      const bv = fromArray(ab, [B, M, K]).matmul(vt);
      expect(bv.shape).toEqual([B, M]);
      expectClose(bv.data(), bmm(ab, [B], v, [], M, K, 1).values, dotTol(K), '3-D @ 1-D');
      expect(tg.matmul(tg.zeros([0]), tg.zeros([0])).item()).toBe(0);
    });
  });

  it('batched and broadcast batch dims', () => {
    const [M, K, N] = [4, 9, 5];
    const cases: [number[], number[]][] = [
      [[3], [3]], [[2, 3], [2, 3]], [[2, 1], [3]], [[1], [4]], [[], [3]], [[3], []], [[2, 1, 2], [3, 1]], [[1, 1], [1]],
    ];
    let seed = 410;
    for (const [ba, bb] of cases) {
      const na = ba.reduce((x, y) => x * y, 1);
      const nb = bb.reduce((x, y) => x * y, 1);
      const a = randomArray(na * M * K, seed++);
      const b = randomArray(nb * K * N, seed++);
      tg.tidy(() => {
        const y = tg.matmul(fromArray(a, [...ba, M, K]), fromArray(b, [...bb, K, N]));
        const ref = bmm(a, ba, b, bb, M, K, N);
        expect(y.shape).toEqual(ref.shape);
        expectClose(y.data(), ref.values, dotTol(K), `${JSON.stringify(ba)} @ ${JSON.stringify(bb)}`);
      });
    }
  });

  it('transposed and row-strided views are read in place; other strided views are copied', () => {
    const [M, K, N] = [33, 20, 17];
    const a = randomArray(M * K, 420);
    const b = randomArray(K * N, 421);
    const ref = mm(a, b, M, K, N);
    const outBytes = M * N * 4;
    tg.tidy(() => {
      const at = fromArray(tr(a, M, K), [K, M]).transpose(); // (M, K) with strides (1, M)
      const bt = fromArray(tr(b, K, N), [N, K]).transpose();
      const bc = fromArray(b, [K, N]);
      expect(at.isContiguous()).toBe(false);
      let y!: tg.Tensor;
      const inPlace = peakExtraBytes(device, () => (y = tg.matmul(at, bt)));
      expectClose(y.data(), ref, dotTol(K), 'A^T-view @ B^T-view');
      expect(inPlace, 'transposed operands must not be copied').toBeLessThan(outBytes + 4096);
      // a column window of a wider matrix: row stride > width, read in place
      const wide = fromArray(Float64Array.from([...indices([M, K + 6])], ([i, j]) => (j >= 3 && j < K + 3 ? a[i * K + j - 3] : 99)), [M, K + 6]);
      const win = wide.narrow(1, 3, K);
      const windowBytes = peakExtraBytes(device, () => (y = tg.matmul(win, bc)));
      expectClose(y.data(), ref, dotTol(K), 'column window @ B');
      expect(windowBytes, 'a row-strided window must not be copied').toBeLessThan(outBytes + 4096);
      // columns with step 2 cannot be described by a leading dimension: copied, same result
      const stepped = fromArray(Float64Array.from([...indices([M, 2 * K])], ([i, j]) => (j % 2 === 0 ? a[i * K + j / 2] : -7)), [M, 2 * K]).slice(1, 0, 2 * K, 2);
      const copied = peakExtraBytes(device, () => (y = tg.matmul(stepped, bc)));
      expectClose(y.data(), ref, dotTol(K), 'step-2 columns @ B');
      expect(copied, 'the strided operand is copied').toBeGreaterThanOrEqual(outBytes + M * K * 4);
      // a stride-0 (expanded) operand
      const row = randomArray(K, 422);
      const ex = fromArray(row, [1, K]).expand(M, K);
      expectClose(tg.matmul(ex, bc).data(), mm(Float64Array.from({ length: M * K }, (_, f) => row[f % K]), b, M, K, N), dotTol(K), 'expanded @ B');
      // batch dims permuted in front: (B, M, K) from (M, B, K), per-batch offsets, no copy
      const B = 3;
      const ab = randomArray(M * B * K, 423);
      const pa = fromArray(ab, [M, B, K]).permute([1, 0, 2]);
      const bb = randomArray(B * K * N, 424);
      const pRef = Float64Array.from([...indices([B, M, K])], ([bi, i, k]) => ab[(i * B + bi) * K + k]);
      const bbT = fromArray(bb, [B, N, K]).transpose(1, 2); // (B, K, N) transposed per batch
      const bbRef = Float64Array.from([...indices([B, K, N])], ([bi, k, j]) => bb[(bi * N + j) * K + k]);
      const permBytes = peakExtraBytes(device, () => (y = tg.matmul(pa, bbT)));
      expectClose(y.data(), bmm(pRef, [B], bbRef, [B], M, K, N).values, dotTol(K), 'permuted batch @ transposed batch');
      expect(permBytes, 'permuted batches must not be copied').toBeLessThan(B * outBytes + 4096);
      // a transposed batch of 1-row matrices and a view with a negative-free but odd offset
      const off = fromArray(randomArray(5 + M * K, 425), [5 + M * K]).narrow(0, 5, M * K).reshape([M, K]);
      expectClose(tg.matmul(off, bt).data(), mm(off.data(), b, M, K, N), dotTol(K), 'offset view @ B^T-view');
    });
  });

  it('empty dims: K = 0 gives zeros, M = 0 and N = 0 give empty results, gradients included', () => {
    tg.tidy(() => {
      expect(tg.matmul(tg.ones([3, 0]), tg.ones([0, 4])).toArray()).toEqual([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]);
      expect(tg.matmul(tg.ones([2, 3, 0]), tg.ones([0, 4])).shape).toEqual([2, 3, 4]);
      expect(Array.from(tg.matmul(tg.ones([2, 3, 0]), tg.ones([0, 4])).data()).every((v) => v === 0)).toBe(true);
      expect(tg.matmul(tg.ones([2, 3, 0]), tg.ones([2, 0, 4])).shape).toEqual([2, 3, 4]);
      expect(tg.matmul(tg.ones([0, 3]), tg.ones([3, 4])).shape).toEqual([0, 4]);
      expect(tg.matmul(tg.ones([3, 4]), tg.ones([4, 0])).shape).toEqual([3, 0]);
      expect(tg.matmul(tg.ones([0, 2, 3]), tg.ones([3, 4])).shape).toEqual([0, 2, 4]);
      expect(tg.matmul(tg.ones([0, 2, 3]), tg.ones([1, 3, 4])).shape).toEqual([0, 2, 4]);
      const a = tg.ones([3, 0], { requiresGrad: true });
      const b = tg.ones([0, 4], { requiresGrad: true });
      tg.matmul(a, b).sum().backward();
      expect(a.grad!.shape).toEqual([3, 0]);
      expect(b.grad!.shape).toEqual([0, 4]);
      const c = fromArray(randomArray(6, 430), [2, 3], true);
      const d = tg.ones([3, 0], { requiresGrad: true });
      tg.matmul(c, d).sum().backward();
      expect(Array.from(c.grad!.data())).toEqual([0, 0, 0, 0, 0, 0]);
      expect(d.grad!.shape).toEqual([3, 0]);
      for (const t of [a, b, c, d]) t.zeroGrad();
    });
  });

  it('gradients: 2-D, 1-D, batched, broadcast, transposed operands and the folded batch path', () => {
    const r = (n: number, seed: number) => randomArray(n, seed);
    gradcheck({
      inputs: [{ values: r(15, 440), shape: [3, 5] }, { values: r(20, 441), shape: [5, 4] }],
      engine: ([a, b]) => tg.matmul(a, b),
      reference: ([a, b]) => mm(a, b, 3, 5, 4),
    });
    gradcheck({
      inputs: [{ values: r(15, 442), shape: [5, 3] }, { values: r(20, 443), shape: [4, 5] }],
      engine: ([a, b]) => tg.matmul(a.transpose(), b.transpose()),
      reference: ([a, b]) => mm(tr(a, 5, 3), tr(b, 4, 5), 3, 5, 4),
    });
    gradcheck({
      inputs: [{ values: r(5, 444), shape: [5] }, { values: r(20, 445), shape: [5, 4] }],
      engine: ([v, b]) => tg.matmul(v, b),
      reference: ([v, b]) => mm(v, b, 1, 5, 4),
    });
    gradcheck({
      inputs: [{ values: r(5, 446), shape: [5] }, { values: r(5, 447), shape: [5] }],
      engine: ([u, v]) => tg.matmul(u, v),
      reference: ([u, v]) => Float64Array.of(u.reduce((s, x, i) => s + x * v[i], 0)),
    });
    gradcheck({
      inputs: [{ values: r(24, 448), shape: [2, 3, 4] }, { values: r(24, 449), shape: [2, 4, 3] }],
      engine: ([a, b]) => tg.matmul(a, b),
      reference: ([a, b]) => bmm(a, [2], b, [2], 3, 4, 3).values,
    });
    gradcheck({
      inputs: [{ values: r(24, 450), shape: [2, 1, 3, 4] }, { values: r(24, 451), shape: [3, 4, 2] }],
      engine: ([a, b]) => tg.matmul(a, b),
      reference: ([a, b]) => bmm(a, [2, 1], b, [3], 3, 4, 2).values,
    });
    gradcheck({
      inputs: [{ values: r(12, 452), shape: [3, 4] }, { values: r(40, 453), shape: [5, 4, 2] }],
      engine: ([a, b]) => tg.matmul(a, b),
      reference: ([a, b]) => bmm(a, [], b, [5], 3, 4, 2).values,
    });
    gradcheck({
      inputs: [{ values: r(24, 454), shape: [2, 3, 4] }, { values: r(20, 455), shape: [4, 5] }],
      engine: ([a, b]) => tg.matmul(a.transpose(0, 1), b), // non-contiguous a on the folded (B*M, K) path
      reference: ([a, b]) => {
        const at = Float64Array.from([...indices([3, 2, 4])], ([i, j, k]) => a[(j * 3 + i) * 4 + k]);
        return mm(at, b, 6, 4, 5);
      },
    });
  });

  it('rejects bad inputs naming matmul, and the process lives', () => {
    const a = tg.ones([2, 3]);
    expect(() => tg.matmul(a, tg.ones([4, 5]))).toThrow(RangeError);
    expect(() => tg.matmul(a, tg.ones([4, 5]))).toThrow(/matmul: shapes \[2, 3\] and \[4, 5\] are not aligned \(3 != 4\)/);
    expect(() => tg.matmul(tg.ones([3]), tg.ones([4]))).toThrow(/matmul: shapes \[1, 3\] and \[4, 1\] are not aligned/);
    expect(() => tg.matmul(tg.ones([2, 2, 3]), tg.ones([3, 3, 4]))).toThrow(/matmul: shapes \[2\] and \[3\] cannot be broadcast together/);
    expect(() => tg.matmul(tg.tensor(2), a)).toThrow(/matmul: both arguments need at least one dimension/);
    expect(() => tg.matmul(a, tg.arange(0, 3))).toThrow(TypeError);
    expect(() => tg.matmul(a, tg.arange(0, 3))).toThrow(/matmul: expects float32 or bfloat16 tensors, got int32 of shape \[3\]/);
    expect(() => tg.matmul(a, [[1], [2], [3]] as unknown as tg.Tensor)).toThrow(/matmul: expected Tensors/);
    expect(() => tg.matmul(null as unknown as tg.Tensor, a)).toThrow(TypeError);
    const dead = tg.ones([3, 2]);
    dead.dispose();
    expect(() => tg.matmul(a, dead)).toThrow(/matmul: tensor \[3, 2\] has been disposed/);
    a.dispose();
    expect(tg.tidy(() => tg.matmul(tg.ones([1, 2]), tg.ones([2, 1])).item())).toBe(2);
  });

  it('linear: x W^T for any leading dims and strided x, gradients with dW in (out, in) layout', () => {
    const r = (n: number, seed: number) => randomArray(n, seed);
    // x (2, 3, 4) @ W (5, 4)^T
    const xv = r(24, 470), wv = r(20, 471);
    const ref = (x: Float64Array, w: Float64Array) => mm(x, tr(w, 5, 4), 6, 4, 5);
    tg.tidy(() => {
      const y = tg.linear(tg.tensor(Float32Array.from(xv), [2, 3, 4]), tg.tensor(Float32Array.from(wv), [5, 4]));
      expect(y.shape).toEqual([2, 3, 5]);
      expectClose(y.data(), ref(xv, wv), { atol: 1e-5, rtol: 1e-5 }, 'linear forward');
    });
    gradcheck({
      inputs: [{ values: xv, shape: [2, 3, 4] }, { values: wv, shape: [5, 4] }],
      engine: ([x, w]) => tg.linear(x, w),
      reference: ([x, w]) => ref(x, w),
    });
    gradcheck({
      inputs: [{ values: r(24, 472), shape: [3, 2, 4] }, { values: wv, shape: [5, 4] }],
      engine: ([x, w]) => tg.linear(x.transpose(0, 1), w), // strided x: copied once for the GEMM
      reference: ([x, w]) => ref(Float64Array.from([...indices([2, 3, 4])], ([i, j, k]) => x[(j * 2 + i) * 4 + k]), w),
    });
    gradcheck({
      inputs: [{ values: r(4, 473), shape: [4] }, { values: wv, shape: [5, 4] }],
      engine: ([x, w]) => tg.linear(x, w),
      reference: ([x, w]) => mm(x, tr(w, 5, 4), 1, 4, 5),
    });
    tg.tidy(() => {
      const w = tg.randn([5, 4]).requiresGrad_();
      tg.linear(tg.randn([7, 4]), w).sum().backward();
      expect(w.grad!.shape).toEqual([5, 4]);
      expect(w.grad!.isContiguous()).toBe(true);
      w.zeroGrad();
    });
    expect(() => tg.linear(tg.randn([2, 3]), tg.randn([5, 4]))).toThrow(/linear: input \[2, 3\] must end in weight \[5, 4\]'s 4 input features/);
    expect(() => tg.linear(tg.randn([2, 4]), tg.randn([4]))).toThrow(RangeError);
  });

  describe('every GEMM kernel', () => {
    const kernels = GEMM_KERNELS[device];
    afterEach(() => {
      kernels.addon().gemmKernel('auto');
    });

    it('auto picks a known kernel; unknown names throw; a kernel that cannot run here says why', () => {
      // THINKGRAD_GEMM may have forced another kernel at load: 'auto' is the best here either way.
      const addon = kernels.addon();
      const best = addon.gemmKernel('auto');
      expect(kernels.names).toContain(best);
      expect(addon.gemmKernel('auto')).toBe(best);
      expect(() => addon.gemmKernel('sse9')).toThrow(/gemmKernel: .*unknown kernel 'sse9'/);
      expect(addon.gemmKernel()).toBe(best);
      if (device === 'cpu') {
        // Medium precision runs AMX tiles where the CPU has them (Intel's Sapphire Rapids and later), else the
        // AVX512-BF16 kernel where it is the faster (AMD's cores), else float32.
        const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
        const flag = (name: string) => new RegExp(`^flags\\s*:.*\\b${name}\\b`, 'm').test(cpuinfo);
        const amd = /^vendor_id\s*:\s*AuthenticAMD$/m.test(cpuinfo);
        const medium = best !== 'avx512' ? best : flag('amx_bf16') && flag('amx_tile') ? 'amx-bf16' : flag('avx512_bf16') && amd ? 'avx512-bf16' : best;
        expect(addon.matmulPrecision().kernels).toEqual({ highest: best, medium });
        if (best !== 'avx512' || !flag('avx512_bf16')) return;
        // Forcing the AVX512-BF16 kernel passes over AMX too.
        expect(addon.gemmKernel('avx512-bf16')).toBe('avx512');
        expect(addon.matmulPrecision().kernels).toEqual({ highest: 'avx512', medium: 'avx512-bf16' });
        expect(addon.gemmKernel('avx512')).toBe('avx512');
        expect(addon.matmulPrecision().kernels.medium).toBe(medium);
        return;
      }
      // cuBLASLt is loaded at run time; without it (no GPU, no libcublasLt) the addon's own kernels run.
      const { kernels: inUse } = addon.matmulPrecision();
      if (best === 'cublaslt') {
        expect(inUse).toEqual({ highest: 'cublaslt-f32', medium: 'cublaslt-bf16' });
      } else {
        expect(best).toBe('mma');
        expect(() => addon.gemmKernel('cublaslt')).toThrow(/gemmKernel: kernel 'cublaslt' is not supported on this device\/build: cuBLASLt/);
        expect(addon.gemmKernel()).toBe('mma');
        expect(inUse).toEqual({ highest: 'simt-f32', medium: 'mma-bf16' });
      }
      expect([tg.matmulKernel('highest', device), tg.matmulKernel('medium', device)]).toEqual([inUse.highest, inUse.medium]);
      addon.gemmKernel('simt');
      expect(addon.matmulPrecision().kernels).toEqual({ highest: 'simt-f32', medium: 'simt-f32' });
      // The per-precision names select their kernel too.
      expect(addon.gemmKernel('mma-bf16')).toBe('mma');
      expect(addon.gemmKernel('simt-f32')).toBe('simt');
    });

    for (const name of kernels.names) {
      it(`${name}: packed, threaded, edge-tile and matrix-vector paths match the reference`, (ctx) => {
        const addon = kernels.addon();
        let forced: string;
        try {
          forced = addon.gemmKernel(name);
        } catch (err) {
          expect(String(err)).toMatch(new RegExp(`kernel '${name}' is not supported on ${kernels.unsupported}`));
          expect(kernels.portable, 'the portable kernels are always available').not.toContain(name);
          ctx.skip(`the ${name} kernel is not supported on ${kernels.unsupported}`);
          return;
        }
        // A per-precision name (avx512-bf16) selects its float32 kernel and runs at medium precision.
        expect([forced, addon.matmulPrecision().kernels.medium]).toContain(name);
        // (M, K, N): threaded packed GEMM with ragged edges, small single-thread, M == 1 and N == 1 paths; on the
        // CPU also a packed B (2.4 MB) larger than L2, which walks k slabs outside several row blocks per thread
        const shapes: [number, number, number][] = [[130, 129, 67], [67, 256, 131], [3, 17, 5], [1, 130, 65], [65, 130, 1], [7, 1, 9],
          ...(device === 'cpu' ? [[301, 600, 1000] as [number, number, number]] : [])];
        let seed = 460;
        for (const [M, K, N] of shapes) {
          const a = randomArray(M * K, seed++);
          const b = randomArray(K * N, seed++);
          const ref = mm(a, b, M, K, N);
          tg.tidy(() => {
            const A = fromArray(a, [M, K]);
            const B = fromArray(b, [K, N]);
            const At = fromArray(tr(a, M, K), [K, M]).transpose();
            const Bt = fromArray(tr(b, K, N), [N, K]).transpose();
            expectClose(tg.matmul(A, B).data(), ref, dotTol(K), `${name} (${M}, ${K}, ${N}) NN`);
            expectClose(tg.matmul(At, B).data(), ref, dotTol(K), `${name} (${M}, ${K}, ${N}) TN`);
            expectClose(tg.matmul(A, Bt).data(), ref, dotTol(K), `${name} (${M}, ${K}, ${N}) NT`);
            expectClose(tg.matmul(At, Bt).data(), ref, dotTol(K), `${name} (${M}, ${K}, ${N}) TT`);
          });
        }
        // batched with a broadcast operand
        const a = randomArray(3 * 20 * 33, 480);
        const b = randomArray(33 * 18, 481);
        tg.tidy(() => {
          const y = tg.matmul(fromArray(b, [1, 18, 33]).transpose(1, 2).expand(3, 33, 18).transpose(1, 2), fromArray(a, [3, 20, 33]).transpose(1, 2));
          expectClose(y.data(), bmm(b, [1], Float64Array.from([...indices([3, 33, 20])], ([bi, k, m]) => a[(bi * 20 + m) * 33 + k]), [3], 18, 33, 20).values, dotTol(33), `${name} batched`);
        });
        // the larger-magnitude case scales the tolerance with |a||b|
        const big = randomArray(65 * 65, 482, 30);
        tg.tidy(() => {
          const X = fromArray(big, [65, 65]);
          expectClose(tg.matmul(X, X.transpose()).data(), mm(big, tr(big, 65, 65), 65, 65, 65), dotTol(65, 900), `${name} scaled`);
        });
        expect(addon.gemmKernel('auto')).not.toBe('');
      });
    }

    // Kernels whose name ends in -bf16 round the operands to bfloat16 (nearest even) and accumulate in float32:
    // against a reference on the same rounded operands only float32 accumulation is left (dotTol), except
    // cuBLASLt's FAST_16BF, which may or may not round: it is held to bf16 accuracy on the exact operands
    // (each product off by up to 2^-8 relative, random-walking over K).
    it('each kernel at each precision: tails past a tile, every transpose, lda > width, uneven batch offsets, alpha and beta', () => {
      const addon = kernels.addon();
      // 37 x 45 x 53: tails in every dim, 3 batches, unaligned; 129 x 130 x 33: one past a 128 tile in M and N and
      // past a 32 k-slice, aligned; 40 x 36 x 600: K across every kernel's k blocks (later blocks accumulate into C).
      const shapes = [[37, 45, 53], [129, 130, 33], [40, 36, 600]];
      let seed = 500;
      for (const name of kernels.names) {
        try {
          addon.gemmKernel(name);
        } catch {
          continue; // cannot run here: the test above says why
        }
        for (const precision of ['highest', 'medium'] as const) {
          const kernel = addon.matmulPrecision().kernels[precision];
          const bf16Operands = kernel.endsWith('-bf16');
          const rounded = bf16Operands && !kernel.startsWith('cublaslt');
          shapes.forEach(([M, N, K], si) => {
            for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
              // alpha 1 with beta 0 or 1 is what kernels may compute in place (AMX accumulates onto C's tiles).
              const scaled = transA !== transB, accumulate = transA && transB;
              const c: GemmCase = { M, N, K, transA, transB, batch: si === 0 ? 3 : 1, alpha: scaled ? 0.5 : 1,
                beta: scaled ? -1.5 : accumulate ? 1 : 0, aligned: si === 1 };
              const { out, ref } = runGemm(addon, c, precision, rounded, seed);
              seed += 3;
              const tol = bf16Operands && !rounded ? { atol: 4e-3 * Math.sqrt(K) * c.alpha, rtol: 1e-5 } : dotTol(K, c.alpha + Math.abs(c.beta));
              expectClose(out, ref, tol, `${name} -> ${kernel} ${JSON.stringify(c)}`);
            }
          });
        }
      }
    });
  });

  it('matmul entry point: bad arguments throw TypeError/RangeError naming matmul', () => {
    const addon = GEMM_KERNELS[device].addon();
    tg.tidy(() => {
      const a = fromArray(randomArray(12, 520), [12]), b = fromArray(randomArray(12, 521), [12]), c = fromArray(randomArray(9, 522), [9]);
      const ints = tg.tensor(Int32Array.from({ length: 12 }, (_, i) => i), [12]);
      const one = new Float64Array([0]);
      const call = (over: Partial<Record<'a' | 'aOffsets' | 'lda' | 'M' | 'batch' | 'precision', unknown>>) => () =>
        (addon.matmul as (...args: unknown[]) => void)(c.storage.id, over.a ?? a.storage.id, over.aOffsets ?? one, over.lda ?? 4, false,
          b.storage.id, one, 3, false, over.M ?? 3, 3, 4, over.batch ?? 1, 1, 0, over.precision ?? 'highest');
      expect(call({})).not.toThrow();
      expect(call({ a: ints.storage.id })).toThrow(TypeError);
      expect(call({ a: ints.storage.id })).toThrow(/matmul: a must be float32 or bfloat16, got int32/);
      expect(call({ aOffsets: [0] })).toThrow(/matmul: aOffsets must be a Float64Array of element offsets/);
      expect(call({ aOffsets: new Float64Array([0, 0]) })).toThrow(/matmul: aOffsets has 2 entries, expected 1/);
      expect(call({ aOffsets: new Float64Array([1]) })).toThrow(RangeError);
      expect(call({ aOffsets: new Float64Array([1]) })).toThrow(/matmul: a: a 3x4 operand at offset 1 exceeds its buffer of 12 elements/);
      expect(call({ lda: 2 })).toThrow(/matmul: a: leading dimension 2 < width 4/);
      expect(call({ M: 4 })).toThrow(/matmul: .*exceed/);
      expect(call({ batch: -1 })).toThrow(/matmul: negative dimension/);
      expect(call({ precision: 'low' })).toThrow(/matmul: precision must be 'highest' or 'medium', got 'low'/);
      expect(() => addon.matmulPrecision('low')).toThrow(/matmulPrecision: unknown precision 'low'/);
    });
  });
}));
