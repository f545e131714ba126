// GRPO (DeepSeekMath / DeepSeek-R1): sample G completions per prompt with the policy (KV-cache
// generation), score them with rule or model rewards, normalize rewards within each group into advantages,
// then take numIterations optimizer steps over the generation batch with the fused GRPO loss. Option names
// are TRL's GRPOConfig in camelCase, with TRL's defaults unless stated.
import type { Device } from '../backend/backend.js';
import { noGrad } from '../autograd/grad-mode.js';
import { tidy } from '../autograd/tidy.js';
import { loadTrainerCheckpoint, resumeCheckpointFolder, saveTrainerCheckpoint, type TrainerParts, type TrainOptions, yieldToEventLoop, StoppableTrainer } from './trainer-checkpoint.js';
import type { ChatMessage, Tokenizer } from '../io/tokenizers/types.js';
import { encodePrompt, isMessageList, type Completion, type Prompt, promptText } from '../io/tokenizers/conversation.js';
import type { LlamaForCausalLM } from '../nn/llama.js';
import type { LoraConfigOptions } from '../nn/lora.js';
import type { PeftModel } from '../nn/peft-model.js';
import { trainerLoraConfig, trainerPeftModel } from './peft.js';
import type { Float32MatmulPrecision } from '../backend/backend.js';
import { RandomGenerator, tensor } from '../ops/creation.js';
import { getFloat32MatmulPrecision } from '../ops/matmul.js';
import { narrow } from '../ops/shape.js';
import { generate } from '../generate/generate.js';
import { stopTokenIds, withoutStopToken } from '../generate/stop-tokens.js';
import type { AdamW } from '../optim/adamw.js';
import type { LRScheduler } from '../optim/schedules.js';
import { groupAdvantagesOn } from '../rl/advantages.js';
import { grpoLoss, type GrpoLossType } from '../rl/grpo-loss.js';
import { selectiveLogSoftmax, selectiveLogSoftmaxWithEntropy } from '../rl/selective-log-softmax.js';
import type { Tensor } from '../tensor.js';
import type { AnyRewardFunction, RewardArgs, RewardFunction } from '../rl/rewards/types.js';
import { DataOrder } from './data-order.js';
import { checkUnknownCharacters, type UnknownCharactersPolicy } from './unknown-characters.js';
import { checkConfig, checkStepCount, type FieldSpec } from './config.js';
import {
  applyGradientCheckpointing, clipTrainerGradients, placeOnTrainerDevice, type TrainingArgs, TRAINING_ARGS_DEFAULTS, TRAINING_ARGS_FIELDS, trainerOptimizer, trainerScheduler,
} from './training-args.js';
import { JsonlLogger, type LogRecord, type TrainerCallbacks } from './logger.js';

/**
 * A dataset row: the prompt plus any columns the reward functions read (e.g. `answer`). The prompt is text, or
 * a list of {role, content} messages (TRL's conversational format) rendered with the tokenizer's chat template
 * and its generation prompt; the rewards then receive those message lists as prompts and each completion as
 * `[{ role: 'assistant', content }]`.
 */
export interface PromptRow {
  prompt: Prompt;
  [column: string]: unknown;
}

