// AdamW CPU loop: one pass over the four arrays (memory bound), chunks in parallel.
#include "ops/adamw.h"

#include <cmath>

#include "core/simd.h"
#include "core/thread_pool.h"
#include "math/adamw.h"

namespace tg {
namespace {

TG_CLONES void adamw_run(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v,
                         int64_t n, const math::AdamWParams* a_ptr) {
  const math::AdamWParams a = *a_ptr;
  for (int64_t i = 0; i < n; ++i) math::adamw_update(p[i], g[i], m[i], v[i], a);
}

}  // namespace

void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1,
                float beta2, float eps, float weight_decay, int64_t step) {
  // Bias corrections in double: 1 - b2^step loses digits in float for b2 = 0.999 and small steps.
  double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  math::AdamWParams a{lr, beta1, beta2, eps, weight_decay, static_cast<float>(lr / bc1),
                      static_cast<float>(1.0 / std::sqrt(bc2))};
  parallel_for(n, 1 << 15, [&](int64_t b, int64_t e) { adamw_run(param + b, grad + b, m + b, v + b, e - b, &a); });
}

}  // namespace tg
