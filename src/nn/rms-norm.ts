// RMSNorm over the last dim with a learned scale (initialized to 1): x / sqrt(mean(x^2) + eps) * weight.
import { ones } from '../ops/creation.js';
import { rmsNorm } from '../ops/nn.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

export class RMSNorm extends Module {
  readonly weight: Tensor;

  constructor(readonly dim: number, readonly eps = 1e-6) {
    super();
    if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`RMSNorm: dim must be a positive integer, got ${dim}`);
    if (!(eps >= 0 && Number.isFinite(eps))) throw new RangeError(`RMSNorm: eps must be a finite number >= 0, got ${eps}`);
    this.weight = this.registerParameter('weight', ones([dim]));
  }

  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }
}
