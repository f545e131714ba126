// Shape ops: views that share storage (reshape when strides allow, transpose, permute, narrow, expand,
// squeeze/unsqueeze) and copies (contiguous, cat, stack). Every view's backward maps the gradient back.
import { record } from '../autograd/function.js';
import type { Tensor } from '../tensor.js';
import { checkShape, contiguousStrides, formatShape, isTensor, normalizeDim, sameDevice, type Shape, shapeNumel } from '../tensor-util.js';
import { copyContiguous, sumToShape } from './raw.js';

function live(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (!isTensor(t)) throw new TypeError(`${op}: expected a Tensor, got ${t === null ? 'null' : typeof t}`);
    t.assertLive(op);
  }
}

/** Resolves one -1 entry and checks the element count. */
export function inferShape(op: string, numel: number, shape: Shape, from: Shape): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`${op}: shape must be an array of integers, got ${shape === null ? 'null' : typeof shape}`);
  const out = [...shape];
  const unknown = out.indexOf(-1);
  if (unknown >= 0) {
    if (out.indexOf(-1, unknown + 1) >= 0) throw new RangeError(`${op}: only one dimension can be -1 in ${formatShape(shape)}`);
    const known = shapeNumel(out.filter((_, i) => i !== unknown));
    if (known === 0 || numel % known !== 0) {
      throw new RangeError(`${op}: cannot reshape ${formatShape(from)} into ${formatShape(shape)}`);
    }
    out[unknown] = numel / known;
  }
  checkShape(op, out);
  if (shapeNumel(out) !== numel) throw new RangeError(`${op}: cannot reshape ${formatShape(from)} (${numel} elements) into ${formatShape(shape)}`);
  return out;
}

// Strides for viewing x with `shape` without a copy, or null when the layout does not allow it: old dims
// are grouped into runs that are contiguous with each other, and each run must map onto whole new dims.
function viewStrides(x: Tensor, shape: number[]): number[] | null {
  if (x.isContiguous() || x.numel === 0) return contiguousStrides(shape);
  const strides = new Array<number>(shape.length);
  let viewD = shape.length - 1;
  let chunkBaseStride = x.strides[x.ndim - 1];
  let tensorNumel = 1;
  let viewNumel = 1;
  for (let d = x.ndim - 1; d >= 0; d--) {
    tensorNumel *= x.shape[d];
    const runEnds = d === 0 || (x.shape[d - 1] !== 1 && x.strides[d - 1] !== tensorNumel * chunkBaseStride);
    if (!runEnds) continue;
    while (viewD >= 0 && (viewNumel < tensorNumel || shape[viewD] === 1)) {
      strides[viewD] = viewNumel * chunkBaseStride;
      viewNumel *= shape[viewD];
      viewD--;
    }
    if (viewNumel !== tensorNumel) return null;
    if (d > 0) {
      chunkBaseStride = x.strides[d - 1];
      tensorNumel = 1;
      viewNumel = 1;
    }
  }
  return viewD === -1 ? strides : null;
}

