// Fused AdamW step (torch.optim.AdamW semantics) in place over flat float32 param, grad, m, v.
#pragma once
#include <cstdint>

namespace tg {

// For i in [0, n): p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr / (1 - b1^step) * m / (sqrt(v) / sqrt(1 - b2^step) + eps). step >= 1.
void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1,
                float beta2, float eps, float weight_decay, int64_t step);

}  // namespace tg
