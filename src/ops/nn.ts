// Fused neural-network ops on native kernels: softmax / logSoftmax, rmsNorm, applyRotary (RoPE),
// scaledDotProductAttention (causal, grouped-query), swiglu, crossEntropy, and the in-place adamwStep (one
// parameter) and adamwSteps (many in one kernel call).
// Each validates its inputs, runs one forward kernel, and records a backward that runs one kernel.
import { record } from '../autograd/function.js';
import type { AdamWHyper, AttentionDims, Float32MatmulPrecision } from '../backend/backend.js';
import { formatShape, normalizeDim, shapeNumel, Tensor } from '../tensor.js';
import { sameDevice } from '../tensor-util.js';
import { tensor } from './creation.js';
import { mul, silu } from './elementwise.js';
import { hasBf16, inFloat32, withFloat32Inputs } from './float32-compute.js';
import { resolveMatmulPrecision } from './matmul.js';
import { sum } from './reduce.js';
import { copyContiguous } from './raw.js';
import { transpose } from './shape.js';

function checkTensor(op: string, name: string, t: unknown, dtype: 'float32' | 'int32' = 'float32'): Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${op}: ${name} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
  t.assertLive(op);
  if (t.dtype !== dtype) throw new TypeError(`${op}: ${name} must be ${dtype}, got ${t.dtype} of shape ${formatShape(t.shape)}`);
  return t;
}

// The kernels read contiguous memory; a copy is made (and owned by the caller) when t is a strided view.
function contiguousOf(t: Tensor): Tensor {
  return t.isContiguous() ? t : copyContiguous(t);
}

// Frees `tmp` unless it is `orig` (the caller's own tensor).
function release(tmp: Tensor, orig: Tensor): void {
  if (tmp !== orig) tmp.dispose();
}

// Keeps `grad` for an input that needs it, else frees it.
function gradIf(input: Tensor, grad: Tensor): Tensor | null {
  if (input.requiresGrad) return grad;
  grad.dispose();
  return null;
}

// Saved tensors are only needed when the op was recorded.
function disposeUnlessRecorded(out: Tensor, saved: Tensor[]): void {
  if (!out.gradFn) for (const s of saved) s.dispose();
}

// ---- softmax / logSoftmax ----

function softmaxLast(op: string, x: Tensor, log: boolean): Tensor {
  const cols = x.ndim === 0 ? 1 : x.shape[x.ndim - 1];
  const rows = cols === 0 ? 0 : x.numel / cols;
  const y = Tensor.empty(x.shape, 'float32', x.device);
  if (x.numel > 0) {
    const xc = contiguousOf(x);
    x.backend.softmaxForward(y, xc, rows, cols, log);
    release(xc, x);
  }
  // softmax: dx = y * (dy - sum(dy * y)); logSoftmax: dx = dy - exp(y) * sum(dy)
  return record(op, [x], y, (g) => {
    const dx = Tensor.empty(x.shape, 'float32', x.device);
    if (x.numel === 0) return [dx];
    const gc = contiguousOf(g);
    x.backend.softmaxBackward(dx, gc, y, rows, cols, log);
    release(gc, g);
    return [dx];
  }, [y]);
}

function softmaxAlong(op: string, x: Tensor, dim: number, log: boolean): Tensor {
  if (hasBf16(x)) return inFloat32(softmaxAlong, op, x, dim, log);
  checkTensor(op, 'x', x);
  if (x.ndim === 0) return softmaxLast(op, x, log);
  const d = normalizeDim(dim, x.ndim, op);
  if (d === x.ndim - 1) return softmaxLast(op, x, log);
  return transpose(softmaxLast(op, transpose(x, d, -1), log), d, -1);
}

/** Softmax along `dim` (default the last): exp(x - max) / sum(exp(x - max)). */
export function softmax(x: Tensor, dim = -1): Tensor {
  return softmaxAlong('softmax', x, dim, false);
}

/** Log-softmax along `dim` (default the last): x - logsumexp(x). */
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return softmaxAlong('logSoftmax', x, dim, true);
}

// ---- RMSNorm ----