/** GRPO options (TRL's GRPOConfig in camelCase), plus the AdamW, warmup-ratio and checkpoint-limit options shared by every trainer (TrainingArgs). */
export interface GRPOConfig extends TrainingArgs {
  maxSteps: number;
  /** Completions sampled per prompt (G). */
  numGenerations: number;
  /** Completions per generation round (prompts x G); must be a multiple of numGenerations. */
  generationBatchSize: number;
  /** Completions per forward/backward pass (gradient accumulation splits the round into these). */
  microBatchSize: number;
  /** Optimizer passes over each generation round (mu); old log-probs are stored when > 1. */
  numIterations: number;
  learningRate: number;
  warmupSteps: number;
  lrSchedule: 'constant' | 'constant_with_warmup' | 'linear' | 'cosine' | 'cosine_with_min_lr';
  weightDecay: number;
  /** transformers' max_grad_norm: the global gradient norm is clipped to this every optimizer step; 0 = no clipping. Default 1. */
  maxGradNorm: number;
  /** KL coefficient; 0 keeps no reference model. */
  beta: number;
  epsilon: number;
  /** Upper clip (DAPO's clip-higher); null = epsilon. */
  epsilonHigh: number | null;
  lossType: GrpoLossType;
  scaleRewards: 'group' | 'batch' | 'none';
  importanceSamplingLevel: 'token' | 'sequence';
  /** Truncated completions (no EOS within maxCompletionLength) get no loss. */
  maskTruncatedCompletions: boolean;
  temperature: number;
  topP: number;
  topK: number | null;
  minP: number | null;
  maxCompletionLength: number;
  rewardWeights: number[] | null;
  /** Move the reference model toward the policy every refModelSyncSteps: ref = alpha*policy + (1-alpha)*ref. */
  syncRefModel: boolean;
  refModelMixupAlpha: number;
  refModelSyncSteps: number;
  seed: number;
  logEvery: number;
  /**
   * TRL's log_completions: at every logged step, record each sampled completion with its prompt, every reward
   * function's score (`rewards/<name>`, null where not scored) and its advantage, in `completions.jsonl` in the
   * output folder and to the onCompletions callback (they are not kept in memory: completions can be long).
   */
  logCompletions: boolean;
  /** Completions recorded per logged step when logCompletions is on: the round's first ones (whole groups when a multiple of numGenerations); null = all. */
  numCompletionsToPrint: number | null;
  /** Score one completion per eval prompt every this many steps (needs an evalDataset). */
  evalEvery: number | null;
  outputDir: string | null;
  saveEvery: number | null;
  /**
   * Mixed precision (TRL's bf16): the policy's and the reference model's parameters are converted to bfloat16 in
   * place when the trainer is made (half the memory), with float32 master weights in the optimizer (AdamW keeps a
   * float32 copy of each policy parameter, updates it with the float32 gradient and writes it back rounded);
   * gradients and optimizer state are float32. Each step's matrix products take bfloat16 operands with float32
   * accumulation (matmul precision 'medium' passed to each forward, where the CPU has a bf16 kernel: AMX or
   * AVX512-BF16; the process default is left alone) and sampling keeps a bfloat16 KV cache. Without it the steps run at the process
   * default precision read when each step starts.
   */
  bf16: boolean;
  /** Prompt characters outside a CharTokenizer's alphabet (encoded as <unk>): warn once naming them, throw, or ignore. Default 'warn'. */
  unknownCharacters: UnknownCharactersPolicy;
  /**
   * TRL's peft_config (a trainer argument there; a config field here, so JSON configs carry it): the trainer wraps
   * the model in LoRA adapters with this LoraConfig (getPeftModel), trains only them and checkpoints them in PEFT's
   * files. With beta > 0 the reference model is the same model with the adapters disabled (no second copy of the
   * weights) unless a refModel is given. null: full fine-tuning (or the adapters of a model given as a
   * PeftModel). Default null.
   */
  peftConfig: LoraConfigOptions | null;
}

export const GRPO_DEFAULTS: GRPOConfig = {
  maxSteps: 100, numGenerations: 8, generationBatchSize: 64, microBatchSize: 64, numIterations: 1, learningRate: 1e-6,
  warmupSteps: 0, lrSchedule: 'linear', weightDecay: 0, maxGradNorm: 1, beta: 0, epsilon: 0.2, epsilonHigh: null,
  lossType: 'dapo', scaleRewards: 'group', importanceSamplingLevel: 'token', maskTruncatedCompletions: false,
  temperature: 1, topP: 1, topK: null, minP: null, maxCompletionLength: 256, rewardWeights: null, syncRefModel: false,
  refModelMixupAlpha: 0.6, refModelSyncSteps: 512, seed: 42, logEvery: 1, logCompletions: false, numCompletionsToPrint: null, evalEvery: null, outputDir: null, saveEvery: null, bf16: false,
  unknownCharacters: 'warn', peftConfig: null,
  ...TRAINING_ARGS_DEFAULTS,
};

