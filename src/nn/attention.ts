// Causal self-attention with grouped-query heads, RoPE and an optional KV cache (Llama / Qwen2 layout:
// q_proj, k_proj, v_proj, o_proj). Unpadded batches run the fused attention kernel; batches with padded
// keys run an equivalent composition that adds a mask (the kernel has no mask argument).
import { noGrad } from '../autograd/grad-mode.js';
import { keep } from '../autograd/tidy.js';
import { empty } from '../ops/creation.js';
import { add, mul } from '../ops/elementwise.js';
import { matmul } from '../ops/matmul.js';
import { applyRotary, scaledDotProductAttention, softmax } from '../ops/nn.js';
import { reshape, transpose, unsqueeze } from '../ops/shape.js';
import { formatShape, type Tensor } from '../tensor.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

/**
 * Preallocated keys and values of every layer, (B, Hkv, maxLength, D) each, filled left to right. `length`
 * is the number of positions written so far (the model advances it after each forward). Slots are left
 * uninitialized: each is written before any query reads it.
 */
export class KVCache {
  readonly layers: { k: Tensor; v: Tensor }[];
  length = 0;

  constructor(readonly numLayers: number, readonly batch: number, readonly kvHeads: number, readonly maxLength: number, readonly headDim: number) {
    this.layers = Array.from({ length: numLayers }, () => ({
      k: keep(empty([batch, kvHeads, maxLength, headDim])),
      v: keep(empty([batch, kvHeads, maxLength, headDim])),
    }));
  }

  dispose(): void {
    for (const l of this.layers) {
      l.k.dispose();
      l.v.dispose();
    }
  }
}

/** What every layer of one forward shares: rotary tables, positions, the mask, the cache. */
export interface AttentionContext {
  cos: Tensor;
  sin: Tensor;
  /** int32 [T] (same for every sequence) or [B, T]. */
  positions: Tensor;
  /**
   * Additive mask (B, 1, Tq, Tk) with 0 where a query may read a key and a large negative value elsewhere
   * (causal and padding together), or null for plain causal attention on the fused kernel.
   */
  bias: Tensor | null;
  cache: KVCache | null;
  /** Positions already in the cache before this forward. */
  past: number;
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
export function maskedAttention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor, scale: number): Tensor {
  const [B, Hq, Tq, D] = q.shape;
  const [, Hkv, Tk] = k.shape;
  const G = Hq / Hkv;
  const q5 = reshape(q, [B, Hkv, G, Tq, D]); // a view: Hq splits into (Hkv, G)
  const k5 = unsqueeze(k, 2); // (B, Hkv, 1, Tk, D), broadcast over G by matmul
  const v5 = unsqueeze(v, 2);
  const scores = reshape(matmul(q5, transpose(k5, -2, -1)), [B, Hq, Tq, Tk]);
  const p = softmax(add(mul(scores, scale), bias), -1); // bias broadcasts over heads
  const o = matmul(reshape(p, [B, Hkv, G, Tq, Tk]), v5); // (B, Hkv, G, Tq, D)
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
    const q = applyRotary(reshape(this.q_proj.forward(x), [B, T, H, D]), ctx.cos, ctx.sin, ctx.positions);
    const k = applyRotary(reshape(this.k_proj.forward(x), [B, T, Hkv, D]), ctx.cos, ctx.sin, ctx.positions);
    const v = reshape(this.v_proj.forward(x), [B, T, Hkv, D]);
    let keys = transpose(k, 1, 2); // (B, Hkv, T, D) views
    let values = transpose(v, 1, 2);
    if (ctx.cache) {
      const c = ctx.cache.layers[layer];
      const Tk = ctx.past + T;
      if (c.k.shape[0] !== B) throw new RangeError(`Attention: cache batch ${c.k.shape[0]} != input batch ${B} (x ${formatShape(x.shape)})`);
      if (Tk > c.k.shape[2]) throw new RangeError(`Attention: cache of ${c.k.shape[2]} positions is full (${ctx.past} + ${T})`);
      // NOTE: cache writes are raw copies: gradients do not flow through cached keys and values.
      noGrad(() => {
        for (const [dst, src] of [[c.k, keys], [c.v, values]] as const) {
          const window = dst.makeView([B, Hkv, T, D], dst.strides, ctx.past * dst.strides[2]);
          dst.backend.copy(window, src);
          window.dispose();
        }
      });
      keys = c.k.makeView([B, Hkv, Tk, D], c.k.strides, 0);
      values = c.v.makeView([B, Hkv, Tk, D], c.v.strides, 0);
    }
    const qh = transpose(q, 1, 2); // (B, H, T, D)
    const o = ctx.bias
      ? maskedAttention(qh, keys, values, ctx.bias, 1 / Math.sqrt(D))
      : scaledDotProductAttention(qh, keys, values, { causal: true });
    return this.o_proj.forward(reshape(transpose(o, 1, 2), [B, T, H * D]));
  }
}