/** RMSNorm over the last dim: x / sqrt(mean(x^2) + eps) * weight, weight of shape [C]. */
export function rmsNorm(x: Tensor, weight: Tensor, eps = 1e-6): Tensor {
  const op = 'rmsNorm';
  if (hasBf16(x, weight)) return inFloat32(rmsNorm, x, weight, eps);
  checkTensor(op, 'x', x);
  checkTensor(op, 'weight', weight);
  sameDevice(op, x, weight);
  const C = x.ndim === 0 ? 0 : x.shape[x.ndim - 1];
  if (x.ndim === 0 || weight.ndim !== 1 || weight.shape[0] !== C)
    throw new RangeError(`${op}: weight ${formatShape(weight.shape)} must be [C] for x ${formatShape(x.shape)} (C = last dim)`);
  if (!(Number.isFinite(eps) && eps >= 0)) throw new RangeError(`${op}: eps must be a finite number >= 0, got ${eps}`);
  const rows = C === 0 ? 0 : x.numel / C;
  const y = Tensor.empty(x.shape, 'float32', x.device);
  if (y.numel === 0) return y;
  const rstd = Tensor.empty(x.shape.slice(0, -1), 'float32', x.device);
  const xc = contiguousOf(x);
  const wc = contiguousOf(weight);
  x.backend.rmsnormForward(y, rstd, xc, wc, rows, C, eps);
  const saved = [rstd, ...(xc !== x ? [xc] : []), ...(wc !== weight ? [wc] : [])];
  // dx = rstd * (w*g - xhat * mean(w*g*xhat)), dw = sum_rows(g * xhat), xhat = x * rstd
  const out = record(op, [x, weight], y, (g) => {
    const gc = contiguousOf(g);
    const dx = Tensor.empty(x.shape, 'float32', x.device);
    const dw = Tensor.empty([C], 'float32', x.device);
    x.backend.rmsnormBackward(dx, dw, gc, xc, wc, rstd, rows, C);
    release(gc, g);
    return [gradIf(x, dx), gradIf(weight, dw)];
  }, saved);
  disposeUnlessRecorded(out, saved);
  return out;
}

// ---- RoPE ----

/**
 * Cos/sin tables [maxPositions, headDim/2] for rotary embeddings: angle(p, i) = p * base^(-2i/headDim),
 * computed in float64 and rounded once.
 */
export function rotaryTables(maxPositions: number, headDim: number, base = 10000): { cos: Tensor; sin: Tensor } {
  if (!Number.isInteger(maxPositions) || maxPositions < 1 || !Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0)
    throw new RangeError(`rotaryTables: need maxPositions >= 1 and an even headDim >= 2, got ${maxPositions}, ${headDim}`);
  const half = headDim / 2;
  const cos = new Float32Array(maxPositions * half);
  const sin = new Float32Array(maxPositions * half);
  for (let p = 0; p < maxPositions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * Math.pow(base, (-2 * i) / headDim);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos: tensor(cos, [maxPositions, half]), sin: tensor(sin, [maxPositions, half]) };
}

/**
 * Rotary position embedding (Hugging Face Llama rotate_half convention) of x [B, T, H, D]: the pair
 * (x_i, x_{i+D/2}) is rotated by the angle with cos[p, i], sin[p, i] (tables [P, D/2]), p = positions[t]
 * (int32 [T]) or positions[b, t] (int32 [B, T]). Differentiable in x; the tables are constants.
 */
