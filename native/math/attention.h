// Attention's per-row rules shared by the CPU kernels (ops/attention.cc) and the CUDA kernels (cuda/attention.cu):
// which keys a query row sees, and the online-softmax step that folds a tile of scores into a running (max, sum)
// while the output row is accumulated, so neither side ever holds a Tq x Tk matrix it does not need.
#pragma once
#include "math/fast_exp.h"

namespace tg::math {

// Keys visible to query row i (0-based among Tq) are [0, limit): the queries are the last Tq of Tk positions, so
// causal row i sees keys up to i + (Tk - Tq).
TG_HD int64_t attention_key_limit(int64_t i, int64_t Tq, int64_t Tk, bool causal) {
  const int64_t limit = i + (Tk - Tq) + 1;
  return causal && limit < Tk ? limit : Tk;
}

// exp(s - shift) for a score s that may be masked (-inf): 0, never exp(-inf - -inf) = NaN.
TG_HD float masked_exp(float s, float shift) { return s == -__builtin_inff() ? 0.0f : fast_exp(s - shift); }

// One online-softmax step for a row whose running max is m: the tile's max tile_max raises it to the returned
// max, and the running sum and output accumulated so far are multiplied by *rescale.
TG_HD float online_softmax_max(float m, float tile_max, float* rescale) {
  const float next = m > tile_max ? m : tile_max;
  *rescale = m == -__builtin_inff() ? 0.0f : fast_exp(m - next);  // nothing accumulated yet when m is -inf
  return next;
}

// The saved log-sum-exp of a row from its final max m and sum s (the backward's P = exp(score - lse)). Every row
// sees at least one key, so m is -inf only when its scores all are, and then so is the result, as on the CPU.
TG_HD float attention_lse(float m, float s) { return m + fast_log(s); }

}  // namespace tg::math
