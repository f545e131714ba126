// Tensor: a strided view (shape, strides, offset) over reference-counted native storage, with the autograd
// fields and the chainable methods (x.add(y).sum()), each a call of the op in src/ops/ that does the math. The ops
// import this module only as a type and create tensors through an input (`newEmpty`, `newZeros`, `newFull`), so
// the run-time imports form no cycle.
import { backward, type BackwardOptions } from './autograd/engine.js';
import { record } from './autograd/function.js';
import type { Node } from './autograd/node.js';
import { type Scope, track, untrack } from './autograd/tidy.js';
import type { Backend, Device, DType } from './backend/backend.js';
import { getBackend, getDefaultDevice } from './backend/registry.js';
import * as ew from './ops/elementwise.js';
import * as idx from './ops/index.js';
import { matmul } from './ops/matmul.js';
import * as red from './ops/reduce.js';
import * as sh from './ops/shape.js';
import { contiguousStrides, formatShape, normalizeDim, type Shape, shapeNumel } from './tensor-util.js';

export type { DType, Shape };
export { checkShape, contiguousStrides, formatShape, normalizeDim, shapeNumel } from './tensor-util.js';

type TL = ew.TensorLike;

function shapeArgs(args: number[] | [Shape]): Shape {
  return args.length === 1 && Array.isArray(args[0]) ? (args[0] as Shape) : (args as number[]);
}

/** @internal Native storage shared by a tensor and its views; freed when the last one is disposed. */
export class Storage {
  refs = 0;
  constructor(
    readonly backend: Backend,
    readonly id: number,
    readonly numel: number,
    readonly dtype: DType,
  ) {}

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs === 0) this.backend.free(this.id);
  }
}

let liveTensors = 0;

// Safety net for tensors that are dropped without dispose(): the storage reference goes with the object.
const finalizer = new FinalizationRegistry<Storage>((storage) => {
  liveTensors--;
  storage.release();
});

export class Tensor {
  /** @internal */ readonly __isTensor = true;
  /** @internal */ storage: Storage;
  /** @internal */ scope: Scope | null;
  readonly shape: Shape;
  readonly strides: Shape;
  readonly offset: number;
  readonly dtype: DType;
  requiresGrad = false;
  /**
   * Accumulated gradient after backward(), owned by this tensor. Always float32, also for a bfloat16 tensor:
   * "master gradients" accumulated without bfloat16 rounding (PyTorch would keep them bfloat16).
   */
  grad: Tensor | null = null;
  /** @internal The operation that produced this tensor, when recorded for autograd. */
  gradFn: Node | null = null;
  private disposed = false;

