// Branch-free exp and log for float32 (max error ~2 ulp over the finite range) written so that compilers
// vectorize loops that call them; the CPU kernels' softmax, activations and GRPO pieces all go through here.
#pragma once
#include "math/common.h"

namespace tg::math {

// exp(x): x = n*ln2 + r with |r| <= ln2/2, exp(r) by a degree-6 polynomial, 2^n spliced into the exponent.
// Saturates to 0 below -87.3 and to +inf above 88.7; NaN propagates.
TG_HD float fast_exp(float x) {
  const float hi = 88.72283935546875f, lo = -87.33654022216797f;
  float xc = x < lo ? lo : (x > hi ? hi : x);
  float n = __builtin_floorf(xc * 1.44269504088896341f + 0.5f);
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // n in [-126, 128]; splitting 2^n in two keeps n = 128 (x near 88.7) finite-then-inf correctly.
  int32_t ni = static_cast<int32_t>(n);
  int32_t n1 = ni >> 1, n2 = ni - n1;
  float s1 = bits_to_float(static_cast<uint32_t>(n1 + 127) << 23);
  float s2 = bits_to_float(static_cast<uint32_t>(n2 + 127) << 23);
  float y = p * s1 * s2;
  y = x < lo ? 0.0f : y;
  y = x > hi ? __builtin_inff() : y;
  return x != x ? x : y;
}

// log(x) for x > 0 (log(0) = -inf, negative -> NaN): x = m * 2^e with m in [sqrt(1/2), sqrt(2)),
// log(m) = 2*atanh((m-1)/(m+1)) by an odd polynomial.
TG_HD float fast_log(float x) {
  // Subnormal x is scaled by 2^23 into the normal range (exactly) and its exponent corrected: a select,
  // not a call to logf, so loops over fast_log vectorize.
  const bool subnormal = (float_to_bits(x) & 0x7f800000u) == 0 && x > 0.0f;
  uint32_t u = float_to_bits(subnormal ? x * 8388608.0f : x);
  int32_t e = static_cast<int32_t>((u >> 23) & 0xff) - (subnormal ? 150 : 127);
  float m = bits_to_float((u & 0x007fffffu) | 0x3f800000u);  // [1, 2)
  bool big = m > 1.41421356f;
  m = big ? m * 0.5f : m;
  e = big ? e + 1 : e;
  float s = (m - 1.0f) / (m + 1.0f);
  float s2 = s * s;
  float p = 0.2371599674f;
  p = p * s2 + 0.2851245999f;
  p = p * s2 + 0.4000051618f;
  p = p * s2 + 0.6666666269f;
  p = p * s2 + 2.0f;
  float y = p * s + static_cast<float>(e) * 0.693147180559945f;
  y = x == 0.0f ? -__builtin_inff() : y;
  y = x < 0.0f ? __builtin_nanf("") : y;
  y = x == __builtin_inff() ? x : y;
  return x != x ? x : y;
}

}  // namespace tg::math
