// LlamaForCausalLM: embeddings, decoder layers, final norm and LM head with exactly Hugging Face's parameter
// names, so Llama and Qwen2 checkpoints load as they are. forward(ids) -> logits, with an optional KV cache,
// explicit positions and a padding mask.
import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { checkpoint } from '../autograd/checkpoint.js';
import { isGradEnabled } from '../autograd/grad-mode.js';
import { getRngState, manualSeed, setRngState, tensor } from '../ops/creation.js';
import type { Device, Float32MatmulPrecision } from '../backend/backend.js';
import { linearPacked, matmul, PackedLinearWeight, resolveMatmulPrecision } from '../ops/matmul.js';
import { crossEntropy } from '../ops/nn.js';
import { cast, narrow, transpose } from '../ops/shape.js';
import { formatShape, Tensor } from '../tensor.js';
import type { AttentionContext } from './attention.js';
import { KVCache, type KVCacheDtype } from './kv-cache.js';
import { type GenerationConfig, LlamaConfig, type LlamaConfigOptions } from './config.js';
import { DecoderLayer } from './decoder-layer.js';
import { Embedding } from './embedding.js';
import { Linear } from './linear.js';
import { Module, ModuleList } from './module.js';
import { RMSNorm } from './rms-norm.js';
import { RotaryEmbedding } from './rotary.js';

/** Mask value for keys a query must not read (finite, so a fully masked row cannot produce NaN). */
const MASKED = -1e30;

export interface LlamaForwardOptions {
  /**
   * Rotary positions, int32 [T] (shared) or [B, T], as a tensor or arrays. Default: past + 0..T-1, or with
   * an attentionMask, Hugging Face's cumsum(mask) - 1 (each sequence counts from its first real token).
   */
  positions?: Tensor | number[] | number[][];
  /** Keys/values of earlier positions; this forward appends T positions and advances cache.length. */
  cache?: KVCache;
  /**
   * (B, past + T): 1 for real tokens, 0 for padding, covering the cached positions and the new ones (as in
   * Hugging Face). Padding keys are masked out of attention. Omit (or all ones) for unpadded batches.
   */
  attentionMask?: Tensor | ArrayLike<number>[];
  /** Compute logits for the last n positions only (generation needs 1). Default all T. */
  logitsToKeep?: number;
  /**
   * Precision of every matrix product of this forward and its backward (mixed precision per call, as a
   * trainer's bf16 option uses it). Default: the process default (setFloat32MatmulPrecision) at call time.
   */
  matmulPrecision?: Float32MatmulPrecision;
}

export interface LlamaInitOptions {
  /** Seed for the initial weights (the global generator's state is restored afterwards). Default: the global generator. */
  seed?: number;
}

// NOTE: a config is a few hundred bytes of JSON; without this check a hostile or mistyped one (a million layers)
// allocates for minutes before failing. Float32 weights must fit in the machine's memory, and the modules'
// objects in the JavaScript heap (a million tiny layers need 12 GB of heap for almost no weights).
function checkFitsInMemory(config: LlamaConfig): void {
  const { weightBytes, heapBytes } = config.memoryEstimate();
  const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;
  const shape = `${config.numHiddenLayers} layers, hidden ${config.hiddenSize}, intermediate ${config.intermediateSize}, vocabulary ${config.vocabSize}`;
  if (weightBytes > totalmem()) {
    throw new RangeError(`LlamaModel: this config has ${config.parameterCount().toExponential(2)} parameters, ${gib(weightBytes)} in float32, ` +
      `more than this machine's ${gib(totalmem())} of memory (${shape})`);
  }
  const heapLimit = getHeapStatistics().heap_size_limit;
  if (heapBytes > heapLimit) {
    throw new RangeError(`LlamaModel: this config's ${config.numHiddenLayers} layers would take about ${gib(heapBytes)} of JavaScript heap for their ` +
      `modules and tensors, more than this process's ${gib(heapLimit)} (node --max-old-space-size) (${shape})`);
  }
}

export class LlamaModel extends Module {
  readonly embed_tokens: Embedding;
  readonly layers: ModuleList<DecoderLayer>;
  readonly norm: RMSNorm;
  private readonly rotary: RotaryEmbedding;
  /**
   * Recompute each decoder layer's activations in backward instead of keeping them (transformers'
   * gradient_checkpointing): only while training (`training`, recording on, no KV cache). Default false.
   */
  gradientCheckpointing = false;

