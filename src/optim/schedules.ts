// Learning-rate schedules as pure functions of the step returning a multiplier of the base lr (the same
// lambdas as transformers' get_*_schedule_with_warmup), and LRScheduler, which applies one to an optimizer.

/** step (0-based count of optimizer steps taken) -> multiplier of each group's base lr. */
export type LrSchedule = (step: number) => number;

export interface WarmupOptions {
  /** Steps of linear warmup from 0 to 1: multiplier step / warmupSteps. Default 0. */
  warmupSteps?: number;
}

export interface DecayOptions extends WarmupOptions {
  /** Total optimizer steps of the run; the decay ends here. */
  totalSteps: number;
}

export interface CosineOptions extends DecayOptions {
  /** Cosine waves over the decay; 0.5 goes from 1 down to the minimum once. Default 0.5. */
  numCycles?: number;
  /** Floor as a fraction of the base lr (transformers' min_lr_rate). Default 0. */
  minLrRatio?: number;
}

function count(op: string, name: string, v: unknown, fallback?: number): number {
  const x = v === undefined ? fallback : v;
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) throw new RangeError(`${op}: ${name} must be an integer >= 0, got ${v}`);
  return x;
}

function checkStep(step: number): void {
  if (typeof step !== 'number' || !Number.isFinite(step) || step < 0) throw new RangeError(`lr schedule: step must be a number >= 0, got ${step}`);
}

/** Multiplier 1 at every step. */
export function constantSchedule(): LrSchedule {
  return (step) => (checkStep(step), 1);
}

/** Linear warmup to 1 over warmupSteps, then 1 (transformers' constant_with_warmup). */
export function linearWarmupSchedule(options: WarmupOptions = {}): LrSchedule {
  const warmup = count('linearWarmupSchedule', 'warmupSteps', options.warmupSteps, 0);
  return (step) => (checkStep(step), step < warmup ? step / Math.max(1, warmup) : 1);
}

/** Linear warmup, then linear decay to 0 at totalSteps (transformers' linear). */
export function linearSchedule(options: DecayOptions): LrSchedule {
  const warmup = count('linearSchedule', 'warmupSteps', options.warmupSteps, 0);
  const total = count('linearSchedule', 'totalSteps', options.totalSteps);
  return (step) => {
    checkStep(step);
    if (step < warmup) return step / Math.max(1, warmup);
    return Math.max(0, (total - step) / Math.max(1, total - warmup));
  };
}

/**
 * Linear warmup, then a cosine from 1 to minLrRatio over the remaining steps (transformers' cosine and
 * cosine_with_min_lr): f = 0.5 (1 + cos(2 pi numCycles progress)); multiplier = minLrRatio + (1 - minLrRatio) f.
 * NOTE: progress is clamped to 1, so steps past totalSteps stay at the floor (transformers lets the wave rise again).
 */
export function cosineSchedule(options: CosineOptions): LrSchedule {
  const warmup = count('cosineSchedule', 'warmupSteps', options.warmupSteps, 0);
  const total = count('cosineSchedule', 'totalSteps', options.totalSteps);
  const cycles = options.numCycles ?? 0.5;
  const floor = options.minLrRatio ?? 0;
  if (!(cycles > 0) || !Number.isFinite(cycles)) throw new RangeError(`cosineSchedule: numCycles must be > 0, got ${cycles}`);
  if (!(floor >= 0 && floor <= 1)) throw new RangeError(`cosineSchedule: minLrRatio must be in [0, 1], got ${floor}`);
  return (step) => {
    checkStep(step);
    if (step < warmup) return step / Math.max(1, warmup);
    const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
    const f = 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress));
    return Math.max(0, f * (1 - floor) + floor);
  };
}

export type ScheduleName = 'constant' | 'constant_with_warmup' | 'linear' | 'cosine' | 'cosine_with_min_lr';

/** A schedule by its transformers/TRL name (lr_scheduler_type). */
export function getSchedule(name: ScheduleName, options: Partial<CosineOptions> = {}): LrSchedule {
  switch (name) {
    case 'constant': return constantSchedule();
    case 'constant_with_warmup': return linearWarmupSchedule(options);
    case 'linear': return linearSchedule(options as DecayOptions);
    case 'cosine': return cosineSchedule({ ...options, minLrRatio: 0 } as CosineOptions);
    case 'cosine_with_min_lr': return cosineSchedule(options as CosineOptions);
    default: throw new RangeError(`getSchedule: unknown schedule '${String(name)}' (constant, constant_with_warmup, linear, cosine, cosine_with_min_lr)`);
  }
}

/**
 * Applies a schedule to an optimizer's groups: lr = baseLr * schedule(step). Like torch's LambdaLR, the
 * constructor sets the step-0 lr, and `step()` (call it after each optimizer.step()) advances by one.
 */
export class LRScheduler {
  readonly baseLrs: number[];
  private stepCount = 0;

  constructor(readonly optimizer: { paramGroups: { lr: number }[] }, readonly schedule: LrSchedule) {
    if (typeof schedule !== 'function') throw new TypeError('LRScheduler: schedule must be a function of the step');
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.apply();
  }

  /** Optimizer steps taken so far (the argument of the schedule now in effect). */
  get lastStep(): number {
    return this.stepCount;
  }

  step(): void {
    this.stepCount++;
    this.apply();
  }

  /** Each group's current lr. */
  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  private apply(): void {
    const factor = this.schedule(this.stepCount);
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = this.baseLrs[i] * factor));
  }

  stateDict(): { step: number; baseLrs: number[] } {
    return { step: this.stepCount, baseLrs: [...this.baseLrs] };
  }

  loadStateDict(sd: { step: number; baseLrs: number[] }): void {
    if (!sd || !Number.isInteger(sd.step) || sd.step < 0) throw new RangeError(`LRScheduler.loadStateDict: invalid step ${sd?.step}`);
    if (!Array.isArray(sd.baseLrs) || sd.baseLrs.length !== this.baseLrs.length) throw new RangeError('LRScheduler.loadStateDict: baseLrs do not match the param groups');
    this.baseLrs.splice(0, this.baseLrs.length, ...sd.baseLrs);
    this.stepCount = sd.step;
    this.apply();
  }
}
