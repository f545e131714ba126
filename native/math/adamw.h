// AdamW update for one element, in torch.optim.AdamW's order: decoupled decay p *= 1 - lr*wd, then
// m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2, p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),
// with bias corrections bc1 = 1 - b1^step and bc2 = 1 - b2^step computed once per step (adamw_params). Shared by
// the CPU loop (native/ops/adamw.cc) and the CUDA kernels (cuda/adamw.cu).
#pragma once
#include <cmath>

#include "math/common.h"

namespace tg::math {

struct AdamWParams {
  float lr, beta1, beta2, eps, weight_decay;
  float step_size;      // lr / bc1
  float inv_sqrt_bc2;   // 1 / sqrt(bc2)
};

// The per-step constants, on the host. Bias corrections in double: 1 - b2^step loses digits in float for
// b2 = 0.999 and small steps.
inline AdamWParams adamw_params(float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  return AdamWParams{lr, beta1, beta2, eps, weight_decay, static_cast<float>(lr / bc1), static_cast<float>(1.0 / std::sqrt(bc2))};
}

// Every multiply-add is an explicit fma, so no compiler's contraction choices (GCC's vectorized clones, nvcc)
// can make the CPU and CUDA results differ; these are the fmas GCC chose for the CPU clones before (the CPU's
// results are unchanged, checked bit for bit).
TG_HD void adamw_update(float& p, float g, float& m, float& v, const AdamWParams& a) {
  const float decay = std::fma(-a.lr, a.weight_decay, 1.0f);
  m = std::fma(1.0f - a.beta1, g - m, m);  // torch's lerp form of b1 m + (1-b1) g
  v = std::fma(a.beta2, v, (1.0f - a.beta2) * g * g);
  const float denom = std::fma(std::sqrt(v), a.inv_sqrt_bc2, a.eps);
  p = std::fma(p, decay, -(a.step_size * (m / denom)));
}

}  // namespace tg::math