/** Same elements in a new shape; a view when the layout allows it, otherwise a copy. One dim may be -1. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  live('reshape', x);
  const target = inferShape('reshape', x.numel, shape, x.shape);
  const strides = viewStrides(x, target);
  let out: Tensor;
  if (strides) {
    out = x.makeView(target, strides, x.offset);
  } else {
    const copy = copyContiguous(x);
    out = copy.makeView(target, contiguousStrides(target), 0);
    copy.dispose();
  }
  return record('reshape', [x], out, (g) => [reshape(g, x.shape)]);
}


/** Like reshape, but never copies: throws when the layout cannot be viewed in the new shape. */
export function view(x: Tensor, shape: Shape): Tensor {
  live('view', x);
  const target = inferShape('view', x.numel, shape, x.shape);
  const strides = viewStrides(x, target);
  if (!strides) {
    throw new RangeError(`view: tensor of shape ${formatShape(x.shape)} with strides ${formatShape(x.strides)} cannot be viewed as ${formatShape(target)}; use reshape()`);
  }
  return record('view', [x], x.makeView(target, strides, x.offset), (g) => [reshape(g, x.shape)]);
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  live('flatten', x);
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normalizeDim(startDim, x.ndim, 'flatten');
  const e = normalizeDim(endDim, x.ndim, 'flatten');
  if (e < s) throw new RangeError(`flatten: endDim ${endDim} before startDim ${startDim}`);
  const shape = [...x.shape.slice(0, s), shapeNumel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return reshape(x, shape);
}

/** Permutes dims: out.shape[i] = x.shape[dims[i]] (a view). */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  live('permute', x);
  if (dims.length !== x.ndim) throw new RangeError(`permute: ${dims.length} dims given for a ${x.ndim}-d tensor`);
  const norm = dims.map((d) => normalizeDim(d, x.ndim, 'permute'));
  if (new Set(norm).size !== norm.length) throw new RangeError(`permute: repeated dim in ${formatShape(dims)}`);
  const out = x.makeView(norm.map((d) => x.shape[d]), norm.map((d) => x.strides[d]), x.offset);
  const inverse = new Array<number>(norm.length);
  norm.forEach((d, i) => (inverse[d] = i));
  return record('permute', [x], out, (g) => [permute(g, inverse)]);
}

/** Swaps two dims (a view). */
export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  live('transpose', x);
  if (x.ndim < 2 && dim0 === -2 && dim1 === -1) return permute(x, x.ndim === 1 ? [0] : []);
  const a = normalizeDim(dim0, x.ndim, 'transpose');
  const b = normalizeDim(dim1, x.ndim, 'transpose');
  const dims = [...Array(x.ndim).keys()];
  [dims[a], dims[b]] = [dims[b], dims[a]];
  return permute(x, dims);
}

/** Elements [start, start + length) of `dim` (a view). Negative start counts from the end. */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  live('narrow', x);
  const d = normalizeDim(dim, x.ndim, 'narrow');
  const size = x.shape[d];
  const s = start < 0 ? start + size : start;
  if (!Number.isInteger(s) || !Number.isInteger(length) || s < 0 || length < 0 || s + length > size) {
    throw new RangeError(`narrow: [${start}, ${start} + ${length}) out of range for dim ${dim} of size ${size} (shape ${formatShape(x.shape)})`);
  }
  const shape = [...x.shape];
  shape[d] = length;
  const out = x.makeView(shape, x.strides, x.offset + s * x.strides[d]);
  return record('narrow', [x], out, (g) => {
    const gx = g.newZeros(x.shape);
    const window = gx.makeView(shape, gx.strides, s * gx.strides[d]);
    gx.backend.copy(window, g);
    window.dispose();
    return [gx];
  });
}

/** Python-style slice of one dim: start (inclusive), end (exclusive), positive step; negatives count from the end. */
export function slice(x: Tensor, dim: number, start = 0, end?: number, step = 1): Tensor {
  live('slice', x);
  const d = normalizeDim(dim, x.ndim, 'slice');
  const size = x.shape[d];
  if (!Number.isInteger(step) || step <= 0) throw new RangeError(`slice: step must be a positive integer, got ${step}`);
  const clampIndex = (i: number) => Math.min(Math.max(i < 0 ? i + size : i, 0), size);
  const s = clampIndex(start);
  const e = clampIndex(end ?? size);
  const length = Math.max(0, Math.ceil((e - s) / step));
  if (step === 1) return narrow(x, d, s, length);
  const shape = [...x.shape];
  shape[d] = length;
  const strides = [...x.strides];
  strides[d] *= step;
  const out = x.makeView(shape, strides, x.offset + s * x.strides[d]);
  return record('slice', [x], out, (g) => {
    const gx = g.newZeros(x.shape);
    const gStrides = [...gx.strides];
    gStrides[d] *= step;
    const window = gx.makeView(shape, gStrides, s * gx.strides[d]);
    gx.backend.copy(window, g);
    window.dispose();
    return [gx];
  });
}

