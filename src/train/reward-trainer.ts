// Reward-model training on pairwise preferences (TRL's RewardTrainer): each pair (prompt, chosen, rejected,
// optional margin) is scored by a LlamaForSequenceClassification and trained with the Bradley-Terry loss
// -log sigmoid(r_chosen - r_rejected - margin). Logs, checkpoints and resume follow the SFT trainer.
import type { Device } from '../backend/backend.js';
import { noGrad } from '../autograd/grad-mode.js';
import { tidy } from '../autograd/tidy.js';
import { loadTrainerCheckpoint, saveTrainerCheckpoint, type TrainerParts, type TrainOptions, trainStepwise, StoppableTrainer } from './trainer-checkpoint.js';
import { readJsonl } from '../io/jsonl.js';
import type { ChatMessage, Tokenizer } from '../io/tokenizers/types.js';
import { checkMessages, isMessageList } from '../io/tokenizers/conversation.js';
import type { LlamaForSequenceClassification } from '../nn/sequence-classification.js';
import type { LoraConfigOptions } from '../nn/lora.js';
import type { PeftModel } from '../nn/peft-model.js';
import { trainerLoraConfig, trainerPeftModel } from './peft.js';
import { padRight, rewardModelInput } from '../rl/rewards/reward-model.js';
import { tensor, zerosLike } from '../ops/creation.js';
import { add, mul, neg, sub } from '../ops/elementwise.js';
import { logsumexp, mean } from '../ops/reduce.js';
import { narrow, stack } from '../ops/shape.js';
import type { AdamW } from '../optim/adamw.js';
import type { LRScheduler } from '../optim/schedules.js';
import { DataOrder } from './data-order.js';
import { formatShape, type Tensor } from '../tensor.js';
import { checkConfig, checkStepCount, type FieldSpec } from './config.js';
import {
  applyGradientCheckpointing, clipTrainerGradients, placeOnTrainerDevice, type TrainingArgs, TRAINING_ARGS_DEFAULTS, TRAINING_ARGS_FIELDS, trainerOptimizer, trainerScheduler,
} from './training-args.js';
import { JsonlLogger, type LogRecord, type TrainerCallbacks } from './logger.js';

/**
 * One preference: the response `chosen` is better than `rejected` for `prompt` (by at least `margin`). As text,
 * or in TRL's conversational format: chosen and rejected are message lists (the assistant's turns), after the
 * prompt's messages when given (else they hold the whole conversation), each rendered whole with the chat template.
 */
export type PreferencePair =
  | { prompt: string; chosen: string; rejected: string; margin?: number }
  | { prompt?: ChatMessage[]; chosen: ChatMessage[]; rejected: ChatMessage[]; margin?: number };

/**
 * Mean Bradley-Terry loss over pairs: -log sigmoid(chosen - rejected - margin), computed stably as
 * logsumexp([0, -(d)]) = softplus(-d) with d = chosen - rejected - margin. chosen, rejected, margin: (B).
 * d loss / d chosen = -sigmoid(-d) / B (and the opposite for rejected).
 */
export function bradleyTerryLoss(chosen: Tensor, rejected: Tensor, margin: Tensor | null = null): Tensor {
  if (chosen.ndim !== 1 || rejected.shape.join() !== chosen.shape.join() || (margin && margin.shape.join() !== chosen.shape.join()))
    throw new RangeError(`bradleyTerryLoss: chosen ${formatShape(chosen.shape)}, rejected ${formatShape(rejected.shape)}${margin ? `, margin ${formatShape(margin.shape)}` : ''} must all be (B)`);
  let d = sub(chosen, rejected);
  if (margin) d = sub(d, margin);
  return mean(logsumexp(stack([zerosLike(d), neg(d)], 1), 1));
}