export function applyRotary(x: Tensor, cos: Tensor, sin: Tensor, positions: Tensor): Tensor {
  const op = 'applyRotary';
  // The tables are constants of the call: the result has x's dtype (as Hugging Face casts them to it).
  if (hasBf16(x)) return inFloat32((x32: Tensor) => applyRotary(x32, cos, sin, positions), x);
  checkTensor(op, 'x', x);
  checkTensor(op, 'cos', cos);
  checkTensor(op, 'sin', sin);
  checkTensor(op, 'positions', positions, 'int32');
  sameDevice(op, x, cos, sin, positions);
  if (x.ndim !== 4) throw new RangeError(`${op}: x must be [B, T, H, D], got ${formatShape(x.shape)}`);
  const [B, T, H, D] = x.shape;
  if (D % 2 !== 0) throw new RangeError(`${op}: head dim D must be even, got x ${formatShape(x.shape)}`);
  if (cos.ndim !== 2 || cos.shape[1] !== D / 2 || sin.ndim !== 2 || sin.shape[0] !== cos.shape[0] || sin.shape[1] !== D / 2)
    throw new RangeError(`${op}: cos ${formatShape(cos.shape)} and sin ${formatShape(sin.shape)} must both be [P, ${D / 2}] for x ${formatShape(x.shape)}`);
  const perBatch = positions.ndim === 2;
  if (!((positions.ndim === 1 && positions.shape[0] === T) || (perBatch && positions.shape[0] === B && positions.shape[1] === T)))
    throw new RangeError(`${op}: positions ${formatShape(positions.shape)} must be [${T}] or [${B}, ${T}] for x ${formatShape(x.shape)}`);
  const P = cos.shape[0];
  const y = Tensor.empty(x.shape, 'float32', x.device);
  if (y.numel === 0) return y;
  const xc = contiguousOf(x);
  const cc = contiguousOf(cos);
  const sc = contiguousOf(sin);
  const pc = contiguousOf(positions);
  try {
    x.backend.ropeForward(y, xc, cc, sc, pc, B, T, H, D, P, perBatch, false);
  } catch (e) {
    y.dispose();
    for (const [c, o] of [[cc, cos], [sc, sin], [pc, positions]] as const) release(c, o);
    throw e;
  } finally {
    release(xc, x);
  }
  const saved = [cc, sc, pc];
  // dx = R(-theta) g: the same rotation by the negative angle
  const out = record(op, [x], y, (g) => {
    const gc = contiguousOf(g);
    const dx = Tensor.empty(x.shape, 'float32', x.device);
    x.backend.ropeForward(dx, gc, cc, sc, pc, B, T, H, D, P, perBatch, true);
    release(gc, g);
    return [dx];
  }, saved);
  if (!out.gradFn) for (const [c, o] of [[cc, cos], [sc, sin], [pc, positions]] as const) release(c, o);
  return out;
}

// ---- attention ----

export interface AttentionOptions {
  /** Query i (of Tq) sees keys j <= i + (Tk - Tq): the queries are the last Tq positions. Default false. */
  causal?: boolean;
  /** Default 1 / sqrt(D). */
  scale?: number;
  /** Precision of the block products, forward and backward. Default: the process default (setFloat32MatmulPrecision). */
  precision?: Float32MatmulPrecision;
  /**
   * Left padding (needs causal): int32 [B] on q's device, batch row b's first real key in [0, Tk]. Query i (at
   * slot i + Tk - Tq) then reads keys keyStart[b]..slot, and a padding query (slot < keyStart[b]) only its own key,
   * as a padding mask does; the kernels skip the padding keys instead of masking them. Default: no padding.
   */
  keyStart?: Tensor;
}

// A [B, H, T, D] tensor viewed in the kernel's (B, T, H, D) order (no copy); D must be contiguous.
function bthd(t: Tensor): Tensor {
  const [B, H, T, D] = t.shape;
  return t.makeView([B, T, H, D], [t.strides[0], t.strides[2], t.strides[1], 1], t.offset);
}

// An uninitialized [B, H, T, D] tensor, stored (B, T, H, D) when tMajor (a view with permuted strides).
function emptyHeads(shape: readonly number[], tMajor: boolean, device: Tensor['device']): Tensor {
  if (!tMajor) return Tensor.empty(shape, 'float32', device);
  const [B, H, T, D] = shape;
  const phys = Tensor.empty([B, T, H, D], 'float32', device);
  const view = phys.makeView(shape, [T * H * D, D, H * D, 1], 0);
  phys.dispose();
  return view;
}

// True when a [B, H, T, D] view steps over heads faster than over positions ((B, T, H, D) storage).
function tMajor(t: Tensor): boolean {
  return t.shape[1] > 1 && t.shape[2] > 1 && t.strides[1] < t.strides[2];
}

function lastContiguous(t: Tensor): Tensor {
  return t.strides[t.ndim - 1] === 1 || t.shape[t.ndim - 1] === 1 ? t : copyContiguous(t);
}

