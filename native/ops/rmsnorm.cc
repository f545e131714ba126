// RMSNorm on the CPU: rows in parallel (the loops: kernels/loops/rmsnorm.h); the weight gradient sums per fixed
// row block into a scratch matrix, then reduces the blocks column-parallel in a fixed order (same bits for any
// thread count).
#include "ops/rmsnorm.h"

#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/vector_kernels.h"

namespace tg {
namespace {

int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(cols, 1)); }

}  // namespace

void rmsnorm_forward(float* y, float* rstd, const float* x, const float* w, int64_t rows, int64_t cols, float eps) {
  const auto forward_rows = vector_kernels().rmsnorm_rows;
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
  const VectorKernels& k = vector_kernels();
  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      int64_t r0 = b * rows_per_block, r1 = std::min(rows, r0 + rows_per_block);
      k.rmsnorm_grad_rows(dx, part.data() + b * cols, dy, x, w, rstd, r0, r1, cols);
    }
  });
  parallel_for(cols, 4096, [&](int64_t c0, int64_t c1) { k.rmsnorm_reduce_blocks(dw, part.data(), blocks, c0, c1, cols); });
}

}  // namespace tg