const GRPO_FIELDS: Record<keyof GRPOConfig, FieldSpec> = {
  maxSteps: { kind: 'int', min: 1 }, numGenerations: { kind: 'int', min: 2 }, generationBatchSize: { kind: 'int', min: 2 },
  microBatchSize: { kind: 'int', min: 1 }, numIterations: { kind: 'int', min: 1 }, learningRate: { kind: 'number', min: 0 },
  warmupSteps: { kind: 'int', min: 0 },
  lrSchedule: { kind: 'enum', values: ['constant', 'constant_with_warmup', 'linear', 'cosine', 'cosine_with_min_lr'] },
  weightDecay: { kind: 'number', min: 0 }, maxGradNorm: { kind: 'number', min: 0 }, beta: { kind: 'number', min: 0 },
  epsilon: { kind: 'number', min: 0, max: 1 }, epsilonHigh: { kind: 'number', min: 0, nullable: true },
  lossType: { kind: 'enum', values: ['grpo', 'bnpo', 'dr_grpo', 'dapo'] },
  scaleRewards: { kind: 'enum', values: ['group', 'batch', 'none'] },
  importanceSamplingLevel: { kind: 'enum', values: ['token', 'sequence'] }, maskTruncatedCompletions: { kind: 'bool' },
  temperature: { kind: 'number', min: 1e-6 }, topP: { kind: 'number', min: 0, max: 1 }, topK: { kind: 'int', min: 0, nullable: true },
  minP: { kind: 'number', min: 0, max: 1, nullable: true }, maxCompletionLength: { kind: 'int', min: 1 },
  rewardWeights: { kind: 'numbers', nullable: true }, syncRefModel: { kind: 'bool' }, refModelMixupAlpha: { kind: 'number', min: 0, max: 1 },
  refModelSyncSteps: { kind: 'int', min: 1 }, seed: { kind: 'int', min: 0 }, logEvery: { kind: 'int', min: 1 }, logCompletions: { kind: 'bool' },
  numCompletionsToPrint: { kind: 'int', min: 1, nullable: true }, evalEvery: { kind: 'int', min: 1, nullable: true },
  outputDir: { kind: 'string', nullable: true }, saveEvery: { kind: 'int', min: 1, nullable: true }, bf16: { kind: 'bool' },
  unknownCharacters: { kind: 'enum', values: ['warn', 'error', 'ignore'] }, peftConfig: { kind: 'object', nullable: true },
  ...TRAINING_ARGS_FIELDS,
};

/** The reward function's name in logs (`rewards/<name>/mean`): its name, else reward<i>. */
export function rewardName(fn: RewardFunction, i: number): string {
  return fn.name && fn.name !== 'anonymous' ? fn.name : `reward${i}`;
}

export class GRPOTrainer extends StoppableTrainer {
  readonly config: GRPOConfig;
  /** Where the models and the optimizer state live (the `device` option resolved). */
  readonly device: Device;
  readonly optimizer: AdamW;
  readonly scheduler: LRScheduler;
  readonly logger: JsonlLogger;
  /**
   * The generator every completion is sampled with, seeded from `config.seed` and saved in checkpoints: the
   * trainer's draws do not depend on other code in the process, and a resumed run samples as the uninterrupted
   * one.
   */
  readonly generator: RandomGenerator;
  private readonly completionLog: JsonlLogger;
  private readonly data: DataOrder;
  private step = 0;
  /** The policy: the causal LM given (with LoRA adapters injected when peftConfig is set). */
  readonly model: LlamaForCausalLM;
  /** The LoRA adapters (TRL's trainer.model when peft_config is given), or null in full fine-tuning. */
  readonly peftModel: PeftModel<LlamaForCausalLM> | null;
  /** The reward functions, called with the batch as it is (a text reward on conversational rows gets message lists, as in TRL). */
  readonly rewardFuncs: readonly RewardFunction[];

