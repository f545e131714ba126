// The part of a checkpoint every trainer writes: model, optimizer, scheduler, RNG, step, config and the data
// order (plus trainer-specific extras), so a resumed trainer continues bit-identically, and the pruning of old
// ones (saveTotalLimit); and what the trainers share to resume (TRL's resume_from_checkpoint) and to stop after
// a step with a checkpoint.
import * as path from 'node:path';
import { checkpointStep, type HasStateDict, latestCheckpoint, loadCheckpoint, pruneCheckpoints, saveCheckpoint, type Stateful } from '../io/checkpoint.js';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, adapterConfigJson } from '../io/peft.js';
import type { Module } from '../nn/module.js';
import type { PeftModel } from '../nn/peft-model.js';
import type { RandomGenerator, RngState } from '../ops/creation.js';
import type { Tensor } from '../tensor.js';
import type { DataOrder } from './data-order.js';
import type { LogRecord } from './logger.js';

export interface TrainerParts {
  model: HasStateDict & { loadStateDict(stateDict: Record<string, Tensor>): unknown };
  optimizer: Stateful;
  scheduler: Stateful;
  data: DataOrder;
  /** The trainer's own sampling generator, when it draws random numbers (saved as extra.generator). */
  generator?: RandomGenerator;
  /**
   * A LoRA run's adapters: the checkpoint then holds them in PEFT's files (adapter_model.safetensors,
   * adapter_config.json, as TRL's checkpoints of a peft_config run) instead of the whole model.
   */
  adapter?: PeftModel<Module> | null;
}

// What of the model a checkpoint holds: the whole model, or a LoRA run's adapter in PEFT's files.
function modelPart(parts: TrainerParts) {
  const adapter = parts.adapter;
  if (!adapter) return { model: parts.model, modelFile: undefined, files: undefined };
  return {
    model: { stateDict: () => adapter.adapterStateDict(), loadStateDict: (sd: Record<string, Tensor>) => adapter.loadAdapterStateDict(sd) },
    modelFile: ADAPTER_WEIGHTS_FILE,
    files: { [ADAPTER_CONFIG_FILE]: `${JSON.stringify(adapterConfigJson(adapter.peftConfig), null, 2)}\n` },
  };
}

/** What of a trainer's config decides where old checkpoints are pruned (the whole config is saved). */
export interface CheckpointConfig {
  outputDir: string | null;
  saveTotalLimit: number | null;
}

/**
 * Saves a trainer checkpoint in `dir`; when `dir` is a `checkpoint-<step>` folder directly inside
 * config.outputDir and config.saveTotalLimit is set, then deletes the oldest checkpoints there beyond the limit
 * (pruneCheckpoints), never `dir`.
 */
export function saveTrainerCheckpoint(dir: string, parts: TrainerParts, step: number, config: CheckpointConfig, extra: Record<string, unknown> = {}): void {
  saveCheckpoint(dir, { ...modelPart(parts), optimizer: parts.optimizer, scheduler: parts.scheduler, step, config,
    extra: { ...parts.data.state(), ...(parts.generator ? { generator: parts.generator.getState() } : {}), ...extra } });
  const { outputDir, saveTotalLimit } = config;
  if (outputDir && saveTotalLimit !== null && checkpointStep(dir) !== null && path.resolve(path.dirname(dir)) === path.resolve(outputDir)) {
    pruneCheckpoints(outputDir, saveTotalLimit, dir);
  }
}

/** Restores what saveTrainerCheckpoint wrote (`owner` names the trainer in errors); returns the step and the extras. */
export function loadTrainerCheckpoint(dir: string, parts: TrainerParts, owner: string): { step: number; extra: Record<string, unknown> | null } {
  // Trainers draw only from their own generators, so resuming one leaves the process-wide generator alone.
  const { model, modelFile } = modelPart(parts);
  const info = loadCheckpoint(dir, { model, modelFile, optimizer: parts.optimizer, scheduler: parts.scheduler, restoreRng: false });
  parts.data.restore(info.extra, owner, dir);
  if (parts.generator) {
    const state = (info.extra as { generator?: RngState } | null)?.generator;
    if (state === undefined) throw new Error(`${owner}.resume: ${dir} has no sampling-generator state`);
    parts.generator.setState(state);
  }
  return { step: info.step, extra: info.extra as Record<string, unknown> | null };
}

/** Options of a trainer's train(): TRL's resume_from_checkpoint, a stop signal, progress. */
export interface TrainOptions<L> {
  /** true: the newest complete checkpoint in config.outputDir (latestCheckpoint); a string: that checkpoint folder. */
  resumeFromCheckpoint?: boolean | string;
  /** Aborting it stops training after the step in progress, as trainer.stop() does. */
  signal?: AbortSignal;
  /** After every step, with the step's log (null on steps that log nothing). */
  onProgress?: (step: number, total: number, log: L) => void;
  /** Stop at this step instead of maxSteps (no checkpoint is written for it unless saveEvery says so). */
  untilStep?: number;
}

