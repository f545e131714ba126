// The CPU backend's fused kernels (softmax family, RMSNorm, RoPE, attention, cross-entropy, SwiGLU, AdamW) and
// bfloat16 KV cache: buffer ids, element offsets and dims passed to native/binding/fused.cc and elementwise.cc.
import { native } from '../native.js';
import type { FusedPrimitives, KVCachePrimitives, TensorView } from './backend.js';

const id = (t: TensorView): number => t.storage.id;
// [sB, sT, sH] of a (B, T, H, D) view.
const heads = (t: TensorView): number[] => [t.strides[0], t.strides[1], t.strides[2]];

export const cpuFused: FusedPrimitives & KVCachePrimitives = {
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
  kvCacheStore(cache, B, Hkv, L, D, pos, src, T) {
    native.kvCacheStore(id(cache), B, Hkv, L, D, pos, id(src), src.offset, heads(src), T);
  },
  kvCacheLoad(dst, cache, B, Hkv, L, D, Tk) {
    native.kvCacheLoad(id(dst), dst.offset, id(cache), B, Hkv, L, D, Tk);
  },
  attentionDecodeBf16(o, q, kCache, vCache, L, B, Tq, Tk, Hq, Hkv, D, scale, causal, bias) {
    // bias (B, 1, Tq, Tk): the kernel takes [sB, sQ, sK], or id 0 for none
    if (bias) {
      native.attentionDecodeBf16(id(o), o.offset, heads(o), id(q), q.offset, heads(q), id(kCache), id(vCache), L, B, Tq, Tk, Hq,
        Hkv, D, scale, causal, id(bias), bias.offset, [bias.strides[0], bias.strides[2], bias.strides[3]]);
    } else {
      native.attentionDecodeBf16(id(o), o.offset, heads(o), id(q), q.offset, heads(q), id(kCache), id(vCache), L, B, Tq, Tk, Hq,
        Hkv, D, scale, causal, 0, 0, []);
    }
  },
  adamwStep(param, grad, m, v, h) {
    native.adamwStep(id(param), param.offset, id(grad), grad.offset, id(m), m.offset, id(v), v.offset, param.numel,
      h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.step);
  },
};
