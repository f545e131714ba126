// Optimization: optimizers (AdamW on the fused native update, SGD), learning-rate schedules, gradient
// clipping and accumulation helpers.
export { Optimizer, zeroGrad, type OptimizerStateDict, type ParamGroup, type ParamGroupInput, type ParamState } from './optimizer.js';
export { AdamW, ADAMW_DEFAULTS, type AdamWOptions, type AdamWState } from './adamw.js';
export { SGD, SGD_DEFAULTS, type SGDOptions, type SGDState } from './sgd.js';
export { constantSchedule, linearWarmupSchedule, linearSchedule, cosineSchedule, getSchedule, LRScheduler,
  type LrSchedule, type WarmupOptions, type DecayOptions, type CosineOptions, type ScheduleName } from './schedules.js';
export { clipGradNorm, scaleGrads, type ClipGradNormOptions } from './clip.js';