  /**
   * `refModel` is required when beta > 0 without LoRA (a frozen copy of the starting policy, e.g. loadPretrained
   * of the same folder); it is moved toward the policy when syncRefModel is on. With LoRA adapters the reference
   * is the policy with its adapters disabled, unless `refModel` is given.
   */
  constructor(
    model: LlamaForCausalLM | PeftModel<LlamaForCausalLM>,
    readonly tokenizer: Tokenizer,
    readonly dataset: readonly PromptRow[],
    rewardFuncs: readonly AnyRewardFunction[],
    config: Partial<GRPOConfig> = {},
    readonly callbacks: TrainerCallbacks = {},
    readonly refModel: LlamaForCausalLM | null = null,
    readonly evalDataset: readonly PromptRow[] = [],
  ) {
    super();
    this.rewardFuncs = rewardFuncs as readonly RewardFunction[];
    const c = (this.config = checkConfig('GRPOTrainer', GRPO_FIELDS, GRPO_DEFAULTS, config));
    if (c.generationBatchSize % c.numGenerations !== 0) {
      throw new RangeError(`GRPOTrainer: generationBatchSize ${c.generationBatchSize} is not a multiple of numGenerations ${c.numGenerations}; ` +
        `use e.g. generationBatchSize ${Math.max(1, Math.round(c.generationBatchSize / c.numGenerations)) * c.numGenerations}`);
    }
    if (c.generationBatchSize % c.microBatchSize !== 0) {
      throw new RangeError(`GRPOTrainer: generationBatchSize ${c.generationBatchSize} must be a multiple of microBatchSize ${c.microBatchSize}`);
    }
    if (!Array.isArray(rewardFuncs) || rewardFuncs.length === 0 || rewardFuncs.some((f) => typeof f !== 'function')) {
      throw new TypeError('GRPOTrainer: rewardFuncs must be a non-empty array of functions');
    }
    if (c.rewardWeights && c.rewardWeights.length !== rewardFuncs.length) {
      throw new RangeError(`GRPOTrainer: rewardWeights has ${c.rewardWeights.length} entries for ${rewardFuncs.length} reward functions`);
    }
    if (c.evalEvery !== null && evalDataset.length === 0) throw new RangeError('GRPOTrainer: evalEvery needs an evalDataset');
    const lora = trainerLoraConfig('GRPOTrainer', model, c.peftConfig);
    if (lora) {
      if (c.syncRefModel) throw new RangeError('GRPOTrainer: syncRefModel is not supported with LoRA adapters (the reference is the base model: the policy with its adapters disabled)');
      if (c.beta > 0 && !refModel && lora.bias !== 'none') {
        throw new RangeError(`GRPOTrainer: beta > 0 with LoRA bias '${lora.bias}': the trained biases stay in use with the adapters disabled, so the reference would drift; use bias 'none'`);
      }
    } else if (c.beta > 0 && !refModel) {
      throw new RangeError('GRPOTrainer: beta > 0 needs a reference model (pass refModel, or set beta 0)');
    }
    if (!Array.isArray(dataset) || dataset.length === 0) throw new RangeError('GRPOTrainer: the dataset is empty');
    const promptTexts = [...dataset, ...evalDataset].map((row, i) => {
      const where = i < dataset.length ? `dataset row ${i}` : `evalDataset row ${i - dataset.length}`;
      if (!row || (typeof row.prompt !== 'string' && !isMessageList(row.prompt))) {
        throw new TypeError(`GRPOTrainer: ${where} has no 'prompt' (text, or a list of {role, content} messages)`);
      }
      return promptText(tokenizer, row.prompt, `GRPOTrainer: ${where}: prompt`);
    });
    checkUnknownCharacters('GRPOTrainer', tokenizer, promptTexts, c.unknownCharacters);
    this.data = new DataOrder(dataset.length, c.seed);
    this.generator = new RandomGenerator(c.seed);
    ({ model: this.model, peftModel: this.peftModel } = trainerPeftModel('GRPOTrainer', model, c.peftConfig));
    this.device = placeOnTrainerDevice(c, this.model, refModel);
    applyGradientCheckpointing(c, this.model);
    this.optimizer = trainerOptimizer(this.model.parameters().filter((p) => p.requiresGrad), c);
    // The scheduler steps once per optimizer step: numIterations per GRPO step.
    this.scheduler = trainerScheduler(this.optimizer, c, c.maxSteps * c.numIterations);
    this.logger = new JsonlLogger(c.outputDir ? `${c.outputDir}/grpo_logs.jsonl` : null);
    this.completionLog = new JsonlLogger(c.outputDir && c.logCompletions ? `${c.outputDir}/completions.jsonl` : null, false);
  }

  private nextRows(count: number): PromptRow[] {
    return Array.from({ length: count }, () => this.dataset[this.data.next()]);
  }

  private async scoreRewards(inputs: RewardArgs): Promise<{ matrix: (number | null)[][]; perFunction: (number | null)[][] }> {
    const n = inputs.completions.length;
    const perFunction: (number | null)[][] = [];
    for (let f = 0; f < this.rewardFuncs.length; f++) {
      const fn = this.rewardFuncs[f];
      const name = rewardName(fn, f);
      let values: (number | null)[];
      try {
        values = await fn(inputs);
      } catch (err) {
        throw new Error(`GRPOTrainer: reward '${name}' threw on ${await this.findOffender(fn, inputs)}: ${(err as Error).message}`);
      }
      if (!Array.isArray(values) || values.length !== n) {
        throw new TypeError(`GRPOTrainer: reward '${name}' returned ${Array.isArray(values) ? values.length : typeof values} values for ${n} completions`);
      }
      values.forEach((v, i) => {
        if (v !== null && (typeof v !== 'number' || Number.isNaN(v))) {
          throw new TypeError(`GRPOTrainer: reward '${name}' gave ${String(v)} for completion ${i} (${JSON.stringify(inputs.completions[i])}); return a number or null`);
        }
      });
      perFunction.push(values);
    }
    const matrix = Array.from({ length: n }, (_, i) => perFunction.map((vals) => vals[i]));
    return { matrix, perFunction };
  }

