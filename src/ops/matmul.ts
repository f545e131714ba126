// Matrix products: 2-D, batched, broadcast batch dims, and 1-D operands (as in torch.matmul). Transposed
// views are passed to the GEMM as transpose flags, and broadcast batch dims as repeated offsets: no copies.
import { record } from '../autograd/function.js';
import type { Device, Float32MatmulPrecision } from '../backend/backend.js';
import { isGradEnabled } from '../autograd/grad-mode.js';
import { keep } from '../autograd/tidy.js';
import { backends, getBackend } from '../backend/registry.js';
import type { Tensor } from '../tensor.js';
import { formatShape, isTensor, shapeNumel } from '../tensor-util.js';
import { copyContiguous, sumToShape } from './raw.js';
import { broadcastShapes, reshape, transpose } from './shape.js';

interface Operand {
  t: Tensor;
  trans: boolean;
  ld: number;
  owned: boolean;
}

// How the GEMM reads the last two dims (rows, cols) of t: row-major with stride ld, or transposed.
function asOperand(t: Tensor): Operand {
  const n = t.ndim;
  const [rows, cols] = [t.shape[n - 2], t.shape[n - 1]];
  const [rs, cs] = [t.strides[n - 2], t.strides[n - 1]];
  if ((cs === 1 || cols === 1) && (rs >= Math.max(cols, 1) || rows === 1)) return { t, trans: false, ld: rows === 1 ? Math.max(cols, 1) : rs, owned: false };
  if ((rs === 1 || rows === 1) && (cs >= Math.max(rows, 1) || cols === 1)) return { t, trans: true, ld: cols === 1 ? Math.max(rows, 1) : cs, owned: false };
  const c = copyContiguous(t);
  return { t: c, trans: false, ld: Math.max(cols, 1), owned: true };
}

// A single product's offsets go through two arrays kept for the purpose (the backends copy offsets during the call):
// a fresh Float64Array per operand cost more than an 8x8 product itself, most of it V8 moving the array off its heap
// when the addon reads it.
const singleOffsets = [new Float64Array(1), new Float64Array(1)] as const;

function batchOffsets(t: Tensor, batchShape: number[], operand: 0 | 1): Float64Array {
  const count = shapeNumel(batchShape);
  if (count === 1) {
    singleOffsets[operand][0] = t.offset;
    return singleOffsets[operand];
  }
  const lead = batchShape.length - (t.ndim - 2);
  const offsets = new Float64Array(count);
  const index = new Array<number>(batchShape.length).fill(0);
  for (let b = 0; b < count; b++) {
    let off = t.offset;
    for (let d = 0; d < batchShape.length; d++) {
      const src = d - lead;
      if (src >= 0 && t.shape[src] !== 1) off += index[d] * t.strides[src];
    }
    offsets[b] = off;
    for (let d = batchShape.length - 1; d >= 0; d--) {
      if (++index[d] < batchShape[d]) break;
      index[d] = 0;
    }
  }
  return offsets;
}

// a (..., M, K) @ b (..., K, N) with both at least 2-D, no autograd.
function matmulRaw(a: Tensor, b: Tensor, precision: Float32MatmulPrecision): Tensor {
  const M = a.shape[a.ndim - 2];
  const K = a.shape[a.ndim - 1];
  const N = b.shape[b.ndim - 1];
  const batchShape = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const out = a.newEmpty([...batchShape, M, N], 'float32');
  const batch = shapeNumel(batchShape);
  if (out.numel === 0) return out;
  if (K === 0) {
    out.backend.fill(out, 0);
    return out;
  }
  const oa = asOperand(a);
  const ob = asOperand(b);
  a.backend.matmul(out, oa.t, batchOffsets(oa.t, batchShape, 0), oa.ld, oa.trans, ob.t, batchOffsets(ob.t, batchShape, 1), ob.ld,
    ob.trans, M, N, K, batch, 1, 0, precision);
  if (oa.owned) oa.t.dispose();
  if (ob.owned) ob.t.dispose();
  return out;
}

// PyTorch's dtype promotion of a product computed in float32 (the GEMM reads bfloat16 operands, accumulates in
// float32 and writes float32): bfloat16 @ bfloat16 is stored bfloat16, anything with a float32 operand float32.
// The rounding happens before the product is recorded (its backward reads only the operands), so no float32 copy
// of the result outlives the call; its gradient arrives in float32 as every gradient does.
function promoted(out: Tensor, a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== 'bfloat16' || b.dtype !== 'bfloat16') return out;
  const rounded = out.newEmpty(out.shape, 'bfloat16');
  if (out.numel > 0) out.backend.copy(rounded, out);
  out.dispose();
  return rounded;
}