/**
 * Scaled dot-product attention softmax(scale * q k^T [+ causal mask]) v, layout as torch's:
 * q [B, Hq, Tq, D], k and v [B, Hkv, Tk, D] with Hq a multiple of Hkv (grouped-query heads: query head h
 * reads kv head h / (Hq / Hkv)). Any strides with a contiguous last dim are read without copies.
 * Returns [B, Hq, Tq, D].
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const op = 'scaledDotProductAttention';
  if (hasBf16(q, k, v)) return inFloat32((q32: Tensor, k32: Tensor, v32: Tensor) => scaledDotProductAttention(q32, k32, v32, options), q, k, v);
  checkTensor(op, 'q', q);
  checkTensor(op, 'k', k);
  checkTensor(op, 'v', v);
  sameDevice(op, q, k, v);
  const shapes = () => `q ${formatShape(q.shape)}, k ${formatShape(k.shape)}, v ${formatShape(v.shape)}`; // for messages only
  if (q.ndim !== 4 || k.ndim !== 4 || v.ndim !== 4) throw new RangeError(`${op}: q, k, v must be [B, H, T, D]; got ${shapes()}`);
  const [B, Hq, Tq, D] = q.shape;
  const [, Hkv, Tk] = k.shape;
  if (k.shape[0] !== B || v.shape[0] !== B || k.shape[3] !== D || v.shape[3] !== D || v.shape[1] !== Hkv || v.shape[2] !== Tk)
    throw new RangeError(`${op}: k and v must be [${B}, Hkv, Tk, ${D}] with equal shapes; got ${shapes()}`);
  if (shapeNumel(q.shape) === 0 || shapeNumel(k.shape) === 0) throw new RangeError(`${op}: empty inputs (${shapes()})`);
  if (Hq % Hkv !== 0) throw new RangeError(`${op}: query heads ${Hq} must be a multiple of kv heads ${Hkv} (${shapes()})`);
  const causal = options.causal ?? false;
  if (causal && Tq > Tk) throw new RangeError(`${op}: causal attention needs Tq <= Tk (${shapes()})`);
  const scale = options.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) throw new RangeError(`${op}: scale must be finite, got ${scale}`);
  const precision = resolveMatmulPrecision(op, options.precision);
  const keyStart = options.keyStart;
  if (keyStart !== undefined) {
    checkTensor(op, 'keyStart', keyStart, 'int32');
    sameDevice(op, q, keyStart);
    if (keyStart.dtype !== 'int32' || keyStart.ndim !== 1 || keyStart.shape[0] !== B)
      throw new TypeError(`${op}: keyStart must be int32 [${B}], got ${keyStart.dtype} ${formatShape(keyStart.shape)}`);
    if (!causal) throw new RangeError(`${op}: keyStart (left padding) needs causal attention`);
  }
  const ks = keyStart === undefined ? undefined : lastContiguous(keyStart);
  const dims: AttentionDims = { B, Tq, Tk, Hq, Hkv, D, scale, causal, precision, ...(ks ? { keyStart: ks } : {}) };

  const qc = lastContiguous(q);
  const kc = lastContiguous(k);
  const vc = lastContiguous(v);
  // o is stored (B, Tq, Hq, D): the model's transpose back to (B, T, H*D) is then a view, not a copy.
  const o = emptyHeads([B, Hq, Tq, D], true, q.device);
  const lse = Tensor.empty([B, Hq, Tq], 'float32', q.device);
  const views = [bthd(o), bthd(qc), bthd(kc), bthd(vc)];
  try {
    q.backend.attentionForward(views[0], lse, views[1], views[2], views[3], dims);
  } finally {
    for (const t of views) t.dispose();
  }
  const copies = [qc, kc, vc, ...(ks ? [ks] : [])].filter((c, i) => c !== [q, k, v, keyStart][i]);
  const saved = [lse, ...copies];
  // With P = softmax(scale q k^T), dS = P * (g v^T - rowsum(g * o)):
  // dq = scale dS k, dk = scale dS^T q, dv = P^T g (summed over the query heads of each kv head)
  const out = record(op, [q, k, v], o, (g) => {
    const gc = lastContiguous(g);
    // Each gradient is stored in its input's order of T and H, so the layers before see contiguous gradients.
    const dq = emptyHeads(q.shape, tMajor(q), q.device);
    const dk = emptyHeads(k.shape, tMajor(k), q.device);
    const dv = emptyHeads(v.shape, tMajor(v), q.device);
    const bv = [dq, dk, dv, gc, qc, kc, vc, o].map(bthd);
    try {
      q.backend.attentionBackward(bv[0], bv[1], bv[2], bv[3], bv[4], bv[5], bv[6], bv[7], lse, dims);
    } finally {
      for (const t of bv) t.dispose();
      release(gc, g);
    }
    return [gradIf(q, dq), gradIf(k, dk), gradIf(v, dv)];
  }, keyStart !== undefined && ks === keyStart ? [...saved, keyStart] : saved); // the backward reads keyStart too: tidy keeps it
  disposeUnlessRecorded(out, saved);
  return out;
}

// ---- SwiGLU ----

/**
 * SwiGLU's gating: silu(gate) * up, elementwise over equal shapes, in one native pass (one more for the
 * backward: dgate = g * up * silu'(gate), dup = g * silu(gate)). Backends without the fused kernel compose it.
 */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  const op = 'swiglu';
  if (hasBf16(gate, up)) return inFloat32(swiglu, gate, up);
  checkTensor(op, 'gate', gate);
  checkTensor(op, 'up', up);
  sameDevice(op, gate, up);
  if (gate.ndim !== up.ndim || gate.shape.some((s, i) => s !== up.shape[i]))
    throw new RangeError(`${op}: gate ${formatShape(gate.shape)} and up ${formatShape(up.shape)} must have the same shape`);
  if (gate.device !== up.device) throw new TypeError(`${op}: tensors on different devices (${gate.device}, ${up.device})`);
  if (typeof gate.backend.swigluForward !== 'function') return mul(silu(gate), up);
  const n = gate.numel;
  const h = Tensor.empty(gate.shape, 'float32', gate.device);
  if (n === 0) return h;
  const gc = contiguousOf(gate);
  const uc = contiguousOf(up);
  gate.backend.swigluForward(h, gc, uc, n);
  const saved = [...(gc !== gate ? [gc] : []), ...(uc !== up ? [uc] : [])];
  const out = record(op, [gate, up], h, (g) => {
    const dc = contiguousOf(g);
    const dg = Tensor.empty(gate.shape, 'float32', gate.device);
    const du = Tensor.empty(up.shape, 'float32', up.device);
    gate.backend.swigluBackward(dg, du, dc, gc, uc, n);
    release(dc, g);
    return [gradIf(gate, dg), gradIf(up, du)];
  }, saved);
  disposeUnlessRecorded(out, saved);
  return out;
}