  // Re-runs a failing reward one completion at a time to name the sample that breaks it.
  private async findOffender(fn: RewardFunction, inputs: RewardArgs): Promise<string> {
    for (let i = 0; i < inputs.completions.length; i++) {
      const one: RewardArgs = { prompts: [inputs.prompts[i]], completions: [inputs.completions[i]], completionIds: [inputs.completionIds![i]] };
      for (const [k, v] of Object.entries(inputs)) if (!(k in one) && Array.isArray(v)) one[k] = [v[i]];
      try {
        await fn(one);
      } catch {
        return `sample ${i} (prompt ${JSON.stringify(inputs.prompts[i])}, completion ${JSON.stringify(inputs.completions[i])})`;
      }
    }
    return 'the batch (no single completion fails alone)';
  }

  // The precision of a step's (or evaluation's) matrix products.
  private matmulPrecision(): Float32MatmulPrecision {
    return this.config.bf16 ? 'medium' : getFloat32MatmulPrecision();
  }

  // Samples `repeat` completions of each row's prompt and decodes them (the trailing stop token dropped). Generation
  // stops at the model's generation_config.json EOS ids and the tokenizer's.
  private sample(rows: readonly PromptRow[], repeat: number, precision: Float32MatmulPrecision) {
    const c = this.config;
    const promptIds = rows.map((r) => encodePrompt(this.tokenizer, r.prompt));
    const repeated = promptIds.flatMap((p) => Array.from({ length: repeat }, () => p));
    const stops = stopTokenIds(this.model, this.tokenizer);
    const gen = generate(this.model, repeated, {
      maxNewTokens: c.maxCompletionLength, temperature: c.temperature, topP: c.topP, topK: c.topK ?? undefined,
      minP: c.minP ?? undefined, eosTokenId: stops, kvCacheDtype: c.bf16 ? 'bfloat16' : 'float32',
      generator: this.generator, matmulPrecision: precision,
    });
    const completionIds = gen.completionIds.map((ids, i) => ids.slice(0, gen.completionLengths[i]));
    const texts = completionIds.map((ids) => this.tokenizer.decode(withoutStopToken(ids, stops)));
    const rowOf = (i: number) => rows[Math.floor(i / repeat)];
    // TRL's conversational completions: one assistant message, which continues a final assistant message of the
    // prompt (that message then leaves the prompt the rewards see).
    const prompts: Prompt[] = [];
    const completions: Completion[] = texts.map((text, i) => {
      const prompt = rowOf(i).prompt;
      if (!isMessageList(prompt)) {
        prompts.push(prompt);
        return text;
      }
      const last = prompt[prompt.length - 1];
      const continued = last.role === 'assistant';
      prompts.push(continued ? prompt.slice(0, -1) : prompt);
      return [{ role: 'assistant', content: (continued ? last.content : '') + text } satisfies ChatMessage];
    });
    const promptTexts = rows.flatMap((r) => Array.from({ length: repeat }, () => promptText(this.tokenizer, r.prompt)));
    const inputs: RewardArgs = { prompts, completions, completionIds };
    // Every column any row of the batch has (rows of a mixed dataset may lack some; theirs read null).
    const columns = new Set(rows.flatMap((r) => Object.keys(r)));
    columns.delete('prompt');
    for (const key of columns) inputs[key] = rows.flatMap((r) => Array.from({ length: repeat }, () => (key in r ? r[key] : null)));
    return { promptIds, repeated, gen, completionIds, inputs, promptTexts, texts };
  }