function checkFloatOperand(op: string, t: unknown): Tensor {
  if (!isTensor(t)) throw new TypeError(`${op}: expected Tensors, got ${t === null ? 'null' : typeof t}`);
  t.assertLive(op);
  if (t.dtype === 'int32') throw new TypeError(`${op}: expects float32 or bfloat16 tensors, got ${t.dtype} of shape ${formatShape(t.shape)}`);
  return t;
}

/** Options of a matrix product. */
export interface MatmulOptions {
  /**
   * Precision of this product and of its gradient products. Default: the process default
   * (`setFloat32MatmulPrecision`), read when the product runs; the backward uses the forward's.
   */
  precision?: Float32MatmulPrecision;
}

/**
 * Matrix product with torch.matmul's rules for 1-D operands and broadcast batch dims. The precision is the
 * call's own (`options.precision`, else the process default at call time) and the gradient products use it too.
 * Operands are float32 or bfloat16, computed in float32; the result is bfloat16 when both are (PyTorch's
 * promotion), else float32. Gradients are float32.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const precision = resolveMatmulPrecision('matmul', options.precision);
  for (const t of [a, b]) {
    checkFloatOperand('matmul', t);
    if (t.ndim === 0) throw new RangeError('matmul: both arguments need at least one dimension');
  }
  if (a.device !== b.device) throw new TypeError(`matmul: tensors on different devices (${a.device}, ${b.device})`);
  if (a.ndim === 1 || b.ndim === 1) {
    const a2 = a.ndim === 1 ? reshape(a, [1, a.shape[0]]) : a;
    const b2 = b.ndim === 1 ? reshape(b, [b.shape[0], 1]) : b;
    const full = matmul(a2, b2, { precision });
    const shape = full.shape.filter((_, i) => !((a.ndim === 1 && i === full.ndim - 2) || (b.ndim === 1 && i === full.ndim - 1)));
    return reshape(full, shape);
  }
  const K = a.shape[a.ndim - 1];
  if (b.shape[b.ndim - 2] !== K) {
    throw new RangeError(`matmul: shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} are not aligned (${K} != ${b.shape[b.ndim - 2]})`);
  }
  // A batch of rows times one matrix is one big GEMM: fold the batch dims into M.
  if (b.ndim === 2 && a.ndim > 2) {
    // NOTE: explicit row count: [-1, K] is ambiguous (and rejected) for K = 0.
    const flat = reshape(a, [shapeNumel(a.shape.slice(0, -1)), K]);
    const y = matmul(flat, b, { precision });
    return reshape(y, [...a.shape.slice(0, -1), b.shape[1]]);
  }
  const out = promoted(matmulRaw(a, b, precision), a, b);
  // dA = g @ B^T, dB = A^T @ g (summed over broadcast batch dims), at the forward's precision
  return record('matmul', [a, b], out, (g) => {
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (a.requiresGrad) {
      const bt = transpose(b, -2, -1);
      const full = matmulRaw(g, bt, precision);
      bt.dispose();
      ga = sumToShape(full, a.shape);
      if (ga !== full) full.dispose();
    }
    if (b.requiresGrad) {
      const at = transpose(a, -2, -1);
      const full = matmulRaw(at, g, precision);
      at.dispose();
      gb = sumToShape(full, b.shape);
      if (gb !== full) full.dispose();
    }
    return [ga, gb];
  });
}

/**
 * x (..., in) @ weight^T for weight (out, in), as torch.nn.functional.linear without the bias. The backward
 * computes dW = g^T x directly in the weight's (out, in) layout (no transposed gradient to copy) and
 * dx = g W, each as one GEMM over all rows, at the forward's precision (see `matmul`). A bfloat16 weight (or
 * input) is read by the GEMM as is; dtypes promote as in `matmul`.
 */
export function linear(x: Tensor, weight: Tensor, options: MatmulOptions = {}): Tensor {
  const precision = resolveMatmulPrecision('linear', options.precision);
  for (const t of [x, weight]) checkFloatOperand('linear', t);
  if (x.device !== weight.device) throw new TypeError(`linear: tensors on different devices (${x.device}, ${weight.device})`);
  if (weight.ndim !== 2 || x.ndim < 1 || x.shape[x.ndim - 1] !== weight.shape[1])
    throw new RangeError(`linear: input ${formatShape(x.shape)} must end in weight ${formatShape(weight.shape)}'s ${weight.shape[1]} input features`);
  const [out, K] = weight.shape;
  const rows = shapeNumel(x.shape.slice(0, -1));
  const x2 = reshape(x, [rows, K]);
  const wt = transpose(weight, 0, 1);
  const y2 = promoted(matmulRaw(x2, wt, precision), x2, weight);
  wt.dispose();
  // dx = g W, dW = g^T x (out, in), at the forward's precision
  const y = record('linear', [x2, weight], y2, (g) => {
    let gx: Tensor | null = null;
    let gw: Tensor | null = null;
    if (x2.requiresGrad) gx = matmulRaw(g, weight, precision);
    if (weight.requiresGrad) {
      const gt = transpose(g, 0, 1);
      gw = matmulRaw(gt, x2, precision);
      gt.dispose();
    }
    return [gx, gw];
  });
  return x.ndim === 2 ? y : reshape(y, [...x.shape.slice(0, -1), out]);
}

