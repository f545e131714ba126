// RMSNorm CPU loops: rows in parallel; the weight gradient sums per fixed row block into a scratch
// matrix, then reduces the blocks column-parallel in a fixed order (same bits for any thread count).
#include "ops/rmsnorm.h"

#include <algorithm>
#include <vector>

#include "core/simd.h"
#include "core/thread_pool.h"
#include "math/rmsnorm.h"

namespace tg {
namespace {

using namespace tg::math;

constexpr int kLanes = kSimdLanes;

int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(cols, 1)); }

// sum_i w_i dy_i x_i
inline float sum_wdyx(const float* w, const float* dy, const float* x, int64_t n) {
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += w[i + j] * dy[i + j] * x[i + j];
  float s = 0.0f;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  for (; i < n; ++i) s += w[i] * dy[i] * x[i];
  return s;
}

TG_CLONES void forward_rows(float* y, float* rstd, const float* x, const float* w, int64_t r0, int64_t r1,
                            int64_t cols, float eps) {
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float rs = rmsnorm_rstd(lanes_dot(xr, xr, cols), cols, eps);
    rstd[r] = rs;
    for (int64_t i = 0; i < cols; ++i) yr[i] = rmsnorm_value(xr[i], rs, w[i]);
  }
}

// dx for rows [r0, r1) and this block's dw partial: part[i] = sum_r dy[r,i] * x[r,i] * rstd[r].
TG_CLONES void backward_rows(float* dx, float* __restrict part, const float* dy, const float* x, const float* w,
                             const float* rstd, int64_t r0, int64_t r1, int64_t cols) {
  for (int64_t i = 0; i < cols; ++i) part[i] = 0.0f;
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    float rs = rstd[r];
    // c = mean(w dy xhat) = rstd * mean(w dy x)
    float c = rs * sum_wdyx(w, dyr, xr, cols) / static_cast<float>(cols);
    // part first: dx may alias dy.
    for (int64_t i = 0; i < cols; ++i) part[i] += dyr[i] * (xr[i] * rs);
    for (int64_t i = 0; i < cols; ++i) dxr[i] = rmsnorm_grad_x(xr[i], dyr[i], w[i], rs, c);
  }
}

TG_CLONES void reduce_blocks(float* __restrict dw, const float* __restrict part, int64_t blocks, int64_t c0,
                             int64_t c1, int64_t cols) {
  for (int64_t i = c0; i < c1; ++i) dw[i] = 0.0f;
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t i = c0; i < c1; ++i) dw[i] += part[b * cols + i];
}

}  // namespace

void rmsnorm_forward(float* y, float* rstd, const float* x, const float* w, int64_t rows, int64_t cols, float eps) {
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) { forward_rows(y, rstd, x, w, r0, r1, cols, eps); });
}

void rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w, const float* rstd,
                      int64_t rows, int64_t cols) {
  // Block count from the shape only (never the thread count), so dw is bitwise reproducible.
  int64_t blocks = std::clamp<int64_t>(rows * cols / (int64_t{1} << 15), 1, 64);
  blocks = std::min(blocks, std::max<int64_t>(rows, 1));
  int64_t rows_per_block = (rows + blocks - 1) / std::max<int64_t>(blocks, 1);
  blocks = rows == 0 ? 1 : (rows + rows_per_block - 1) / rows_per_block;
  std::vector<float> part(static_cast<size_t>(blocks * cols), 0.0f);
  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      int64_t r0 = b * rows_per_block, r1 = std::min(rows, r0 + rows_per_block);
      backward_rows(dx, part.data() + b * cols, dy, x, w, rstd, r0, r1, cols);
    }
  });
  parallel_for(cols, 4096, [&](int64_t c0, int64_t c1) { reduce_blocks(dw, part.data(), blocks, c0, c1, cols); });
}

}  // namespace tg
