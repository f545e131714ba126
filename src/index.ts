// thinkgrad's public API: tensors, autograd, memory management, and the ops. Everything a custom
// trainer needs is importable from here.
export { Tensor, type DType, type Shape, type NestedArray } from './tensor.js';
export { tensor, empty, zeros, ones, full, zerosLike, onesLike, fullLike, arange, rand, randn, randint, manualSeed,
  getRngState, setRngState, RandomGenerator, type RngState, type RandomOptions, type CreateOptions } from './ops/creation.js';
export { tidy, keep } from './autograd/tidy.js';
export { checkpoint } from './autograd/checkpoint.js';
export { noGrad, enableGrad, isGradEnabled } from './autograd/grad-mode.js';
export { backward, type BackwardOptions } from './autograd/engine.js';
export { record } from './autograd/function.js';
export { memory, resetPeakMemory, emptyCache, synchronize, setNumThreads, getNumThreads, type DeviceMemoryInfo, type MemoryInfo } from './memory.js';
export { backends, getDefaultDevice, setDefaultDevice } from './backend/registry.js';
export type { Device } from './backend/backend.js';
export { add, sub, mul, div, pow, maximum, minimum, neg, exp, log, sqrt, rsqrt, abs, tanh, sigmoid, silu, gelu, relu,
  square, reciprocal, sin, cos, log1p, expm1, clamp, where, eq, ne, lt, le, gt, ge, isNan, type TensorLike } from './ops/elementwise.js';
export { sum, mean, variance, std, max, min, argmax, argmin, logsumexp, type Dims } from './ops/reduce.js';
export { reshape, view, flatten, permute, transpose, narrow, slice, expand, squeeze, unsqueeze, contiguous, clone, detach,
  cast, cat, stack, split, chunk, broadcastShapes } from './ops/shape.js';
export { matmul, linear, linearPacked, PackedLinearWeight, setFloat32MatmulPrecision, getFloat32MatmulPrecision, withFloat32MatmulPrecision, matmulKernel, type Float32MatmulPrecision, type MatmulOptions } from './ops/matmul.js';
export { embedding, indexSelect, indexAdd, gather, scatterAdd } from './ops/index.js';
export { softmax, logSoftmax, rmsNorm, rotaryTables, applyRotary, scaledDotProductAttention, swiglu, crossEntropy, adamwStep,
  type AttentionOptions, type CrossEntropyOptions, type AdamWStepOptions } from './ops/nn.js';
export { selectiveLogSoftmax, selectiveLogSoftmaxWithEntropy, grpoLoss, groupAdvantages, type SelectiveLogSoftmaxOptions, type GrpoLossInputs, type GrpoLossOptions, type GrpoLossType, type GrpoMetrics, type GroupAdvantagesOptions, type GroupAdvantagesResult } from './rl/grpo.js';
export { cudaAvailable, CudaBuffer, cudaGrpo, type CudaDeviceInfo, type CudaGroupAdvantageStats } from './backend/cuda.js';
export * as optim from './optim/index.js';
export { AdamW, SGD, LRScheduler, clipGradNorm, scaleGrads, zeroGrad, constantSchedule, linearWarmupSchedule, linearSchedule, cosineSchedule, getSchedule, type AdamWOptions, type SGDOptions, type LrSchedule } from './optim/index.js';
export { readSafetensors, writeSafetensors, parseSafetensors, readSafetensorsHeader, readShardedSafetensors, writeShardedSafetensors, readSafetensorsFolder } from './io/safetensors.js';
export { CharTokenizer, HFTokenizer, loadTokenizer, saveTokenizer, renderChatTemplate, r1ZeroPrompt, R1_ZERO_TEMPLATE, type Tokenizer, type ChatMessage,
  type HFTokenizerOptions, isConversational, isMessageList, promptText, conversationText, encodePrompt, completionText, type Prompt, type Completion } from './io/tokenizers/index.js';
export { saveCheckpoint, loadCheckpoint, readCheckpointInfo, latestCheckpoint, pruneCheckpoints, type SaveCheckpointOptions, type LoadCheckpointOptions, type CheckpointInfo } from './io/checkpoint.js';
export * as nn from './nn/index.js';
export { generate, samplingDistribution, stopTokenIds, withoutStopToken, type GenerateOptions, type GenerateResult, type SamplingOptions } from './generate/index.js';
export { loadPretrained, savePretrained, readConfig, readGenerationConfig, type LoadPretrainedOptions, type SavePretrainedOptions } from './io/pretrained.js';
export { PeftModel, getPeftModel, type PeftFromPretrainedOptions } from './nn/peft-model.js';
export { LORA_DEFAULTS, type LoraConfig, type LoraConfigOptions, type LoraBias, type PeftTaskType } from './nn/lora.js';
export * as rewards from './rl/rewards/index.js';
export { passAtK, meanPassAtK, meanPassAt1, majorityVote, consAtK, type ConsAtKOptions } from './eval/metrics.js';
export { SFTTrainer, SFT_DEFAULTS, type SFTConfig, type SFTExample } from './train/sft.js';
export { type TrainingArgs } from './train/training-args.js';
export { type UnknownCharactersPolicy } from './train/unknown-characters.js';
export { GRPOTrainer, GRPO_DEFAULTS, type GRPOConfig, type PromptRow } from './train/grpo.js';
export { rejectionSample, type RejectionSampleOptions, type RejectionSampleResult } from './train/rejection-sampling.js';
export { type TrainerCallbacks, type LogRecord } from './train/logger.js';
export { evaluatePolicy, type EvaluateOptions, type EvaluateResult, type EvalProblem } from './eval/evaluate.js';
export { additionExamples, additionHeldOut, additionTrainProblems, additionSolution, additionTokenizer, additionAnswer,
  additionWellFormed, type AdditionProblem, type AdditionExample } from './tasks/addition.js';
export { readJsonl, parseJsonl, writeJsonl, type ReadJsonlOptions, type ColumnType, type ColumnSpec } from './io/jsonl.js';
export { RewardTrainer, REWARD_DEFAULTS, bradleyTerryLoss, readPreferenceJsonl, type RewardConfig, type PreferencePair, type RewardEvalMetrics } from './train/reward-trainer.js';
