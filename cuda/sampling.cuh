// Host launcher of the sampling kernel (cuda/sampling.cu): one token per logits row, the CPU addon's semantics
// (native/ops/sampling.h) computed in float32. Arguments were validated by the binding.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "ops/sampling.h"

namespace tg::cuda {

// ids (rows) int32, logprobs and policy_logprobs (rows); logits (rows, v) with row stride ld >= v; uniforms (rows)
// or nullptr when greedy. A row holding NaN or +inf, or only -inf, gets id -1 and NaN log-probs.
std::string launch_sample_rows(int32_t* ids, float* logprobs, float* policy_logprobs, const float* logits, int64_t rows,
                               int64_t v, int64_t ld, const float* uniforms, const SamplingParams& params,
                               cudaStream_t stream);

}  // namespace tg::cuda
