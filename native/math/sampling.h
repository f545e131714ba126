// Token sampling's shared pieces (native/ops/sampling.cc in float64, cuda/sampling.cu in float32): which logits
// a row may hold, the tempered logit z = (x - max) / T, the order-preserving key the GPU's threshold searches
// run on, and the log-probs sampling reports.
#pragma once
#include "math/common.h"

namespace tg::math {

// NaN or +inf: a row holding one (or only -inf) has no distribution to sample; it gets id -1 and NaN log-probs.
TG_HD bool sampling_bad_logit(float x) { return !(x < __builtin_inff()); }

// The inverse temperature of the policy log-probs: 1 / T, or 1 for T = 0 (greedy decoding).
template <class F>
TG_HD F sampling_policy_inv_temperature(F temperature) {
  return temperature > F(0) ? F(1) / temperature : F(1);
}

// z = (x - max) / T as (x - max) * (1 / T); the row's maximum gives exactly 0 even where 1 / T overflows to inf
// (a subnormal T), so the most likely token always keeps weight exp(0) = 1.
template <class F>
TG_HD F sampling_tempered(F x_minus_max, F inv_t) {
  return x_minus_max == F(0) ? F(0) : x_minus_max * inv_t;
}

// An unsigned key ordered as the float values (-inf lowest, -0 and +0 equal; NaN and +inf never reach it): the
// sign bit flipped for non-negative values, every bit for negative ones.
TG_HD uint32_t sampling_key(float x) {
  const uint32_t u = float_to_bits(x == 0.0f ? 0.0f : x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// log p of the sampled token under a distribution of total weight `mass` = sum exp(z) over the tokens it keeps:
// z - log(mass). With nothing removed the kept mass is the full sum and this is the policy log-prob exactly.
template <class F>
TG_HD F sampling_logprob(F z, F log_mass) {
  return z - log_mass;
}

}  // namespace tg::math
