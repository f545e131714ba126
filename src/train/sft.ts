// Supervised fine-tuning of a causal LM on (prompt, completion) pairs: the cold start of the R1 recipe and
// the distillation step. Loss on completion tokens only by default, AdamW with warmup + cosine decay,
// gradient accumulation, clipping, evaluation loss, JSONL logs and checkpoints.
import type { Device } from '../backend/backend.js';
import { noGrad } from '../autograd/grad-mode.js';
import { tidy } from '../autograd/tidy.js';
import type { ChatMessage, Tokenizer } from '../io/tokenizers/types.js';
import { checkMessages, conversationText, isMessageList } from '../io/tokenizers/conversation.js';
import { loadTrainerCheckpoint, saveTrainerCheckpoint, type TrainerParts, type TrainOptions, trainStepwise, StoppableTrainer } from './trainer-checkpoint.js';
import { causalLMLoss, type LlamaForCausalLM } from '../nn/llama.js';
import type { LoraConfigOptions } from '../nn/lora.js';
import type { PeftModel } from '../nn/peft-model.js';
import { trainerLoraConfig, trainerPeftModel } from './peft.js';
import { type Float32MatmulPrecision, getFloat32MatmulPrecision } from '../ops/matmul.js';
import type { AdamW } from '../optim/adamw.js';
import type { LRScheduler } from '../optim/schedules.js';
import { DataOrder } from './data-order.js';
import { causalBatch, IGNORE_INDEX, type LabeledSequence, labeledSequence, packSequences, type TokenizedExample } from './batching.js';
import { JsonlLogger, type LogRecord, type TrainerCallbacks } from './logger.js';
import { checkUnknownCharacters, type UnknownCharactersPolicy } from './unknown-characters.js';
import { checkConfig, checkStepCount, type FieldSpec } from './config.js';
import {
  applyGradientCheckpointing, clipTrainerGradients, placeOnTrainerDevice, type TrainingArgs, TRAINING_ARGS_DEFAULTS, TRAINING_ARGS_FIELDS, trainerOptimizer, trainerScheduler,
} from './training-args.js';

/**
 * An SFT example, in TRL's dataset formats: prompt-completion text; conversational prompt-completion (both message
 * lists: the prompt is rendered with the chat template's generation prompt, the whole conversation without, and
 * completionOnlyLoss masks the prompt's tokens); or conversational language modeling (`messages`, rendered whole,
 * loss on every token, as TRL's default). Conversations take no appended EOS: the template ends each turn.
 */
export type SFTExample =
  | { prompt: string; completion: string }
  | { prompt: ChatMessage[]; completion: ChatMessage[] }
  | { messages: ChatMessage[] };

