// Softmax-family per-element formulas and their derivatives, shared by the CPU loops (ops/softmax.cc,
// ops/cross_entropy.cc, ops/attention.cc) and the CUDA kernels. Row reductions (max, sum) are the callers'.
#pragma once
#include "math/fast_exp.h"

namespace tg::math {

// Online log-sum-exp state: the row's running max m and sum s of exp(x - m).
struct LseState {
  float m;
  float s;
};

// Merges a block with max bm and sum bs (relative to bm) into the running state. A state or block whose max
// is -inf holds no mass; the guards keep exp(-inf - -inf) = NaN out of the sum.
TG_HD LseState lse_merge(LseState a, float bm, float bs) {
  float m = a.m > bm ? a.m : bm;
  float ea = a.m == -__builtin_inff() ? 0.0f : fast_exp(a.m - m);
  float eb = bm == -__builtin_inff() ? 0.0f : fast_exp(bm - m);
  return LseState{m, a.s * ea + bs * eb};
}

// The shift to subtract before exponentiating: the max, or 0 while the row (so far) is all -inf, so -inf
// logits give exp = 0 and NaN stays NaN, instead of -inf - -inf = NaN for valid masked logits.
TG_HD float lse_shift(float m) { return m == -__builtin_inff() ? 0.0f : m; }

TG_HD float lse_value(LseState st) { return st.m + fast_log(st.s); }

// softmax: y = exp(x - lse)
TG_HD float softmax_value(float x, float lse) { return fast_exp(x - lse); }

// d softmax: dx = y * (dy - sum(dy * y))
TG_HD float softmax_grad(float y, float dy, float dot_dy_y) { return y * (dy - dot_dy_y); }

// d log_softmax: dx = dy - softmax * sum(dy), softmax = exp(y) for y = log_softmax(x)
TG_HD float log_softmax_grad(float y, float dy, float sum_dy) { return dy - fast_exp(y) * sum_dy; }

// d cross-entropy (loss = lse - x[t]) w.r.t. logit j: g * (softmax_j - [j == t])
TG_HD float cross_entropy_grad(float x, float lse, float g, bool is_target) {
  return g * (fast_exp(x - lse) - (is_target ? 1.0f : 0.0f));
}

}  // namespace tg::math
