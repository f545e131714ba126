// CPU backend primitives of the fused kernels (softmax family, RMSNorm, RoPE, attention, cross-entropy,
// AdamW): typed native entry points and their Backend methods, which pass buffer ids, element offsets
// and dims. Imported for its side effect by src/ops/nn.ts.
import { native } from '../native.js';
import type { Tensor } from '../tensor.js';
import type { Backend, Float32MatmulPrecision } from './backend.js';
import { cpuBackend } from './cpu.js';

/** Dims of an attention call; q/o are (B, Tq, Hq, D) and k/v (B, Tk, Hkv, D) views. */
export interface AttentionDims {
  B: number;
  Tq: number;
  Tk: number;
  Hq: number;
  Hkv: number;
  D: number;
  scale: number;
  causal: boolean;
  /** Of the block products, forward and backward alike. */
  precision: Float32MatmulPrecision;
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count for the bias corrections 1 - beta^step. */
  step: number;
}

/** The fused primitives; on `Backend` as optional members (see `fusedBackend`). */
export interface FusedBackend {
  /** y (rows, cols) = softmax (or log-softmax) of x along cols; x, y contiguous, y may be x. */
  softmaxForward(y: Tensor, x: Tensor, rows: number, cols: number, log: boolean): void;
  /** dx = y*(dy - sum(dy*y)), or dx = dy - exp(y)*sum(dy) for log; y the forward output; all contiguous. */
  softmaxBackward(dx: Tensor, dy: Tensor, y: Tensor, rows: number, cols: number, log: boolean): void;
  /** y (rows, cols) = x * rstd * w; rstd (rows) saved. Contiguous. */
  rmsnormForward(y: Tensor, rstd: Tensor, x: Tensor, w: Tensor, rows: number, cols: number, eps: number): void;
  /** dx (rows, cols), dw (cols, overwritten) from dy, x, w, rstd. Contiguous. */
  rmsnormBackward(dx: Tensor, dw: Tensor, dy: Tensor, x: Tensor, w: Tensor, rstd: Tensor, rows: number, cols: number): void;
  /** y (B, T, H, D) = rotary(x) with cos/sin tables (P, D/2) at int32 positions (B*T or T); inverse = backward. */
  ropeForward(y: Tensor, x: Tensor, cos: Tensor, sin: Tensor, positions: Tensor, B: number, T: number, H: number,
    D: number, P: number, positionsPerBatch: boolean, inverse: boolean): void;
  /** Views in (B, T, H, D) order, any strides with D contiguous; lse (B, Hq, Tq) contiguous. */
  attentionForward(o: Tensor, lse: Tensor, q: Tensor, k: Tensor, v: Tensor, dims: AttentionDims): void;
  attentionBackward(dq: Tensor, dk: Tensor, dv: Tensor, dO: Tensor, q: Tensor, k: Tensor, v: Tensor, o: Tensor,
    lse: Tensor, dims: AttentionDims): void;
  /** loss, lse (N) from logits (N, V) contiguous and int32 targets (N); ignored rows get loss 0. */
  crossEntropyForward(loss: Tensor, lse: Tensor, logits: Tensor, targets: Tensor, N: number, V: number, ignoreIndex: number): void;
  /** dlogits (N, V) = g[n] * (softmax - onehot), 0 on ignored rows; dlogits may be logits (in place). */
  crossEntropyBackward(dlogits: Tensor, g: Tensor, logits: Tensor, lse: Tensor, targets: Tensor, N: number, V: number,
    ignoreIndex: number): void;
  /** h = silu(gate) * up over n contiguous elements. */
  swigluForward(h: Tensor, gate: Tensor, up: Tensor, n: number): void;
  /** dgate = dh * up * silu'(gate), dup = dh * silu(gate), over n contiguous elements. */
  swigluBackward(dgate: Tensor, dup: Tensor, dh: Tensor, gate: Tensor, up: Tensor, n: number): void;
  /** In-place AdamW update of contiguous float32 param, m, v (same numel as grad). */
  adamwStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, hyper: AdamWHyper): void;
}

// NOTE: optional on Backend so backends built without these kernels (and cpu.ts's object literal, typed
// Backend) still type-check; ops reach them through fusedBackend(), which names what is missing.
declare module './backend.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface Backend extends Partial<FusedBackend> {}
}

