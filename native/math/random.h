// The random fills' transforms of Philox output (math/philox.h), shared by the CPU (native/ops/fill.cc) and CUDA
// (cuda/elementwise.cu) so the same (seed, counter) gives the same numbers on both: element i of a fill takes
// lane i % 4 of philox4x32(counter + i / 4, seed). Every multiply-add is an explicit fma, so no compiler's
// contraction choices can make the devices differ; log is fast_log and sin/cos are polynomials here, not the
// devices' libm.
#pragma once
#include <cmath>

#include "math/fast_exp.h"
#include "math/philox.h"

namespace tg::math {

// Uniform in [low, high) from 24 random bits.
TG_HD float uniform_from_bits(uint32_t bits, float low, float high) {
  const float u = uint_to_unit(bits) - 1.0f / 16777216.0f;  // [0, 1), exact
  return std::fma(high - low, u, low);
}

// sin and cos of 2 pi u for u in [0, 1] on a 2^-24 grid (uint_to_unit's values): u - q/4 is exact, so the
// quadrant reduction adds no error; r = 2 pi (u - q/4) lies in [-pi/4, pi/4], where the Cephes sinf/cosf
// polynomials are within ~1 ulp.
TG_HD void sincos_2pi(float u, float& s, float& c) {
  const float q = std::rint(4.0f * u);
  const float r = (u - 0.25f * q) * 6.28318530717958648f;
  const float r2 = r * r;
  float ps = std::fma(r2, -1.9515295891e-4f, 8.3321608736e-3f);
  ps = std::fma(r2, ps, -1.6666654611e-1f);
  const float sr = std::fma(r * r2, ps, r);
  float pc = std::fma(r2, 2.443315711809948e-5f, -1.388731625493765e-3f);
  pc = std::fma(r2, pc, 4.166664568298827e-2f);
  const float cr = std::fma(r2 * r2, pc, std::fma(-0.5f, r2, 1.0f));
  const int quadrant = static_cast<int>(q) & 3;
  s = quadrant == 0 ? sr : quadrant == 1 ? cr : quadrant == 2 ? -sr : -cr;
  c = quadrant == 0 ? cr : quadrant == 1 ? -sr : quadrant == 2 ? -cr : sr;
}

// Four normal(mean, std) numbers from one Philox block by Box-Muller on lane pairs (0, 1) and (2, 3).
TG_HD void normal4_from_bits(const Philox4& r, float mean, float std_dev, float (&z)[4]) {
  for (int pair = 0; pair < 2; ++pair) {
    const float u1 = uint_to_unit(r.v[2 * pair]);  // (0, 1]: log is finite
    const float radius = std::sqrt(-2.0f * fast_log(u1));
    float s, c;
    sincos_2pi(uint_to_unit(r.v[2 * pair + 1]), s, c);
    z[2 * pair] = std::fma(std_dev, radius * c, mean);
    z[2 * pair + 1] = std::fma(std_dev, radius * s, mean);
  }
}

}  // namespace tg::math