/** Reward-model options (TRL's RewardConfig in camelCase), plus the AdamW, warmup-ratio and checkpoint-limit options shared by every trainer (TrainingArgs). */
export interface RewardConfig extends TrainingArgs {
  maxSteps: number;
  /** Pairs per optimizer step (2x sequences per forward). */
  batchSize: number;
  learningRate: number;
  warmupSteps: number;
  lrSchedule: 'constant' | 'constant_with_warmup' | 'linear' | 'cosine' | 'cosine_with_min_lr';
  minLrRatio: number;
  weightDecay: number;
  /** transformers' max_grad_norm: the global gradient norm is clipped to this every optimizer step; 0 = no clipping. Default 1. */
  maxGradNorm: number;
  /** Keep at most this many tokens of each prompt + response (the end is kept: that is where it is scored). */
  maxLength: number | null;
  /** Append the tokenizer's EOS to every response, so each is scored at the same kind of token. Default true. */
  appendEos: boolean;
  /** TRL's center_rewards_coefficient: adds coef * mean((r_c + r_r)^2) to keep scores centred on 0. */
  centerRewardsCoefficient: number | null;
  seed: number;
  logEvery: number;
  evalEvery: number | null;
  evalBatchSize: number;
  outputDir: string | null;
  saveEvery: number | null;
  /**
   * TRL's peft_config (a trainer argument there; a config field here, so JSON configs carry it): the trainer wraps
   * the model in LoRA adapters with this LoraConfig (taskType 'SEQ_CLS' unless given, so the `score` head trains
   * whole as one of PEFT's modules to save) and checkpoints them in PEFT's files. Default null.
   */
  peftConfig: LoraConfigOptions | null;
}

export const REWARD_DEFAULTS: RewardConfig = {
  maxSteps: 100, batchSize: 32, learningRate: 1e-5, warmupSteps: 0, lrSchedule: 'linear', minLrRatio: 0, weightDecay: 0, maxGradNorm: 1,
  maxLength: null, appendEos: true, centerRewardsCoefficient: null, seed: 42, logEvery: 10, evalEvery: null, evalBatchSize: 64,
  outputDir: null, saveEvery: null, peftConfig: null,
  ...TRAINING_ARGS_DEFAULTS,
};

const REWARD_FIELDS: Record<keyof RewardConfig, FieldSpec> = {
  maxSteps: { kind: 'int', min: 1 }, batchSize: { kind: 'int', min: 1 }, learningRate: { kind: 'number', min: 0 }, warmupSteps: { kind: 'int', min: 0 },
  lrSchedule: { kind: 'enum', values: ['constant', 'constant_with_warmup', 'linear', 'cosine', 'cosine_with_min_lr'] },
  minLrRatio: { kind: 'number', min: 0, max: 1 }, weightDecay: { kind: 'number', min: 0 }, maxGradNorm: { kind: 'number', min: 0 },
  maxLength: { kind: 'int', min: 1, nullable: true }, appendEos: { kind: 'bool' }, centerRewardsCoefficient: { kind: 'number', min: 0, nullable: true },
  seed: { kind: 'int', min: 0 }, logEvery: { kind: 'int', min: 1 }, evalEvery: { kind: 'int', min: 1, nullable: true }, evalBatchSize: { kind: 'int', min: 1 },
  outputDir: { kind: 'string', nullable: true }, saveEvery: { kind: 'int', min: 1, nullable: true }, peftConfig: { kind: 'object', nullable: true },
  ...TRAINING_ARGS_FIELDS,
};

/**
 * Reads a preference JSONL file: prompt, chosen, rejected as text, or as {role, content} message lists (the prompt
 * optional then); optional number margin. Bad lines are named by line number; RewardTrainer checks that a row's
 * fields are all text or all conversations.
 */
export function readPreferenceJsonl(file: string, limit?: number): PreferencePair[] {
  return readJsonl(file, { columns: { prompt: { type: 'chat', optional: true }, chosen: 'chat', rejected: 'chat', margin: { type: 'number', optional: true } }, limit }) as unknown as PreferencePair[];
}

interface TokenizedPair { chosen: number[]; rejected: number[]; margin: number }

