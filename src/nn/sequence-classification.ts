// LlamaForSequenceClassification: the Llama / Qwen2 decoder plus a bias-free linear head `score` (Hugging
// Face's names: model.*, score.weight) read at the last non-padding token of each sequence. With one label it
// is a reward model; folders save and load like transformers' LlamaForSequenceClassification.
import type { Float32MatmulPrecision } from '../backend/backend.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { getRngState, manualSeed, setRngState, tensor } from '../ops/creation.js';
import { indexSelect } from '../ops/index.js';
import { reshape } from '../ops/shape.js';
import { formatShape, Tensor } from '../tensor.js';
import { writeFileAtomic } from '../io/atomic.js';
import { saveTokenizer } from '../io/tokenizers/index.js';
import type { Tokenizer } from '../io/tokenizers/types.js';
import { readSafetensorsFolder, readSafetensorsFolderShapes, SAFETENSORS_FILE, writeSafetensors } from '../io/safetensors.js';
import { withoutInit } from './init.js';
import { checkConfigMatchesWeights, LlamaConfig, type LlamaConfigOptions } from './config.js';
import { Linear } from './linear.js';
import { LlamaModel, readMask, type LlamaInitOptions, type LlamaForCausalLM } from './llama.js';
import { Module } from './module.js';
import { assertNoAdapters } from './lora.js';

export interface SequenceClassificationForwardOptions {
  /**
   * (B, T) 1 for real tokens, 0 for padding (left or right). The score is read at each row's last 1.
   * Right padding alone needs no attention mask (causal attention never reads later positions), so such a
   * batch runs the fused unmasked kernel; left padding runs the fused kernel with per-row key starts, and any
   * other mask the masked path.
   */
  attentionMask?: Tensor | ArrayLike<number>[];
  /**
   * Real tokens per row of a right-padded batch (the score is read at lengths[b] - 1). Takes precedence
   * over padTokenId; cannot be combined with attentionMask.
   */
  lengths?: readonly number[];
  /** Precision of every matrix product of this forward and its backward. Default: the process default. */
  matmulPrecision?: Float32MatmulPrecision;
}

export interface SequenceClassificationInitOptions extends LlamaInitOptions {
  /** Outputs of the head (1 = a scalar reward model). Default 1. */
  numLabels?: number;
}


/**
 * A Llama / Qwen2 decoder with a scalar (or numLabels-wide) head on the last real token: Hugging Face's
 * LlamaForSequenceClassification (parameters model.embed_tokens.weight, model.layers.N..., model.norm.weight,
 * score.weight). forward(ids) -> (B, numLabels); score(ids) -> (B) for a reward model.
 */
export class LlamaForSequenceClassification extends Module {
  readonly config: LlamaConfig;
  readonly numLabels: number;
  readonly model: LlamaModel;
  readonly score: Linear;

  constructor(config: LlamaConfig | LlamaConfigOptions, options: SequenceClassificationInitOptions = {}) {
    super();
    const c = config instanceof LlamaConfig ? config : new LlamaConfig(config);
    this.config = c;
    this.numLabels = options.numLabels ?? 1;
    if (!Number.isInteger(this.numLabels) || this.numLabels < 1) throw new RangeError(`LlamaForSequenceClassification: numLabels must be a positive integer, got ${this.numLabels}`);
    const saved = options.seed === undefined ? null : getRngState();
    if (options.seed !== undefined) manualSeed(options.seed);
    try {
      this.model = this.registerModule('model', new LlamaModel(c));
      this.score = this.registerModule('score', new Linear(c.hiddenSize, this.numLabels, { bias: false, std: c.initializerRange }));
    } finally {
      if (saved) setRngState(saved);
    }
  }

  /** Turns gradient checkpointing on (transformers' `gradient_checkpointing_enable()`; see LlamaForCausalLM's). */
  gradientCheckpointingEnable(): void {
    this.model.gradientCheckpointing = true;
  }

  /** Turns gradient checkpointing off (transformers' `gradient_checkpointing_disable()`). */
  gradientCheckpointingDisable(): void {
    this.model.gradientCheckpointing = false;
  }

  /** Whether gradient checkpointing is on (transformers' `is_gradient_checkpointing`). */
  get isGradientCheckpointing(): boolean {
    return this.model.gradientCheckpointing;
  }