  /** Samples one completion per eval prompt and logs the weighted reward and each function's mean. */
  async evaluate(): Promise<LogRecord> {
    const { inputs } = this.sample(this.evalDataset, 1, this.matmulPrecision());
    const { matrix, perFunction } = await this.scoreRewards(inputs);
    const weights = this.config.rewardWeights ?? this.rewardFuncs.map(() => 1);
    const total = matrix.map((row) => row.reduce<number>((a, v, f) => a + (v ?? 0) * weights[f], 0));
    const metrics: LogRecord = { step: this.step, eval_reward: total.reduce((a, b) => a + b, 0) / total.length };
    this.rewardFuncs.forEach((fn, f) => {
      const scored = perFunction[f].filter((v): v is number => v !== null);
      metrics[`eval_rewards/${rewardName(fn, f)}/mean`] = scored.length ? scored.reduce((a, b) => a + b, 0) / scored.length : null;
    });
    this.logger.write(metrics);
    this.callbacks.onEvaluate?.(metrics);
    return metrics;
  }

  /**
   * One GRPO step: generate, reward, advantages, numIterations optimizer steps. Returns the step's log. Nothing
   * process-wide changes, so trainers may interleave their steps (e.g. under Promise.all while rewards await).
   */
  async trainStep(): Promise<LogRecord> {
    const c = this.config;
    const precision = this.matmulPrecision();
    const G = c.numGenerations;
    const started = performance.now();
    const rows = this.nextRows(c.generationBatchSize / G);
    const { promptIds, repeated, gen, completionIds, inputs, promptTexts, texts } = this.sample(rows, G, precision);
    const eos = this.tokenizer.eosTokenId;
    const generationTime = performance.now() - started;
    const N = repeated.length;
    const { matrix, perFunction } = await this.scoreRewards(inputs);
    // The rewards go to the model's device once; the advantages are computed and stay there.
    const adv = groupAdvantagesOn(this.model.device, matrix, { groupSize: G, weights: c.rewardWeights ?? undefined, scaleRewards: c.scaleRewards });
    const advT = adv.advantages;

    const L = Math.max(1, ...gen.completionLengths);
    const P = Math.max(...promptIds.map((p) => p.length));
    const mask = new Float32Array(N * L);
    const ids = new Int32Array(N * (P + L)).fill(this.tokenizer.padTokenId ?? eos ?? 0);
    const leftPads = repeated.map((p) => P - p.length);
    repeated.forEach((p, i) => {
      ids.set(p, i * (P + L) + leftPads[i]);
      ids.set(completionIds[i], i * (P + L) + P);
      const scored = !(c.maskTruncatedCompletions && gen.truncated[i]);
      for (let t = 0; t < completionIds[i].length; t++) mask[i * L + t] = scored ? 1 : 0;
    });
    const activeTokens = mask.reduce((a, b) => a + b, 0);
    const padded = leftPads.some((n) => n > 0);
    const attention = padded ? repeated.map((_, i) => Array.from({ length: P + L }, (_, j) => (j < leftPads[i] ? 0 : 1))) : undefined;

    // Log-probs of completion tokens: logits at positions P-1 .. P+L-2 predict tokens P .. P+L-1. Only the last L+1
    // positions get logits (TRL's logits_to_keep): the prompt's would only receive a zero gradient.
    const completionLogps = (model: LlamaForCausalLM, start: number, count: number, withEntropy: boolean) => {
      const idsT = tensor(ids.subarray(start * (P + L), (start + count) * (P + L)), [count, P + L], { dtype: 'int32', device: model.device });
      const target = narrow(idsT, 1, P, L);
      const forward = { attentionMask: attention?.slice(start, start + count), matmulPrecision: precision, logitsToKeep: L + 1 };
      const logits = narrow(model.forward(idsT, forward), 1, 0, L);
      if (withEntropy) return selectiveLogSoftmaxWithEntropy(logits, target, { temperature: c.temperature });
      return { logps: selectiveLogSoftmax(logits, target, { temperature: c.temperature }), entropy: null };
    };
    const micro = c.microBatchSize;
    const chunks = Array.from({ length: N / micro }, (_, k) => k * micro);
    const constant = (fn: () => Tensor) => noGrad(() => tidy(() => fn().contiguous().detach()));
    // With LoRA the reference is the policy with its adapters off: the base weights, no second copy of them.
    const referenceLogps = (s: number) => (this.peftModel && !this.refModel
      ? this.peftModel.withAdaptersDisabled(() => completionLogps(this.model, s, micro, false).logps)
      : completionLogps(this.refModel!, s, micro, false).logps);
    const refLogps = c.beta > 0 ? chunks.map((s) => constant(() => referenceLogps(s))) : null;
    const oldLogps = c.numIterations > 1 ? chunks.map((s) => constant(() => completionLogps(this.model, s, micro, false).logps)) : null;
    const maskT = tensor(mask, [N, L], { device: this.model.device });

    let lossSum = 0;
    let gradNorm = 0;
    const sums: Record<string, number> = {};
    for (let iter = 0; iter < c.numIterations; iter++) {
      chunks.forEach((s, k) => tidy(() => {
        const { logps, entropy } = completionLogps(this.model, s, micro, iter === 0);
        const { loss, metrics } = grpoLoss(logps, {
          oldLogps: oldLogps?.[k] ?? null, refLogps: refLogps?.[k] ?? null, advantages: narrow(advT, 0, s, micro),
          mask: narrow(maskT, 0, s, micro), entropy,
        }, {
          lossType: c.lossType, importanceSampling: c.importanceSamplingLevel, epsLow: c.epsilon, epsHigh: c.epsilonHigh ?? c.epsilon,
          beta: c.beta, numItemsInBatch: activeTokens, maxCompletionLength: c.maxCompletionLength,
        });
        // dapo is already normalized by the whole round's tokens; the others are means per micro-batch.
        const scaled = c.lossType === 'dapo' ? loss : loss.mul(micro / N);
        lossSum += scaled.item();
        scaled.backward();
        if (iter === 0) for (const [name, v] of Object.entries(metrics)) sums[name] = (sums[name] ?? 0) + v * micro / N;
      }));
      gradNorm = clipTrainerGradients(this.optimizer.params, c.maxGradNorm);
      this.optimizer.step();
      this.optimizer.zeroGrad();
      this.scheduler.step();
    }
    for (const t of [maskT, ...(refLogps ?? []), ...(oldLogps ?? [])]) t.dispose();
    this.step++;
    if (c.syncRefModel && this.refModel && this.step % c.refModelSyncSteps === 0) this.syncReference();

    const lengths = gen.completionLengths;
    const log: LogRecord = {
      step: this.step,
      loss: lossSum / c.numIterations,
      reward: adv.metrics.reward,
      reward_std: adv.metrics.reward_std,
      frac_reward_zero_std: adv.metrics.frac_reward_zero_std,
      kl: sums.kl ?? 0,
      entropy: sums.entropy ?? 0,
      'clip_ratio/low_mean': sums['clip_ratio/low_mean'] ?? 0,
      'clip_ratio/high_mean': sums['clip_ratio/high_mean'] ?? 0,
      'clip_ratio/region_mean': sums['clip_ratio/region_mean'] ?? 0,
      'completions/mean_length': lengths.reduce((a, b) => a + b, 0) / N,
      'completions/min_length': Math.min(...lengths),
      'completions/max_length': Math.max(...lengths),
      'completions/clipped_ratio': gen.truncated.filter(Boolean).length / N,
      grad_norm: gradNorm,
      learning_rate: this.optimizer.paramGroups[0].lr,
      step_time: (performance.now() - started) / 1000,
      generation_time_share: generationTime / (performance.now() - started),
    };
    this.rewardFuncs.forEach((fn, f) => {
      const scored = perFunction[f].filter((v): v is number => v !== null);
      const mean = scored.reduce((a, b) => a + b, 0) / Math.max(1, scored.length);
      const std = Math.sqrt(scored.reduce((a, v) => a + (v - mean) ** 2, 0) / Math.max(1, scored.length - 1));
      log[`rewards/${rewardName(fn, f)}/mean`] = scored.length ? mean : null;
      log[`rewards/${rewardName(fn, f)}/std`] = scored.length > 1 ? std : null;
    });
    if (this.step % c.logEvery === 0) {
      this.logger.write(log);
      // The one copy of the advantages to the host, for the completions log.
      if (c.logCompletions) this.logCompletions(promptTexts, texts, perFunction, advT.data() as Float32Array);
      this.callbacks.onStep?.(log);
    }
    advT.dispose();
    if (c.evalEvery && this.step % c.evalEvery === 0) await this.evaluate();
    if (c.outputDir && c.saveEvery && this.step % c.saveEvery === 0) this.save(`${c.outputDir}/checkpoint-${this.step}`);
    return log;
  }