  constructor(readonly config: LlamaConfig) {
    super();
    checkFitsInMemory(config);
    this.embed_tokens = this.registerModule('embed_tokens', new Embedding(config.vocabSize, config.hiddenSize, { std: config.initializerRange }));
    this.layers = this.registerModule('layers', new ModuleList(Array.from({ length: config.numHiddenLayers }, () => new DecoderLayer(config))));
    this.norm = this.registerModule('norm', new RMSNorm(config.hiddenSize, config.rmsNormEps));
    this.rotary = new RotaryEmbedding(config.headDim, config.ropeTheta, config.maxPositionEmbeddings);
  }

  /**
   * ids int32 (B, T) -> final-norm hidden states (B, T, C) (or the last logitsToKeep positions). `op` names the
   * caller in error messages.
   */
  forward(ids: Tensor, options: LlamaForwardOptions = {}, op = 'LlamaModel.forward'): Tensor {
    if (!(ids instanceof Tensor)) throw new TypeError(`${op}: ids must be an int32 Tensor (B, T)`);
    ids.assertLive(op);
    if (ids.dtype !== 'int32' || ids.ndim !== 2 || ids.numel === 0)
      throw new TypeError(`${op}: ids must be a non-empty int32 (B, T) tensor, got ${ids.dtype} ${formatShape(ids.shape)}`);
    const [B, T] = ids.shape;
    const cache = options.cache ?? null;
    if (cache && isGradEnabled() && this.parameters().some((p) => p.requiresGrad))
      throw new Error(`${op}: a KV cache is for inference (gradients do not flow through it); run inside noGrad()`);
    const past = cache ? cache.length : 0;
    const Tk = past + T;
    const keep = options.logitsToKeep ?? T;
    if (!Number.isInteger(keep) || keep < 1 || keep > T) throw new RangeError(`${op}: logitsToKeep must be in [1, ${T}], got ${keep}`);

    const mask = options.attentionMask === undefined ? null : readMask(options.attentionMask, B, Tk);
    const padded = mask !== null && mask.some((m) => m === 0);
    const starts = padded ? leftPaddingStarts(mask, B, Tk) : null;
    // Left padding runs on the fused kernel's key starts; the bfloat16 cache's decode kernel still reads a bias.
    const keyStart = starts ? tensor(starts, [B], { dtype: 'int32', device: ids.device }) : null;
    let bias: Tensor | null = null;
    let positions: Tensor;
    let maxPos: number;
    if (padded && (starts === null || cache?.dtype === 'bfloat16')) {
      // Query at slot past+i reads key j when j <= past+i and j is a real token; a padding query reads only
      // itself (its output is never used, and a row with no readable key would be undefined).
      const m = new Float32Array(B * T * Tk).fill(MASKED);
      for (let b = 0; b < B; b++) {
        for (let i = 0; i < T; i++) {
          const row = (b * T + i) * Tk;
          for (let j = 0; j <= past + i; j++) if (mask[b * Tk + j]) m[row + j] = 0;
          m[row + past + i] = 0;
        }
      }
      bias = tensor(m, [B, 1, T, Tk], { device: ids.device });
    }
    if (options.positions !== undefined) {
      positions = options.positions instanceof Tensor ? options.positions : tensor(Int32Array.from(options.positions.flat()),
        Array.isArray(options.positions[0]) ? [B, T] : [T], { dtype: 'int32', device: ids.device });
      const d = positions.data();
      maxPos = 0;
      for (const p of d) {
        if (p < 0) throw new RangeError(`${op}: negative position ${p}`);
        maxPos = Math.max(maxPos, p);
      }
    } else if (mask) {
      const pos = new Int32Array(B * T);
      maxPos = 0;
      for (let b = 0; b < B; b++) {
        let count = 0;
        for (let j = 0; j < Tk; j++) {
          count += mask[b * Tk + j];
          if (j >= past) {
            const p = mask[b * Tk + j] ? count - 1 : 0;
            pos[b * T + j - past] = p;
            maxPos = Math.max(maxPos, p);
          }
        }
      }
      positions = tensor(pos, [B, T], { dtype: 'int32', device: ids.device });
    } else {
      positions = tensor(Int32Array.from({ length: T }, (_, i) => past + i), [T], { dtype: 'int32', device: ids.device });
      maxPos = Tk - 1;
    }
    const owned = [...(bias ? [bias] : []), ...(keyStart ? [keyStart] : []), ...(positions !== options.positions ? [positions] : [])];
    const { cos, sin } = this.rotary.get(maxPos + 1);
    const precision = resolveMatmulPrecision(op, options.matmulPrecision);
    const ctx: AttentionContext = { cos, sin, positions, bias, keyStart, cache, past, precision };

    // bfloat16 weights, float32 activations: the products read the bf16 weights as they are, and every other op
    // runs on float32 without the cast passes (and the float32 copies kept for backward) that bf16 activations
    // would cost under the float32-compute rule (ops/float32-compute.ts).
    let x = this.embed_tokens.forward(ids);
    if (x.dtype === 'bfloat16') x = cast(x, 'float32');
    // As transformers, a cache turns checkpointing off: a recomputation would write the cache again. ctx is an
    // input so that the checkpoint keeps its tables, positions and mask for the recomputation.
    const recompute = this.gradientCheckpointing && this.training && cache === null && isGradEnabled();
    this.layers.items.forEach((layer, i) => {
      x = recompute ? checkpoint((h: Tensor, c: AttentionContext) => layer.forward(h, c, i), x, ctx) : layer.forward(x, ctx, i);
    });
    if (cache) cache.length = Tk;
    if (keep < T) x = narrow(x, 1, T - keep, keep);
    x = this.norm.forward(x);
    // Without a recorded graph nothing reads the mask or positions again (with one, tidy frees them later).
    if (!x.requiresGrad) for (const t of owned) t.dispose();
    return x;
  }

