// The part of a checkpoint every trainer writes: model, optimizer, scheduler, RNG, step, config and the data
// order (plus trainer-specific extras), so a resumed trainer continues bit-identically.
import { type HasStateDict, loadCheckpoint, saveCheckpoint, type Stateful } from '../io/checkpoint.js';
import type { RandomGenerator, RngState } from '../ops/creation.js';
import type { Tensor } from '../tensor.js';
import type { DataOrder } from './data-order.js';

export interface TrainerParts {
  model: HasStateDict & { loadStateDict(stateDict: Record<string, Tensor>): unknown };
  optimizer: Stateful;
  scheduler: Stateful;
  data: DataOrder;
  /** The trainer's own sampling generator, when it draws random numbers (saved as extra.generator). */
  generator?: RandomGenerator;
}

export function saveTrainerCheckpoint(dir: string, parts: TrainerParts, step: number, config: unknown, extra: Record<string, unknown> = {}): void {
  saveCheckpoint(dir, { model: parts.model, optimizer: parts.optimizer, scheduler: parts.scheduler, step, config,
    extra: { ...parts.data.state(), ...(parts.generator ? { generator: parts.generator.getState() } : {}), ...extra } });
}

/** Restores what saveTrainerCheckpoint wrote (`owner` names the trainer in errors); returns the step and the extras. */
export function loadTrainerCheckpoint(dir: string, parts: TrainerParts, owner: string): { step: number; extra: Record<string, unknown> | null } {
  // Trainers draw only from their own generators, so resuming one leaves the process-wide generator alone.
  const info = loadCheckpoint(dir, { model: parts.model, optimizer: parts.optimizer, scheduler: parts.scheduler, restoreRng: false });
  parts.data.restore(info.extra, owner, dir);
  if (parts.generator) {
    const state = (info.extra as { generator?: RngState } | null)?.generator;
    if (state === undefined) throw new Error(`${owner}.resume: ${dir} has no sampling-generator state`);
    parts.generator.setState(state);
  }
  return { step: info.step, extra: info.extra as Record<string, unknown> | null };
}
