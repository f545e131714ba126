// The one place that knows devices: the Backend interface (one method per native primitive, on tensor
// views) and the registry of available backends. Ops and autograd call `backendOf(tensor)` and never
// test the device themselves.
import type { Tensor, DType } from '../tensor.js';
import type { BinaryOpName, ReduceOpName, UnaryOpName } from './codes.js';

export type Device = 'cpu' | 'cuda';

export interface Backend {
  readonly device: Device;
  alloc(numel: number, dtype: DType): number;
  free(id: number): boolean;
  write(id: number, offset: number, data: Float32Array | Int32Array): void;
  read(id: number, offset: number, out: Float32Array | Int32Array): void;
  fill(out: Tensor, value: number): void;
  arange(out: Tensor, start: number, step: number): void;
  randomUniform(out: Tensor, seed: number, counter: number, low: number, high: number): void;
  randomNormal(out: Tensor, seed: number, counter: number, mean: number, std: number): void;
  /** out (contiguous, shape of x) = op(x). */
  unary(op: UnaryOpName, out: Tensor, x: Tensor, p0?: number, p1?: number): void;
  /** out (contiguous) = op(a, b); a and b are already broadcast to out's shape (stride-0 views). */
  binary(op: BinaryOpName, out: Tensor, a: Tensor, b: Tensor): void;
  where(out: Tensor, cond: Tensor, a: Tensor, b: Tensor): void;
  /** dst[view] = src[view] (same shape), converting dtype when they differ. */
  copy(dst: Tensor, src: Tensor): void;
  /** x contiguous (rows, cols) -> out (rows). */
  reduceRows(op: ReduceOpName, out: Tensor, x: Tensor, rows: number, cols: number): void;
  /** x contiguous (rows, cols) -> out (cols). */
  reduceCols(op: ReduceOpName, out: Tensor, x: Tensor, rows: number, cols: number): void;
  indexSelect(out: Tensor, x: Tensor, outer: number, dim: number, inner: number, index: Tensor, count: number): void;
  indexAdd(out: Tensor, src: Tensor, outer: number, dim: number, inner: number, index: Tensor, count: number): void;
  gather(out: Tensor, x: Tensor, outer: number, dim: number, inner: number, index: Tensor, k: number): void;
  scatterAdd(out: Tensor, src: Tensor, outer: number, dim: number, inner: number, index: Tensor, k: number): void;
  /**
   * out (batch, M, N) = alpha * op(A_b) @ op(B_b) + beta * out, operands at per-batch element offsets, at the
   * given float32 matmul precision (each call carries its own; see setFloat32MatmulPrecision).
   */
  matmul(out: Tensor, a: Tensor, aOffsets: Float64Array, lda: number, transA: boolean, b: Tensor,
    bOffsets: Float64Array, ldb: number, transB: boolean, M: number, N: number, K: number, batch: number,
    alpha: number, beta: number, precision: Float32MatmulPrecision): void;
}

/** Precision of float32 matrix products on the CPU, as in PyTorch's `torch.set_float32_matmul_precision`. */
export type Float32MatmulPrecision = 'highest' | 'medium';

const registry = new Map<Device, () => Backend>();

/** @internal Called by each backend module at load. */
export function registerBackend(device: Device, factory: () => Backend): void {
  registry.set(device, factory);
}

const instances = new Map<Device, Backend>();

export function getBackend(device: Device): Backend {
  let b = instances.get(device);
  if (!b) {
    const factory = registry.get(device);
    if (!factory) {
      throw new Error(device === 'cuda'
        ? 'thinkgrad: built without CUDA tensor support: install the CUDA toolkit and run npm rebuild'
        : `thinkgrad: unknown device '${device}'`);
    }
    b = factory();
    instances.set(device, b);
  }
  return b;
}

/** Devices whose backend is loaded and usable in this process. */
export function backends(): Device[] {
  return [...registry.keys()];
}