/** SFT options (TRL's SFTConfig in camelCase), plus the AdamW, warmup-ratio and checkpoint-limit options shared by every trainer (TrainingArgs). */
export interface SFTConfig extends TrainingArgs {
  /** Optimizer steps. */
  maxSteps: number;
  /** Examples per optimizer step (split into gradientAccumulationSteps micro-batches). Default 32. */
  batchSize: number;
  gradientAccumulationSteps: number;
  learningRate: number;
  warmupSteps: number;
  lrSchedule: 'constant' | 'constant_with_warmup' | 'linear' | 'cosine' | 'cosine_with_min_lr';
  minLrRatio: number;
  weightDecay: number;
  /** transformers' max_grad_norm: the global gradient norm is clipped to this every optimizer step; 0 = no clipping. Default 1. */
  maxGradNorm: number;
  /** Loss on completion tokens only (TRL's completion_only_loss). Default true. */
  completionOnlyLoss: boolean;
  /** Append the tokenizer's EOS to every text completion (conversations end with the chat template's end of turn). Default true. */
  appendEos: boolean;
  maxLength: number | null;
  /** Concatenate examples into rows of exactly maxLength tokens (TRL's packing). Needs maxLength. Default false. */
  packing: boolean;
  seed: number;
  logEvery: number;
  evalEvery: number | null;
  /** Where to write logs.jsonl and checkpoints; null keeps everything in memory. */
  outputDir: string | null;
  saveEvery: number | null;
  /**
   * Mixed precision (TRL's bf16): the model's parameters are converted to bfloat16 in place when the trainer is
   * made (half the memory), with float32 master weights in the optimizer (AdamW keeps a float32 copy of each
   * parameter, updates it with the float32 gradient and writes it back rounded); gradients and optimizer state are
   * float32. Matrix products also take bfloat16 operands with float32 accumulation (matmul precision 'medium'
   * passed to each forward, where the CPU has a bf16 kernel: AMX or AVX512-BF16; the process default is left
   * alone) during fit() and evaluate(). Without it they run at the process default precision read when fit() or evaluate() starts.
   */
  bf16: boolean;
  /** Data characters outside a CharTokenizer's alphabet (encoded as <unk>): warn once naming them, throw, or ignore. Default 'warn'. */
  unknownCharacters: UnknownCharactersPolicy;
  /**
   * TRL's peft_config (a trainer argument there; a config field here, so JSON configs carry it): the trainer wraps
   * the model in LoRA adapters with this LoraConfig (getPeftModel), trains only them and checkpoints them in PEFT's
   * files. null: full fine-tuning (or the adapters of a model given as a PeftModel). Default null.
   */
  peftConfig: LoraConfigOptions | null;
}

export const SFT_DEFAULTS: SFTConfig = {
  maxSteps: 100, batchSize: 32, gradientAccumulationSteps: 1, learningRate: 2e-5, warmupSteps: 0, lrSchedule: 'linear',
  minLrRatio: 0, weightDecay: 0, maxGradNorm: 1, completionOnlyLoss: true, appendEos: true, maxLength: null, packing: false, seed: 42,
  logEvery: 10, evalEvery: null, outputDir: null, saveEvery: null, bf16: false, unknownCharacters: 'warn', peftConfig: null,
  ...TRAINING_ARGS_DEFAULTS,
};

const SFT_FIELDS: Record<keyof SFTConfig, FieldSpec> = {
  maxSteps: { kind: 'int', min: 1 }, batchSize: { kind: 'int', min: 1 }, gradientAccumulationSteps: { kind: 'int', min: 1 },
  learningRate: { kind: 'number', min: 0 }, warmupSteps: { kind: 'int', min: 0 },
  lrSchedule: { kind: 'enum', values: ['constant', 'constant_with_warmup', 'linear', 'cosine', 'cosine_with_min_lr'] },
  minLrRatio: { kind: 'number', min: 0, max: 1 }, weightDecay: { kind: 'number', min: 0 }, maxGradNorm: { kind: 'number', min: 0 },
  completionOnlyLoss: { kind: 'bool' }, appendEos: { kind: 'bool' }, maxLength: { kind: 'int', min: 2, nullable: true }, packing: { kind: 'bool' },
  seed: { kind: 'int', min: 0 }, logEvery: { kind: 'int', min: 1 }, evalEvery: { kind: 'int', min: 1, nullable: true },
  outputDir: { kind: 'string', nullable: true }, saveEvery: { kind: 'int', min: 1, nullable: true }, bf16: { kind: 'bool' },
  unknownCharacters: { kind: 'enum', values: ['warn', 'error', 'ignore'] }, peftConfig: { kind: 'object', nullable: true },
  ...TRAINING_ARGS_FIELDS,
};