/** The folder `checkpoint-<step>` where trainers save in their output folder. */
export function checkpointFolder(outputDir: string, step: number): string {
  return path.join(outputDir, `checkpoint-${step}`);
}

/** The checkpoint that `resumeFromCheckpoint` names, or null for a fresh start; `owner` names the trainer in errors. */
export function resumeCheckpointFolder(owner: string, from: boolean | string | undefined, outputDir: string | null): string | null {
  if (from === undefined || from === false) return null;
  if (from === true) {
    if (!outputDir) throw new RangeError(`${owner}.train: resumeFromCheckpoint: true looks in config.outputDir, which is not set; give a checkpoint folder`);
    const found = latestCheckpoint(outputDir);
    if (!found) throw new Error(`${owner}.train: no complete checkpoint in ${outputDir} to resume from`);
    return found;
  }
  if (typeof from !== 'string' || from === '') throw new TypeError(`${owner}.train: resumeFromCheckpoint must be true, false or a checkpoint folder, got ${JSON.stringify(from)}`);
  return from;
}

/** Lets signal handlers and pending I/O run between steps: a SIGINT handler cannot run while a step computes. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A trainer's stop request (stop() or an aborted signal: training ends after the step in progress and writes
 * a checkpoint there) and its latest checkpoint.
 */
export class RunControl {
  private asked = false;
  private signal: AbortSignal | null = null;
  /** Whether the last run ended early because a stop was asked. */
  stopped = false;
  /** The checkpoint last written or resumed from. */
  checkpoint: { dir: string; step: number } | null = null;

  ask(): void {
    this.asked = true;
  }

  /** Stops the coming run when `signal` aborts (until release()). */
  watch(owner: string, signal: AbortSignal | undefined): void {
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError(`${owner}.train: options.signal must be an AbortSignal`);
    this.signal = signal ?? null;
  }

  release(): void {
    this.signal = null;
  }

  get asking(): boolean {
    return this.asked || this.signal?.aborted === true;
  }

  /**
   * Ends a run that reached `step` of `limit`: when a stop ended it early, writes a checkpoint there through
   * `save(dir)` (when there is an output folder, a step was taken and no checkpoint holds this step yet).
   */
  finish(step: number, limit: number, outputDir: string | null, save: (dir: string) => void): void {
    this.stopped = step < limit && this.asking;
    if (!this.stopped) return;
    this.asked = false;
    if (outputDir && step > 0 && this.checkpoint?.step !== step) save(checkpointFolder(outputDir, step));
  }
}

/** What trainStepwise() needs of a trainer whose fit(onProgress, untilStep) runs synchronous steps. */
export interface StepwiseTrainer {
  owner: string;
  control: RunControl;
  outputDir: string | null;
  maxSteps: number;
  /** The trainer's log records (the same array across a resume). */
  records: LogRecord[];
  step(): number;
  resume(dir: string): void;
  fit(onProgress: TrainOptions<LogRecord | null>['onProgress'], untilStep: number): void;
  save(dir: string): void;
}

/**
 * TRL's train() for SFT and reward training: resumes when asked, then fits one step at a time, yielding to the
 * event loop between steps so that stop() from a signal handler, or options.signal, ends it after the step in
 * progress with a checkpoint in outputDir. Returns the records logged by this call.
 */
export async function trainStepwise(t: StepwiseTrainer, options: TrainOptions<LogRecord | null>): Promise<LogRecord[]> {
  const from = resumeCheckpointFolder(t.owner, options.resumeFromCheckpoint, t.outputDir);
  if (from) t.resume(from);
  const limit = Math.min(options.untilStep ?? t.maxSteps, t.maxSteps);
  const firstRecord = t.records.length;
  t.control.watch(t.owner, options.signal);
  try {
    while (t.step() < limit && !t.control.asking) {
      t.fit(options.onProgress, t.step() + 1);
      await yieldToEventLoop();
    }
    t.control.finish(t.step(), limit, t.outputDir, (dir) => t.save(dir));
  } finally {
    t.control.release();
  }
  return t.records.slice(firstRecord);
}

/**
 * What every trainer offers to stop a run from outside (a signal handler, a callback) and to find where it
 * stopped; the trainer's loop consults `control`.
 */
export abstract class StoppableTrainer {
  protected readonly control = new RunControl();

  /** Asks training to stop after the step in progress and write a checkpoint there (with outputDir); safe in a signal handler. */
  stop(): void {
    this.control.ask();
  }

  /** Whether the last run ended early because of stop() or its signal. */
  get stopped(): boolean {
    return this.control.stopped;
  }

  /** The folder of the checkpoint last written or resumed from, or null. */
  get lastCheckpoint(): string | null {
    return this.control.checkpoint?.dir ?? null;
  }
}
