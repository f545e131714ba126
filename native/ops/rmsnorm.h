// RMSNorm over the last dim of a contiguous (R, C) float32 matrix with a learned weight (C).
#pragma once
#include <cstdint>

namespace tg {

// y (R, C) = x * rstd * w, rstd (R) = 1 / sqrt(mean(x^2) + eps) saved for the backward. y may equal x.
void rmsnorm_forward(float* y, float* rstd, const float* x, const float* w, int64_t rows, int64_t cols, float eps);

// dx (R, C) = rstd * (w*dy - xhat * mean(w*dy*xhat)), dw (C) = sum_rows(dy * xhat), xhat = x * rstd.
// dw is overwritten (not accumulated) and is deterministic: partial sums over fixed row blocks that depend
// only on the shape, reduced in block order. dx may equal dy.
void rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w, const float* rstd,
                      int64_t rows, int64_t cols);

}  // namespace tg
