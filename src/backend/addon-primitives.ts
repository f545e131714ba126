// The primitives both addons run with the same entry points (ComputeAddon in src/native-entry-points.ts): fills,
// elementwise, copy/cast, reductions, index ops, the GEMM, the fused kernels, bfloat16 KV caches, the GRPO
// kernels and token sampling, forwarded with buffer ids, element offsets, strides and dims. cpu.ts and cuda.ts add
// storage.
import type { ComputeAddon } from '../native-entry-points.js';
import type {
  AttentionDims, CorePrimitives, Float32MatmulPrecision, FusedPrimitives, GrpoPrimitives, KVCachePrimitives, SamplingPrimitives,
  StoragePrimitives, TensorView,
} from './backend.js';
import { BinaryOp, RandomKind, ReduceOp, UnaryOp } from './codes.js';

/** Everything of a Backend but device, capabilities, storage, memory accounting and packed weights. */
export type AddonPrimitives = Omit<CorePrimitives, keyof StoragePrimitives> & FusedPrimitives & KVCachePrimitives &
  GrpoPrimitives & SamplingPrimitives;

const id = (t: TensorView): number => t.storage.id;
const optId = (t: TensorView | null): number | null => (t ? t.storage.id : null);
const strides = (t: TensorView): number[] => t.strides as number[];
const shape = (t: TensorView): number[] => t.shape as number[];
// [sB, sT, sH] of a (B, T, H, D) view.
const heads = (t: TensorView): number[] => [t.strides[0], t.strides[1], t.strides[2]];
// The attention kernels' (keyStart id, offset), id 0 for none.
const keyStart = (d: AttentionDims): [number, number] => (d.keyStart ? [id(d.keyStart), d.keyStart.offset] : [0, 0]);

