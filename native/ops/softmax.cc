// Softmax-family CPU loops: rows in parallel, each row branch-free over 16 independent accumulator lanes
// so GCC vectorizes the reductions without -ffast-math (and the x86-64-v4 clone gets AVX-512).

#include "ops/softmax.h"

#include <algorithm>

#include "core/simd.h"
#include "core/thread_pool.h"

namespace tg {
namespace {

using namespace tg::math;

constexpr int64_t kChunk = 1024;  // 4 KiB of a row: stays in L1 between its max and exp-sum passes

// Rows per task: enough work (~32K elements) to amortize a task hand-out.
int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(cols, 1)); }

TG_CLONES void softmax_rows(float* y, const float* x, int64_t r0, int64_t r1, int64_t cols, bool log) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    LseState st = row_lse_state(xr, cols);
    float m = lse_shift(st.m);
    if (log) {
      // (x - m) - log(s): subtracting the max first keeps large logits exact.
      float log_s = fast_log(st.s);
      for (int64_t i = 0; i < cols; ++i) yr[i] = (xr[i] - m) - log_s;
    } else {
      float inv_s = 1.0f / st.s;
      for (int64_t i = 0; i < cols; ++i) yr[i] = fast_exp(xr[i] - m) * inv_s;
    }
  }
}

TG_CLONES void softmax_grad_rows(float* dx, const float* dy, const float* y, int64_t r0, int64_t r1, int64_t cols,
                                 bool log) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* dyr = dy + r * cols;
    const float* yr = y + r * cols;
    float* dxr = dx + r * cols;
    if (log) {
      float sum_dy = lanes_sum(dyr, cols);
      for (int64_t i = 0; i < cols; ++i) dxr[i] = log_softmax_grad(yr[i], dyr[i], sum_dy);
    } else {
      float dot = lanes_dot(dyr, yr, cols);
      for (int64_t i = 0; i < cols; ++i) dxr[i] = softmax_grad(yr[i], dyr[i], dot);
    }
  }
}

}  // namespace

TG_CLONES LseState row_lse_state(const float* x, int64_t n) {
  LseState st{-__builtin_inff(), 0.0f};
  for (int64_t c = 0; c < n; c += kChunk) {
    int64_t len = std::min(kChunk, n - c);
    float cm = lanes_max(x + c, len);
    float cs = lanes_sum_exp(x + c, len, lse_shift(cm));
    st = lse_merge(st, cm, cs);
  }
  return st;
}

void softmax_forward(float* y, const float* x, int64_t rows, int64_t cols) {
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) { softmax_rows(y, x, r0, r1, cols, false); });
}

void log_softmax_forward(float* y, const float* x, int64_t rows, int64_t cols) {
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) { softmax_rows(y, x, r0, r1, cols, true); });
}

void softmax_backward(float* dx, const float* dy, const float* y, int64_t rows, int64_t cols) {
  parallel_for(rows, row_grain(cols),
               [&](int64_t r0, int64_t r1) { softmax_grad_rows(dx, dy, y, r0, r1, cols, false); });
}

void log_softmax_backward(float* dx, const float* dy, const float* y, int64_t rows, int64_t cols) {
  parallel_for(rows, row_grain(cols),
               [&](int64_t r0, int64_t r1) { softmax_grad_rows(dx, dy, y, r0, r1, cols, true); });
}

}  // namespace tg
