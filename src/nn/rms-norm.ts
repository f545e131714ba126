// RMSNorm over the last dim with a learned scale (initialized to 1): x / sqrt(mean(x^2) + eps) * weight.
import { ones } from '../ops/creation.js';
import { rmsNorm } from '../ops/nn.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

export class RMSNorm extends Module {
  readonly weight: Tensor;

  constructor(readonly dim: number, readonly eps = 1e-6) {
    super();
    this.weight = this.registerParameter('weight', ones([dim]));
  }

  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }
}
