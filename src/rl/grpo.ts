// The GRPO building blocks from logits: selective log-softmax, the policy loss, group advantages.
export { selectiveLogSoftmax, selectiveLogSoftmaxWithEntropy, type SelectiveLogSoftmaxOptions } from './selective-log-softmax.js';
export { grpoLoss, type GrpoLossInputs, type GrpoLossOptions, type GrpoLossType, type GrpoMetrics } from './grpo-loss.js';
export { groupAdvantages, type GroupAdvantagesOptions, type GroupAdvantagesResult } from './advantages.js';