// ---- cross-entropy ----

export interface CrossEntropyOptions {
  /** Target value whose rows contribute no loss and no gradient. Default -100. */
  ignoreIndex?: number;
  /** 'mean' over the non-ignored rows (default; NaN when all are ignored, as in torch), 'sum', or 'none'. */
  reduction?: 'mean' | 'sum' | 'none';
}

/**
 * Cross-entropy of logits [..., V] against int32 class targets [...]: logsumexp(logits) - logits[target]
 * per row, reduced as asked.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  // The loss stays float32 for bfloat16 logits (a float32 reduction; PyTorch would round it to bfloat16).
  if (hasBf16(logits)) return withFloat32Inputs(crossEntropy, (loss) => [loss], logits, targets, options);
  checkTensor(op, 'logits', logits);
  checkTensor(op, 'targets', targets, 'int32');
  sameDevice(op, logits, targets);
  const ignoreIndex = options.ignoreIndex ?? -100;
  const reduction = options.reduction ?? 'mean';
  if (!Number.isInteger(ignoreIndex)) throw new TypeError(`${op}: ignoreIndex must be an integer, got ${ignoreIndex}`);
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none')
    throw new TypeError(`${op}: reduction must be 'mean', 'sum' or 'none', got ${String(reduction)}`);
  const rowShape = logits.shape.slice(0, -1);
  if (logits.ndim < 1 || targets.ndim !== rowShape.length || targets.shape.some((s, i) => s !== rowShape[i]))
    throw new RangeError(`${op}: targets ${formatShape(targets.shape)} must be ${formatShape(rowShape)} for logits ${formatShape(logits.shape)}`);
  const V = logits.shape[logits.ndim - 1];
  const N = shapeNumel(rowShape);
  if (V === 0 && N > 0) throw new RangeError(`${op}: logits ${formatShape(logits.shape)} have no classes`);
  const loss = Tensor.empty(rowShape, 'float32', logits.device);
  const lse = Tensor.empty(rowShape, 'float32', logits.device);
  const lc = contiguousOf(logits);
  const tc = contiguousOf(targets);
  let count = 0;
  if (reduction === 'mean') for (const t of tc.data()) if (t !== ignoreIndex) count++;
  if (N > 0) {
    try {
      logits.backend.crossEntropyForward(loss, lse, lc, tc, N, V, ignoreIndex);
    } catch (e) {
      for (const t of [loss, lse]) t.dispose();
      release(lc, logits);
      release(tc, targets);
      throw e;
    }
  }
  const saved = [lse, ...(lc !== logits ? [lc] : []), tc];
  // dlogits = g[n] * (softmax(logits[n]) - onehot(target[n])), 0 on ignored rows
  const perRow = record(op, [logits], loss, (g) => {
    const dl = Tensor.empty(logits.shape, 'float32', logits.device);
    if (N === 0) return [dl];
    const gc = contiguousOf(g);
    logits.backend.crossEntropyBackward(dl, gc, lc, lse, tc, N, V, ignoreIndex);
    release(gc, g);
    return [dl];
  }, saved);
  if (!perRow.gradFn) {
    lse.dispose();
    release(lc, logits);
    release(tc, targets);
  }
  if (reduction === 'none') return perRow;
  const total = sum(perRow);
  if (reduction === 'sum') return total;
  return mul(total, 1 / count);
}

// ---- AdamW ----

export interface AdamWStepOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** 1-based count of this update, for the bias corrections 1 - beta^step. */
  step: number;
}

