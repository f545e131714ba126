// Token embedding table (V, C): int32 ids (...) -> vectors (..., C).
import { embedding } from '../ops/index.js';
import { initNormal } from './init.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

export interface EmbeddingOptions {
  /** Standard deviation of the normal init. Default 1 (torch's). */
  std?: number;
}

export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, options: EmbeddingOptions = {}) {
    super();
    if (!Number.isInteger(numEmbeddings) || numEmbeddings < 1 || !Number.isInteger(embeddingDim) || embeddingDim < 1)
      throw new RangeError(`Embedding: sizes must be positive integers, got (${numEmbeddings}, ${embeddingDim})`);
    this.weight = this.registerParameter('weight', initNormal([numEmbeddings, embeddingDim], options.std ?? 1));
  }

  /** ids: int32 (...) -> (..., C). */
  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids);
  }
}