/** Broadcasts size-1 dims (and new leading dims) to `shape` without copying (stride 0). -1 keeps a dim. */
export function expand(x: Tensor, shape: Shape): Tensor {
  live('expand', x);
  if (shape.length < x.ndim) throw new RangeError(`expand: cannot expand ${formatShape(x.shape)} to fewer dims ${formatShape(shape)}`);
  const lead = shape.length - x.ndim;
  const outShape: number[] = [];
  const strides: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    const src = i - lead;
    const want = shape[i] === -1 && src >= 0 ? x.shape[src] : shape[i];
    if (!Number.isInteger(want) || want < 0) throw new RangeError(`expand: invalid target shape ${formatShape(shape)}`);
    if (src < 0) {
      outShape.push(want);
      strides.push(0);
    } else if (x.shape[src] === want) {
      outShape.push(want);
      strides.push(x.strides[src]);
    } else if (x.shape[src] === 1) {
      outShape.push(want);
      strides.push(0);
    } else {
      throw new RangeError(`expand: cannot expand ${formatShape(x.shape)} to ${formatShape(shape)}`);
    }
  }
  const out = x.makeView(outShape, strides, x.offset);
  return record('expand', [x], out, (g) => [sumToShape(g, x.shape)]);
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  live('unsqueeze', x);
  const d = normalizeDim(dim, x.ndim + 1, 'unsqueeze');
  const shape = [...x.shape];
  shape.splice(d, 0, 1);
  return reshape(x, shape);
}

/** Removes size-1 dims (all of them, or the given one when it has size 1). */
export function squeeze(x: Tensor, dim?: number): Tensor {
  live('squeeze', x);
  if (dim === undefined) return reshape(x, x.shape.filter((s) => s !== 1));
  const d = normalizeDim(dim, x.ndim, 'squeeze');
  if (x.shape[d] !== 1) return reshape(x, x.shape);
  return reshape(x, x.shape.filter((_, i) => i !== d));
}

/** A contiguous copy (or x itself, as a new view object, when already contiguous). */
export function contiguous(x: Tensor): Tensor {
  live('contiguous', x);
  const out = x.isContiguous() ? x.makeView(x.shape, contiguousStrides(x.shape), x.offset) : copyContiguous(x);
  return record('contiguous', [x], out, (g) => [g]);
}

/** An independent copy with its own storage. */
export function clone(x: Tensor): Tensor {
  live('clone', x);
  return record('clone', [x], copyContiguous(x), (g) => [g]);
}

/** Same data, cut from the graph: no gradient flows through the result. */
export function detach(x: Tensor): Tensor {
  live('detach', x);
  return x.makeView(x.shape, x.strides, x.offset);
}

/**
 * Converts the dtype: float32 -> int32 truncates toward zero, -> bfloat16 rounds to nearest even. Between float32
 * and bfloat16 the gradient passes through unchanged, as a float32 tensor (gradients are float32 whatever the
 * tensor's dtype: see Tensor.grad); into int32 nothing flows.
 */
export function cast(x: Tensor, dtype: Tensor['dtype']): Tensor {
  live('cast', x);
  if (dtype !== 'float32' && dtype !== 'int32' && dtype !== 'bfloat16') throw new TypeError(`cast: unsupported dtype ${String(dtype)}`);
  const out = x.newEmpty(x.shape, dtype);
  if (out.numel > 0) out.backend.copy(out, x);
  if (dtype === 'int32') return out;
  return record('cast', [x], out, (g) => [g]);
}

