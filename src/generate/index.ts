// Generation: batched sampling with a KV cache, and the sampling distribution it draws from.
export { generate, type GenerateOptions, type GenerateResult, type StopReason } from './generate.js';
export { samplingDistribution, sampleIndex, tokenLogprob, resolveSampling, type SamplingOptions, type ResolvedSampling } from './sampling.js';
export { stopTokenIds, withoutStopToken } from './stop-tokens.js';
