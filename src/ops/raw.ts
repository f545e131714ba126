// Kernel launchers outside autograd that several op families share: a contiguous copy, a reduction over any dims,
// and the sum of a broadcast gradient back to its input's shape. They sit below the differentiable ops (shape,
// elementwise, reduce), so none of those has to import another in a circle.
import type { ReduceOpName } from '../backend/codes.js';
import type { Tensor } from '../tensor.js';
import { contiguousStrides, type Shape, shapeNumel } from '../tensor-util.js';

/** @internal A contiguous copy outside autograd. */
export function copyContiguous(x: Tensor): Tensor {
  const out = x.newEmpty(x.shape);
  if (out.numel > 0) out.backend.copy(out, x);
  return out;
}

/** @internal x's shape without `dims` (as size 1 with keepdim). */
export function keptShape(x: Tensor, dims: number[], keepdim: boolean): number[] {
  const out: number[] = [];
  x.shape.forEach((s, i) => {
    if (!dims.includes(i)) out.push(s);
    else if (keepdim) out.push(1);
  });
  return out;
}

/**
 * @internal Runs a reduction kernel over `dims` (sorted, distinct) of x; returns a contiguous tensor of the kept
 * dims (no autograd). The kernels reduce contiguous rows (trailing dims) or columns (leading dims); other dim
 * sets are permuted to the end and copied first.
 */
export function reduceRaw(op: ReduceOpName, x: Tensor, dims: number[], keepdim: boolean,
  outDtype: 'float32' | 'int32' = 'float32'): Tensor {
  const outShape = keptShape(x, dims, keepdim);
  const out = x.newEmpty(outShape, outDtype);
  const reduced = shapeNumel(dims.map((d) => x.shape[d]));
  const rows = shapeNumel(outShape);
  if (rows === 0) return out;
  const leading = dims.every((d, i) => d === i);
  const trailing = dims.every((d, i) => d === x.ndim - dims.length + i);
  if (trailing && x.isContiguous()) {
    x.backend.reduceRows(op, out, x, rows, reduced);
  } else if (leading && x.isContiguous() && (op === 'sum' || op === 'mean' || op === 'max' || op === 'min')) {
    x.backend.reduceCols(op, out, x, reduced, rows);
  } else {
    const kept = [...Array(x.ndim).keys()].filter((d) => !dims.includes(d));
    const p = x.makeView([...kept, ...dims].map((d) => x.shape[d]), [...kept, ...dims].map((d) => x.strides[d]), x.offset);
    const c = copyContiguous(p);
    p.dispose();
    x.backend.reduceRows(op, out, c, rows, reduced);
    c.dispose();
  }
  return out;
}

/** Sums a broadcast gradient back to `shape` (the inverse of broadcasting); g itself when the shapes agree. */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (g.shape.join() === shape.join()) return g;
  const lead = g.ndim - shape.length;
  const dims: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) dims.push(i);
  }
  // The kept dims of a contiguous result are `shape`'s in order, with the dropped leading ones of size 1.
  const reduced = reduceRaw('sum', g, dims, true);
  const out = reduced.makeView(shape, contiguousStrides(shape), reduced.offset);
  reduced.dispose();
  return out;
}