/** Concatenates along `dim`; all other dims must match. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors as unknown) || tensors.length === 0) throw new RangeError('cat: expected a non-empty array of tensors');
  live('cat', ...tensors);
  const first = tensors[0];
  const d = normalizeDim(dim, first.ndim, 'cat');
  sameDevice('cat', ...tensors);
  for (const t of tensors) {
    if (t.ndim !== first.ndim || t.dtype !== first.dtype || t.device !== first.device ||
      t.shape.some((s, i) => i !== d && s !== first.shape[i])) {
      throw new RangeError(`cat: shapes ${tensors.map((u) => formatShape(u.shape) + ' ' + u.dtype).join(', ')} do not match outside dim ${dim}`);
    }
  }
  const shape = [...first.shape];
  shape[d] = tensors.reduce((n, t) => n + t.shape[d], 0);
  const out = first.newEmpty(shape);
  let at = 0;
  const starts: number[] = [];
  for (const t of tensors) {
    starts.push(at);
    if (t.numel > 0) {
      const window = out.makeView(t.shape, out.strides, at * out.strides[d]);
      out.backend.copy(window, t);
      window.dispose();
    }
    at += t.shape[d];
  }
  return record('cat', [...tensors], out, (g) => tensors.map((t, i) => narrow(g, d, starts[i], t.shape[d])));
}

/** Stacks equal-shaped tensors along a new dim. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors as unknown) || tensors.length === 0) throw new RangeError('stack: expected a non-empty array of tensors');
  live('stack', ...tensors);
  const d = normalizeDim(dim, tensors[0].ndim + 1, 'stack');
  for (const t of tensors) {
    if (t.shape.join() !== tensors[0].shape.join()) {
      throw new RangeError(`stack: shapes differ: ${tensors.map((u) => formatShape(u.shape)).join(', ')}`);
    }
  }
  const parts = tensors.map((t) => unsqueeze(t, d));
  const out = cat(parts, d);
  for (const p of parts) if (!p.requiresGrad) p.dispose();
  return out;
}

/** Splits into views along `dim`: chunks of `size` (last may be smaller), or the given sizes. */
export function split(x: Tensor, sizes: number | readonly number[], dim = 0): Tensor[] {
  live('split', x);
  const d = normalizeDim(dim, x.ndim, 'split');
  const total = x.shape[d];
  let lengths: number[];
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes <= 0) throw new RangeError(`split: size must be a positive integer, got ${sizes}`);
    lengths = [];
    for (let at = 0; at < total; at += sizes) lengths.push(Math.min(sizes, total - at));
  } else {
    lengths = [...sizes];
    if (lengths.some((n) => !Number.isInteger(n) || n < 0)) throw new RangeError(`split: sizes ${formatShape(lengths)} must be non-negative integers`);
    if (lengths.reduce((a, b) => a + b, 0) !== total) {
      throw new RangeError(`split: sizes ${formatShape(lengths)} do not sum to ${total} (dim ${dim} of ${formatShape(x.shape)})`);
    }
  }
  const out: Tensor[] = [];
  let at = 0;
  for (const n of lengths) {
    out.push(narrow(x, d, at, n));
    at += n;
  }
  return out;
}

/** Splits into `chunks` nearly equal views along `dim`. */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  live('chunk', x);
  const d = normalizeDim(dim, x.ndim, 'chunk');
  if (!Number.isInteger(chunks) || chunks <= 0) throw new RangeError(`chunk: chunks must be a positive integer, got ${chunks}`);
  return split(x, Math.max(1, Math.ceil(x.shape[d] / chunks)), d);
}

/** The broadcast shape of two shapes (NumPy rules), or a RangeError naming the op. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new RangeError(`${op}: shapes ${formatShape(a)} and ${formatShape(b)} cannot be broadcast together`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** @internal A stride-0 view of x broadcast to `shape`, outside autograd. */
export function broadcastView(x: Tensor, shape: Shape): Tensor {
  const lead = shape.length - x.ndim;
  const strides = shape.map((s, i) => {
    const src = i - lead;
    if (src < 0) return 0;
    return x.shape[src] === s ? x.strides[src] : 0;
  });
  return x.makeView(shape, strides, x.offset);
}
