// CPU backend primitives of the fused GRPO kernels (native/binding/grpo.cc): selective log-softmax forward
// and backward straight from (N, V) logits, and the per-token policy loss with its metrics and d loss/d lp.
// Imported for its side effect by src/rl/.
import { native } from '../native.js';
import type { Tensor } from '../tensor.js';
import type { Backend } from './backend.js';
import type { GrpoLossKernelOptions, GrpoLossKernelResult } from '../native-entry-points.js';
import { cpuBackend } from './cpu.js';

export type { GrpoLossKernelOptions, GrpoLossKernelResult } from '../native-entry-points.js';

/** The GRPO primitives; optional on Backend (see `grpoBackend`). Outputs and small inputs are contiguous
 * tensors at offset 0; logits are (N, V) rows at `logits.offset` with row stride `rowStride`. */
export interface GrpoBackend {
  /** lp, lse (N) and optional entropy (N) of z = logits / T; throws on NaN/Inf rows and ids outside [0, V). */
  selectiveLogSoftmaxForward(lp: Tensor, lse: Tensor, entropy: Tensor | null, logits: Tensor, rowStride: number,
    ids: Tensor, N: number, V: number, temperature: number): void;
  /** dlogits = [glp (onehot - p) - gent p (z - lse + H)] / T; dlogits may be logits (same view: in place). */
  selectiveLogSoftmaxBackward(dlogits: Tensor, dRowStride: number, logits: Tensor, rowStride: number, ids: Tensor,
    lse: Tensor, glp: Tensor, gent: Tensor | null, entropy: Tensor | null, N: number, V: number, temperature: number): void;
  /** Scalar loss + metrics over (B, L); dlp (B, L) receives d loss / d lp when given. */
  grpoLossForward(dlp: Tensor | null, lp: Tensor, oldLp: Tensor | null, refLp: Tensor | null, adv: Tensor,
    advPerToken: boolean, mask: Tensor, entropy: Tensor | null, B: number, L: number,
    options: GrpoLossKernelOptions): GrpoLossKernelResult;
}

declare module './backend.js' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface Backend extends Partial<GrpoBackend> {}
}

/** The GRPO primitives of `b`, or a clear error when that backend lacks them. */
export function grpoBackend(b: Backend, op: string): GrpoBackend {
  if (typeof b.grpoLossForward !== 'function') throw new Error(`${op}: the ${b.device} backend has no GRPO kernels`);
  return b as Backend & GrpoBackend;
}

const id = (t: Tensor): number => t.storage.id;
const optId = (t: Tensor | null): number | null => (t ? t.storage.id : null);

Object.assign(cpuBackend, {
  selectiveLogSoftmaxForward(lp, lse, entropy, logits, rowStride, ids, N, V, temperature) {
    native.selectiveLogSoftmax(id(logits), logits.offset, rowStride, id(ids), N, V, temperature, id(lp), id(lse), optId(entropy));
  },
  selectiveLogSoftmaxBackward(dlogits, dRowStride, logits, rowStride, ids, lse, glp, gent, entropy, N, V, temperature) {
    native.selectiveLogSoftmaxBackward(id(dlogits), dlogits.offset, dRowStride, id(logits), logits.offset, rowStride,
      id(ids), id(lse), id(glp), optId(gent), optId(entropy), N, V, temperature);
  },
  grpoLossForward(dlp, lp, oldLp, refLp, adv, advPerToken, mask, entropy, B, L, options) {
    return native.grpoLoss(id(lp), optId(oldLp), optId(refLp), id(adv), advPerToken, id(mask), optId(entropy), optId(dlp),
      B, L, options);
  },
} satisfies GrpoBackend);

export { native as grpoNative };