  // As TRL's log_completions: the prompt and completion as text (a conversation's prompt rendered by the template).
  private logCompletions(prompts: string[], completions: string[], perFunction: (number | null)[][], advantages: Float32Array): void {
    const shown = Math.min(completions.length, this.config.numCompletionsToPrint ?? Infinity);
    const records = Array.from({ length: shown }, (_, i) => {
      const record: LogRecord = { step: this.step, prompt: prompts[i], completion: completions[i] };
      this.rewardFuncs.forEach((fn, f) => { record[`rewards/${rewardName(fn, f)}`] = perFunction[f][i]; });
      record.advantage = advantages[i];
      return record;
    });
    for (const record of records) this.completionLog.write(record);
    this.callbacks.onCompletions?.(records);
  }

  /**
   * Runs GRPO steps up to options.untilStep (default maxSteps), optionally resuming first (TRL's
   * resume_from_checkpoint), yielding to the event loop between steps so that stop() from a signal handler,
   * or options.signal, ends it after the step in progress with a checkpoint in outputDir. Returns this call's
   * step logs; `stopped` says whether it ended early. `train(onProgress, untilStep)` is the same as
   * `train({ onProgress, untilStep })`.
   */
  async train(options: TrainOptions<LogRecord> | TrainOptions<LogRecord>['onProgress'] = {}, untilStep?: number): Promise<LogRecord[]> {
    const o: TrainOptions<LogRecord> = typeof options === 'function' ? { onProgress: options, untilStep } : { ...options, ...(untilStep !== undefined ? { untilStep } : {}) };
    const from = resumeCheckpointFolder('GRPOTrainer', o.resumeFromCheckpoint, this.config.outputDir);
    if (from) this.resume(from);
    const limit = Math.min(o.untilStep ?? this.config.maxSteps, this.config.maxSteps);
    if (o.untilStep !== undefined) checkStepCount('GRPOTrainer.train', 'untilStep', o.untilStep);
    const logs: LogRecord[] = [];
    this.logger.start();
    this.control.watch('GRPOTrainer', o.signal);
    try {
      while (this.step < limit && !this.control.asking) {
        const log = await this.trainStep();
        logs.push(log);
        o.onProgress?.(this.step, this.config.maxSteps, log);
        await yieldToEventLoop();
      }
      this.control.finish(this.step, limit, this.config.outputDir, (dir) => this.save(dir));
    } finally {
      this.control.release();
    }
    return logs;
  }