export interface RewardEvalMetrics {
  eval_loss: number;
  /** Share of pairs with r_chosen > r_rejected (ties count half). */
  eval_accuracy: number;
  /** Mean r_chosen - r_rejected. */
  eval_margin: number;
}

export class RewardTrainer extends StoppableTrainer {
  readonly config: RewardConfig;
  /** Where the models and the optimizer state live (the `device` option resolved). */
  readonly device: Device;
  readonly optimizer: AdamW;
  readonly scheduler: LRScheduler;
  readonly logger: JsonlLogger;
  private readonly trainSet: TokenizedPair[];
  private readonly evalSet: TokenizedPair[];
  private readonly hasMargin: boolean;
  private step = 0;
  private readonly data: DataOrder;
  /** The reward model trained (with LoRA adapters injected when peftConfig is set). */
  readonly model: LlamaForSequenceClassification;
  /** The LoRA adapters (TRL's trainer.model when peft_config is given), or null in full fine-tuning. */
  readonly peftModel: PeftModel<LlamaForSequenceClassification> | null;

  constructor(
    model: LlamaForSequenceClassification | PeftModel<LlamaForSequenceClassification>,
    readonly tokenizer: Tokenizer,
    dataset: readonly PreferencePair[],
    config: Partial<RewardConfig> = {},
    readonly callbacks: TrainerCallbacks = {},
    evalDataset: readonly PreferencePair[] = [],
  ) {
    super();
    const c = (this.config = checkConfig('RewardTrainer', REWARD_FIELDS, REWARD_DEFAULTS, config));
    const seqCls = { taskType: 'SEQ_CLS' } as const;
    // The LoRA config is checked here, with the rest; the model is wrapped only once every check has passed.
    trainerLoraConfig('RewardTrainer', model, c.peftConfig, seqCls);
    const numLabels = ('numLabels' in model ? model : model.getBaseModel()).numLabels;
    if (numLabels !== 1) throw new RangeError(`RewardTrainer: the model has ${numLabels} labels; a reward model has 1`);
    if (!Array.isArray(dataset) || dataset.length === 0) throw new RangeError('RewardTrainer: the dataset is empty');
    this.trainSet = dataset.map((p, i) => this.tokenize(p, i, 'dataset'));
    this.evalSet = evalDataset.map((p, i) => this.tokenize(p, i, 'evalDataset'));
    this.hasMargin = [...dataset, ...evalDataset].some((p) => p.margin !== undefined);
    ({ model: this.model, peftModel: this.peftModel } = trainerPeftModel('RewardTrainer', model, c.peftConfig, seqCls));
    this.device = placeOnTrainerDevice(c, this.model);
    applyGradientCheckpointing(c, this.model);
    this.optimizer = trainerOptimizer(this.model.parameters().filter((p) => p.requiresGrad), c);
    this.scheduler = trainerScheduler(this.optimizer, c, c.maxSteps);
    this.logger = new JsonlLogger(c.outputDir ? `${c.outputDir}/rm_logs.jsonl` : null);
    this.data = new DataOrder(this.trainSet.length, c.seed);
  }

  /** Optimizer steps taken so far. */
  get globalStep(): number {
    return this.step;
  }

  private tokenize(p: PreferencePair, i: number, where: string): TokenizedPair {
    if (p && typeof p === 'object' && isMessageList(p.chosen)) {
      const name = `RewardTrainer: ${where} pair ${i}`;
      const prompt = p.prompt === undefined ? [] : checkMessages(`${name}: prompt (with conversational chosen/rejected)`, p.prompt);
      const chosen = checkMessages(`${name}: chosen`, p.chosen);
      const rejected = checkMessages(`${name}: rejected`, p.rejected);
      const seq = (response: ChatMessage[]) => rewardModelInput(this.tokenizer, prompt.length ? prompt : '', response, this.config.appendEos, this.config.maxLength);
      return { chosen: seq(chosen), rejected: seq(rejected), margin: this.margin(p, i, where) };
    }
    if (!p || typeof p !== 'object' || typeof p.prompt !== 'string' || typeof p.chosen !== 'string' || typeof p.rejected !== 'string') {
      throw new TypeError(`RewardTrainer: ${where} pair ${i} needs string fields 'prompt', 'chosen' and 'rejected' (or chosen and rejected as lists of {role, content} messages)`);
    }
    const text = p as { prompt: string; chosen: string; rejected: string };
    const seq = (response: string) => rewardModelInput(this.tokenizer, text.prompt, response, this.config.appendEos, this.config.maxLength);
    return { chosen: seq(text.chosen), rejected: seq(text.rejected), margin: this.margin(p, i, where) };
  }