  protected override moveExtra(device: Device): void {
    this.rotary.to(device);
  }

  protected override disposeExtra(): void {
    this.rotary.dispose();
  }
}

/**
 * The first real position of each row when the (B, width) mask is left padding (every row zeros, then ones), else
 * null. A row of zeros only starts at width.
 */
export function leftPaddingStarts(mask: Uint8Array, B: number, width: number): Int32Array | null {
  const starts = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const row = mask.subarray(b * width, (b + 1) * width);
    const start = row.indexOf(1);
    if (start < 0) {
      starts[b] = width;
      continue;
    }
    for (let j = start + 1; j < width; j++) if (row[j] === 0) return null;
    starts[b] = start;
  }
  return starts;
}

/** Reads a 0/1 mask given as a tensor or arrays into a flat (B, width) byte array. */
export function readMask(mask: Tensor | ArrayLike<number>[], B: number, width: number): Uint8Array {
  const out = new Uint8Array(B * width);
  if (mask instanceof Tensor) {
    if (mask.ndim !== 2 || mask.shape[0] !== B || mask.shape[1] !== width)
      throw new RangeError(`LlamaForCausalLM: attentionMask ${formatShape(mask.shape)} must be [${B}, ${width}] (batch, past + new positions)`);
    const d = mask.data();
    for (let i = 0; i < d.length; i++) out[i] = d[i] !== 0 ? 1 : 0;
    return out;
  }
  if (mask.length !== B) throw new RangeError(`LlamaForCausalLM: attentionMask has ${mask.length} rows, expected ${B}`);
  for (let b = 0; b < B; b++) {
    const row = mask[b];
    if (row.length !== width) throw new RangeError(`LlamaForCausalLM: attentionMask row ${b} has ${row.length} entries, expected ${width} (past + new positions)`);
    for (let j = 0; j < width; j++) out[b * width + j] = row[j] !== 0 ? 1 : 0;
  }
  return out;
}

/**
 * A Llama / Qwen2 decoder with a language-model head. Parameter names are Hugging Face's
 * (model.embed_tokens.weight, model.layers.N.self_attn.q_proj.weight, ..., lm_head.weight).
 */
export class LlamaForCausalLM extends Module {
  readonly config: LlamaConfig;
  readonly model: LlamaModel;
  /** The untied output projection; null when tied to model.embed_tokens (the head then reads that weight). */
  readonly lm_head: Linear | null;
  /**
   * Generation defaults (a folder's generation_config.json, read by loadPretrained and written by
   * savePretrained): its eosTokenId, when set, is where generate() stops instead of config.eosTokenId.
   */
  generationConfig: GenerationConfig = {};

