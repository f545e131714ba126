// Tensor: a strided view (shape, strides, offset) over reference-counted native storage, with the
// autograd fields. Math lives in src/ops/; the methods here are thin, chainable sugar over those functions.
import type { Backend, Device, DType } from './backend/backend.js';
import { getBackend } from './backend/registry.js';
import type { Node } from './autograd/node.js';
import { type Scope, track, untrack } from './autograd/tidy.js';

export type { DType };
export type Shape = readonly number[];

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

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = acc;
    acc *= shape[d];
  }
  return strides;
}

export function shapeNumel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** @internal Validates a shape given by a caller. */
export function checkShape(op: string, shape: Shape): void {
  if (!Array.isArray(shape)) throw new TypeError(`${op}: shape must be an array of integers, got ${typeof shape}`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`${op}: invalid shape ${formatShape(shape)}`);
  }
}

export class Tensor {
  /** @internal */ readonly __isTensor = true;
  /** @internal */ storage: Storage;
  /** @internal */ scope: Scope | null;
  readonly shape: Shape;
  readonly strides: Shape;
  readonly offset: number;
  readonly dtype: DType;
  requiresGrad = false;
  /** Accumulated gradient after backward(), owned by this tensor. */
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

  /** @internal A fresh contiguous tensor with uninitialized contents. */
  static empty(shape: Shape, dtype: DType = 'float32', device: Device = 'cpu'): Tensor {
    const backend = getBackend(device);
    const numel = shapeNumel(shape);
    const storage = new Storage(backend, backend.alloc(numel, dtype), numel, dtype);
    return new Tensor(storage, shape, contiguousStrides(shape), 0);
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

  /** @internal A new tensor object over the same storage (the storage's reference count goes up). */
  makeView(shape: Shape, strides: Shape, offset: number): Tensor {
    return new Tensor(this.storage, shape, strides, offset);
  }

  /** Copies the elements out in row-major order. */
  data(): Float32Array | Int32Array {
    this.assertLive('data');
    const src = this.isContiguous() ? this : this.contiguous();
    const out = this.dtype === 'float32' ? new Float32Array(this.numel) : new Int32Array(this.numel);
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

  /** Marks this leaf tensor as needing gradients. */
  requiresGrad_(flag = true): this {
    if (flag && this.dtype !== 'float32') throw new TypeError(`requiresGrad_: only float32 tensors can require gradients, got ${this.dtype}`);
    if (this.gradFn && !flag) throw new Error('requiresGrad_: cannot turn off gradients of a non-leaf tensor; use detach()');
    this.requiresGrad = flag;
    return this;
  }

  /** Releases this tensor's gradient. */
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }
}

export type NestedArray = number | NestedArray[];

/** @internal Normalizes a possibly negative dim index. */
export function normalizeDim(dim: number, ndim: number, op: string): number {
  if (!Number.isInteger(dim)) throw new TypeError(`${op}: dim must be an integer, got ${dim}`);
  // A 0-d tensor accepts dim 0 and -1, as in PyTorch.
  const n = Math.max(ndim, 1);
  const d = dim < 0 ? dim + n : dim;
  if (d < 0 || d >= n) throw new RangeError(`${op}: dim ${dim} out of range for a ${ndim}-d tensor`);
  return d;
}

/** Live tensor objects and native memory in use (bytes in live buffers, bytes cached for reuse). */
export function tensorCount(): number {
  return liveTensors;
}

// Method sugar is attached in ./ops/methods.ts (imported by the package entry), keeping this file free of math.
export interface Tensor {
  contiguous(): Tensor;
}
