// The CPU backend: storage, memory accounting and pre-packed GEMM weights here, every other primitive forwarded to
// the native addon by addon-primitives.ts (the same forwarding as the CUDA addon's).
import { native, warnIfOversubscribed } from '../native.js';
import { addonPrimitives } from './addon-primitives.js';
import type { Backend, DType, PackedMatmulPrimitives, StoragePrimitives, TensorView } from './backend.js';
import { DTypeCode } from './codes.js';

const id = (t: TensorView): number => t.storage.id;

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

const cpuStorage: StoragePrimitives = {
  device: 'cpu',
  capabilities: { packedMatmul: true, bf16KVCache: true, bf16Logits: false },
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
  // Every CPU kernel has finished when its call returns.
  synchronize: () => {},
};

const cpuPacked: PackedMatmulPrimitives = {
  packedMatmulSize: (K, N, precision) => native.gemmPackedSize(K, N, precision),
  packMatmulB: (packed, b, ldb, transB, K, N, precision) =>
    native.gemmPackB(id(packed), id(b), b.offset, ldb, transB, K, N, precision),
  matmulPacked: (out, a, lda, transA, packed, M, N, K, precision) =>
    native.matmulPackedB(id(out), id(a), a.offset, lda, transA, id(packed), M, N, K, precision),
};

export const cpuBackend: Backend = { ...cpuStorage, ...cpuPacked, ...addonPrimitives(native) };

/** Sets the CPU engine's thread count (an integer in [1, 1024]); more threads than CPUs warns once per process. */
export function setCpuThreads(n: number): void {
  native.setNumThreads(n);
  warnIfOversubscribed('setNumThreads');
}

/** The CPU engine's thread count. */
export function cpuThreads(): number {
  return native.numThreads();
}