  constructor(config: LlamaConfig | LlamaConfigOptions, options: LlamaInitOptions = {}) {
    super();
    const c = config instanceof LlamaConfig ? config : new LlamaConfig(config);
    this.config = c;
    const saved = options.seed === undefined ? null : getRngState();
    if (options.seed !== undefined) manualSeed(options.seed);
    try {
      this.model = this.registerModule('model', new LlamaModel(c));
      if (c.tieWordEmbeddings) {
        this.lm_head = null;
        this.tieParameter('lm_head.weight', 'model.embed_tokens.weight');
      } else {
        this.lm_head = this.registerModule('lm_head', new Linear(c.hiddenSize, c.vocabSize, { bias: false, std: c.initializerRange }));
      }
    } finally {
      if (saved) setRngState(saved);
    }
  }

  /**
   * Turns gradient checkpointing on (transformers' `gradient_checkpointing_enable()`): each decoder layer keeps
   * only its input in the forward and runs again in backward, trading one more forward per step for the layers'
   * activations. It acts only while training with recording on and no KV cache; generation is unchanged.
   */
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

  /** A KV cache for `batch` sequences of up to `maxLength` positions (prompt + new tokens). */
  createCache(batch: number, maxLength: number, dtype: KVCacheDtype = 'float32'): KVCache {
    const c = this.config;
    if (maxLength > c.maxPositionEmbeddings)
      throw new RangeError(`createCache: ${maxLength} positions exceed max_position_embeddings ${c.maxPositionEmbeddings}`);
    return new KVCache(c.numHiddenLayers, batch, c.numKeyValueHeads, maxLength, c.headDim, dtype, this.model.embed_tokens.weight.device);
  }

  /** ids int32 (B, T) -> logits (B, T, V) (or (B, logitsToKeep, V)). */
  forward(ids: Tensor, options: LlamaForwardOptions = {}): Tensor {
    const op = 'LlamaForCausalLM.forward';
    const precision = resolveMatmulPrecision(op, options.matmulPrecision);
    const x = this.model.forward(ids, { ...options, matmulPrecision: precision }, op);
    if (this.lm_head) return this.lm_head.forward(x, precision);
    const head = this.packedHead;
    if (head !== null && head.precision === precision && head.isCurrent && !isGradEnabled() && x.dtype === 'float32') return linearPacked(x, head);
    return matmul(x, transpose(this.model.embed_tokens.weight, 0, 1), { precision });
  }

  /** The tied head's weight (the embedding) packed while withPackedLinears runs. */
  private packedHead: PackedLinearWeight | null = null;

  /** @internal withPackedLinears' hook for the tied head (an untied head is a Linear and packs itself). */
  pack(precision: Float32MatmulPrecision): boolean {
    const w = this.model.embed_tokens.weight;
    // A bfloat16 head stays unpacked, as a bfloat16 Linear does (nn/linear.ts).
    if (this.lm_head !== null || !w.backend.capabilities.packedMatmul || this.packedHead !== null || w.dtype !== 'float32') return false;
    this.packedHead = new PackedLinearWeight(w, { precision });
    return true;
  }

  /** @internal */
  unpack(): void {
    this.packedHead?.dispose();
    this.packedHead = null;
  }

  /**
   * Mean next-token cross-entropy: logits at position t predict labels[t + 1] (Hugging Face's shift).
   * labels int32 (B, T) default to ids; entries equal to ignoreIndex (-100) carry no loss (prompt tokens,
   * padding). Extra forward options (attentionMask, positions) pass through.
   */
  loss(ids: Tensor, labels?: Tensor, options: LlamaForwardOptions & { ignoreIndex?: number } = {}): Tensor {
    const { ignoreIndex, ...fwd } = options;
    const logits = this.forward(ids, fwd);
    return causalLMLoss(logits, labels ?? ids, ignoreIndex);
  }
}

/** Next-token loss of logits (B, T, V) against labels int32 (B, T): CE(logits[:, :-1], labels[:, 1:]). */
export function causalLMLoss(logits: Tensor, labels: Tensor, ignoreIndex = -100): Tensor {
  const [B, T, V] = logits.shape;
  if (logits.ndim !== 3 || labels.ndim !== 2 || labels.shape[0] !== B || labels.shape[1] !== T)
    throw new RangeError(`causalLMLoss: logits ${formatShape(logits.shape)} must be (B, T, V) and labels ${formatShape(labels.shape)} (B, T)`);
  if (T < 2) throw new RangeError(`causalLMLoss: need at least 2 positions, got logits ${formatShape(logits.shape)}`);
  void V;
  return crossEntropy(narrow(logits, 1, 0, T - 1), narrow(labels, 1, 1, T - 1), { ignoreIndex });
}
