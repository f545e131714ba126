// Fused AdamW step (torch.optim.AdamW semantics) in place over flat float32 param, grad, m, v.
#pragma once
#include <cstdint>

namespace tg {

// For i in [0, n): p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr / (1 - b1^step) * m / (sqrt(v) / sqrt(1 - b2^step) + eps). step >= 1.
void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1,
                float beta2, float eps, float weight_decay, int64_t step);

// One tensor of a multi-tensor step: n contiguous elements of each array.
struct AdamWTensor {
  float* param;
  const float* grad;
  float* m;
  float* v;
  int64_t n;
};

// adamw_step over every tensor with the same hyperparameters, in one parallel region over fixed-size chunks of
// all of them (small tensors no longer take a region each); bit-identical to adamw_step per tensor.
void adamw_multi_step(const AdamWTensor* tensors, int64_t count, float lr, float beta1, float beta2, float eps,
                      float weight_decay, int64_t step);

}  // namespace tg
