// RMSNorm per-element formulas: y = x * rstd * w with rstd = 1 / sqrt(mean(x^2) + eps), and the backward
// dx = rstd * (w*dy - xhat * mean(w*dy*xhat)), xhat = x * rstd; dw = sum over rows of dy * xhat.
#pragma once
#include <cmath>

#include "math/common.h"

namespace tg::math {

// rstd from a row's sum of squares over n elements.
TG_HD float rmsnorm_rstd(float sum_sq, int64_t n, float eps) {
  return 1.0f / std::sqrt(sum_sq / static_cast<float>(n) + eps);
}

TG_HD float rmsnorm_value(float x, float rstd, float w) { return x * rstd * w; }

// dx_i = rstd * (w_i dy_i - xhat_i * c), c = mean_j(w_j dy_j xhat_j)
TG_HD float rmsnorm_grad_x(float x, float dy, float w, float rstd, float c) {
  return rstd * (w * dy - x * rstd * c);
}

}  // namespace tg::math
