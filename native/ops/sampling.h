// Token sampling on the CPU: one token per logits row after temperature, top-k, top-p and min-p (Hugging Face's
// order), in float64 as the TypeScript reference (src/generate/sampling.ts), so the CPU's tokens are the host's.
#pragma once
#include <cstdint>

namespace tg {

struct SamplingParams {
  double temperature = 1;  // > 0 unless greedy
  int64_t top_k = 0;       // 0 or >= V: off
  double top_p = 1;        // (0, 1]; 1: off
  double min_p = 0;        // [0, 1]; 0: off
  bool greedy = false;     // the first maximum; uniforms unread
};

// logits (rows, V) with row stride ld (columns contiguous); uniforms (rows) in [0, 1), one per row (nullptr when
// greedy). Writes ids (rows) int32, logprobs (rows): log p of the token under the distribution it was drawn from
// (0 when greedy), policy_logprobs (rows): log softmax(logits / T) of the token (T = 1 when T = 0). A row holding
// NaN or +inf, or only -inf, gets id -1 and NaN log-probs.
void sample_rows(int32_t* ids, float* logprobs, float* policy_logprobs, const float* logits, int64_t rows, int64_t V,
                 int64_t ld, const float* uniforms, const SamplingParams& params);

}  // namespace tg
