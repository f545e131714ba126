// Layers: the Module base and the Llama / Qwen2 decoder built from it.
export { Module, ModuleList, type LoadStateDictOptions, type LoadStateDictResult } from './module.js';
export { Linear, withPackedLinears, type LinearOptions } from './linear.js';
export { Embedding, type EmbeddingOptions } from './embedding.js';
export { RMSNorm } from './rms-norm.js';
export { RotaryEmbedding } from './rotary.js';
export { Attention, maskedAttention, type AttentionContext, type AttentionOptions } from './attention.js';
export { KVCache, type KVCacheDtype } from './kv-cache.js';
export { SwiGLUMLP } from './mlp.js';
export { DecoderLayer } from './decoder-layer.js';
export { LlamaConfig, type GenerationConfig, type LlamaConfigOptions, type LlamaModelType } from './config.js';
export { LlamaForCausalLM, LlamaModel, causalLMLoss, type LlamaForwardOptions, type LlamaInitOptions } from './llama.js';
export { withoutInit } from './init.js';
export { LlamaForSequenceClassification, loadSequenceClassifier, saveSequenceClassifier, type SequenceClassificationForwardOptions, type SequenceClassificationInitOptions, type LoadRewardModelOptions } from './sequence-classification.js';
export { LoraLinear, LoraModel, ModulesToSaveWrapper, ModuleDict, LORA_DEFAULTS, resolveLoraConfig, type LoraConfig, type LoraConfigOptions, type LoraBias, type PeftTaskType } from './lora.js';
export { PeftModel, getPeftModel, type PeftFromPretrainedOptions, type ForwardArgs, type ForwardResult } from './peft-model.js';
