// Reductions over any set of dims with keepdim (the kernel launcher is ops/raw.ts reduceRaw: contiguous rows or
// columns, other dim sets permuted to the end first), their backwards, and variance/std composed from them.
import { record } from '../autograd/function.js';
import type { Tensor } from '../tensor.js';
import { contiguousStrides, formatShape, isTensor, normalizeDim, shapeNumel } from '../tensor-util.js';
import { binaryRaw, mul as mulT, sqrt as sqrtT, sub as subT, unaryRaw } from './elementwise.js';
import { hasBf16, inFloat32 } from './float32-compute.js';
import { copyContiguous, keptShape, reduceRaw } from './raw.js';
import { broadcastView, permute, reshape } from './shape.js';

export type Dims = number | readonly number[] | undefined;

function checkInput(op: string, x: unknown): Tensor {
  if (!isTensor(x)) throw new TypeError(`${op}: expected a Tensor, got ${x === null ? 'null' : typeof x}`);
  x.assertLive(op);
  if (x.dtype === 'int32') throw new TypeError(`${op}: expects a float32 or bfloat16 tensor, got ${x.dtype} of shape ${formatShape(x.shape)}`);
  return x;
}

function normalizeDims(op: string, x: Tensor, dims: Dims): number[] {
  if (dims === undefined) return [...Array(x.ndim).keys()];
  const list = (typeof dims === 'number' ? [dims] : [...dims]).map((d) => normalizeDim(d, x.ndim, op));
  if (new Set(list).size !== list.length) throw new RangeError(`${op}: repeated dim in ${formatShape(list)}`);
  // NOTE: a 0-d tensor accepts dim 0 / -1 (as in PyTorch) but has no dim to reduce.
  return x.ndim === 0 ? [] : list.sort((a, b) => a - b);
}

// Gradient of a reduction broadcast back to x's shape: g viewed with the reduced dims as size 1.
function expandBack(g: Tensor, x: Tensor, dims: number[]): Tensor {
  const withOnes = x.shape.map((s, i) => (dims.includes(i) ? 1 : s));
  const r = g.makeView(withOnes, contiguousLike(g, withOnes), g.offset);
  const e = broadcastView(r, x.shape);
  r.dispose();
  return e;
}

function contiguousLike(g: Tensor, shape: number[]): number[] {
  // g is contiguous in the kept dims; size-1 dims get any stride (0 keeps broadcastView simple).
  const c = g.isContiguous() ? g : null;
  if (!c) throw new Error('reduction backward: expected a contiguous gradient');
  const strides = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = shape[d] === 1 ? 0 : acc;
    acc *= shape[d];
  }
  return strides;
}

function contiguousGrad(g: Tensor): Tensor {
  return g.isContiguous() ? g : copyContiguous(g);
}

/** Sum over `dims` (all by default). */
export function sum(x: Tensor, dims?: Dims, keepdim = false): Tensor {
  checkInput('sum', x);
  if (hasBf16(x)) return inFloat32(sum, x, dims, keepdim);
  const d = normalizeDims('sum', x, dims);
  const out = reduceRaw('sum', x, d, keepdim);
  // dx = g broadcast over the reduced dims
  return record('sum', [x], out, (g) => {
    const gc = contiguousGrad(g);
    const e = expandBack(gc, x, d);
    if (gc !== g) gc.dispose();
    return [e];
  });
}

/** Mean over `dims` (all by default). */
export function mean(x: Tensor, dims?: Dims, keepdim = false): Tensor {
  checkInput('mean', x);
  if (hasBf16(x)) return inFloat32(mean, x, dims, keepdim);
  const d = normalizeDims('mean', x, dims);
  const n = shapeNumel(d.map((i) => x.shape[i]));
  const out = reduceRaw('mean', x, d, keepdim);
  // dx = g/n broadcast over the reduced dims
  return record('mean', [x], out, (g) => {
    const scaled = unaryRaw('mulScalar', g, 1 / n);
    const e = expandBack(scaled, x, d);
    scaled.dispose();
    return [e];
  });
}

