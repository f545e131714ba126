// Global gradient-norm clipping (torch.nn.utils.clip_grad_norm_) and in-place gradient scaling, the
// helper for gradient accumulation.
import { noGrad } from '../autograd/grad-mode.js';
import { tidy } from '../autograd/tidy.js';
import { mul } from '../ops/elementwise.js';
import { Tensor } from '../tensor.js';
import { assign } from './optimizer.js';

export interface ClipGradNormOptions {
  /** 2 (default) for the L2 norm, Infinity for the largest |g|. */
  normType?: 2 | number;
  /** Throw when the total norm is NaN or infinite instead of returning it. Default false. */
  errorIfNonfinite?: boolean;
}

function gradsOf(params: Tensor | Iterable<Tensor>): Tensor[] {
  const list = params instanceof Tensor ? [params] : [...params];
  return list.filter((p) => {
    if (!(p instanceof Tensor)) throw new TypeError('clipGradNorm: params must be Tensors');
    return p.grad !== null;
  }).map((p) => p.grad!.assertLive('clipGradNorm'));
}

/**
 * Scales all gradients in place so that their global norm (L2 over every element of every .grad, as if
 * concatenated) is at most maxNorm: g *= maxNorm / (norm + 1e-6) when that factor is < 1. Returns the norm
 * before clipping (0 when no parameter has a gradient).
 * NaN/Inf: a non-finite norm leaves the gradients untouched and is returned (so the caller can skip the
 * step, e.g. `if (!Number.isFinite(norm)) optimizer.zeroGrad()`), or throws with errorIfNonfinite. (PyTorch
 * would multiply every gradient by the non-finite factor, poisoning the weights.)
 */
export function clipGradNorm(params: Tensor | Iterable<Tensor>, maxNorm: number, options: ClipGradNormOptions = {}): number {
  if (typeof maxNorm !== 'number' || !(maxNorm >= 0)) throw new RangeError(`clipGradNorm: maxNorm must be >= 0, got ${maxNorm}`);
  const normType = options.normType ?? 2;
  if (normType !== 2 && normType !== Infinity) throw new RangeError(`clipGradNorm: normType must be 2 or Infinity, got ${normType}`);
  const grads = gradsOf(params);
  if (grads.length === 0) return 0;
  // Per-gradient partial sums come back to JS and are combined in float64.
  let total = 0;
  noGrad(() => tidy(() => {
    for (const g of grads) {
      if (g.numel === 0) continue;
      if (normType === 2) total += g.square().sum().item();
      else total = Math.max(total, g.abs().max().item());
    }
  }));
  if (normType === 2) total = Math.sqrt(total);
  if (!Number.isFinite(total)) {
    if (options.errorIfNonfinite) throw new Error(`clipGradNorm: the total gradient norm is ${total}`);
    return total;
  }
  const coef = maxNorm / (total + 1e-6);
  if (coef < 1) scaleInPlace(grads, coef);
  return total;
}

/**
 * Multiplies every parameter's .grad by `factor` in place. Gradient accumulation: backward() adds into
 * .grad, so run backward on each of N micro-batches (each loss already divided by N, or call
 * `scaleGrads(params, 1 / N)` once afterwards), then clip, step and zeroGrad once:
 *   for (const mb of microBatches) tg.tidy(() => lossOf(mb).div(N).backward());
 *   clipGradNorm(params, 1.0); optimizer.step(); optimizer.zeroGrad();
 */
export function scaleGrads(params: Tensor | Iterable<Tensor>, factor: number): void {
  if (typeof factor !== 'number' || Number.isNaN(factor)) throw new RangeError(`scaleGrads: factor must be a number, got ${factor}`);
  scaleInPlace(gradsOf(params), factor);
}

function scaleInPlace(grads: Tensor[], factor: number): void {
  noGrad(() => {
    for (const g of grads) tidy(() => assign(g, mul(g, factor)));
  });
}
