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
    this.bosTokenId = o.bosTokenId ?? null;
    this.eosTokenId = o.eosTokenId ?? null;
    this.padTokenId = o.padTokenId ?? null;
    Object.freeze(this);
  }

  /**
   * Reads a Hugging Face config.json object (LlamaForCausalLM or Qwen2ForCausalLM). Throws, naming the
   * option, for what this implementation would otherwise silently get wrong: rope_scaling, partial rotary,
   * sliding-window attention, activations other than SiLU, other architectures.
   */
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
    const num = (k: string): number | undefined => (json[k] === undefined || json[k] === null ? undefined : (json[k] as number));
    const need = (k: string): number => {
      const v = num(k);
      if (v === undefined) throw new RangeError(`LlamaConfig.fromHF: config.json lacks ${k}`);
      return v;
    };
    const attentionBias = json.attention_bias === true;
    return new LlamaConfig({
      modelType,
      vocabSize: need('vocab_size'),
      hiddenSize: need('hidden_size'),
      intermediateSize: need('intermediate_size'),
      numHiddenLayers: need('num_hidden_layers'),
      numAttentionHeads: need('num_attention_heads'),
      numKeyValueHeads: num('num_key_value_heads'),
      headDim: num('head_dim'),
      ropeTheta: num('rope_theta'),
      rmsNormEps: num('rms_norm_eps'),
      maxPositionEmbeddings: num('max_position_embeddings'),
      tieWordEmbeddings: json.tie_word_embeddings === true, // both architectures default to untied
      // Qwen2 always has q/k/v biases and none on o_proj; Llama's attention_bias covers all four.
      qkvBias: modelType === 'qwen2' ? true : attentionBias,
      oBias: modelType === 'qwen2' ? false : attentionBias,
      mlpBias: json.mlp_bias === true,
      initializerRange: num('initializer_range'),
      bosTokenId: num('bos_token_id') ?? null,
      eosTokenId: (json.eos_token_id as number | number[] | null | undefined) ?? null,
      padTokenId: num('pad_token_id') ?? null,
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
