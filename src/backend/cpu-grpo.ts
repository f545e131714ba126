// The CPU backend's GRPO kernels (native/binding/grpo.cc): selective log-softmax forward and backward straight
// from (N, V) logits, the per-token policy loss with its metrics and d loss/d lp, and group advantages.
import { native } from '../native.js';
import type { GrpoPrimitives, TensorView } from './backend.js';

const id = (t: TensorView): number => t.storage.id;
const optId = (t: TensorView | null): number | null => (t ? t.storage.id : null);

export const cpuGrpo: GrpoPrimitives = {
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
  groupAdvantages(advantages, totals, rewards, weights, N, R, G, scaleRewards) {
    return native.groupAdvantages(rewards, weights, N, R, G, scaleRewards, id(advantages), optId(totals));
  },
};