export type { Float32MatmulPrecision };

// The process default, mirrored here so that resolving a product's precision costs no native call.
let defaultPrecision: Float32MatmulPrecision | null = null;

/**
 * Sets the default precision of float32 matrix products on the CPU (process-wide; initially `'highest'`): the
 * precision of every product whose call names none (`matmul`, `linear`, `scaledDotProductAttention`, model
 * forwards and `generate` take a `precision` / `matmulPrecision` option that overrides it for that call).
 * `'medium'` lets them round their operands to bfloat16 while products and sums stay float32 (mixed-precision
 * training with float32 weights, gradients and optimizer state): on CPUs with AVX512-BF16 the multiply-add rate
 * doubles; elsewhere it computes as `'highest'`. Matrix-vector products and products of a few (at most 8) rows
 * with a large matrix stay float32: they are memory-bound. Each operand carries a relative rounding error of up
 * to 2^-9 (~2e-3) instead of 2^-24.
 */
export function setFloat32MatmulPrecision(precision: Float32MatmulPrecision): void {
  if (precision !== 'highest' && precision !== 'medium') {
    throw new RangeError(`setFloat32MatmulPrecision: expected 'highest' or 'medium', got ${JSON.stringify(precision)}`);
  }
  for (const device of backends()) getBackend(device).setDefaultMatmulPrecision(precision);
  defaultPrecision = precision;
}

/** The process default precision of float32 matrix products (see `setFloat32MatmulPrecision`). */
export function getFloat32MatmulPrecision(): Float32MatmulPrecision {
  defaultPrecision ??= getBackend('cpu').defaultMatmulPrecision();
  return defaultPrecision;
}

/** @internal A call's precision: the one it names (checked; `op` names the caller in errors), else the default. */
export function resolveMatmulPrecision(op: string, precision: Float32MatmulPrecision | undefined): Float32MatmulPrecision {
  if (precision === undefined) return getFloat32MatmulPrecision();
  if (precision !== 'highest' && precision !== 'medium') {
    throw new RangeError(`${op}: precision must be 'highest' or 'medium', got ${JSON.stringify(precision)}`);
  }
  return precision;
}

/**
 * Runs `fn` with the process default set to `precision` and restores the previous default afterwards, also on
 * a throw. For an async `fn` the default holds until its promise settles: matrix products run by other code in
 * the meantime use it too, so code that awaits (trainers, servers) should pass a precision to its calls instead.
 */
export function withFloat32MatmulPrecision<T>(precision: Float32MatmulPrecision, fn: () => T): T {
  const previous = getFloat32MatmulPrecision();
  setFloat32MatmulPrecision(precision);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    setFloat32MatmulPrecision(previous);
    throw err;
  }
  if (result instanceof Promise) return result.finally(() => setFloat32MatmulPrecision(previous)) as T;
  setFloat32MatmulPrecision(previous);
  return result;
}

/**
 * The GEMM kernel float32 matrix products run on at `precision` (default: the process default) on `device`
 * (default the CPU): on the CPU its micro-kernel (at medium precision `amx-bf16` on Intel's CPUs with AMX,
 * `avx512-bf16` on AMD's with AVX512-BF16); on cuda `cublaslt-f32` / `cublaslt-bf16` where cuBLASLt loads, else our
 * own `simt-f32` / `mma-bf16` (bf16 tensor cores).
 */
export function matmulKernel(precision?: Float32MatmulPrecision, device: Device = 'cpu'): string {
  return getBackend(device).matmulKernel(resolveMatmulPrecision('matmulKernel', precision));
}

/**
 * A linear weight (out, in) packed once for the CPU GEMM kernel of a precision (`options.precision`, default
 * the process default), for many products `x @ weight^T` without gradients at that precision: generation runs
 * every decode step with the same weights, and packing them anew each time costs ~40% of a 64-row product. It
 * is a snapshot: pack again after the weight changes, and after the kernel changes (`isCurrent` turns false).
 */