export class SFTTrainer extends StoppableTrainer {
  readonly config: SFTConfig;
  /** Where the models and the optimizer state live (the `device` option resolved). */
  readonly device: Device;
  readonly optimizer: AdamW;
  readonly scheduler: LRScheduler;
  readonly logger: JsonlLogger;
  private readonly trainSet: LabeledSequence[];
  private readonly evalSet: LabeledSequence[];
  private step = 0;
  private readonly data: DataOrder;
  /** The model trained: the causal LM given (with LoRA adapters injected when peftConfig is set). */
  readonly model: LlamaForCausalLM;
  /** The LoRA adapters (TRL's trainer.model when peft_config is given), or null in full fine-tuning. */
  readonly peftModel: PeftModel<LlamaForCausalLM> | null;

  constructor(
    model: LlamaForCausalLM | PeftModel<LlamaForCausalLM>,
    readonly tokenizer: Tokenizer,
    dataset: readonly SFTExample[],
    config: Partial<SFTConfig> = {},
    readonly callbacks: TrainerCallbacks = {},
    evalDataset: readonly SFTExample[] = [],
  ) {
    super();
    this.config = checkConfig('SFTTrainer', SFT_FIELDS, SFT_DEFAULTS, config);
    if (this.config.batchSize % this.config.gradientAccumulationSteps !== 0) {
      throw new RangeError(`SFTTrainer: batchSize ${this.config.batchSize} must be divisible by gradientAccumulationSteps ${this.config.gradientAccumulationSteps}`);
    }
    if (!Array.isArray(dataset) || dataset.length === 0) throw new RangeError('SFTTrainer: the dataset is empty');
    const c = this.config;
    if (c.packing && c.maxLength === null) throw new RangeError('SFTTrainer: packing needs maxLength (the length of each packed row)');
    // The LoRA config is checked here, with the rest; the model is wrapped only once every check has passed.
    trainerLoraConfig('SFTTrainer', model, c.peftConfig);
    const texts: string[] = [];
    let mismatches = 0;
    const sequence = (e: SFTExample, where: string) => {
      const t = this.tokenize(e, where);
      texts.push(...t.texts);
      if (t.mismatch) mismatches++;
      return labeledSequence(t, c.completionOnlyLoss);
    };
    const sequences = dataset.map((e, i) => sequence(e, `example ${i}`));
    this.trainSet = c.packing ? packSequences(sequences, c.maxLength!) : sequences;
    this.evalSet = evalDataset.map((e, i) => sequence(e, `eval example ${i}`));
    if (mismatches > 0) {
      process.emitWarning(`SFTTrainer: in ${mismatches} conversational example${mismatches === 1 ? '' : 's'} the tokens of the prompt (rendered with the ` +
        'generation prompt) are not a prefix of the whole conversation\'s; the completion is taken to start at the prompt\'s length anyway, as TRL does',
      { code: 'THINKGRAD_CHAT_TEMPLATE_PREFIX' });
    }
    checkUnknownCharacters('SFTTrainer', tokenizer, texts, c.unknownCharacters);
    ({ model: this.model, peftModel: this.peftModel } = trainerPeftModel('SFTTrainer', model, c.peftConfig));
    this.device = placeOnTrainerDevice(c, this.model);
    applyGradientCheckpointing(c, this.model);
    this.optimizer = trainerOptimizer(this.model.parameters().filter((p) => p.requiresGrad), c);
    this.scheduler = trainerScheduler(this.optimizer, c, c.maxSteps);
    this.logger = new JsonlLogger(c.outputDir ? `${c.outputDir}/sft_logs.jsonl` : null);
    this.data = new DataOrder(this.trainSet.length, c.seed);
  }

  /** Optimizer steps taken so far. */
  get globalStep(): number {
    return this.step;
  }

