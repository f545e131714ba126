// Cross-entropy over rows of contiguous logits (N, V) with int32 targets (N) and an ignore_index.
#pragma once
#include <cstdint>

namespace tg {

// What cross_entropy_forward refused: the first row (or -1) of each kind.
struct CrossEntropyForwardStatus {
  int64_t bad_target = -1;     // target outside [0, V) and not ignore_index (nothing written then)
  int64_t nonfinite_row = -1;  // a counted row whose lse or loss is NaN/Inf (NaN or Inf in its logits)
};

// loss (N) = logsumexp(logits[n]) - logits[n, target[n]], 0 where target[n] == ignore_index;
// lse (N) = logsumexp(logits[n]) saved for the backward (computed for ignored rows too).
CrossEntropyForwardStatus cross_entropy_forward(float* loss, float* lse, const float* logits, const int32_t* targets,
                                                int64_t N, int64_t V, int64_t ignore_index);

// dlogits (N, V) = g[n] * (softmax(logits[n]) - onehot(target[n])), 0 on ignored rows. dlogits may equal
// logits (in place: the logits are then consumed). Returns -1 or the first bad row, as above.
// NOTE: softmax is rebuilt as exp(x - lse) from the float32 lse, so its relative error grows like
// |lse| * 2^-24; fine for logits of LLM magnitude (|lse| < 1e3).
int64_t cross_entropy_backward(float* dlogits, const float* g, const float* logits, const float* lse,
                               const int32_t* targets, int64_t N, int64_t V, int64_t ignore_index);

}  // namespace tg
