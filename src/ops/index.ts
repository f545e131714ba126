// Indexing with int32 index tensors: embedding lookups, indexSelect/indexAdd along a dim, and
// gather/scatterAdd with per-element indices. Data is viewed as (outer, dim, inner) for the kernels.
import { record } from '../autograd/function.js';
import type { Tensor } from '../tensor.js';
import { formatShape, isTensor, normalizeDim, sameDevice, shapeNumel } from '../tensor-util.js';
import { copyContiguous } from './raw.js';
import { reshape } from './shape.js';

function checkTensor(op: string, name: string, t: unknown, dtype?: 'float32' | 'int32'): Tensor {
  if (!isTensor(t)) throw new TypeError(`${op}: ${name} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
  t.assertLive(op);
  if (dtype && t.dtype !== dtype) throw new TypeError(`${op}: ${name} must be ${dtype}, got ${t.dtype} of shape ${formatShape(t.shape)}`);
  return t;
}

function contiguousOf(t: Tensor): Tensor {
  return t.isContiguous() ? t : copyContiguous(t);
}

function dims(x: Tensor, d: number): [number, number, number] {
  return [shapeNumel(x.shape.slice(0, d)), x.shape[d], shapeNumel(x.shape.slice(d + 1))];
}

// Runs an index kernel on contiguous views of `data` and `index` (copies made only when needed, then
// freed) writing `out`; `out` is freed too when the kernel throws (an index out of range).
function runIndexKernel(out: Tensor, data: Tensor, index: Tensor, kernel: (dataC: Tensor, indexC: Tensor) => void): Tensor {
  const dc = contiguousOf(data);
  const ic = contiguousOf(index);
  try {
    kernel(dc, ic);
    return out;
  } catch (err) {
    out.dispose();
    throw err;
  } finally {
    if (dc !== data) dc.dispose();
    if (ic !== index) ic.dispose();
  }
}

/** Rows of `x` picked along `dim` by a 1-D int32 index. */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  checkTensor('indexSelect', 'x', x);
  checkTensor('indexSelect', 'index', index, 'int32');
  sameDevice('indexSelect', x, index);
  if (index.ndim !== 1) throw new RangeError(`indexSelect: index must be 1-D, got shape ${formatShape(index.shape)}`);
  const d = normalizeDim(dim, x.ndim, 'indexSelect');
  const out = selectRaw(x, d, index);
  // dx = zeros with g's rows added at index (repeats accumulate)
  return record('indexSelect', [x], out, (g) => [indexAddRaw(g.newZeros(x.shape), d, index, g)], [index]);
}

function indexAddRaw(target: Tensor, d: number, index: Tensor, src: Tensor): Tensor {
  const [outer, size, inner] = dims(target, d);
  return runIndexKernel(target, src, index, (sc, ic) => target.backend.indexAdd(target, sc, outer, size, inner, ic, index.shape[0]));
}

/** x with src's slices added at `index` along `dim` (out-of-place; repeats accumulate). */
export function indexAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  checkTensor('indexAdd', 'x', x, 'float32');
  checkTensor('indexAdd', 'index', index, 'int32');
  checkTensor('indexAdd', 'src', src, 'float32');
  sameDevice('indexAdd', x, index, src);
  const d = normalizeDim(dim, x.ndim, 'indexAdd');
  if (index.ndim !== 1) throw new RangeError(`indexAdd: index must be 1-D, got shape ${formatShape(index.shape)}`);
  const expected = [...x.shape];
  expected[d] = index.shape[0];
  if (src.shape.join() !== expected.join()) {
    throw new RangeError(`indexAdd: src shape ${formatShape(src.shape)} should be ${formatShape(expected)}`);
  }
  const out = indexAddRaw(copyContiguous(x), d, index, src);
  // dx = g, dsrc = indexSelect(g, dim, index)
  return record('indexAdd', [x, src], out, (g) => [g, src.requiresGrad ? selectRaw(g, d, index) : null], [index]);
}

function selectRaw(x: Tensor, d: number, index: Tensor): Tensor {
  const [outer, size, inner] = dims(x, d);
  const shape = [...x.shape];
  shape[d] = index.shape[0];
  const out = x.newEmpty(shape);
  return runIndexKernel(out, x, index, (xc, ic) => {
    if (out.numel > 0 || index.numel > 0) x.backend.indexSelect(out, xc, outer, size, inner, ic, index.shape[0]);
  });
}

/** Embedding lookup: weight (V, C) at int32 ids (...) -> (..., C), of weight's dtype (float32 or bfloat16). */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  checkTensor('embedding', 'weight', weight);
  if (weight.dtype === 'int32') throw new TypeError(`embedding: weight must be float32 or bfloat16, got int32 of shape ${formatShape(weight.shape)}`);
  checkTensor('embedding', 'ids', ids, 'int32');
  sameDevice('embedding', weight, ids);
  if (weight.ndim !== 2) throw new RangeError(`embedding: weight must be (V, C), got ${formatShape(weight.shape)}`);
  const flatIds = reshape(ids, [ids.numel]);
  let rows: Tensor;
  try {
    rows = indexSelect(weight, 0, flatIds);
  } catch (err) {
    flatIds.dispose();
    // Report the bad id under this op's name (the kernel names indexSelect).
    if (err instanceof RangeError) throw new RangeError(err.message.replace('indexSelect:', 'embedding:'));
    throw err;
  }
  const out = reshape(rows, [...ids.shape, weight.shape[1]]);
  // NOTE: rows' backward reads flatIds; it is freed with the graph (tidy keeps saved tensors), not here.
  if (!rows.requiresGrad) flatIds.dispose();
  return out;
}

function checkGatherShapes(op: string, x: Tensor, d: number, index: Tensor): void {
  if (index.ndim !== x.ndim || index.shape.some((s, i) => i !== d && s !== x.shape[i])) {
    throw new RangeError(`${op}: index shape ${formatShape(index.shape)} must match x shape ${formatShape(x.shape)} outside dim ${d}`);
  }
}

/** out[..., j, ...] = x[..., index[..., j, ...], ...] along `dim` (index has x's shape except at dim). */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  checkTensor('gather', 'x', x);
  checkTensor('gather', 'index', index, 'int32');
  sameDevice('gather', x, index);
  const d = normalizeDim(dim, x.ndim, 'gather');
  checkGatherShapes('gather', x, d, index);
  const out = gatherRaw(x, d, index);
  // dx = zeros with g scatter-added at index
  return record('gather', [x], out, (g) => [scatterAddRaw(g.newZeros(x.shape), d, index, g)], [index]);
}

function scatterAddRaw(target: Tensor, d: number, index: Tensor, src: Tensor): Tensor {
  const [outer, size, inner] = dims(target, d);
  return runIndexKernel(target, src, index, (sc, ic) => {
    if (src.numel > 0) target.backend.scatterAdd(target, sc, outer, size, inner, ic, index.shape[d]);
  });
}

/** x with src added at index along dim: out[..., index[..., j, ...], ...] += src[..., j, ...] (out-of-place). */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  checkTensor('scatterAdd', 'x', x, 'float32');
  checkTensor('scatterAdd', 'index', index, 'int32');
  checkTensor('scatterAdd', 'src', src, 'float32');
  sameDevice('scatterAdd', x, index, src);
  const d = normalizeDim(dim, x.ndim, 'scatterAdd');
  checkGatherShapes('scatterAdd', x, d, index);
  if (src.shape.join() !== index.shape.join()) {
    throw new RangeError(`scatterAdd: src shape ${formatShape(src.shape)} must equal index shape ${formatShape(index.shape)}`);
  }
  const out = scatterAddRaw(copyContiguous(x), d, index, src);
  // dx = g, dsrc = gather(g, dim, index)
  return record('scatterAdd', [x, src], out, (g) => [g, src.requiresGrad ? gatherRaw(g, d, index) : null], [index]);
}

function gatherRaw(x: Tensor, d: number, index: Tensor): Tensor {
  const [outer, size, inner] = dims(x, d);
  const out = x.newEmpty(index.shape);
  return runIndexKernel(out, x, index, (xc, ic) => {
    if (out.numel > 0) x.backend.gather(out, xc, outer, size, inner, ic, index.shape[d]);
  });
}
