// The GRPO policy loss from per-token log-probs: clipped importance-ratio surrogate (token- or sequence-
// level ratios), optional k3 KL to a reference policy, masked aggregation by loss type, TRL's metrics.
import { record } from '../autograd/function.js';
import type { GrpoLossKernelOptions } from '../backend/backend.js';
import { formatShape, Tensor } from '../tensor.js';
import { mul } from '../ops/elementwise.js';
import { sameDevice } from '../tensor-util.js';
import { flatOf, release } from './selective-log-softmax.js';

export type GrpoLossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo';

export interface GrpoLossInputs {
  /** Log-probs under the policy that sampled the completions [B, L]; omitted = logps detached (ratio 1). */
  oldLogps?: Tensor | null;
  /** Log-probs under the reference model [B, L]; needed when beta > 0. */
  refLogps?: Tensor | null;
  /** Advantages per sequence [B] or per token [B, L]. */
  advantages: Tensor;
  /** Completion mask [B, L]: 1 for completion tokens, 0 for padding. */
  mask: Tensor;
  /** Per-token entropy [B, L], only for the 'entropy' metric. */
  entropy?: Tensor | null;
}

export interface GrpoLossOptions {
  /**
   * 'grpo': mean over sequences of each sequence's masked token mean (default); 'bnpo': masked token mean
   * over the batch; 'dr_grpo': masked sum / (B * maxCompletionLength); 'dapo': masked sum / numItemsInBatch.
   */
  lossType?: GrpoLossType;
  /** 'token' (default): ratio per token; 'sequence' (GSPO): exp of the masked mean log-ratio per sequence. */
  importanceSampling?: 'token' | 'sequence';
  /** Clip range [1 - epsLow, 1 + epsHigh]. Defaults 0.2 and epsLow. */
  epsLow?: number;
  epsHigh?: number;
  /** KL coefficient (k3 estimator). Default 0. */
  beta?: number;
  /** dapo: active tokens in the whole generation batch (stays right across micro-batches). Default: this batch's. */
  numItemsInBatch?: number;
  /** dr_grpo: the maximum completion length. Default L. */
  maxCompletionLength?: number;
}

/** TRL's metric names; masked token means over this batch (min/max equal the mean in one process). */
export interface GrpoMetrics {
  'clip_ratio/low_mean': number;
  'clip_ratio/low_min': number;
  'clip_ratio/high_mean': number;
  'clip_ratio/high_max': number;
  'clip_ratio/region_mean': number;
  kl: number;
  entropy: number;
  'ratio/mean': number;
  num_tokens: number;
}

function checkTensor(op: string, name: string, t: unknown, shape: readonly number[]): Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${op}: ${name} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
  t.assertLive(op);
  if (t.dtype !== 'float32') throw new TypeError(`${op}: ${name} must be float32, got ${t.dtype}`);
  if (t.ndim !== shape.length || t.shape.some((s, i) => s !== shape[i]))
    throw new RangeError(`${op}: ${name} ${formatShape(t.shape)} must be ${formatShape(shape)}`);
  return t;
}

/**
 * The GRPO loss (TRL's GRPOTrainer objective) from policy log-probs `logps` [B, L]:
 * ratio = exp(clamp(logps - oldLogps, -20, 20)); l = -min(ratio A, clip(ratio, 1-epsLow, 1+epsHigh) A)
 * + beta (exp(ref - lp) - (ref - lp) - 1); aggregated over the mask by `lossType`. Returns the scalar
 * loss (differentiable w.r.t. logps only; the other inputs are constants) and the metrics.
 */
export function grpoLoss(logps: Tensor, inputs: GrpoLossInputs, options: GrpoLossOptions = {}): { loss: Tensor; metrics: GrpoMetrics } {
  const op = 'grpoLoss';
  if (!(logps instanceof Tensor)) throw new TypeError(`${op}: logps must be a Tensor`);
  if (logps.ndim !== 2) throw new RangeError(`${op}: logps must be [B, L], got ${formatShape(logps.shape)}`);
  const [B, L] = logps.shape;
  checkTensor(op, 'logps', logps, [B, L]);
  if (inputs === null || typeof inputs !== 'object') throw new TypeError(`${op}: inputs must be an object`);
  const old = inputs.oldLogps ? checkTensor(op, 'oldLogps', inputs.oldLogps, [B, L]) : null;
  const ref = inputs.refLogps ? checkTensor(op, 'refLogps', inputs.refLogps, [B, L]) : null;
  const mask = checkTensor(op, 'mask', inputs.mask, [B, L]);
  const ent = inputs.entropy ? checkTensor(op, 'entropy', inputs.entropy, [B, L]) : null;
  const advIn = inputs.advantages;
  if (!(advIn instanceof Tensor)) throw new TypeError(`${op}: advantages must be a Tensor`);
  const perToken = advIn.ndim === 2;
  const adv = checkTensor(op, 'advantages', advIn, perToken ? [B, L] : [B]);
  const lossType = options.lossType ?? 'grpo';
  if (!['grpo', 'bnpo', 'dr_grpo', 'dapo'].includes(lossType))
    throw new RangeError(`${op}: lossType must be 'grpo', 'bnpo', 'dr_grpo' or 'dapo', got '${String(lossType)}'`);
  const epsLow = options.epsLow ?? 0.2;
  const kopts: GrpoLossKernelOptions = {
    lossType,
    importanceSampling: options.importanceSampling ?? 'token',
    epsLow,
    epsHigh: options.epsHigh ?? epsLow,
    beta: options.beta ?? 0,
    normalizer: options.numItemsInBatch ?? 0,
    maxCompletionLength: options.maxCompletionLength ?? 0,
  };
  if (kopts.beta > 0 && !ref) throw new TypeError(`${op}: beta > 0 needs inputs.refLogps [${B}, ${L}]`);
  sameDevice(op, ...[logps, old, ref, adv, mask, ent].filter((t): t is Tensor => t !== null));
  const backend = logps.backend;
  const flats = [logps, old, ref, adv, mask, ent].map((t) => (t ? flatOf(t) : null));
  const [lpC, oldC, refC, advC, maskC, entC] = flats;
  const dlp = logps.requiresGrad ? Tensor.empty([B, L], 'float32', logps.device) : null;
  let r;
  try {
    r = backend.grpoLossForward(dlp, lpC!, oldC, refC, advC!, perToken, maskC!, entC, B, L, kopts);
  } catch (e) {
    dlp?.dispose();
    throw e;
  } finally {
    [logps, old, ref, adv, mask, ent].forEach((t, i) => release(flats[i], t));
  }
  const value = Tensor.empty([], 'float32', logps.device);
  value.backend.write(value.storage.id, 0, new Float32Array([r.loss]));
  // d loss / d logps = g * dlp (dlp computed by the forward kernel)
  const loss = dlp ? record(op, [logps], value, (g) => [mul(dlp, g)], [dlp]) : value;
  if (dlp && !loss.gradFn) dlp.dispose();
  const metrics: GrpoMetrics = {
    'clip_ratio/low_mean': r.clipLow,
    'clip_ratio/low_min': r.clipLow,
    'clip_ratio/high_mean': r.clipHigh,
    'clip_ratio/high_max': r.clipHigh,
    'clip_ratio/region_mean': r.clipRegion,
    kl: r.kl,
    entropy: r.entropy,
    'ratio/mean': r.ratio,
    num_tokens: r.tokens,
  };
  return { loss, metrics };
}
