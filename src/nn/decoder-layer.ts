// One pre-norm decoder block: x + attn(input_layernorm(x)), then x + mlp(post_attention_layernorm(x)).
import { add } from '../ops/elementwise.js';
import type { Tensor } from '../tensor.js';
import { Attention, type AttentionContext } from './attention.js';
import type { LlamaConfig } from './config.js';
import { SwiGLUMLP } from './mlp.js';
import { Module } from './module.js';
import { RMSNorm } from './rms-norm.js';

export class DecoderLayer extends Module {
  readonly self_attn: Attention;
  readonly mlp: SwiGLUMLP;
  readonly input_layernorm: RMSNorm;
  readonly post_attention_layernorm: RMSNorm;

  constructor(c: LlamaConfig) {
    super();
    const std = c.initializerRange;
    this.self_attn = this.registerModule('self_attn', new Attention({
      hiddenSize: c.hiddenSize, numHeads: c.numAttentionHeads, numKvHeads: c.numKeyValueHeads, headDim: c.headDim,
      qkvBias: c.qkvBias, oBias: c.oBias, std,
    }));
    this.mlp = this.registerModule('mlp', new SwiGLUMLP(c.hiddenSize, c.intermediateSize, { bias: c.mlpBias, std }));
    this.input_layernorm = this.registerModule('input_layernorm', new RMSNorm(c.hiddenSize, c.rmsNormEps));
    this.post_attention_layernorm = this.registerModule('post_attention_layernorm', new RMSNorm(c.hiddenSize, c.rmsNormEps));
  }

  /** x (B, T, C) -> (B, T, C). */
  forward(x: Tensor, ctx: AttentionContext, layer: number): Tensor {
    const h = add(x, this.self_attn.forward(this.input_layernorm.forward(x), ctx, layer));
    return add(h, this.mlp.forward(this.post_attention_layernorm.forward(h), ctx.precision));
  }
}
