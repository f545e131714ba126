// SwiGLU feed-forward block: down_proj(silu(gate_proj(x)) * up_proj(x)), the gating fused into one op.
import type { Float32MatmulPrecision } from '../backend/backend.js';
import { swiglu } from '../ops/nn.js';
import type { Tensor } from '../tensor.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

export class SwiGLUMLP extends Module {
  readonly gate_proj: Linear;
  readonly up_proj: Linear;
  readonly down_proj: Linear;

  constructor(hiddenSize: number, intermediateSize: number, options: { bias?: boolean; std?: number } = {}) {
    super();
    const o = { bias: options.bias ?? false, std: options.std };
    this.gate_proj = this.registerModule('gate_proj', new Linear(hiddenSize, intermediateSize, o));
    this.up_proj = this.registerModule('up_proj', new Linear(hiddenSize, intermediateSize, o));
    this.down_proj = this.registerModule('down_proj', new Linear(intermediateSize, hiddenSize, o));
  }

  /** x (..., C) -> (..., C); `precision` of the products (default: the process default). */
  forward(x: Tensor, precision?: Float32MatmulPrecision): Tensor {
    return this.down_proj.forward(swiglu(this.gate_proj.forward(x, precision), this.up_proj.forward(x, precision)), precision);
  }
}
