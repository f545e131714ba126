// LlamaConfig: the hyper-parameters of a Llama / Qwen2 decoder, read from (and written to) a Hugging Face
// config.json. Options this implementation does not support are refused by name instead of ignored.

export type LlamaModelType = 'llama' | 'qwen2';

export interface LlamaConfigOptions {
  modelType?: LlamaModelType;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  /** Default numAttentionHeads (multi-head attention); fewer gives grouped-query attention. */
  numKeyValueHeads?: number;
  /** Default hiddenSize / numAttentionHeads. */
  headDim?: number;
  ropeTheta?: number;
  rmsNormEps?: number;
  maxPositionEmbeddings?: number;
  tieWordEmbeddings?: boolean;
  /** Bias on q_proj, k_proj, v_proj (Qwen2 always has it). */
  qkvBias?: boolean;
  /** Bias on o_proj (Llama's attention_bias puts it on all four projections). */
  oBias?: boolean;
  /** Bias on gate/up/down projections (Llama's mlp_bias). */
  mlpBias?: boolean;
  /** Standard deviation of the normal init of weights. Default 0.02. */
  initializerRange?: number;
  bosTokenId?: number | null;
  eosTokenId?: number | number[] | null;
  padTokenId?: number | null;
}

/** Hugging Face config.json keys this implementation reads, for errors about unknown values. */
type HFConfig = Record<string, unknown>;

// JavaScript heap per decoder layer (modules, parameters, tensor handles), measured with 20k- and 40k-layer
// models: 11.4 KB of heap and 16 KB of RSS a layer beyond the weights themselves.
const HEAP_BYTES_PER_LAYER = 12 * 1024;

export class LlamaConfig {
  readonly modelType: LlamaModelType;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHiddenLayers: number;
  readonly numAttentionHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly ropeTheta: number;
  readonly rmsNormEps: number;
  readonly maxPositionEmbeddings: number;
  readonly tieWordEmbeddings: boolean;
  readonly qkvBias: boolean;
  readonly oBias: boolean;
  readonly mlpBias: boolean;
  readonly initializerRange: number;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | number[] | null;
  readonly padTokenId: number | null;