  // ref = alpha * policy + (1 - alpha) * ref (TRL's SyncRefModelCallback; alpha 1 = R1's hard reset).
  private syncReference(): void {
    const alpha = this.config.refModelMixupAlpha;
    const policy = this.model.stateDict();
    const ref = this.refModel!.stateDict();
    noGrad(() => tidy(() => {
      for (const [name, r] of Object.entries(ref)) {
        const mixed = policy[name].mul(alpha).add(r.mul(1 - alpha));
        r.backend.copy(r, mixed);
      }
    }));
  }

  /** Optimizer rounds taken so far. */
  get globalStep(): number {
    return this.step;
  }

  /** Writes model, optimizer, scheduler, the sampling generator, step and the prompt order, so resume() continues identically. */
  save(dir: string): void {
    saveTrainerCheckpoint(dir, this.parts(), this.step, this.config, this.refModel ? { refModel: this.refModel.stateDict() } : {});
    this.control.checkpoint = { dir, step: this.step };
    this.callbacks.onSave?.(dir);
  }

  /** Restores a checkpoint written by save() (the reference model too); train() then continues from its step. */
  resume(dir: string): void {
    const info = loadTrainerCheckpoint(dir, this.parts(), 'GRPOTrainer');
    const extra = info.extra as { refModel?: Record<string, Tensor> } | null;
    if (this.refModel) {
      if (!extra?.refModel) throw new Error(`GRPOTrainer.resume: ${dir} holds no reference model, but this trainer has one`);
      this.refModel.loadStateDict(extra.refModel);
    }
    for (const t of Object.values(extra?.refModel ?? {})) t.dispose();
    this.step = info.step;
    this.control.checkpoint = { dir, step: this.step };
    this.logger.resumeAt(this.step);
    this.completionLog.resumeAt(this.step);
  }

  private parts(): TrainerParts {
    return { model: this.model, optimizer: this.optimizer, scheduler: this.scheduler, data: this.data, generator: this.generator, adapter: this.peftModel };
  }
}