/**
 * One fused AdamW update in place (torch.optim.AdamW order): param *= 1 - lr*wd; m = b1 m + (1-b1) g;
 * v = b2 v + (1-b2) g^2; param -= lr/(1-b1^step) * m / (sqrt(v)/sqrt(1-b2^step) + eps). param, m and v
 * must be contiguous float32 tensors with grad's number of elements. Not recorded by autograd.
 * Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 0.01 (torch's).
 */
export function adamwStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, options: AdamWStepOptions): void {
  const op = 'adamwStep';
  checkAdamWTensors(op, param, grad, m, v);
  const hyper = adamwHyper(op, options);
  if (param.numel === 0) return;
  const gc = contiguousOf(grad);
  try {
    param.backend.adamwStep(param, gc, m, v, hyper);
  } finally {
    release(gc, grad);
  }
}

/** An AdamW update of several parameters with the same hyperparameters: one entry of each list per parameter. */
export interface AdamWStepList {
  params: Tensor[];
  grads: Tensor[];
  ms: Tensor[];
  vs: Tensor[];
}

/**
 * `adamwStep` over every parameter of `list` in one kernel call (one launch on a GPU), bit-identical to calling it
 * per parameter; all tensors on one device, no two sharing elements. Not recorded by autograd.
 */
export function adamwSteps(list: AdamWStepList, options: AdamWStepOptions): void {
  const op = 'adamwSteps';
  const { params, grads, ms, vs } = list;
  if (grads.length !== params.length || ms.length !== params.length || vs.length !== params.length)
    throw new RangeError(`${op}: ${params.length} params, ${grads.length} grads, ${ms.length} ms and ${vs.length} vs: one of each per parameter`);
  params.forEach((p, i) => checkAdamWTensors(`${op} (parameter ${i})`, p, grads[i], ms[i], vs[i]));
  const hyper = adamwHyper(op, options);
  if (params.length === 0) return;
  sameDevice(op, ...params, ...grads, ...ms, ...vs);
  const live = params.flatMap((p, i) => (p.numel > 0 ? [i] : []));
  if (live.length === 0) return;
  const gcs = live.map((i) => contiguousOf(grads[i]));
  try {
    params[0].backend.adamwSteps(live.map((i) => params[i]), gcs, live.map((i) => ms[i]), live.map((i) => vs[i]), hyper);
  } finally {
    gcs.forEach((gc, k) => release(gc, grads[live[k]]));
  }
}

function checkAdamWTensors(op: string, param: Tensor, grad: Tensor, m: Tensor, v: Tensor): void {
  for (const [name, t] of [['param', param], ['grad', grad], ['m', m], ['v', v]] as const) checkTensor(op, name, t);
  sameDevice(op, param, grad, m, v);
  for (const [name, t] of [['param', param], ['m', m], ['v', v]] as const)
    if (!t.isContiguous()) throw new RangeError(`${op}: ${name} ${formatShape(t.shape)} must be contiguous (it is updated in place)`);
  if (grad.numel !== param.numel || m.numel !== param.numel || v.numel !== param.numel)
    throw new RangeError(`${op}: param ${formatShape(param.shape)}, grad ${formatShape(grad.shape)}, m ${formatShape(m.shape)} and v ${formatShape(v.shape)} must have the same number of elements`);
}

function adamwHyper(op: string, options: AdamWStepOptions): AdamWHyper {
  const hyper = { lr: options.lr ?? 1e-3, beta1: options.beta1 ?? 0.9, beta2: options.beta2 ?? 0.999, eps: options.eps ?? 1e-8,
    weightDecay: options.weightDecay ?? 0.01, step: options.step };
  if (!Number.isInteger(hyper.step) || hyper.step < 1) throw new RangeError(`${op}: step must be an integer >= 1, got ${hyper.step}`);
  return hyper;
}
