// Softmax and log-softmax over the last dim of a contiguous (R, C) float32 matrix, forward and backward.
#pragma once
#include <cstdint>

namespace tg {

// y (R, C) = softmax(x (R, C)) along C. y may equal x (in place).
void softmax_forward(float* y, const float* x, int64_t rows, int64_t cols);
// y = x - logsumexp(x) along C. y may equal x.
void log_softmax_forward(float* y, const float* x, int64_t rows, int64_t cols);
// dx = y * (dy - sum(dy * y)), y the softmax output. dx may equal dy.
void softmax_backward(float* dx, const float* dy, const float* y, int64_t rows, int64_t cols);
// dx = dy - exp(y) * sum(dy), y the log-softmax output. dx may equal dy.
void log_softmax_backward(float* dx, const float* dy, const float* y, int64_t rows, int64_t cols);

}  // namespace tg
