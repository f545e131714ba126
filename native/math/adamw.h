// AdamW update for one element, in torch.optim.AdamW's order: decoupled decay p *= 1 - lr*wd, then
// m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2, p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),
// with bias corrections bc1 = 1 - b1^step and bc2 = 1 - b2^step computed once per step by the caller.
#pragma once
#include <cmath>

#include "math/common.h"

namespace tg::math {

struct AdamWParams {
  float lr, beta1, beta2, eps, weight_decay;
  float step_size;      // lr / bc1
  float inv_sqrt_bc2;   // 1 / sqrt(bc2)
};

TG_HD void adamw_update(float& p, float g, float& m, float& v, const AdamWParams& a) {
  p = p * (1.0f - a.lr * a.weight_decay);
  m = m + (1.0f - a.beta1) * (g - m);  // torch's lerp form of b1 m + (1-b1) g
  v = a.beta2 * v + (1.0f - a.beta2) * g * g;
  float denom = std::sqrt(v) * a.inv_sqrt_bc2 + a.eps;
  p = p - a.step_size * (m / denom);
}

}  // namespace tg::math