/** Variance over `dims`, unbiased (n - 1) by default. */
export function variance(x: Tensor, dims?: Dims, options: { unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
  checkInput('var', x);
  if (hasBf16(x)) return inFloat32(variance, x, dims, options);
  const d = normalizeDims('var', x, dims);
  const n = shapeNumel(d.map((i) => x.shape[i]));
  const m = mean(x, d, true);
  const diff = subT(x, m);
  const sq = mulT(diff, diff);
  const total = sum(sq, d, options.keepdim ?? false);
  const out = scaleT(total, 1 / Math.max(0, (options.unbiased ?? true) ? n - 1 : n));
  if (!out.requiresGrad) for (const t of [m, diff, sq, total]) t.dispose();
  return out;
}

/** Standard deviation over `dims` (sqrt of variance). */
export function std(x: Tensor, dims?: Dims, options: { unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
  if (hasBf16(x)) return inFloat32(std, checkInput('std', x), dims, options);
  const v = variance(x, dims, options);
  const out = sqrtT(v);
  if (!out.requiresGrad) v.dispose();
  return out;
}

function extremum(op: 'max' | 'min', x: Tensor, dim: number | undefined, keepdim: boolean): Tensor {
  checkInput(op, x);
  if (hasBf16(x)) return inFloat32(extremum, op, x, dim, keepdim);
  if (x.numel === 0) throw new RangeError(`${op}: reduction of an empty tensor of shape ${formatShape(x.shape)}`);
  if (dim !== undefined && x.ndim === 0) normalizeDim(dim, 0, op); // 0-d: dim 0 / -1 reduce over the one element
  if (dim === undefined || x.ndim === 0) {
    const flat = reshape(x, [x.numel]);
    const out = extremum(op, flat, 0, false);
    if (!out.requiresGrad) flat.dispose();
    return out;
  }
  const d = normalizeDim(dim, x.ndim, op);
  const values = reduceRaw(op, x, [d], keepdim);
  // dx = g routed to the first extreme position along dim (like PyTorch)
  return record(op, [x], values, (g) => {
    const idx = argRaw(op === 'max' ? 'argmax' : 'argmin', x, d);
    const gx = x.newZeros(x.shape);
    const outer = shapeNumel(x.shape.slice(0, d));
    const inner = shapeNumel(x.shape.slice(d + 1));
    const gc = g.isContiguous() ? g : copyContiguous(g);
    gx.backend.scatterAdd(gx, gc, outer, x.shape[d], inner, idx, 1);
    if (gc !== g) gc.dispose();
    idx.dispose();
    return [gx];
  });
}

export const max = (x: Tensor, dim?: number, keepdim = false) => extremum('max', x, dim, keepdim);
export const min = (x: Tensor, dim?: number, keepdim = false) => extremum('min', x, dim, keepdim);

// Index of the extreme along dim as int32 with x's shape minus dim, laid out as (outer, 1, inner).
function argRaw(op: 'argmax' | 'argmin', x: Tensor, d: number): Tensor {
  const moved = permute(x, [...[...Array(x.ndim).keys()].filter((i) => i !== d), d]);
  const c = copyContiguous(moved);
  moved.dispose();
  const rows = c.numel / x.shape[d];
  const out = x.newEmpty(x.shape.filter((_, i) => i !== d), 'int32');
  x.backend.reduceRows(op, out, c, rows, x.shape[d]);
  c.dispose();
  return out;
}

function argExtremum(op: 'argmax' | 'argmin', x: Tensor, dim: number | undefined, keepdim: boolean): Tensor {
  checkInput(op, x);
  if (hasBf16(x)) return inFloat32(argExtremum, op, x, dim, keepdim);
  if (x.numel === 0) throw new RangeError(`${op}: empty tensor of shape ${formatShape(x.shape)}`);
  if (dim !== undefined && x.ndim === 0) normalizeDim(dim, 0, op); // 0-d: dim 0 / -1 give index 0
  if (dim === undefined || x.ndim === 0) {
    const c = x.isContiguous() ? x : copyContiguous(x);
    const out = x.newEmpty([], 'int32');
    x.backend.reduceRows(op, out, c, 1, x.numel);
    if (c !== x) c.dispose();
    return out;
  }
  const d = normalizeDim(dim, x.ndim, op);
  const out = argRaw(op, x, d);
  if (!keepdim) return out;
  const shape = keptShape(x, [d], true);
  const shaped = out.makeView(shape, contiguousStrides(shape), 0);
  out.dispose();
  return shaped;
}

/** Index of the maximum along dim (over the flattened tensor when dim is omitted), int32. */
export const argmax = (x: Tensor, dim?: number, keepdim = false) => argExtremum('argmax', x, dim, keepdim);
export const argmin = (x: Tensor, dim?: number, keepdim = false) => argExtremum('argmin', x, dim, keepdim);

/** log(sum(exp(x))) over `dims`, computed stably (max-shifted). */
export function logsumexp(x: Tensor, dims?: Dims, keepdim = false): Tensor {
  checkInput('logsumexp', x);
  if (hasBf16(x)) return inFloat32(logsumexp, x, dims, keepdim);
  const d = normalizeDims('logsumexp', x, dims);
  const out = reduceRaw('logsumexp', x, d, keepdim);
  // dx = g * exp(x - out)
  return record('logsumexp', [x], out, (g) => {
    const outC = expandBack(out, x, d);
    const shifted = binaryRaw('sub', x, outC);
    outC.dispose();
    const p = unaryRaw('exp', shifted);
    shifted.dispose();
    const gc = contiguousGrad(g);
    const ge = expandBack(gc, x, d);
    if (gc !== g) gc.dispose();
    const gx = binaryRaw('mul', p, ge);
    p.dispose();
    ge.dispose();
    return [gx];
  }, [out]);
}

const scaleT = (t: Tensor, s: number) => mulT(t, s);

