// Per-element activations and their derivatives, shared by the CPU loops and CUDA kernels.
#pragma once
#include <cmath>

#include "math/fast_exp.h"

namespace tg::math {

TG_HD float sigmoid(float x) { return 1.0f / one_plus_exp(-x); }

// tanh(x) = 1 - 2/(exp(2x)+1): exact at the saturated ends, ~1e-7 absolute error near 0.
TG_HD float tanh_f(float x) {
  const float ax = std::fabs(x);
  float t = 1.0f - 2.0f / one_plus_exp(2.0f * ax);
  // Near zero the subtraction cancels; the odd Taylor series is exact to float precision there.
  const float x2 = x * x;
  const float taylor = ax * (1.0f + x2 * (-0.333333333f + x2 * (0.133333333f - 0.053968254f * x2)));
  t = ax < 0.0625f ? taylor : t;
  // NOTE: fabs and copysign are bit masks, where selects on the sign were blends that share the multiply-add ports
  // on AMD cores; NaN needs no select either, it reaches t through exp. 256Ki floats, 1 thread, Zen 4:
  // AVX2 169 -> 143 us, AVX-512 112 -> 98 us.
  return std::copysign(t, x);
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
