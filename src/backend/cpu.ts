// The CPU backend: forwards each primitive to the native addon with buffer ids, offsets and strides. The core
// primitives are here; the fused and GRPO kernels are in cpu-fused.ts and cpu-grpo.ts, composed below.
import { native, warnIfOversubscribed } from '../native.js';
import type { Backend, CorePrimitives, DType, Float32MatmulPrecision, PackedMatmulPrimitives, TensorView } from './backend.js';
import { BinaryOp, DTypeCode, RandomKind, ReduceOp, UnaryOp } from './codes.js';
import { cpuFused } from './cpu-fused.js';
import { cpuGrpo } from './cpu-grpo.js';

const id = (t: TensorView): number => t.storage.id;
const strides = (t: TensorView): number[] => t.strides as number[];
const shape = (t: TensorView): number[] => t.shape as number[];

// V8 learns of native bytes once per turn of the event loop in which buffers came or went, so that garbage
// collection runs under native pressure without weighing a collection at every allocation of a step.
let externalReportPending = false;
function reportExternalMemorySoon(): void {
  if (externalReportPending) return;
  externalReportPending = true;
  setImmediate(() => {
    externalReportPending = false;
    native.reportExternalMemory();
  }).unref();
}

const cpuCore: CorePrimitives = {
  device: 'cpu',
  capabilities: { packedMatmul: true, bf16KVCache: true },
  alloc: (numel: number, dtype: DType) => {
    const bufferId = native.alloc(numel, DTypeCode[dtype]);
    reportExternalMemorySoon();
    return bufferId;
  },
  free: (bufferId) => {
    const released = native.free(bufferId);
    reportExternalMemorySoon();
    return released;
  },
  write: (bufferId, offset, data) => native.write(bufferId, offset, data),
  read: (bufferId, offset, out) => native.read(bufferId, offset, out),
  memoryStats: () => native.stats(),
  resetPeakMemory: () => native.resetPeak(),
  emptyCache: () => native.emptyCache(),
  fill: (out, value) => native.fill(id(out), out.offset, out.numel, value),
  arange: (out, start, step) => native.arange(id(out), out.numel, start, step),
  randomUniform: (out, seed, counter, low, high) => native.randomFill(id(out), out.numel, RandomKind.uniform, seed, counter, low, high),
  randomNormal: (out, seed, counter, mean, std) => native.randomFill(id(out), out.numel, RandomKind.normal, seed, counter, mean, std),
  unary: (op, out, x, p0 = 0, p1 = 0) =>
    native.unary(UnaryOp[op], id(out), id(x), x.offset, shape(x), strides(x), p0, p1),
  binary: (op, out, a, b) =>
    native.binary(BinaryOp[op], id(out), id(a), a.offset, strides(a), id(b), b.offset, strides(b), shape(out)),
  where: (out, cond, a, b) =>
    native.where(id(out), id(cond), cond.offset, strides(cond), id(a), a.offset, strides(a), id(b), b.offset,
      strides(b), shape(out)),
  copy: (dst, src) => native.copy(id(dst), dst.offset, strides(dst), id(src), src.offset, strides(src), shape(dst)),
  reduceRows: (op, out, x, rows, cols) => native.reduceRows(ReduceOp[op], id(out), id(x), x.offset, rows, cols),
  reduceCols: (op, out, x, rows, cols) => native.reduceCols(ReduceOp[op], id(out), id(x), x.offset, rows, cols),
  indexSelect: (out, x, outer, dim, inner, index, count) =>
    native.indexSelect(id(out), id(x), x.offset, outer, dim, inner, id(index), index.offset, count),
  indexAdd: (out, src, outer, dim, inner, index, count) =>
    native.indexAdd(id(out), id(src), src.offset, outer, dim, inner, id(index), index.offset, count),
  gather: (out, x, outer, dim, inner, index, k) =>
    native.gather(id(out), id(x), x.offset, outer, dim, inner, id(index), index.offset, k),
  scatterAdd: (out, src, outer, dim, inner, index, k) =>
    native.scatterAdd(id(out), id(src), src.offset, outer, dim, inner, id(index), index.offset, k),
  matmul: (out, a, aOffsets, lda, transA, b, bOffsets, ldb, transB, M, N, K, batch, alpha, beta, precision) =>
    native.matmul(id(out), id(a), aOffsets, lda, transA, id(b), bOffsets, ldb, transB, M, N, K, batch, alpha, beta, precision),
  matmulKernel: (precision) => native.matmulPrecision().kernels[precision],
  defaultMatmulPrecision: () => native.matmulPrecision().precision as Float32MatmulPrecision,
  setDefaultMatmulPrecision: (precision) => {
    native.matmulPrecision(precision);
  },
};

const cpuPacked: PackedMatmulPrimitives = {
  packedMatmulSize: (K, N, precision) => native.gemmPackedSize(K, N, precision),
  packMatmulB: (packed, b, ldb, transB, K, N, precision) =>
    native.gemmPackB(id(packed), id(b), b.offset, ldb, transB, K, N, precision),
  matmulPacked: (out, a, lda, transA, packed, M, N, K, precision) =>
    native.matmulPackedB(id(out), id(a), a.offset, lda, transA, id(packed), M, N, K, precision),
};

export const cpuBackend: Backend = { ...cpuCore, ...cpuPacked, ...cpuFused, ...cpuGrpo };

/** Sets the CPU engine's thread count (an integer in [1, 1024]); more threads than CPUs warns once per process. */
export function setCpuThreads(n: number): void {
  native.setNumThreads(n);
  warnIfOversubscribed('setNumThreads');
}

/** The CPU engine's thread count. */
export function cpuThreads(): number {
  return native.numThreads();
}
