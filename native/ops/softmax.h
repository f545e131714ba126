// Softmax and log-softmax over the last dim of a contiguous (R, C) float32 matrix, forward and backward,
// plus the row reductions (max, online log-sum-exp) that cross-entropy and attention reuse.
#pragma once
#include <cstdint>

#include "math/softmax.h"

namespace tg {

// Max and sum of exp(x - max) of one row in a single pass over memory: chunks of the row stay in L1 while
// their max is found and their exp-sum taken, and the running sum is rescaled when the max grows.
math::LseState row_lse_state(const float* x, int64_t n);

// y (R, C) = softmax(x (R, C)) along C. y may equal x (in place).
void softmax_forward(float* y, const float* x, int64_t rows, int64_t cols);
// y = x - logsumexp(x) along C. y may equal x.
void log_softmax_forward(float* y, const float* x, int64_t rows, int64_t cols);
// dx = y * (dy - sum(dy * y)), y the softmax output. dx may equal dy.
void softmax_backward(float* dx, const float* dy, const float* y, int64_t rows, int64_t cols);
// dx = dy - exp(y) * sum(dy), y the log-softmax output. dx may equal dy.
void log_softmax_backward(float* dx, const float* dy, const float* y, int64_t rows, int64_t cols);

}  // namespace tg