  // Token ids of one example as TRL's SFTTrainer tokenizes each dataset format; `texts` are what the unknown-character
  // check reads, `mismatch` whether a conversation's prompt tokens are not a prefix of the whole one's.
  private tokenize(e: SFTExample, where: string): TokenizedExample & { texts: string[]; mismatch: boolean } {
    const tok = this.tokenizer;
    const noSpecial = { addSpecialTokens: false };
    if (e && typeof e === 'object' && 'messages' in e && e.messages !== undefined) {
      const text = conversationText(tok, checkMessages(`SFTTrainer: ${where}: messages`, e.messages));
      return { promptIds: [], completionIds: tok.encode(text, noSpecial), texts: [text], mismatch: false };
    }
    const row = e as { prompt?: unknown; completion?: unknown } | null;
    if (row && isMessageList(row.prompt)) {
      const prompt = checkMessages(`SFTTrainer: ${where}: prompt`, row.prompt);
      const completion = checkMessages(`SFTTrainer: ${where}: completion (a conversational prompt needs a conversational completion)`, row.completion);
      const promptIds = tok.encode(tok.applyChatTemplate(prompt, { addGenerationPrompt: true }), noSpecial);
      const text = conversationText(tok, [...prompt, ...completion]);
      const ids = tok.encode(text, noSpecial);
      const mismatch = promptIds.some((id, k) => ids[k] !== id);
      return { promptIds: ids.slice(0, promptIds.length), completionIds: ids.slice(promptIds.length), texts: [text], mismatch };
    }
    if (!row || typeof row.prompt !== 'string' || typeof row.completion !== 'string') {
      throw new TypeError(`SFTTrainer: ${where} needs string fields 'prompt' and 'completion', both as lists of {role, content} messages, or 'messages'`);
    }
    const eos = tok.eosTokenId;
    const completionIds = tok.encode(row.completion, noSpecial);
    if (this.config.appendEos && eos !== null) completionIds.push(eos);
    return { promptIds: tok.encode(row.prompt), completionIds, texts: [row.prompt, row.completion], mismatch: false };
  }

  private padId(): number {
    return this.tokenizer.padTokenId ?? this.tokenizer.eosTokenId ?? 0;
  }

  /**
   * Runs optimizer steps up to `untilStep` (default maxSteps), synchronously; returns the records logged by
   * this call. stop() (from a callback) ends it after the step in progress, with a checkpoint in outputDir.
   */
  fit(onProgress?: (step: number, total: number, log: LogRecord | null) => void, untilStep = this.config.maxSteps): LogRecord[] {
    checkStepCount('SFTTrainer.fit', 'untilStep', untilStep);
    const records = this.fitSteps(onProgress, untilStep, this.precision());
    this.control.finish(this.step, Math.min(untilStep, this.config.maxSteps), this.config.outputDir, (dir) => this.save(dir));
    return records;
  }

  /**
   * Trains to maxSteps (TRL's train()), optionally resuming first, yielding to the event loop between steps so
   * that stop() from a signal handler, or options.signal, ends it after the step in progress with a checkpoint
   * in outputDir. Returns the records logged by this call; `stopped` says whether it ended early.
   */
  async train(options: TrainOptions<LogRecord | null> = {}): Promise<LogRecord[]> {
    return trainStepwise({
      owner: 'SFTTrainer', control: this.control, outputDir: this.config.outputDir, maxSteps: this.config.maxSteps, records: this.logger.records,
      step: () => this.step, resume: (dir) => this.resume(dir), fit: (onProgress, untilStep) => this.fit(onProgress, untilStep), save: (dir) => this.save(dir),
    }, options);
  }

  private precision(): Float32MatmulPrecision {
    return this.config.bf16 ? 'medium' : getFloat32MatmulPrecision();
  }