  /**
   * The index of the token each row is scored at: the last 1 of attentionMask, lengths[b] - 1, the last
   * token that is not padTokenId (when the config has one and it is not also EOS), else T - 1.
   */
  poolIndices(ids: Tensor, options: SequenceClassificationForwardOptions = {}): { index: number[]; mask: Uint8Array | null } {
    const [B, T] = ids.shape;
    if (options.lengths !== undefined) {
      if (options.attentionMask !== undefined) throw new RangeError('LlamaForSequenceClassification: give attentionMask or lengths, not both');
      if (options.lengths.length !== B) throw new RangeError(`LlamaForSequenceClassification: ${options.lengths.length} lengths for ${B} rows`);
      return {
        index: options.lengths.map((n, b) => {
          if (!Number.isInteger(n) || n < 1 || n > T) throw new RangeError(`LlamaForSequenceClassification: lengths[${b}] = ${n} must be in [1, ${T}]`);
          return n - 1;
        }), mask: null,
      };
    }
    if (options.attentionMask !== undefined) {
      const mask = readMask(options.attentionMask, B, T);
      const index = Array.from({ length: B }, (_, b) => {
        for (let j = T - 1; j >= 0; j--) if (mask[b * T + j]) return j;
        throw new RangeError(`LlamaForSequenceClassification: row ${b} of attentionMask has no real token`);
      });
      return { index, mask };
    }
    const pad = this.config.padTokenId;
    const eos = this.config.eosTokenId;
    if (pad === null || pad === eos || (Array.isArray(eos) && eos.includes(pad))) return { index: new Array<number>(B).fill(T - 1), mask: null };
    const d = ids.data();
    // Hugging Face's rule: the rightmost token that is not padding.
    return {
      index: Array.from({ length: B }, (_, b) => {
        for (let j = T - 1; j >= 0; j--) if (d[b * T + j] !== pad) return j;
        return T - 1;
      }), mask: null,
    };
  }

  /** Final-norm hidden states (B, T, C) of the decoder; mask as in forward. */
  hiddenStates(ids: Tensor, mask: Uint8Array | null, precision?: Float32MatmulPrecision): Tensor {
    const [B, T] = ids.shape;
    // A mask that is only right padding changes nothing a real token reads: drop it (fused kernel).
    let leftPadded = false;
    for (let b = 0; mask && b < B && !leftPadded; b++) {
      let seenPad = false;
      for (let j = 0; j < T; j++) {
        if (!mask[b * T + j]) seenPad = true;
        else if (seenPad) {
          leftPadded = true;
          break;
        }
      }
    }
    const rows = leftPadded ? Array.from({ length: B }, (_, b) => mask!.subarray(b * T, (b + 1) * T)) : undefined;
    return this.model.forward(ids, { attentionMask: rows, matmulPrecision: precision }, 'LlamaForSequenceClassification.forward');
  }

  /** ids int32 (B, T) -> logits (B, numLabels) at each row's last real token. */
  forward(ids: Tensor, options: SequenceClassificationForwardOptions = {}): Tensor {
    if (!(ids instanceof Tensor)) throw new TypeError('LlamaForSequenceClassification.forward: ids must be an int32 Tensor (B, T)');
    ids.assertLive('LlamaForSequenceClassification.forward');
    if (ids.dtype !== 'int32' || ids.ndim !== 2 || ids.numel === 0)
      throw new TypeError(`LlamaForSequenceClassification.forward: ids must be a non-empty int32 (B, T) tensor, got ${ids.dtype} ${formatShape(ids.shape)}`);
    const [B, T] = ids.shape;
    const { index, mask } = this.poolIndices(ids, options);
    const h = this.hiddenStates(ids, mask, options.matmulPrecision);
    // Gather rows b*T + index[b] of (B*T, C): only the pooled states go through the head.
    const rows = tensor(Int32Array.from(index, (j, b) => b * T + j), [B], { dtype: 'int32', device: ids.device });
    const pooled = indexSelect(reshape(h, [B * T, this.config.hiddenSize]), 0, rows);
    return this.score.forward(pooled, options.matmulPrecision);
  }

  /** Scalar rewards (B) of a one-label model. */
  scores(ids: Tensor, options: SequenceClassificationForwardOptions = {}): Tensor {
    if (this.numLabels !== 1) throw new RangeError(`LlamaForSequenceClassification.scores: the model has ${this.numLabels} labels; a reward model has 1`);
    return reshape(this.forward(ids, options), [ids.shape[0]]);
  }

  /**
   * A classifier whose decoder is copied from a causal LM (its lm_head is dropped) and whose head is freshly
   * initialized from normal(0, initializerRange) with `seed`. `log` receives the notice (default console.warn).
   */
  static fromCausalLM(lm: LlamaForCausalLM, options: SequenceClassificationInitOptions & { log?: (msg: string) => void; source?: string } = {}): LlamaForSequenceClassification {
    const seq = withoutInit(() => new LlamaForSequenceClassification(lm.config, { numLabels: options.numLabels }));
    const sd = lm.stateDict();
    const decoder = Object.fromEntries(Object.entries(sd).filter(([k]) => k.startsWith('model.')));
    const saved = getRngState();
    if (options.seed !== undefined) manualSeed(options.seed);
    try {
      const fresh = new Linear(lm.config.hiddenSize, seq.numLabels, { bias: false, std: lm.config.initializerRange });
      seq.loadStateDict({ ...decoder, 'score.weight': fresh.weight });
      fresh.dispose();
    } finally {
      if (options.seed !== undefined) setRngState(saved);
    }
    (options.log ?? console.warn)(`LlamaForSequenceClassification: decoder weights from the causal LM${options.source ? ` at ${options.source}` : ''}; ` +
      `newly initialized: ['score.weight'] (normal, std ${lm.config.initializerRange}${options.seed !== undefined ? `, seed ${options.seed}` : ''}); lm_head not used`);
    return seq;
  }