  /** @internal Use the creation functions (`tensor`, `zeros`, ...) instead. */
  constructor(storage: Storage, shape: Shape, strides: Shape, offset: number) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze([...strides]);
    this.offset = offset;
    this.dtype = storage.dtype;
    storage.retain();
    liveTensors++;
    finalizer.register(this, storage, this);
    this.scope = track(this);
  }

  /** @internal A fresh contiguous tensor with uninitialized contents (on the default device unless given). */
  static empty(shape: Shape, dtype: DType = 'float32', device: Device = getDefaultDevice()): Tensor {
    const backend = getBackend(device);
    const numel = shapeNumel(shape);
    const storage = new Storage(backend, backend.alloc(numel, dtype), numel, dtype);
    return new Tensor(storage, shape, contiguousStrides(shape), 0);
  }

  /** A new contiguous tensor on this tensor's device with uninitialized contents (dtype: this one's by default). */
  newEmpty(shape: Shape, dtype: DType = this.dtype): Tensor {
    const backend = this.storage.backend;
    const numel = shapeNumel(shape);
    return new Tensor(new Storage(backend, backend.alloc(numel, dtype), numel, dtype), shape, contiguousStrides(shape), 0);
  }

  /** A new tensor of `value` on this tensor's device (dtype: this one's by default). */
  newFull(shape: Shape, value: number, dtype: DType = this.dtype): Tensor {
    const t = this.newEmpty(shape, dtype);
    if (t.numel > 0) t.backend.fill(t, value);
    return t;
  }

  /** A new tensor of zeros on this tensor's device (dtype: this one's by default). */
  newZeros(shape: Shape, dtype: DType = this.dtype): Tensor {
    return this.newFull(shape, 0, dtype);
  }

  get device(): Device {
    return this.storage.backend.device;
  }

  get ndim(): number {
    return this.shape.length;
  }

  get numel(): number {
    return shapeNumel(this.shape);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** @internal The backend that runs ops on this tensor. */
  get backend(): Backend {
    return this.storage.backend;
  }

  size(dim?: number): number | Shape {
    return dim === undefined ? this.shape : this.shape[normalizeDim(dim, this.ndim, 'size')];
  }

  isContiguous(): boolean {
    let expected = 1;
    for (let d = this.ndim - 1; d >= 0; d--) {
      if (this.shape[d] !== 1 && this.strides[d] !== expected) return false;
      expected *= this.shape[d];
    }
    return true;
  }

  /** @internal Throws when the tensor was disposed; every op calls this on its inputs. */
  assertLive(op: string): this {
    if (this.disposed) throw new Error(`${op}: tensor ${formatShape(this.shape)} has been disposed`);
    return this;
  }

  /** Frees this tensor's reference to its storage (idempotent); later use throws. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    finalizer.unregister(this);
    liveTensors--;
    untrack(this);
    this.storage.release();
    this.gradFn = null;
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  /**
   * @internal Moves this tensor's elements to `device` in place (Module.to): new contiguous storage there, the old
   * reference released, the gradient moved too. The object keeps its identity, so optimizers and modules holding it
   * stay valid; views made earlier keep the old storage.
   */
  moveTo_(device: Device): void {
    this.assertLive('to');
    if (this.device === device) return;
    this.adopt(transfer(this, device));
    this.grad?.moveTo_(device);
  }

  /**
   * @internal Converts this tensor's elements to `dtype` in place (Module.to): new contiguous storage, the old
   * reference released. The object keeps its identity (optimizers and modules holding it stay valid); its gradient
   * stays float32; views made earlier keep the old storage.
   */
  castTo_(dtype: DType): void {
    this.assertLive('to');
    if (this.dtype === dtype) return;
    const view = this.detach();
    const converted = sh.cast(view, dtype);
    view.dispose();
    this.adopt(converted);
    (this as { dtype: DType }).dtype = dtype;
  }

  // Takes over `replacement`'s storage (contiguous, offset 0) and disposes it.
  private adopt(replacement: Tensor): void {
    const storage = replacement.storage;
    storage.retain();
    replacement.dispose();
    finalizer.unregister(this);
    this.storage.release();
    this.storage = storage;
    const self = this as { strides: Shape; offset: number };
    self.strides = Object.freeze(contiguousStrides(this.shape));
    self.offset = 0;
    finalizer.register(this, storage, this);
  }

  /** @internal A new tensor object over the same storage (the storage's reference count goes up). */
  makeView(shape: Shape, strides: Shape, offset: number): Tensor {
    return new Tensor(this.storage, shape, strides, offset);
  }

  /** The raw bits of a bfloat16 tensor's elements in row-major order (for files: safetensors' BF16). */
  bf16Bits(): Uint16Array {
    this.assertLive('bf16Bits');
    if (this.dtype !== 'bfloat16') throw new TypeError(`bf16Bits: expects a bfloat16 tensor, got ${this.dtype}`);
    const src = this.isContiguous() ? this : this.contiguous();
    const out = new Uint16Array(this.numel);
    if (out.length > 0) src.backend.read(src.storage.id, src.offset, out);
    if (src !== this) src.dispose();
    return out;
  }

  /** Copies the elements out in row-major order (bfloat16 as their float32 values). */
  data(): Float32Array | Int32Array {
    this.assertLive('data');
    const src = this.isContiguous() ? this : this.contiguous();
    const out = this.dtype === 'int32' ? new Int32Array(this.numel) : new Float32Array(this.numel);
    if (out.length > 0) src.backend.read(src.storage.id, src.offset, out);
    if (src !== this) src.dispose();
    return out;
  }

  /** The elements as (nested) JS arrays. */
  toArray(): NestedArray {
    const flat = Array.from(this.data());
    if (this.ndim === 0) return flat[0];
    const build = (dim: number, start: number): NestedArray => {
      const n = this.shape[dim];
      if (dim === this.ndim - 1) return flat.slice(start, start + n);
      const inner = shapeNumel(this.shape.slice(dim + 1));
      return Array.from({ length: n }, (_, i) => build(dim + 1, start + i * inner));
    };
    return build(0, 0);
  }

  /** The single element of a one-element tensor. */
  item(): number {
    if (this.numel !== 1) throw new RangeError(`item: tensor of shape ${formatShape(this.shape)} has ${this.numel} elements, expected 1`);
    return this.data()[0];
  }

  toString(): string {
    return `Tensor(${formatShape(this.shape)}, ${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  /**
   * Marks this leaf tensor as needing gradients (float32 or bfloat16; a bfloat16 tensor's `.grad` is float32: see
   * `grad`).
   */
  requiresGrad_(flag = true): this {
    if (flag && this.dtype === 'int32') throw new TypeError(`requiresGrad_: only float32 and bfloat16 tensors can require gradients, got ${this.dtype}`);
    if (this.gradFn && !flag) throw new Error('requiresGrad_: cannot turn off gradients of a non-leaf tensor; use detach()');
    this.requiresGrad = flag;
    return this;
  }

  /** Releases this tensor's gradient. */
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  /** Backpropagates from this tensor into the .grad of every leaf that requires grad. */
  backward(gradient?: Tensor, options?: BackwardOptions): void {
    backward(this, gradient, options);
  }

  // Chainable forms of the ops in src/ops/ (same arguments after the tensor itself).
  add(other: TL): Tensor { return ew.add(this, other); }
  sub(other: TL): Tensor { return ew.sub(this, other); }
  mul(other: TL): Tensor { return ew.mul(this, other); }
  div(other: TL): Tensor { return ew.div(this, other); }
  pow(other: TL): Tensor { return ew.pow(this, other); }
  maximum(other: TL): Tensor { return ew.maximum(this, other); }
  minimum(other: TL): Tensor { return ew.minimum(this, other); }
  neg(): Tensor { return ew.neg(this); }
  exp(): Tensor { return ew.exp(this); }
  log(): Tensor { return ew.log(this); }
  sqrt(): Tensor { return ew.sqrt(this); }
  rsqrt(): Tensor { return ew.rsqrt(this); }
  abs(): Tensor { return ew.abs(this); }
  tanh(): Tensor { return ew.tanh(this); }
  sigmoid(): Tensor { return ew.sigmoid(this); }
  silu(): Tensor { return ew.silu(this); }
  gelu(): Tensor { return ew.gelu(this); }
  relu(): Tensor { return ew.relu(this); }
  square(): Tensor { return ew.square(this); }
  reciprocal(): Tensor { return ew.reciprocal(this); }
  clamp(low?: number, high?: number): Tensor { return ew.clamp(this, low, high); }
  eq(other: TL): Tensor { return ew.eq(this, other); }
  ne(other: TL): Tensor { return ew.ne(this, other); }
  lt(other: TL): Tensor { return ew.lt(this, other); }
  le(other: TL): Tensor { return ew.le(this, other); }
  gt(other: TL): Tensor { return ew.gt(this, other); }
  ge(other: TL): Tensor { return ew.ge(this, other); }
  sum(dims?: red.Dims, keepdim?: boolean): Tensor { return red.sum(this, dims, keepdim); }
  mean(dims?: red.Dims, keepdim?: boolean): Tensor { return red.mean(this, dims, keepdim); }
  max(dim?: number, keepdim?: boolean): Tensor { return red.max(this, dim, keepdim); }
  min(dim?: number, keepdim?: boolean): Tensor { return red.min(this, dim, keepdim); }
  argmax(dim?: number, keepdim?: boolean): Tensor { return red.argmax(this, dim, keepdim); }
  argmin(dim?: number, keepdim?: boolean): Tensor { return red.argmin(this, dim, keepdim); }
  logsumexp(dims?: red.Dims, keepdim?: boolean): Tensor { return red.logsumexp(this, dims, keepdim); }
  var(dims?: red.Dims, options?: { unbiased?: boolean; keepdim?: boolean }): Tensor { return red.variance(this, dims, options); }
  std(dims?: red.Dims, options?: { unbiased?: boolean; keepdim?: boolean }): Tensor { return red.std(this, dims, options); }
  matmul(other: Tensor): Tensor { return matmul(this, other); }
  reshape(...shape: number[] | [Shape]): Tensor { return sh.reshape(this, shapeArgs(shape)); }
  view(...shape: number[] | [Shape]): Tensor { return sh.view(this, shapeArgs(shape)); }
  flatten(startDim?: number, endDim?: number): Tensor { return sh.flatten(this, startDim, endDim); }
  permute(...dims: number[] | [readonly number[]]): Tensor { return sh.permute(this, shapeArgs(dims)); }
  transpose(dim0?: number, dim1?: number): Tensor { return sh.transpose(this, dim0, dim1); }
  narrow(dim: number, start: number, length: number): Tensor { return sh.narrow(this, dim, start, length); }
  slice(dim: number, start?: number, end?: number, step?: number): Tensor { return sh.slice(this, dim, start, end, step); }
  expand(...shape: number[] | [Shape]): Tensor { return sh.expand(this, shapeArgs(shape)); }
  squeeze(dim?: number): Tensor { return sh.squeeze(this, dim); }
  unsqueeze(dim: number): Tensor { return sh.unsqueeze(this, dim); }
  contiguous(): Tensor { return sh.contiguous(this); }
  clone(): Tensor { return sh.clone(this); }
  detach(): Tensor { return sh.detach(this); }
  /**
   * A copy on `device` (this tensor itself when it is already there, as in torch; gradients flow back across the
   * copy), or a dtype conversion.
   */
  to(target: Device | DType): Tensor {
    if (target === 'cpu' || target === 'cuda') return toDevice(this, target);
    return sh.cast(this, target);
  }
  float(): Tensor { return sh.cast(this, 'float32'); }
  int(): Tensor { return sh.cast(this, 'int32'); }
  bfloat16(): Tensor { return sh.cast(this, 'bfloat16'); }
  split(sizes: number | readonly number[], dim?: number): Tensor[] { return sh.split(this, sizes, dim); }
  chunk(chunks: number, dim?: number): Tensor[] { return sh.chunk(this, chunks, dim); }
  indexSelect(dim: number, index: Tensor): Tensor { return idx.indexSelect(this, dim, index); }
  gather(dim: number, index: Tensor): Tensor { return idx.gather(this, dim, index); }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor { return idx.scatterAdd(this, dim, index, src); }
}

export type NestedArray = number | NestedArray[];

// A contiguous copy of x on `device` through the host (upload or download of the row-major elements).
function transfer(x: Tensor, device: Device): Tensor {
  const out = Tensor.empty(x.shape, x.dtype, device);
  if (out.numel > 0) out.backend.write(out.storage.id, 0, x.dtype === 'bfloat16' ? x.bf16Bits() : x.data());
  return out;
}

function toDevice(x: Tensor, device: Device): Tensor {
  x.assertLive('to');
  if (x.device === device) return x;
  const from = x.device;
  return record('to', [x], transfer(x, device), (g) => [g.to(from)]);
}


/** Live tensor objects and native memory in use (bytes in live buffers, bytes cached for reuse). */
export function tensorCount(): number {
  return liveTensors;
}