export function addonPrimitives(addon: ComputeAddon): AddonPrimitives {
  return {
    fill: (out, value) => addon.fill(id(out), out.offset, out.numel, value),
    arange: (out, start, step) => addon.arange(id(out), out.numel, start, step),
    randomUniform: (out, seed, counter, low, high) => addon.randomFill(id(out), out.numel, RandomKind.uniform, seed, counter, low, high),
    randomNormal: (out, seed, counter, mean, std) => addon.randomFill(id(out), out.numel, RandomKind.normal, seed, counter, mean, std),
    unary: (op, out, x, p0 = 0, p1 = 0) =>
      addon.unary(UnaryOp[op], id(out), id(x), x.offset, shape(x), strides(x), p0, p1),
    binary: (op, out, a, b) =>
      addon.binary(BinaryOp[op], id(out), id(a), a.offset, strides(a), id(b), b.offset, strides(b), shape(out)),
    where: (out, cond, a, b) =>
      addon.where(id(out), id(cond), cond.offset, strides(cond), id(a), a.offset, strides(a), id(b), b.offset,
        strides(b), shape(out)),
    copy: (dst, src) => addon.copy(id(dst), dst.offset, strides(dst), id(src), src.offset, strides(src), shape(dst)),
    reduceRows: (op, out, x, rows, cols) => addon.reduceRows(ReduceOp[op], id(out), id(x), x.offset, rows, cols),
    reduceCols: (op, out, x, rows, cols) => addon.reduceCols(ReduceOp[op], id(out), id(x), x.offset, rows, cols),
    indexSelect: (out, x, outer, dim, inner, index, count) =>
      addon.indexSelect(id(out), id(x), x.offset, outer, dim, inner, id(index), index.offset, count),
    indexAdd: (out, src, outer, dim, inner, index, count) =>
      addon.indexAdd(id(out), id(src), src.offset, outer, dim, inner, id(index), index.offset, count),
    gather: (out, x, outer, dim, inner, index, k) =>
      addon.gather(id(out), id(x), x.offset, outer, dim, inner, id(index), index.offset, k),
    scatterAdd: (out, src, outer, dim, inner, index, k) =>
      addon.scatterAdd(id(out), id(src), src.offset, outer, dim, inner, id(index), index.offset, k),
    matmul: (out, a, aOffsets, lda, transA, b, bOffsets, ldb, transB, M, N, K, batch, alpha, beta, precision) =>
      addon.matmul(id(out), id(a), aOffsets, lda, transA, id(b), bOffsets, ldb, transB, M, N, K, batch, alpha, beta, precision),
    matmulKernel: (precision) => addon.matmulPrecision().kernels[precision],
    defaultMatmulPrecision: () => addon.matmulPrecision().precision as Float32MatmulPrecision,
    setDefaultMatmulPrecision: (precision) => {
      addon.matmulPrecision(precision);
    },

    softmaxForward(y, x, rows, cols, log) {
      (log ? addon.logSoftmaxForward : addon.softmaxForward)(id(y), y.offset, id(x), x.offset, rows, cols);
    },
    softmaxBackward(dx, dy, y, rows, cols, log) {
      (log ? addon.logSoftmaxBackward : addon.softmaxBackward)(id(dx), dx.offset, id(dy), dy.offset, id(y), y.offset, rows, cols);
    },
    rmsnormForward(y, rstd, x, w, rows, cols, eps) {
      addon.rmsnormForward(id(y), y.offset, id(rstd), rstd.offset, id(x), x.offset, id(w), w.offset, rows, cols, eps);
    },
    rmsnormBackward(dx, dw, dy, x, w, rstd, rows, cols) {
      addon.rmsnormBackward(id(dx), dx.offset, id(dw), dw.offset, id(dy), dy.offset, id(x), x.offset, id(w), w.offset,
        id(rstd), rstd.offset, rows, cols);
    },
    ropeForward(y, x, cos, sin, positions, B, T, H, D, P, positionsPerBatch, inverse) {
      addon.ropeForward(id(y), y.offset, id(x), x.offset, id(cos), cos.offset, id(sin), sin.offset, id(positions),
        positions.offset, B, T, H, D, P, positionsPerBatch, inverse);
    },
    attentionForward(o, lse, q, k, v, d) {
      addon.attentionForward(id(o), o.offset, heads(o), id(lse), lse.offset, id(q), q.offset, heads(q), id(k), k.offset,
        heads(k), id(v), v.offset, heads(v), d.B, d.Tq, d.Tk, d.Hq, d.Hkv, d.D, d.scale, d.causal, ...keyStart(d), d.precision);
    },
    attentionBackward(dq, dk, dv, dO, q, k, v, o, lse, d) {
      addon.attentionBackward(id(dq), dq.offset, heads(dq), id(dk), dk.offset, heads(dk), id(dv), dv.offset, heads(dv),
        id(dO), dO.offset, heads(dO), id(q), q.offset, heads(q), id(k), k.offset, heads(k), id(v), v.offset, heads(v),
        id(o), o.offset, heads(o), id(lse), lse.offset, d.B, d.Tq, d.Tk, d.Hq, d.Hkv, d.D, d.scale, d.causal, ...keyStart(d),
        d.precision);
    },
    crossEntropyForward(loss, lse, logits, targets, N, V, ignoreIndex) {
      addon.crossEntropyForward(id(loss), loss.offset, id(lse), lse.offset, id(logits), logits.offset, id(targets),
        targets.offset, N, V, ignoreIndex);
    },
    crossEntropyBackward(dlogits, g, logits, lse, targets, N, V, ignoreIndex) {
      addon.crossEntropyBackward(id(dlogits), dlogits.offset, id(g), g.offset, id(logits), logits.offset, id(lse),
        lse.offset, id(targets), targets.offset, N, V, ignoreIndex);
    },
    swigluForward(h, gate, up, n) {
      addon.swigluForward(id(h), h.offset, id(gate), gate.offset, id(up), up.offset, n);
    },
    swigluBackward(dgate, dup, dh, gate, up, n) {
      addon.swigluBackward(id(dgate), dgate.offset, id(dup), dup.offset, id(dh), dh.offset, id(gate), gate.offset, id(up),
        up.offset, n);
    },
    adamwStep(param, grad, m, v, h) {
      addon.adamwStep(id(param), param.offset, id(grad), grad.offset, id(m), m.offset, id(v), v.offset, param.numel,
        h.lr, h.beta1, h.beta2, h.eps, h.weightDecay, h.step);
    },
    adamwSteps(params, grads, ms, vs, h) {
      addon.adamwMultiStep(params.map(id), params.map((t) => t.offset), grads.map(id), grads.map((t) => t.offset), ms.map(id),
        ms.map((t) => t.offset), vs.map(id), vs.map((t) => t.offset), params.map((t) => t.numel), h.lr, h.beta1, h.beta2, h.eps,
        h.weightDecay, h.step);
    },

    kvCacheStore(cache, B, Hkv, L, D, pos, src, T) {
      addon.kvCacheStore(id(cache), B, Hkv, L, D, pos, id(src), src.offset, heads(src), T);
    },
    kvCacheLoad(dst, cache, B, Hkv, L, D, Tk) {
      addon.kvCacheLoad(id(dst), dst.offset, id(cache), B, Hkv, L, D, Tk);
    },
    attentionDecodeBf16(o, q, kCache, vCache, L, B, Tq, Tk, Hq, Hkv, D, scale, causal, bias) {
      // bias (B, 1, Tq, Tk): the kernel takes [sB, sQ, sK], or id 0 for none
      const [biasId, biasOffset, biasStrides] = bias ? [id(bias), bias.offset, [bias.strides[0], bias.strides[2], bias.strides[3]]]
        : [0, 0, []];
      addon.attentionDecodeBf16(id(o), o.offset, heads(o), id(q), q.offset, heads(q), id(kCache), id(vCache), L, B, Tq, Tk, Hq,
        Hkv, D, scale, causal, biasId, biasOffset, biasStrides);
    },

    selectiveLogSoftmaxForward(lp, lse, entropy, logits, rowStride, ids, N, V, temperature) {
      addon.selectiveLogSoftmax(id(logits), logits.offset, rowStride, id(ids), N, V, temperature, id(lp), id(lse), optId(entropy));
    },
    selectiveLogSoftmaxBackward(dlogits, dRowStride, logits, rowStride, ids, lse, glp, gent, entropy, N, V, temperature) {
      addon.selectiveLogSoftmaxBackward(id(dlogits), dlogits.offset, dRowStride, id(logits), logits.offset, rowStride,
        id(ids), id(lse), id(glp), optId(gent), optId(entropy), N, V, temperature);
    },
    grpoLossForward(dlp, lp, oldLp, refLp, adv, advPerToken, mask, entropy, B, L, options) {
      return addon.grpoLoss(id(lp), optId(oldLp), optId(refLp), id(adv), advPerToken, id(mask), optId(entropy), optId(dlp),
        B, L, options);
    },
    groupAdvantages(advantages, totals, rewards, weights, N, R, G, scaleRewards) {
      return addon.groupAdvantages(rewards, weights, N, R, G, scaleRewards, id(advantages), optId(totals));
    },

    sampleRows(ids, logprobs, policyLogprobs, logits, rowStride, rows, V, uniforms, o) {
      addon.sampleRows(id(ids), ids.offset, id(logprobs), logprobs.offset, id(policyLogprobs), policyLogprobs.offset, id(logits),
        logits.offset, rowStride, rows, V, uniforms ? id(uniforms) : 0, uniforms ? uniforms.offset : 0, o.temperature, o.topK,
        o.topP, o.minP, o.greedy);
    },
  };
}