  /** The Hugging Face config.json of this model (architectures LlamaForSequenceClassification / Qwen2ForSequenceClassification). */
  configJson(): Record<string, unknown> {
    const json = this.config.toHF();
    json.architectures = [this.config.modelType === 'qwen2' ? 'Qwen2ForSequenceClassification' : 'LlamaForSequenceClassification'];
    json.num_labels = this.numLabels;
    json.id2label = Object.fromEntries(Array.from({ length: this.numLabels }, (_, i) => [String(i), `LABEL_${i}`]));
    json.label2id = Object.fromEntries(Array.from({ length: this.numLabels }, (_, i) => [`LABEL_${i}`, i]));
    return json;
  }
}

const SEQ_ARCHS = ['LlamaForSequenceClassification', 'Qwen2ForSequenceClassification'];
const CAUSAL_ARCHS = ['LlamaForCausalLM', 'Qwen2ForCausalLM'];

export interface LoadRewardModelOptions {
  /** For a causal-LM folder: the seed of the fresh head. Default 0. */
  seed?: number;
  /** Receives the notice that the head was freshly initialized. Default console.warn. */
  log?: (msg: string) => void;
}

/**
 * Loads a sequence-classification folder (config.json + safetensors with score.weight) as it was saved, or a
 * causal-LM folder as a classifier with a freshly initialized head (stated through `log`).
 */
export function loadSequenceClassifier(dir: string, options: LoadRewardModelOptions = {}): LlamaForSequenceClassification {
  const file = path.join(dir, 'config.json');
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`loadSequenceClassifier: cannot read ${file}: ${(err as Error).message}`);
  }
  const archs = Array.isArray(json.architectures) ? (json.architectures as string[]) : [];
  const isSeq = archs.some((a) => SEQ_ARCHS.includes(a));
  const config = LlamaConfig.fromHF({ ...json, architectures: archs.map((a) => (SEQ_ARCHS.includes(a) ? CAUSAL_ARCHS[SEQ_ARCHS.indexOf(a)] : a)) });
  checkConfigMatchesWeights(`loadSequenceClassifier(${dir})`, config, readSafetensorsFolderShapes(dir));
  const weights = readSafetensorsFolder(dir);
  try {
    const hasHead = 'score.weight' in weights;
    if (isSeq || hasHead) {
      const numLabels = hasHead ? weights['score.weight'].shape[0] : typeof json.num_labels === 'number' ? json.num_labels : 1;
      const model = withoutInit(() => new LlamaForSequenceClassification(config, { numLabels }));
      try {
        const sd = Object.fromEntries(Object.entries(weights).filter(([k]) => !/\.rotary_emb\.inv_freq$/.test(k)));
        model.loadStateDict(sd);
      } catch (err) {
        model.dispose();
        throw new Error(`loadSequenceClassifier(${dir}): ${(err as Error).message}`);
      }
      return model;
    }
    // A causal LM: take the decoder, drop lm_head, fresh head.
    const decoder = Object.fromEntries(Object.entries(weights).filter(([k]) => k.startsWith('model.')));
    const model = withoutInit(() => new LlamaForSequenceClassification(config));
    const saved = getRngState();
    manualSeed(options.seed ?? 0);
    const fresh = new Linear(config.hiddenSize, 1, { bias: false, std: config.initializerRange });
    setRngState(saved);
    try {
      model.loadStateDict({ ...decoder, 'score.weight': fresh.weight });
    } catch (err) {
      model.dispose();
      throw new Error(`loadSequenceClassifier(${dir}): ${(err as Error).message}`);
    } finally {
      fresh.dispose();
    }
    (options.log ?? console.warn)(`LlamaForSequenceClassification: decoder weights from the causal LM at ${dir}; newly initialized: ['score.weight'] ` +
      `(normal, std ${config.initializerRange}, seed ${options.seed ?? 0}); lm_head not used`);
    return model;
  } finally {
    for (const t of Object.values(weights)) t.dispose();
  }
}

/**
 * Writes `model` as a Hugging Face folder: config.json + model.safetensors (float32, model.* and score.weight),
 * and the tokenizer when given.
 */
export function saveSequenceClassifier(model: LlamaForSequenceClassification, dir: string, options: { tokenizer?: Tokenizer } = {}): void {
  assertNoAdapters('saveSequenceClassifier', model);
  fs.mkdirSync(dir, { recursive: true });
  if (options.tokenizer) saveTokenizer(options.tokenizer, dir);
  writeSafetensors(path.join(dir, SAFETENSORS_FILE), model.stateDict(), { format: 'pt' });
  writeFileAtomic(path.join(dir, 'config.json'), [Buffer.from(JSON.stringify(model.configJson(), null, 2) + '\n', 'utf8')]);
}
