// The transformers TrainingArguments options that every trainer config (SFT, GRPO, reward) takes in the same
// form: AdamW's betas and epsilon, warmup as a share of the run and how many checkpoints to keep; their checks
// and defaults (written once), and the AdamW and LR scheduler each trainer builds from its config.
import type { Device } from '../backend/backend.js';
import { resolveDevice } from '../backend/registry.js';
import type { Module } from '../nn/module.js';
import { AdamW } from '../optim/adamw.js';
import { clipGradNorm } from '../optim/clip.js';
import { getSchedule, LRScheduler, type ScheduleName } from '../optim/schedules.js';
import type { Tensor } from '../tensor.js';
import type { FieldSpec } from './config.js';

/** Options of transformers' TrainingArguments that SFTConfig, GRPOConfig and RewardConfig all take, with its defaults. */
export interface TrainingArgs {
  /** transformers' adam_beta1: AdamW's first-moment decay rate, in [0, 1). Default 0.9. */
  adamBeta1: number;
  /** transformers' adam_beta2: AdamW's second-moment decay rate, in [0, 1). Default 0.999. */
  adamBeta2: number;
  /** transformers' adam_epsilon: AdamW's eps, added to sqrt(v_hat); >= 0. Default 1e-8. */
  adamEpsilon: number;
  /**
   * transformers' warmup_ratio: when warmupSteps is 0, the LR warms up linearly over ceil(warmupRatio x total
   * optimizer steps) steps (GRPO: maxSteps x numIterations); in [0, 1]. Default 0.
   */
  warmupRatio: number;
  /**
   * transformers' save_total_limit: after each checkpoint written into outputDir, the oldest `checkpoint-<step>`
   * folders there (by step) beyond this many are deleted, never the one just written; null keeps all. Default null.
   */
  saveTotalLimit: number | null;
  /**
   * Where the models, their gradients and the optimizer state live during training: 'cuda', 'cpu', or 'auto' (a
   * GPU when one is usable here, else the CPU; the CUDA emulator is never picked). The trainer moves the models
   * there in place (`model.to`), as Accelerate does for TRL; `trainer.device` says which it used. Default 'auto'.
   */
  device: 'auto' | Device;
  /**
   * transformers' gradient_checkpointing: the trainer calls the model's `gradientCheckpointingEnable()`, so each
   * decoder layer's activations are recomputed in backward instead of kept (less memory, one more forward per
   * step; generation is unchanged). False leaves the model's own setting. Default false.
   */
  gradientCheckpointing: boolean;
}

export const TRAINING_ARGS_DEFAULTS: TrainingArgs = {
  adamBeta1: 0.9, adamBeta2: 0.999, adamEpsilon: 1e-8, warmupRatio: 0, saveTotalLimit: null, device: 'auto', gradientCheckpointing: false,
};

export const TRAINING_ARGS_FIELDS: Record<keyof TrainingArgs, FieldSpec> = {
  adamBeta1: { kind: 'number', min: 0, max: 1, exclusiveMax: true }, adamBeta2: { kind: 'number', min: 0, max: 1, exclusiveMax: true },
  adamEpsilon: { kind: 'number', min: 0 }, warmupRatio: { kind: 'number', min: 0, max: 1 }, saveTotalLimit: { kind: 'int', min: 1, nullable: true },
  device: { kind: 'enum', values: ['auto', 'cpu', 'cuda'] }, gradientCheckpointing: { kind: 'bool' },
};

/**
 * The device of a trainer's `device` option ('auto': cuda on a real GPU, else cpu), with `models` moved there in
 * place, and with `bf16` their parameters converted to bfloat16 in place (the optimizer then keeps float32 master
 * weights: AdamW). An explicit 'cuda' where CUDA cannot run throws the reason.
 */
export function placeOnTrainerDevice(c: Pick<TrainingArgs, 'device'> & { bf16?: boolean }, ...models: (Module | null)[]): Device {
  const device = resolveDevice(c.device);
  for (const model of models) {
    model?.to(device);
    if (c.bf16) model?.to('bfloat16');
  }
  return device;
}

/** transformers' Trainer: `gradientCheckpointing` turns the trained model's checkpointing on (never off). */
export function applyGradientCheckpointing(c: Pick<TrainingArgs, 'gradientCheckpointing'>, model: { gradientCheckpointingEnable(): void }): void {
  if (c.gradientCheckpointing) model.gradientCheckpointingEnable();
}

/**
 * Warmup steps of a run of `totalSteps` optimizer steps (transformers' get_warmup_steps): warmupSteps when > 0,
 * else ceil(warmupRatio x totalSteps). NOTE: the product rounds as in Python (ceil(100 x 0.07) is 8 in both).
 */
export function warmupStepsOf(c: { warmupSteps: number; warmupRatio: number }, totalSteps: number): number {
  return c.warmupSteps > 0 ? c.warmupSteps : Math.ceil(totalSteps * c.warmupRatio);
}

/** The AdamW a trainer steps over `params`: its config's learning rate, weight decay, betas and epsilon. */
export function trainerOptimizer(params: Tensor[], c: TrainingArgs & { learningRate: number; weightDecay: number }): AdamW {
  return new AdamW(params, { lr: c.learningRate, weightDecay: c.weightDecay, betas: [c.adamBeta1, c.adamBeta2], eps: c.adamEpsilon });
}

/** The LR scheduler of a run of `totalSteps` optimizer steps: the config's schedule, warmup (warmupStepsOf) and floor. */
export function trainerScheduler(optimizer: AdamW, c: TrainingArgs & { lrSchedule: ScheduleName; warmupSteps: number; minLrRatio?: number },
  totalSteps: number): LRScheduler {
  return new LRScheduler(optimizer, getSchedule(c.lrSchedule, { warmupSteps: warmupStepsOf(c, totalSteps), totalSteps, minLrRatio: c.minLrRatio }));
}

/**
 * Clips the global gradient norm of `params` to maxGradNorm as transformers' Trainer does: only when
 * maxGradNorm > 0 (0 turns clipping off rather than zeroing every gradient, as torch's clip_grad_norm_ with
 * max_norm 0 would). Returns the norm before clipping, for the logs.
 */
export function clipTrainerGradients(params: Tensor[], maxGradNorm: number): number {
  return clipGradNorm(params, maxGradNorm > 0 ? maxGradNorm : Infinity);
}