export class PackedLinearWeight {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** The precision its products run at. */
  readonly precision: Float32MatmulPrecision;
  /** The kernel the panels were packed for (see `matmulKernel()`). */
  readonly kernel: string;
  private storage: Tensor | null;

  constructor(weight: Tensor, options: MatmulOptions = {}) {
    if (!isTensor(weight)) throw new TypeError(`PackedLinearWeight: expected a Tensor, got ${weight === null ? 'null' : typeof weight}`);
    weight.assertLive('PackedLinearWeight');
    if (weight.dtype !== 'float32' || weight.ndim !== 2) {
      throw new TypeError(`PackedLinearWeight: expects a 2-D float32 weight (out, in), got ${weight.dtype} of shape ${formatShape(weight.shape)}`);
    }
    const backend = weight.backend;
    if (!backend.capabilities.packedMatmul) {
      throw new TypeError(`PackedLinearWeight: the ${weight.device} backend has no packed products; use linear()`);
    }
    [this.outFeatures, this.inFeatures] = weight.shape;
    this.precision = resolveMatmulPrecision('PackedLinearWeight', options.precision);
    const wt = transpose(weight, 0, 1);
    const op = asOperand(wt);
    this.kernel = backend.matmulKernel(this.precision);
    // Owned by this object (dispose()), not by an enclosing tidy scope.
    const size = backend.packedMatmulSize(this.inFeatures, this.outFeatures, this.precision);
    this.storage = keep(weight.newEmpty([size], 'float32'));
    backend.packMatmulB(this.storage, op.t, op.ld, op.trans, this.inFeatures, this.outFeatures, this.precision);
    if (op.owned) op.t.dispose();
    wt.dispose();
  }

  /** False once disposed, or when its precision's products would now run on another kernel than it was packed for. */
  get isCurrent(): boolean {
    return this.storage !== null && this.kernel === this.storage.backend.matmulKernel(this.precision);
  }

  /** @internal */
  packedStorage(op: string): Tensor {
    if (this.storage === null) throw new Error(`${op}: the packed weight was disposed`);
    return this.storage;
  }

  dispose(): void {
    this.storage?.dispose();
    this.storage = null;
  }
}

/**
 * `linear(x, weight, { precision: packed.precision })` with the weight pre-packed: x (..., in) -> (..., out).
 * Bit-identical to `linear` for more than 8 rows; fewer rows, which `linear` streams through an unpacked float32
 * path, may differ in rounding (and at medium precision by the bfloat16 rounding of the operands). Records no
 * gradient: call it without grad mode or on inputs that need none.
 */
export function linearPacked(x: Tensor, packed: PackedLinearWeight): Tensor {
  if (!isTensor(x)) throw new TypeError(`linearPacked: expected a Tensor, got ${x === null ? 'null' : typeof x}`);
  x.assertLive('linearPacked');
  if (x.dtype !== 'float32') throw new TypeError(`linearPacked: expects a float32 input, got ${x.dtype}`);
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== packed.inFeatures) {
    throw new RangeError(`linearPacked: input ${formatShape(x.shape)} must end in the packed weight's ${packed.inFeatures} input features`);
  }
  if (isGradEnabled() && x.requiresGrad) throw new Error('linearPacked: records no gradient; use linear() where one is needed');
  const storage = packed.packedStorage('linearPacked');
  if (x.device !== storage.device) {
    throw new TypeError(`linearPacked: input on ${x.device}, packed weight on ${storage.device}`);
  }
  const kernel = storage.backend.matmulKernel(packed.precision);
  if (packed.kernel !== kernel) {
    throw new Error(`linearPacked: the weight was packed for the ${packed.kernel} kernel, but products now run on ${kernel}: pack it again`);
  }
  const K = packed.inFeatures, N = packed.outFeatures;
  const rows = shapeNumel(x.shape.slice(0, -1));
  const out = x.newEmpty([...x.shape.slice(0, -1), N], 'float32');
  if (rows === 0) return out;
  // A contiguous x is its own (rows, K) operand (no view objects: a decode step makes ~30 of these products);
  // other layouts go through a 2-D view, copied when its rows are not evenly spaced.
  if (x.isContiguous()) {
    out.backend.matmulPacked(out, x, K, false, storage, rows, N, K, packed.precision);
    return out;
  }
  const x2 = reshape(x, [rows, K]);
  const op = asOperand(x2);
  out.backend.matmulPacked(out, op.t, op.ld, op.trans, storage, rows, N, K, packed.precision);
  if (op.owned) op.t.dispose();
  if (x2 !== x) x2.dispose();
  return out;
}