  private margin(p: PreferencePair, i: number, where: string): number {
    if (p.margin !== undefined && (typeof p.margin !== 'number' || !Number.isFinite(p.margin))) {
      throw new TypeError(`RewardTrainer: ${where} pair ${i}: 'margin' must be a finite number, got ${JSON.stringify(p.margin)}`);
    }
    return p.margin ?? 0;
  }

  // Scores chosen and rejected of `pairs` in one right-padded forward: { chosen (B), rejected (B), margin (B) | null }.
  private scorePairs(pairs: readonly TokenizedPair[]): { chosen: Tensor; rejected: Tensor; margin: Tensor | null } {
    const B = pairs.length;
    const seqs = [...pairs.map((p) => p.chosen), ...pairs.map((p) => p.rejected)];
    const { ids, lengths } = padRight(seqs, this.tokenizer.padTokenId ?? this.tokenizer.eosTokenId ?? 0, this.model.device);
    const r = this.model.scores(ids, { lengths });
    const margin = this.hasMargin ? tensor(Float32Array.from(pairs, (p) => p.margin), [B], { device: this.model.device }) : null;
    return { chosen: narrow(r, 0, 0, B), rejected: narrow(r, 0, B, B), margin };
  }

  /**
   * Runs optimizer steps up to `untilStep` (default maxSteps), synchronously; returns the records logged by
   * this call. stop() (from a callback) ends it after the step in progress, with a checkpoint in outputDir.
   */
  fit(onProgress?: (step: number, total: number, log: LogRecord | null) => void, untilStep = this.config.maxSteps): LogRecord[] {
    checkStepCount('RewardTrainer.fit', 'untilStep', untilStep);
    const c = this.config;
    this.logger.start();
    const firstRecord = this.logger.records.length;
    while (this.step < Math.min(untilStep, c.maxSteps) && !this.control.asking) {
      const started = performance.now();
      const batch: TokenizedPair[] = [];
      for (let i = 0; i < c.batchSize; i++) {
        batch.push(this.trainSet[this.data.next()]);
      }
      const stats = tidy(() => {
        const { chosen, rejected, margin } = this.scorePairs(batch);
        let loss = bradleyTerryLoss(chosen, rejected, margin);
        if (c.centerRewardsCoefficient) loss = add(loss, mul(mean(mul(add(chosen, rejected), add(chosen, rejected))), c.centerRewardsCoefficient));
        loss.backward();
        return { loss: loss.item(), ...pairStats(chosen.data(), rejected.data()) };
      });
      const gradNorm = clipTrainerGradients(this.optimizer.params, c.maxGradNorm);
      const lr = this.optimizer.paramGroups[0].lr;
      this.optimizer.step();
      this.optimizer.zeroGrad();
      this.scheduler.step();
      this.step++;
      let log: LogRecord | null = null;
      if (this.step % c.logEvery === 0 || this.step === c.maxSteps) {
        log = {
          step: this.step, loss: stats.loss, accuracy: stats.accuracy, margin: stats.margin, 'rewards/chosen': stats.chosen, 'rewards/rejected': stats.rejected,
          grad_norm: gradNorm, learning_rate: lr, step_time: (performance.now() - started) / 1000,
        };
        this.logger.write(log);
        this.callbacks.onStep?.(log);
      }
      if (c.evalEvery && this.evalSet.length > 0 && this.step % c.evalEvery === 0) {
        const metrics: LogRecord = { step: this.step, ...this.evaluate() };
        this.logger.write(metrics);
        this.callbacks.onEvaluate?.(metrics);
      }
      if (c.outputDir && c.saveEvery && this.step % c.saveEvery === 0) this.save(`${c.outputDir}/checkpoint-${this.step}`);
      onProgress?.(this.step, c.maxSteps, log);
    }
    this.control.finish(this.step, Math.min(untilStep, c.maxSteps), c.outputDir, (dir) => this.save(dir));
    return this.logger.records.slice(firstRecord);
  }

