// The CPU backend: storage, memory accounting and pre-packed GEMM weights here, every other primitive forwarded to
// the native addon by addon-primitives.ts (the same forwarding as the CUDA addon's).
import { native, warnIfOversubscribed } from '../native.js';
import { addonPrimitives } from './addon-primitives.js';
import type { Backend, DType, Float32MatmulPrecision, PackedMatmulPrimitives, StoragePrimitives, TensorView } from './backend.js';
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

// The kernel names per precision, read again only after a kernel was forced (gemmKernel(name) bumps the epoch):
// a Linear without gradients asks twice per product whether its packed weight is current, and matmulPrecision()
// builds an object of five strings each time (~2.5 us, 0.15 ms of a W4 decode step).
let kernelNames: { epoch: number; kernels: Record<Float32MatmulPrecision, string> } | null = null;
const matmulKernel = (precision: Float32MatmulPrecision): string => {
  const epoch = native.gemmKernelEpoch();
  if (kernelNames?.epoch !== epoch) kernelNames = { epoch, kernels: native.matmulPrecision().kernels };
  return kernelNames.kernels[precision];
};

export const cpuBackend: Backend = { ...cpuStorage, ...cpuPacked, ...addonPrimitives(native), matmulKernel };

/** Sets the CPU engine's thread count (an integer in [1, 1024]); more threads than CPUs warns once per process. */
export function setCpuThreads(n: number): void {
  native.setNumThreads(n);
  warnIfOversubscribed('setNumThreads');
}

/** The CPU engine's thread count. */
export function cpuThreads(): number {
  return native.numThreads();
}
