// What the ops beneath the Tensor class need of it at run time: shape and stride arithmetic and the Tensor
// brand check. The ops import the class itself only as a type (its methods call them, so a run-time import back
// would be a cycle); they create tensors through an input's `newEmpty` / `newZeros` / `newFull`.
import type { Tensor } from './tensor.js';

export type Shape = readonly number[];

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

/** @internal Normalizes a possibly negative dim index. */
export function normalizeDim(dim: number, ndim: number, op: string): number {
  if (!Number.isInteger(dim)) throw new TypeError(`${op}: dim must be an integer, got ${dim}`);
  // A 0-d tensor accepts dim 0 and -1, as in PyTorch.
  const n = Math.max(ndim, 1);
  const d = dim < 0 ? dim + n : dim;
  if (d < 0 || d >= n) throw new RangeError(`${op}: dim ${dim} out of range for a ${ndim}-d tensor`);
  return d;
}

/** @internal Whether `v` is a Tensor (every Tensor carries the brand `__isTensor`). */
export function isTensor(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && (v as { __isTensor?: unknown }).__isTensor === true;
}

/** @internal Throws a TypeError naming `op` and both devices when the tensors are not all on one device. */
export function sameDevice(op: string, ...ts: readonly Tensor[]): void {
  const first = ts[0].storage.backend;
  for (let i = 1; i < ts.length; i++) {
    if (ts[i].storage.backend !== first) throw new TypeError(`${op}: tensors on different devices (${ts[0].device}, ${ts[i].device})`);
  }
}