  constructor(o: LlamaConfigOptions) {
    const int = (name: string, v: unknown, min = 1): number => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new RangeError(`LlamaConfig: ${name} must be an integer >= ${min}, got ${String(v)}`);
      return v;
    };
    this.modelType = o.modelType ?? 'llama';
    if (this.modelType !== 'llama' && this.modelType !== 'qwen2') throw new RangeError(`LlamaConfig: modelType must be 'llama' or 'qwen2', got ${String(this.modelType)}`);
    this.vocabSize = int('vocabSize', o.vocabSize);
    this.hiddenSize = int('hiddenSize', o.hiddenSize);
    this.intermediateSize = int('intermediateSize', o.intermediateSize);
    this.numHiddenLayers = int('numHiddenLayers', o.numHiddenLayers);
    this.numAttentionHeads = int('numAttentionHeads', o.numAttentionHeads);
    this.numKeyValueHeads = int('numKeyValueHeads', o.numKeyValueHeads ?? o.numAttentionHeads);
    if (this.numAttentionHeads % this.numKeyValueHeads !== 0)
      throw new RangeError(`LlamaConfig: numAttentionHeads ${this.numAttentionHeads} must be a multiple of numKeyValueHeads ${this.numKeyValueHeads}`);
    if (o.headDim === undefined && this.hiddenSize % this.numAttentionHeads !== 0)
      throw new RangeError(`LlamaConfig: hiddenSize ${this.hiddenSize} is not divisible by numAttentionHeads ${this.numAttentionHeads}; give headDim`);
    this.headDim = int('headDim', o.headDim ?? this.hiddenSize / this.numAttentionHeads, 2);
    if (this.headDim % 2 !== 0) throw new RangeError(`LlamaConfig: headDim must be even for rotary embeddings, got ${this.headDim}`);
    this.ropeTheta = o.ropeTheta ?? 10000;
    if (!(this.ropeTheta > 0 && Number.isFinite(this.ropeTheta))) throw new RangeError(`LlamaConfig: ropeTheta must be positive, got ${this.ropeTheta}`);
    this.rmsNormEps = o.rmsNormEps ?? 1e-6;
    if (!(this.rmsNormEps >= 0)) throw new RangeError(`LlamaConfig: rmsNormEps must be >= 0, got ${this.rmsNormEps}`);
    this.maxPositionEmbeddings = int('maxPositionEmbeddings', o.maxPositionEmbeddings ?? 2048);
    this.tieWordEmbeddings = o.tieWordEmbeddings ?? false;
    this.qkvBias = o.qkvBias ?? this.modelType === 'qwen2';
    this.oBias = o.oBias ?? false;
    this.mlpBias = o.mlpBias ?? false;
    this.initializerRange = o.initializerRange ?? 0.02;
    if (!(this.initializerRange >= 0 && Number.isFinite(this.initializerRange))) throw new RangeError(`LlamaConfig: initializerRange must be a finite number >= 0, got ${this.initializerRange}`);
    const tokenId = (name: string, v: unknown): number | null => (v === null || v === undefined ? null : int(name, v, 0));
    this.bosTokenId = tokenId('bosTokenId', o.bosTokenId);
    const eos = o.eosTokenId;
    if (Array.isArray(eos)) {
      if (eos.length === 0) throw new RangeError('LlamaConfig: eosTokenId must be an id, a non-empty list of ids, or null, got []');
      this.eosTokenId = eos.map((id, i) => int(`eosTokenId[${i}]`, id, 0));
    } else {
      this.eosTokenId = tokenId('eosTokenId', eos);
    }
    this.padTokenId = tokenId('padTokenId', o.padTokenId);
    // NOTE: products of hostile sizes must stay exact integers for the memory estimates below to mean anything.
    if (!Number.isSafeInteger(this.parameterCount())) {
      throw new RangeError(`LlamaConfig: ${this.numHiddenLayers} layers of hidden size ${this.hiddenSize}, intermediate ${this.intermediateSize}, ` +
        `vocabulary ${this.vocabSize} make more than 2^53 parameters`);
    }
    Object.freeze(this);
  }

  /**
   * What building a LlamaForCausalLM of this config takes, before any weight is allocated: the weights' bytes
   * (float32 unless `bytesPerParameter` says otherwise) and the JavaScript heap its modules and tensor objects
   * take (measured at about 12 KiB per decoder layer; a config of a million tiny layers is mostly this).
   */
  memoryEstimate(bytesPerParameter = 4): { weightBytes: number; heapBytes: number } {
    return { weightBytes: bytesPerParameter * this.parameterCount(), heapBytes: HEAP_BYTES_PER_LAYER * (this.numHiddenLayers + 2) };
  }

  /** The number of parameters a LlamaForCausalLM of this config holds (the tied head counted once). */
  parameterCount(): number {
    const C = this.hiddenSize;
    const q = this.numAttentionHeads * this.headDim;
    const kv = this.numKeyValueHeads * this.headDim;
    const attention = C * q + 2 * C * kv + q * C + (this.qkvBias ? q + 2 * kv : 0) + (this.oBias ? C : 0);
    const mlp = 3 * C * this.intermediateSize + (this.mlpBias ? 2 * this.intermediateSize + C : 0);
    const layer = attention + mlp + 2 * C;
    return this.vocabSize * C * (this.tieWordEmbeddings ? 1 : 2) + this.numHiddenLayers * layer + C;
  }

  /**
   * Reads a Hugging Face config.json object (LlamaForCausalLM or Qwen2ForCausalLM). Throws, naming the
   * option, for what this implementation would otherwise silently get wrong: rope_scaling, partial rotary,
   * sliding-window attention, activations other than SiLU, other architectures; and, naming the config.json
   * field, for sizes that are not positive integers or do not fit together (heads, key-value heads, hidden size).
   */
  static fromHF(json: HFConfig): LlamaConfig {
    if (json === null || typeof json !== 'object') throw new TypeError('LlamaConfig.fromHF: expected a config.json object');
    const modelType = json.model_type;
    const archs = Array.isArray(json.architectures) ? (json.architectures as unknown[]) : [];
    if (modelType !== 'llama' && modelType !== 'qwen2') {
      throw new RangeError(`LlamaConfig.fromHF: unsupported model_type ${JSON.stringify(modelType)} (architectures ${JSON.stringify(archs)}); supported: "llama", "qwen2"`);
    }
    for (const a of archs) {
      if (a !== 'LlamaForCausalLM' && a !== 'Qwen2ForCausalLM')
        throw new RangeError(`LlamaConfig.fromHF: unsupported architecture ${JSON.stringify(a)}; supported: LlamaForCausalLM, Qwen2ForCausalLM`);
    }
    const refuse = (what: string) => {
      throw new RangeError(`LlamaConfig.fromHF: unsupported option ${what}`);
    };
    if (json.rope_scaling !== undefined && json.rope_scaling !== null) refuse(`rope_scaling = ${JSON.stringify(json.rope_scaling)} (only plain RoPE is implemented)`);
    const partial = json.partial_rotary_factor;
    if (partial !== undefined && partial !== null && partial !== 1 && partial !== 1.0) refuse(`partial_rotary_factor = ${String(partial)} (partial rotary is not implemented)`);
    const act = json.hidden_act ?? 'silu';
    if (act !== 'silu' && act !== 'swish') refuse(`hidden_act = ${JSON.stringify(act)} (only SiLU / SwiGLU)`);
    if (json.use_sliding_window === true) refuse('use_sliding_window = true (sliding-window attention is not implemented)');
    if (modelType === 'llama' && json.sliding_window !== undefined && json.sliding_window !== null) refuse(`sliding_window = ${String(json.sliding_window)}`);
    // Every size is checked here under its config.json name (the constructor would name the camelCase field).
    const present = (k: string) => json[k] !== undefined && json[k] !== null;
    const int = (k: string, min = 1): number | undefined => {
      if (!present(k)) return undefined;
      const v = json[k];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new RangeError(`LlamaConfig.fromHF: ${k} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
      return v;
    };
    const need = (k: string): number => {
      const v = int(k);
      if (v === undefined) throw new RangeError(`LlamaConfig.fromHF: config.json lacks ${k}`);
      return v;
    };
    const num = (k: string): number | undefined => {
      if (!present(k)) return undefined;
      const v = json[k];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`LlamaConfig.fromHF: ${k} must be a finite number, got ${JSON.stringify(v)}`);
      return v;
    };
    const hidden = need('hidden_size');
    const heads = need('num_attention_heads');
    const kvHeads = int('num_key_value_heads') ?? heads;
    const headDim = int('head_dim', 2);
    if (heads % kvHeads !== 0) throw new RangeError(`LlamaConfig.fromHF: num_attention_heads ${heads} must be a multiple of num_key_value_heads ${kvHeads}`);
    if (headDim === undefined && hidden % heads !== 0) throw new RangeError(`LlamaConfig.fromHF: hidden_size ${hidden} is not divisible by num_attention_heads ${heads} (and there is no head_dim)`);
    const eosList = json.eos_token_id;
    const eosTokenId = Array.isArray(eosList) ? eosList.map((id, i) => {
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw new RangeError(`LlamaConfig.fromHF: eos_token_id[${i}] must be an integer >= 0, got ${JSON.stringify(id)}`);
      return id;
    }) : int('eos_token_id', 0) ?? null;
    // Some older Llama configs write -1 for "no such token".
    const optionalId = (k: string) => (json[k] === -1 ? null : int(k, 0) ?? null);
    const attentionBias = json.attention_bias === true;
    return new LlamaConfig({
      modelType,
      vocabSize: need('vocab_size'),
      hiddenSize: hidden,
      intermediateSize: need('intermediate_size'),
      numHiddenLayers: need('num_hidden_layers'),
      numAttentionHeads: heads,
      numKeyValueHeads: kvHeads,
      headDim,
      ropeTheta: num('rope_theta'),
      rmsNormEps: num('rms_norm_eps'),
      maxPositionEmbeddings: int('max_position_embeddings'),
      tieWordEmbeddings: json.tie_word_embeddings === true, // both architectures default to untied
      // Qwen2 always has q/k/v biases and none on o_proj; Llama's attention_bias covers all four.
      qkvBias: modelType === 'qwen2' ? true : attentionBias,
      oBias: modelType === 'qwen2' ? false : attentionBias,
      mlpBias: json.mlp_bias === true,
      initializerRange: num('initializer_range'),
      bosTokenId: optionalId('bos_token_id'),
      eosTokenId,
      padTokenId: optionalId('pad_token_id'),
    });
  }

  /** The Hugging Face config.json object for this configuration (loads in transformers). */
  toHF(): Record<string, unknown> {
    const qwen = this.modelType === 'qwen2';
    if (qwen && (this.oBias || !this.qkvBias)) throw new RangeError('LlamaConfig.toHF: Qwen2 has q/k/v biases and no o_proj bias; this configuration cannot be expressed');
    if (!qwen && this.qkvBias !== this.oBias) throw new RangeError('LlamaConfig.toHF: Llama\'s attention_bias sets q/k/v and o biases together; this configuration cannot be expressed');
    const out: Record<string, unknown> = {
      architectures: [qwen ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
      model_type: this.modelType,
      vocab_size: this.vocabSize,
      hidden_size: this.hiddenSize,
      intermediate_size: this.intermediateSize,
      num_hidden_layers: this.numHiddenLayers,
      num_attention_heads: this.numAttentionHeads,
      num_key_value_heads: this.numKeyValueHeads,
      hidden_act: 'silu',
      max_position_embeddings: this.maxPositionEmbeddings,
      rms_norm_eps: this.rmsNormEps,
      rope_theta: this.ropeTheta,
      rope_scaling: null,
      tie_word_embeddings: this.tieWordEmbeddings,
      initializer_range: this.initializerRange,
      bos_token_id: this.bosTokenId,
      eos_token_id: this.eosTokenId,
      pad_token_id: this.padTokenId,
      torch_dtype: 'float32',
    };
    if (this.headDim !== this.hiddenSize / this.numAttentionHeads) out.head_dim = this.headDim;
    if (qwen) Object.assign(out, { use_sliding_window: false, sliding_window: null });
    else Object.assign(out, { attention_bias: this.oBias, mlp_bias: this.mlpBias });
    if (qwen && this.mlpBias) throw new RangeError('LlamaConfig.toHF: Qwen2 has no MLP biases');
    return out;
  }
}

/** Parameters a config.json may describe beyond twice what its checkpoint holds (see checkConfigMatchesWeights). */
const CONFIG_SLACK_PARAMETERS = 2 ** 20;

const formatBytes = (b: number) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(1)} GiB` : b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(1)} MiB` : `${(b / 2 ** 10).toFixed(1)} KiB`);

/**
 * Compares what a config.json describes with the tensors a checkpoint holds (`shapes`, from the safetensors
 * headers), before a model is built: the decoder's parameters (every `model.*` tensor) may exceed what the files
 * hold by at most CONFIG_SLACK_PARAMETERS plus as many again. Within that margin the load itself names each
 * missing or mis-shaped key; beyond it the config cannot describe these files, and a hostile 500-byte config (a
 * million layers, a vocabulary of billions) is refused here, saying how much memory it would take, instead of
 * growing the process to gigabytes.
 */
export function checkConfigMatchesWeights(owner: string, config: LlamaConfig, shapes: ReadonlyMap<string, readonly number[]>,
  ignored: RegExp = /\.rotary_emb\.inv_freq$/): void {
  const head = config.tieWordEmbeddings ? 0 : config.vocabSize * config.hiddenSize;
  const implied = config.parameterCount() - head;
  let stored = 0;
  for (const [name, shape] of shapes) if (name.startsWith('model.') && !ignored.test(name)) stored += shape.reduce((a, b) => a * b, 1);
  if (implied <= 2 * stored + CONFIG_SLACK_PARAMETERS) return;
  const { weightBytes, heapBytes } = config.memoryEstimate();
  throw new RangeError(`${owner}: config.json describes ${config.numHiddenLayers} layer${config.numHiddenLayers === 1 ? '' : 's'} (hidden size ${config.hiddenSize}, intermediate ${config.intermediateSize}, ` +
    `${config.numAttentionHeads} heads, vocabulary ${config.vocabSize}): ${implied} decoder parameters, which would take ${formatBytes(weightBytes)} of float32 ` +
    `weights and about ${formatBytes(heapBytes)} of JavaScript heap, but the safetensors files hold ${stored} (${formatBytes(4 * stored)}); ` +
    'refusing before allocating anything');
}

/**
 * The generation defaults a Hugging Face folder keeps in generation_config.json, as far as they decide where a
 * completion ends: `eosTokenId` (one id or a list: instruct models often stop at both <|im_end|> and
 * <|endoftext|>) overrides config.json's for generation.
 */
export interface GenerationConfig {
  eosTokenId?: number | number[] | null;
  bosTokenId?: number | null;
  padTokenId?: number | null;
}

/** Reads a generation_config.json object (named `source` in errors), checking the token ids it gives. */
export function generationConfigFromHF(json: unknown, source = 'generation_config.json'): GenerationConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new TypeError(`${source}: expected a JSON object`);
  const j = json as Record<string, unknown>;
  const id = (k: string, v: unknown): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new RangeError(`${source}: ${k} must be an integer >= 0, got ${JSON.stringify(v)}`);
    return v;
  };
  const out: GenerationConfig = {};
  const eos = j.eos_token_id;
  if (Array.isArray(eos)) {
    if (eos.length === 0) throw new RangeError(`${source}: eos_token_id must be an id or a non-empty list of ids, got []`);
    out.eosTokenId = eos.map((v, i) => id(`eos_token_id[${i}]`, v));
  } else if (eos !== undefined && eos !== null) {
    out.eosTokenId = id('eos_token_id', eos);
  }
  for (const [key, name] of [['bos_token_id', 'bosTokenId'], ['pad_token_id', 'padTokenId']] as const) {
    if (j[key] !== undefined && j[key] !== null && j[key] !== -1) out[name] = id(key, j[key]);
  }
  return out;
}

/** The generation_config.json object for `config` (the keys transformers reads), null when it has nothing to say. */
export function generationConfigToHF(config: GenerationConfig): Record<string, unknown> | null {
  const out: Record<string, unknown> = {};
  if (config.bosTokenId !== undefined) out.bos_token_id = config.bosTokenId;
  if (config.eosTokenId !== undefined) out.eos_token_id = config.eosTokenId;
  if (config.padTokenId !== undefined) out.pad_token_id = config.padTokenId;
  return Object.keys(out).length === 0 ? null : out;
}
