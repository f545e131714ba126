// Causal self-attention with grouped-query heads, RoPE and an optional KV cache (Llama / Qwen2 layout:
// q_proj, k_proj, v_proj, o_proj). Unpadded and left-padded batches run the fused attention kernel (left padding
// as per-row key starts); other padding runs an equivalent composition that adds a mask (the kernel has no mask
// argument).
import type { Float32MatmulPrecision } from '../backend/backend.js';
import { add, mul } from '../ops/elementwise.js';
import { matmul } from '../ops/matmul.js';
import { applyRotary, scaledDotProductAttention, softmax } from '../ops/nn.js';
import { reshape, transpose, unsqueeze } from '../ops/shape.js';
import { formatShape, type Tensor } from '../tensor.js';
import type { KVCache } from './kv-cache.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

/** What every layer of one forward shares: rotary tables, positions, the mask, the cache. */
export interface AttentionContext {
  cos: Tensor;
  sin: Tensor;
  /** int32 [T] (same for every sequence) or [B, T]. */
  positions: Tensor;
  /**
   * Additive mask (B, 1, Tq, Tk) with 0 where a query may read a key and a large negative value elsewhere
   * (causal and padding together), or null for plain causal attention, or left padding given as keyStart alone,
   * on the fused kernel.
   */
  bias: Tensor | null;
  /**
   * Left padding: int32 (B), each row's first real key among the past + T, for the fused kernel (which then needs
   * no bias; `bias` is still set for a bfloat16 cache's decode kernel). Null when unpadded or not left padding.
   */
  keyStart: Tensor | null;
  cache: KVCache | null;
  /** Positions already in the cache before this forward. */
  past: number;
  /** Precision of every matrix product of the forward (and of its backward). */
  precision: Float32MatmulPrecision;
}

export interface AttentionOptions {
  hiddenSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  qkvBias?: boolean;
  oBias?: boolean;
  std?: number;
}

/**
 * softmax(scale q k^T + bias) v for q [B, Hq, Tq, D], k and v [B, Hkv, Tk, D], bias (B, 1, Tq, Tk): the
 * fused kernel's math with a mask, composed from differentiable ops. Query heads are grouped over their kv
 * head as a broadcast batch dim (G = Hq / Hkv), so no key or value is copied.
 */
export function maskedAttention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor, scale: number, precision?: Float32MatmulPrecision): Tensor {
  const [B, Hq, Tq, D] = q.shape;
  const [, Hkv, Tk] = k.shape;
  const G = Hq / Hkv;
  const q5 = reshape(q, [B, Hkv, G, Tq, D]); // a view: Hq splits into (Hkv, G)
  const k5 = unsqueeze(k, 2); // (B, Hkv, 1, Tk, D), broadcast over G by matmul
  const v5 = unsqueeze(v, 2);
  const scores = reshape(matmul(q5, transpose(k5, -2, -1), { precision }), [B, Hq, Tq, Tk]);
  const p = softmax(add(mul(scores, scale), bias), -1); // bias broadcasts over heads
  const o = matmul(reshape(p, [B, Hkv, G, Tq, Tk]), v5, { precision }); // (B, Hkv, G, Tq, D)
  return reshape(o, [B, Hq, Tq, D]);
}

export class Attention extends Module {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly o_proj: Linear;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;

  constructor(o: AttentionOptions) {
    super();
    this.numHeads = o.numHeads;
    this.numKvHeads = o.numKvHeads;
    this.headDim = o.headDim;
    const lin = (i: number, out: number, bias: boolean) => new Linear(i, out, { bias, std: o.std });
    this.q_proj = this.registerModule('q_proj', lin(o.hiddenSize, o.numHeads * o.headDim, o.qkvBias ?? false));
    this.k_proj = this.registerModule('k_proj', lin(o.hiddenSize, o.numKvHeads * o.headDim, o.qkvBias ?? false));
    this.v_proj = this.registerModule('v_proj', lin(o.hiddenSize, o.numKvHeads * o.headDim, o.qkvBias ?? false));
    this.o_proj = this.registerModule('o_proj', lin(o.numHeads * o.headDim, o.hiddenSize, o.oBias ?? false));
  }

  /** x (B, T, C) -> (B, T, C); `layer` indexes this layer's slot in the cache. */
  forward(x: Tensor, ctx: AttentionContext, layer: number): Tensor {
    const [B, T] = x.shape;
    const [H, Hkv, D] = [this.numHeads, this.numKvHeads, this.headDim];
    const precision = ctx.precision;
    const q = applyRotary(reshape(this.q_proj.forward(x, precision), [B, T, H, D]), ctx.cos, ctx.sin, ctx.positions);
    const k = applyRotary(reshape(this.k_proj.forward(x, precision), [B, T, Hkv, D]), ctx.cos, ctx.sin, ctx.positions);
    const v = reshape(this.v_proj.forward(x, precision), [B, T, Hkv, D]);
    let keys = transpose(k, 1, 2); // (B, Hkv, T, D) views
    let values = transpose(v, 1, 2);
    if (ctx.cache) {
      const cache = ctx.cache;
      const Tk = ctx.past + T;
      // NOTE: cache writes are raw copies: gradients do not flow through cached keys and values.
      cache.write(layer, ctx.past, k, v);
      if (cache.decodes(T, q)) {
        return this.o_proj.forward(reshape(cache.attend(layer, q, Tk, ctx.bias, 1 / Math.sqrt(D)), [B, T, H * D]), precision);
      }
      // A prefill attends to the fresh float32 keys; later chunks read the cache (copies when it is bfloat16).
      if (ctx.past > 0 || cache.dtype === 'float32') ({ keys, values } = cache.read(layer, Tk));
    }
    const qh = transpose(q, 1, 2); // (B, H, T, D)
    const o = ctx.bias && !ctx.keyStart
      ? maskedAttention(qh, keys, values, ctx.bias, 1 / Math.sqrt(D), precision)
      : scaledDotProductAttention(qh, keys, values, { causal: true, precision, ...(ctx.keyStart ? { keyStart: ctx.keyStart } : {}) });
    return this.o_proj.forward(reshape(transpose(o, 1, 2), [B, T, H * D]), precision);
  }
}
