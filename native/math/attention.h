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

// Left padding: with key_start (the first real key of the batch row; 0 for none, which leaves every row's keys
// starting at 0), causal row i at slot i + (Tk - Tq) sees keys [first, limit): [key_start, limit) when its slot is a
// real position, only its own key [slot, slot + 1) when the slot is padding (its output is never used, and a row
// must see some key). Key starts come with the causal mask, which defines the slots.
TG_HD int64_t attention_key_first(int64_t i, int64_t Tq, int64_t Tk, int64_t key_start) {
  const int64_t slot = i + (Tk - Tq);
  return key_start > 0 && slot < key_start ? slot : key_start;
}

// The query rows that see key j are [first, end) under the causal mask and key_start (first as without padding:
// the row whose slot is j): every later row when j is a real key, only the row at slot j when j is padding.
TG_HD int64_t attention_query_first(int64_t j, int64_t Tq, int64_t Tk, bool causal) {
  return causal && j - (Tk - Tq) > 0 ? j - (Tk - Tq) : 0;
}
TG_HD int64_t attention_query_end(int64_t j, int64_t Tq, int64_t Tk, int64_t key_start) {
  const int64_t own = j - (Tk - Tq) + 1;
  return j >= key_start ? Tq : own < 0 ? 0 : own < Tq ? own : Tq;
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
