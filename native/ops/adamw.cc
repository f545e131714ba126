// AdamW CPU loop: one pass over the four arrays (memory bound), chunks in parallel; the multi-tensor step
// runs the chunks of all tensors in one parallel region.
#include "ops/adamw.h"

#include <algorithm>
#include <vector>

#include "core/simd.h"
#include "core/thread_pool.h"
#include "math/adamw.h"

namespace tg {
namespace {

// Elements per parallel chunk: large enough that a chunk's loop dwarfs handing it out.
constexpr int64_t kGrain = 1 << 15;

TG_CLONES void adamw_run(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v,
                         int64_t n, const math::AdamWParams* a_ptr) {
  const math::AdamWParams a = *a_ptr;
  for (int64_t i = 0; i < n; ++i) math::adamw_update(p[i], g[i], m[i], v[i], a);
}

}  // namespace

void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1,
                float beta2, float eps, float weight_decay, int64_t step) {
  const math::AdamWParams a = math::adamw_params(lr, beta1, beta2, eps, weight_decay, step);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { adamw_run(param + b, grad + b, m + b, v + b, e - b, &a); });
}

void adamw_multi_step(const AdamWTensor* tensors, int64_t count, float lr, float beta1, float beta2, float eps,
                      float weight_decay, int64_t step) {
  const math::AdamWParams a = math::adamw_params(lr, beta1, beta2, eps, weight_decay, step);
  // Chunk k of the whole list: tensor chunk_tensor[k] from element chunk_start[k], at most kGrain elements.
  std::vector<int64_t> chunk_tensor, chunk_start;
  for (int64_t t = 0; t < count; ++t)
    for (int64_t s = 0; s < tensors[t].n; s += kGrain) {
      chunk_tensor.push_back(t);
      chunk_start.push_back(s);
    }
  parallel_for(static_cast<int64_t>(chunk_tensor.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      const AdamWTensor& t = tensors[chunk_tensor[k]];
      const int64_t s = chunk_start[k];
      adamw_run(t.param + s, t.grad + s, t.m + s, t.v + s, std::min(kGrain, t.n - s), &a);
    }
  });
}

}  // namespace tg
