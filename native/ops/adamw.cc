// AdamW on the CPU: one pass over the four arrays (memory bound; the loop: kernels/loops/adamw.h), chunks in
// parallel; the multi-tensor step runs the chunks of all tensors in one parallel region.
#include "ops/adamw.h"

#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/vector_kernels.h"
#include "math/adamw.h"

namespace tg {
namespace {

// Elements per parallel chunk: large enough that a chunk's loop dwarfs handing it out.
constexpr int64_t kGrain = 1 << 15;

}  // namespace

void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1,
                float beta2, float eps, float weight_decay, int64_t step) {
  const math::AdamWParams a = math::adamw_params(lr, beta1, beta2, eps, weight_decay, step);
  const auto adamw_run = vector_kernels().adamw;
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
  const auto adamw_run = vector_kernels().adamw;
  parallel_for(static_cast<int64_t>(chunk_tensor.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      const AdamWTensor& t = tensors[chunk_tensor[k]];
      const int64_t s = chunk_start[k];
      adamw_run(t.param + s, t.grad + s, t.m + s, t.v + s, std::min(kGrain, t.n - s), &a);
    }
  });
}

}  // namespace tg