  /**
   * Trains to maxSteps (TRL's train()), optionally resuming first, yielding to the event loop between steps so
   * that stop() from a signal handler, or options.signal, ends it after the step in progress with a checkpoint
   * in outputDir. Returns the records logged by this call; `stopped` says whether it ended early.
   */
  async train(options: TrainOptions<LogRecord | null> = {}): Promise<LogRecord[]> {
    return trainStepwise({
      owner: 'RewardTrainer', control: this.control, outputDir: this.config.outputDir, maxSteps: this.config.maxSteps, records: this.logger.records,
      step: () => this.step, resume: (dir) => this.resume(dir), fit: (onProgress, untilStep) => this.fit(onProgress, untilStep), save: (dir) => this.save(dir),
    }, options);
  }

  /** Loss, pairwise accuracy and mean margin over the evaluation set (or `pairs`), without gradients. */
  evaluate(pairs?: readonly PreferencePair[]): RewardEvalMetrics {
    const set = pairs ? pairs.map((p, i) => this.tokenize(p, i, 'evaluate')) : this.evalSet;
    if (set.length === 0) throw new RangeError('RewardTrainer.evaluate: no evaluation pairs');
    let loss = 0;
    let correct = 0;
    let margin = 0;
    const bs = this.config.evalBatchSize;
    noGrad(() => {
      for (let i = 0; i < set.length; i += bs) {
        tidy(() => {
          const part = set.slice(i, i + bs);
          const s = this.scorePairs(part);
          loss += bradleyTerryLoss(s.chosen, s.rejected, s.margin).item() * part.length;
          const st = pairStats(s.chosen.data(), s.rejected.data());
          correct += st.accuracy * part.length;
          margin += st.margin * part.length;
        });
      }
    });
    return { eval_loss: loss / set.length, eval_accuracy: correct / set.length, eval_margin: margin / set.length };
  }

  /** Writes model, optimizer, scheduler, RNG, step and the data order, so resume() continues identically. */
  save(dir: string): void {
    saveTrainerCheckpoint(dir, this.parts(), this.step, this.config);
    this.control.checkpoint = { dir, step: this.step };
    this.callbacks.onSave?.(dir);
  }

  /** Restores a checkpoint written by save(); fit() then continues from its step, appending to the log. */
  resume(dir: string): void {
    this.step = loadTrainerCheckpoint(dir, this.parts(), 'RewardTrainer').step;
    this.control.checkpoint = { dir, step: this.step };
    this.logger.resumeAt(this.step);
  }

  private parts(): TrainerParts {
    return { model: this.model, optimizer: this.optimizer, scheduler: this.scheduler, data: this.data, adapter: this.peftModel };
  }
}

function pairStats(chosen: ArrayLike<number>, rejected: ArrayLike<number>) {
  let acc = 0;
  let margin = 0;
  let c = 0;
  let r = 0;
  for (let i = 0; i < chosen.length; i++) {
    acc += chosen[i] > rejected[i] ? 1 : chosen[i] === rejected[i] ? 0.5 : 0;
    margin += chosen[i] - rejected[i];
    c += chosen[i];
    r += rejected[i];
  }
  const n = Math.max(1, chosen.length);
  return { accuracy: acc / n, margin: margin / n, chosen: c / n, rejected: r / n };
}