/** The fused primitives of `b`, or a clear error when that backend lacks them. */
export function fusedBackend(b: Backend, op: string): FusedBackend {
  if (typeof b.attentionForward !== 'function') throw new Error(`${op}: the ${b.device} backend has no fused kernels`);
  return b as Backend & FusedBackend;
}

const id = (t: Tensor): number => t.storage.id;
// [sB, sT, sH] of a (B, T, H, D) view.
const heads = (t: Tensor): number[] => [t.strides[0], t.strides[1], t.strides[2]];

Object.assign(cpuBackend, {
  softmaxForward(y, x, rows, cols, log) {
    (log ? native.logSoftmaxForward : native.softmaxForward)(id(y), y.offset, id(x), x.offset, rows, cols);
  },
  softmaxBackward(dx, dy, y, rows, cols, log) {
    (log ? native.logSoftmaxBackward : native.softmaxBackward)(id(dx), dx.offset, id(dy), dy.offset, id(y), y.offset, rows, cols);
  },
  rmsnormForward(y, rstd, x, w, rows, cols, eps) {
    native.rmsnormForward(id(y), y.offset, id(rstd), rstd.offset, id(x), x.offset, id(w), w.offset, rows, cols, eps);
  },
  rmsnormBackward(dx, dw, dy, x, w, rstd, rows, cols) {
    native.rmsnormBackward(id(dx), dx.offset, id(dw), dw.offset, id(dy), dy.offset, id(x), x.offset, id(w), w.offset,
      id(rstd), rstd.offset, rows, cols);
  },
  ropeForward(y, x, cos, sin, positions, B, T, H, D, P, positionsPerBatch, inverse) {
    native.ropeForward(id(y), y.offset, id(x), x.offset, id(cos), cos.offset, id(sin), sin.offset, id(positions),
      positions.offset, B, T, H, D, P, positionsPerBatch, inverse);
  },
  attentionForward(o, lse, q, k, v, d) {
    native.attentionForward(id(o), o.offset, heads(o), id(lse), lse.offset, id(q), q.offset, heads(q), id(k), k.offset,
      heads(k), id(v), v.offset, heads(v), d.B, d.Tq, d.Tk, d.Hq, d.Hkv, d.D, d.scale, d.causal,
      d.precision);
  },
  attentionBackward(dq, dk, dv, dO, q, k, v, o, lse, d) {
    native.attentionBackward(id(dq), dq.offset, heads(dq), id(dk), dk.offset, heads(dk), id(dv), dv.offset, heads(dv),
      id(dO), dO.offset, heads(dO), id(q), q.offset, heads(q), id(k), k.offset, heads(k), id(v), v.offset, heads(v),
      id(o), o.offset, heads(o), id(lse), lse.offset, d.B, d.Tq, d.Tk, d.Hq, d.Hkv, d.D, d.scale, d.causal,
      d.precision);
  },
  crossEntropyForward(loss, lse, logits, targets, N, V, ignoreIndex) {
    native.crossEntropyForward(id(loss), loss.offset, id(lse), lse.offset, id(logits), logits.offset, id(targets),
      targets.offset, N, V, ignoreIndex);
  },
  crossEntropyBackward(dlogits, g, logits, lse, targets, N, V, ignoreIndex) {
    native.crossEntropyBackward(id(dlogits), dlogits.offset, id(g), g.offset, id(logits), logits.offset, id(lse),
      lse.offset, id(targets), targets.offset, N, V, ignoreIndex);
  },
  swigluForward(h, gate, up, n) {
    native.swigluForward(id(h), h.offset, id(gate), gate.offset, id(up), up.offset, n);
  },
  swigluBackward(dgate, dup, dh, gate, up, n) {
    native.swigluBackward(id(dgate), dgate.offset, id(dup), dup.offset, id(dh), dh.offset, id(gate), gate.offset, id(up),
      up.offset, n);
  },
  adamwStep(param, grad, m, v, h) {
    native.adamwStep(id(param), param.offset, id(grad), grad.offset, id(m), m.offset, id(v), v.offset, param.numel,
      h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.step);
  },
} satisfies FusedBackend);