  private fitSteps(onProgress: ((step: number, total: number, log: LogRecord | null) => void) | undefined, untilStep: number,
    precision: Float32MatmulPrecision): LogRecord[] {
    const c = this.config;
    this.logger.start();
    const firstRecord = this.logger.records.length;
    const params = this.optimizer.params;
    const micro = c.batchSize / c.gradientAccumulationSteps;
    while (this.step < Math.min(untilStep, c.maxSteps) && !this.control.asking) {
      const started = performance.now();
      let lossSum = 0;
      let tokens = 0;
      const batch: LabeledSequence[] = [];
      for (let i = 0; i < c.batchSize; i++) {
        batch.push(this.trainSet[this.data.next()]);
      }
      const micros = Array.from({ length: c.gradientAccumulationSteps }, (_, m) =>
        causalBatch(batch.slice(m * micro, (m + 1) * micro), this.padId(), c.maxLength ?? undefined, this.model.device));
      const stepTokens = micros.reduce((n, b) => n + b.lossTokens, 0);
      for (const b of micros) {
        tidy(() => {
          const loss = causalLMLoss(this.model.forward(b.ids, { matmulPrecision: precision }), b.labels, IGNORE_INDEX);
          // Each micro-batch's mean is weighted by its share of the step's loss tokens, so accumulation
          // gives the same gradient as one big batch.
          lossSum += loss.item() * b.lossTokens;
          tokens += b.lossTokens;
          loss.mul(b.lossTokens / Math.max(1, stepTokens)).backward();
        });
        b.ids.dispose();
        b.labels.dispose();
      }
      const gradNorm = clipTrainerGradients(params, c.maxGradNorm);
      const lr = this.optimizer.paramGroups[0].lr;
      this.optimizer.step();
      this.optimizer.zeroGrad();
      this.scheduler.step();
      this.step++;
      let log: LogRecord | null = null;
      if (this.step % c.logEvery === 0 || this.step === c.maxSteps) {
        log = { step: this.step, loss: lossSum / Math.max(1, tokens), grad_norm: gradNorm, learning_rate: lr, num_tokens: tokens, step_time: (performance.now() - started) / 1000 };
        this.logger.write(log);
        this.callbacks.onStep?.(log);
      }
      if (c.evalEvery && this.evalSet.length > 0 && this.step % c.evalEvery === 0) {
        const metrics = { step: this.step, eval_loss: this.evaluate() };
        this.logger.write(metrics);
        this.callbacks.onEvaluate?.(metrics);
      }
      if (c.outputDir && c.saveEvery && this.step % c.saveEvery === 0) this.save(`${c.outputDir}/checkpoint-${this.step}`);
      onProgress?.(this.step, c.maxSteps, log);
    }
    return this.logger.records.slice(firstRecord);
  }

  /** Mean per-token loss over the evaluation set (completion tokens when completionOnlyLoss). */
  evaluate(batchSize = this.config.batchSize): number {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`SFTTrainer.evaluate: batchSize must be an integer >= 1, got ${batchSize}`);
    let sum = 0;
    let tokens = 0;
    const precision = this.precision();
    noGrad(() => {
      for (let i = 0; i < this.evalSet.length; i += batchSize) {
        tidy(() => {
          const b = causalBatch(this.evalSet.slice(i, i + batchSize), this.padId(), undefined, this.model.device);
          sum += causalLMLoss(this.model.forward(b.ids, { matmulPrecision: precision }), b.labels, IGNORE_INDEX).item() * b.lossTokens;
          tokens += b.lossTokens;
        });
      }
    });
    return sum / Math.max(1, tokens);
  }

  /** Writes model, optimizer, scheduler, RNG, step and the data order, so resume() continues identically. */
  save(dir: string): void {
    saveTrainerCheckpoint(dir, this.parts(), this.step, this.config);
    this.control.checkpoint = { dir, step: this.step };
    this.callbacks.onSave?.(dir);
  }

  /** Restores a checkpoint written by save(); fit() then continues from its step, appending to the log. */
  resume(dir: string): void {
    this.step = loadTrainerCheckpoint(dir, this.parts(), 'SFTTrainer').step;
    this.control.checkpoint = { dir, step: this.step };
    this.logger.resumeAt(this.step);
  }

  private parts(): TrainerParts {
    return { model: this.model, optimizer: this.optimizer, scheduler: this.scheduler, data: this.data, adapter: this.peftModel };
  }
}
