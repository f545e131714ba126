// Softmax family on the CPU: rows in parallel, each range of rows one call into the vector kernel set
// (kernels/loops/softmax.h).

#include "ops/softmax.h"

#include <algorithm>

#include "core/thread_pool.h"
#include "kernels/vector_kernels.h"

namespace tg {
namespace {

// Rows per task: enough work (~32K elements) to amortize a task hand-out.
int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(cols, 1)); }

}  // namespace

void softmax_forward(float* y, const float* x, int64_t rows, int64_t cols) {
  const auto softmax_rows = vector_kernels().softmax_rows;
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) { softmax_rows(y, x, r0, r1, cols, false); });
}

void log_softmax_forward(float* y, const float* x, int64_t rows, int64_t cols) {
  const auto softmax_rows = vector_kernels().softmax_rows;
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) { softmax_rows(y, x, r0, r1, cols, true); });
}

void softmax_backward(float* dx, const float* dy, const float* y, int64_t rows, int64_t cols) {
  const auto softmax_grad_rows = vector_kernels().softmax_grad_rows;
  parallel_for(rows, row_grain(cols),
               [&](int64_t r0, int64_t r1) { softmax_grad_rows(dx, dy, y, r0, r1, cols, false); });
}

void log_softmax_backward(float* dx, const float* dy, const float* y, int64_t rows, int64_t cols) {
  const auto softmax_grad_rows = vector_kernels().softmax_grad_rows;
  parallel_for(rows, row_grain(cols),
               [&](int64_t r0, int64_t r1) { softmax_grad_rows(dx, dy, y, r0, r1, cols, true); });
}

}  // namespace tg
