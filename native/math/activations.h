// Per-element activations and their derivatives, shared by the CPU loops and CUDA kernels.
#pragma once
#include <cmath>

#include "math/fast_exp.h"

namespace tg::math {

TG_HD float sigmoid(float x) { return 1.0f / one_plus_exp(-x); }

// tanh(a) = expm1(2a) / (expm1(2a) + 2) for a = |x|, the sign copied back: no cancellation near 0, where
// expm1 = p*2^n + (2^n - 1) is exp's own p (n = 0), so no series and no select on |x| is needed. Max error 5.7 ulp over
// every float (the earlier 1 - 2/(exp(2a) + 1), with a series below 0.0625, reached 26 ulp at 0.0625).
// NOTE: one select once vectorized, where there were three: fabs and copysign are bit masks, and the clamp at 10
// (tanh(10) rounds to 1; beyond 44, expm1 would overflow to inf / inf), which NaN passes since the comparison is
// false, GCC turns into a select of tanh(10) on the result. Selects are blends, which share the multiply-add ports on
// AMD cores: 256Ki floats, 1 thread, Zen 4, AVX2 169 -> 103 us, AVX-512 112 -> 70 us.
TG_HD float tanh_f(float x) {
  const float ax = std::fabs(x);
  const ExpParts e = exp_parts(2.0f * (ax > 10.0f ? 10.0f : ax));
  const float em1 = e.p * e.scale + (e.scale - 1.0f);  // expm1(2a)
  return std::copysign(em1 / (em1 + 2.0f), x);
}

// x / (1 + exp(-x)), as PyTorch computes it: one rounding fewer than x * sigmoid(x), and a divide in place of a
// divide and a multiply (256Ki floats, 1 thread, Zen 4: AVX2 88.1 -> 76.6 us, AVX-512 67.7 -> 61.7 us).
TG_HD float silu(float x) { return x / one_plus_exp(-x); }
// d silu/dx = s + x*s*(1-s), s = sigmoid(x)
TG_HD float silu_grad(float x) {
  float s = sigmoid(x);
  return s * (1.0f + x * (1.0f - s));
}

// gelu, tanh form: 0.5 x (1 + tanh(u)), u = k (x + 0.044715 x^3), k = sqrt(2/pi), evaluated as x sigmoid(2u)
// (the same function: 0.5 (1 + tanh(u)) = sigmoid(2u)). NOTE: no tanh, so no cancellation in 1 + tanh(u) for
// negative x and no small-|u| series with its selects: 1 + exp(-2u) is at least 1. A vectorized gelu is bound by
// how many of its dependent chains the scheduler holds; this one is 18 ops shorter: 256Ki floats, 1 thread
// (Zen 4), AVX2 236 -> 125 us, AVX-512 166 -> 94 us.
constexpr float kGeluTwoK = 1.5957691216057308f;  // 2 sqrt(2/pi)
TG_HD float gelu(float x) {
  return x / one_plus_exp(-kGeluTwoK * (x + 0.044715f * x * x * x));
}
// d gelu/dx = s + x s (1 - s) 2k (1 + 3*0.044715 x^2), s = sigmoid(2u)
TG_HD float gelu_grad(float x) {
  const float x2 = x * x;
  const float s = sigmoid(kGeluTwoK * (x + 0.044715f * x2 * x));
  return s + x * s * (1.0f - s) * kGeluTwoK * (1.0f + 0.134145f * x2);
}

TG_HD float relu(float x) { return x > 0.0f ? x : 0.0f; }

}  // namespace tg::math
