// Branch-free exp and log for float32 (within 1.53 and 2.85 ulp over every float) written so that compilers
// vectorize loops that call them; the CPU kernels' softmax, activations and GRPO pieces all go through here.
#pragma once
#include <cmath>

#include "math/common.h"

namespace tg::math {

// exp(x) = 2^n * exp(r), r = x - n*ln2, n = round(x / ln2) capped at 127: exp(r) = 1 + r + r^2 q(r), q of degree 4
// fitted (minimax, relative) over r in [-ln2/2, ln2], the cap's range (x in (88.37, 88.72] gives n = 127 and r up
// to ln2), its float32 coefficients then nudged for the least error over every float, and 2^n spliced into the
// exponent. Max error against double exp over every float in [-87.34, 88.72]: 1.53 ulp where the compiler
// contracts the multiply-adds into FMAs (x86-64-v3 and -v4, as built here; 1.50 below 88.37, and the AVX2 and
// AVX-512 loops agree bit for bit), 1.47 ulp compiled without FMA. Saturates to 0 below -87.34 (-126 ln2) and to
// +inf at 128 ln2 and above; NaN propagates (through r). 15 vector ops and no branch once vectorized, 10 of them
// multiplies or multiply-adds.
struct ExpParts {
  float p;      // exp(r) - 1
  float scale;  // 2^n
};

TG_HD ExpParts exp_parts(float x) {
  // k = x / ln2 + 1.5*2^23 + 127, rounded to an integer by the add itself (its ulp is 1): the low mantissa bits
  // hold n + 127, so k's bits shifted left by 23 are the bits of 2^n.
  const float magic = 12583039.0f;
  const float k = x * 1.44269502f + magic;
  // NOTE: the cap (and the lower bound in the callers) are integer min / a select on the result, not a clamp of x:
  // GCC (PRE) copies everything after a float clamp into the clamped branch, where it is partly constant, and the
  // vectorized loop then evaluates the polynomial twice. Positive floats order as their bits; a NaN k may be
  // capped, but NaN reaches the result through r anyway.
  const int32_t kmax = static_cast<int32_t>(float_to_bits(magic + 127.0f));
  int32_t kb = static_cast<int32_t>(float_to_bits(k));
  kb = kb < kmax ? kb : kmax;
  const float n = bits_to_float(static_cast<uint32_t>(kb)) - magic;
  // Cody-Waite: n * 0.693359375 is exact (9 + 8 bits) and so is x minus it; the second term adds ln2's tail.
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  // NOTE: a vectorized exp is bound by its multiply-adds (two ports, at either vector width on Zen 4), so the
  // polynomial has degree 6, not 7 (the degree-7 fit was within 1.06 ulp), and exp(r) = 1 + p, p = r + r^2 q(r),
  // meets the 2^n scaling in the callers' one multiply-add, p*2^n + 2^n (exact before its one rounding), not an add
  // and a multiply. The pairs of coefficients joined by powers of r^2 keep the chain after r at 4 dependent
  // multiply-adds; Estrin's scheme, shorter still, costs one more multiply and was slower at both widths. exp over
  // 256Ki floats, 1 thread, Zen 4: AVX2 67.0 -> 56.7 us, AVX-512 56.3 -> 50.9 us.
  const float r2 = r * r;
  const float c23 = 0.166669965f * r + 0.500002086f;
  const float c45 = 0.00832625013f * r + 0.0416227318f;
  float t = 0.001621239f * r2 + c45;
  t = t * r2 + c23;
  // x -> +inf: r = inf, so p = inf.
  return {t * r2 + r, bits_to_float(static_cast<uint32_t>(kb) << 23)};
}

// Below -126 ln2, 2^n would not be a normal float: exp is 0 there (x = -inf included).
constexpr float kExpUnderflow = -87.3365402f;

TG_HD float fast_exp(float x) {
  const ExpParts e = exp_parts(x);
  const float y = e.p * e.scale + e.scale;
  return x < kExpUnderflow ? 0.0f : y;
}

// 1 + exp(x), the sigmoid family's denominator, with the 1 added inside exp's last multiply-add: p*2^n + (2^n + 1),
// where 2^n + 1 is ready before the polynomial is. One add fewer on the dependent chain, which is what bounds these
// loops: silu over 256Ki floats, 1 thread, Zen 4, AVX2 78.9 -> 76.4 us, AVX-512 63.0 -> 61.7 us. 2^n + 1 is exact for
// |n| <= 23 and rounds to the larger term otherwise (up to an ulp of a result in the binade below 2^n): 2.10 ulp over
// every 7th float, against 1.58 for 1 + fast_exp(x), but sigmoid's error falls from 2.37 to 2.32 ulp and silu's
// from 2.75 to 2.28, since the sum's own rounding is gone.
TG_HD float one_plus_exp(float x) {
  const ExpParts e = exp_parts(x);
  const float y = e.p * e.scale + (e.scale + 1.0f);
  return x < kExpUnderflow ? 1.0f : y;
}

// log(x) for x > 0 (log(0) = -inf, negative -> NaN): x = m * 2^e with m in [sqrt(1/2), sqrt(2)),
// log(m) = 2*atanh((m-1)/(m+1)) by an odd polynomial. Max error 2.85 ulp over every float.
// NOTE: three selects, where one per case (subnormal, m above sqrt(2), 0, negative, inf, NaN) made eleven vector
// blends, which share the multiply-add ports on AMD cores: m and e come from integer arithmetic on the bits, and every
// non-positive or non-finite x takes one select, whose value sqrt gives for all but 0. 256Ki floats, 1 thread,
// Zen 4: AVX2 173 -> 107 us, AVX-512 131 -> 82 us; the same maximum error and special values, and the same result
// for every float but 8, all with m = 1.41421354 (the split, now taken as m/2), where both are within 0.6 ulp.
TG_HD float fast_log(float x) {
  uint32_t u = float_to_bits(x);
  // Subnormal x is scaled by 2^23 into the normal range (exactly) and the exponent field moved back by 23.
  // (0 and negatives land here too; the last select replaces them.)
  u = static_cast<int32_t>(u) < 0x00800000 ? float_to_bits(x * 8388608.0f) - (23u << 23) : u;
  // Measured from sqrt(1/2)'s bits, the exponent field is e (an arithmetic shift, so subnormals' go negative) and
  // the rest of the bits, under 1.0's exponent, m.
  const uint32_t from_sqrt_half = u - 0x3f3504f3u;
  const int32_t e = static_cast<int32_t>(from_sqrt_half) >> 23;
  const float m = bits_to_float(u - (from_sqrt_half & 0xff800000u));
  const float s = (m - 1.0f) / (m + 1.0f);
  const float s2 = s * s;
  float p = 0.2371599674f;
  p = p * s2 + 0.2851245999f;
  p = p * s2 + 0.4000051618f;
  p = p * s2 + 0.6666666269f;
  p = p * s2 + 2.0f;
  const float y = p * s + static_cast<float>(e) * 0.693147180559945f;
  // sqrt: NaN for negatives and NaN, inf for inf.
  const float special = x == 0.0f ? -__builtin_inff() : std::sqrt(x);
  return x > 0.0f && x < __builtin_inff() ? y : special;
}

}  // namespace tg::math
