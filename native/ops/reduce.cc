// Row reductions run one row per task with vectorizable inner loops (kernels/loops/reduce.h: partial sums in
// 16 lanes so the order is fixed and the compiler can use SIMD); a few long rows (a whole-tensor sum) are cut
// into fixed blocks reduced in parallel and combined in block order, so the result does not depend on the
// thread count.
// Column reductions split the columns across threads.
#include "ops/reduce.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/vector_kernels.h"

namespace tg {
namespace {

int32_t row_arg(const float* x, int64_t n, bool want_max) {
  int32_t best = 0;
  float bv = x[0];
  if (bv != bv) return 0;
  for (int64_t i = 1; i < n; ++i) {
    float v = x[i];
    if (v != v) return static_cast<int32_t>(i);
    if (want_max ? v > bv : v < bv) {
      bv = v;
      best = static_cast<int32_t>(i);
    }
  }
  return best;
}

}  // namespace

// Elements per block when long rows are split (256 KiB: the per-block overhead is noise, blocks balance).
constexpr int64_t kSplitBlock = int64_t{1} << 16;

// Rows at or below which long rows are split. A fixed count (not the thread count) keeps the summation order,
// and so the result, the same on any number of threads.
constexpr int64_t kSplitRows = 8;

// Sum, Mean, Max, Min of few, long rows.
static bool reduce_rows_split(ReduceOp op, float* out, const float* x, int64_t rows, int64_t cols) {
  const bool splittable = op == ReduceOp::Sum || op == ReduceOp::Mean || op == ReduceOp::Max || op == ReduceOp::Min;
  if (!splittable || rows > kSplitRows || cols < 2 * kSplitBlock) return false;
  const int64_t blocks = (cols + kSplitBlock - 1) / kSplitBlock;
  std::vector<float> partial(static_cast<size_t>(rows * blocks));
  const VectorKernels& k = vector_kernels();
  parallel_for(rows * blocks, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t r = t / blocks, blk = t % blocks, c0 = blk * kSplitBlock;
      const float* seg = x + r * cols + c0;
      const int64_t n = std::min(kSplitBlock, cols - c0);
      partial[static_cast<size_t>(t)] =
          op == ReduceOp::Sum || op == ReduceOp::Mean ? k.row_sum(seg, n) : k.row_max(seg, n, op == ReduceOp::Max);
    }
  });
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = partial.data() + r * blocks;
    if (op == ReduceOp::Sum || op == ReduceOp::Mean) {
      float sum = 0.0f;
      for (int64_t blk = 0; blk < blocks; ++blk) sum += p[blk];
      out[r] = op == ReduceOp::Mean ? sum / static_cast<float>(cols) : sum;
    } else {
      out[r] = k.row_max(p, blocks, op == ReduceOp::Max);  // NaN in any block stays NaN
    }
  }
  return true;
}

void reduce_rows(ReduceOp op, void* out, const float* x, int64_t rows, int64_t cols) {
  if (reduce_rows_split(op, static_cast<float*>(out), x, rows, cols)) return;
  int64_t grain = cols >= 4096 ? 1 : 4096 / (cols + 1) + 1;
  const VectorKernels& k = vector_kernels();
  parallel_for(rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* row = x + r * cols;
      float* fo = static_cast<float*>(out);
      switch (op) {
        case ReduceOp::Sum: fo[r] = k.row_sum(row, cols); break;
        case ReduceOp::Mean: fo[r] = cols ? k.row_sum(row, cols) / static_cast<float>(cols) : NAN; break;
        case ReduceOp::Max: fo[r] = k.row_max(row, cols, true); break;
        case ReduceOp::Min: fo[r] = k.row_max(row, cols, false); break;
        case ReduceOp::LogSumExp: {
          float m = k.row_max(row, cols, true);
          if (cols == 0) fo[r] = -INFINITY;
          else if (!std::isfinite(m)) fo[r] = m;  // NaN stays NaN; +inf -> inf; all -inf -> -inf
          else fo[r] = m + std::log(k.row_sum_exp(row, cols, m));
          break;
        }
        case ReduceOp::Argmax: static_cast<int32_t*>(out)[r] = row_arg(row, cols, true); break;
        case ReduceOp::Argmin: static_cast<int32_t*>(out)[r] = row_arg(row, cols, false); break;
        case ReduceOp::Count: break;
      }
    }
  });
}

void reduce_cols(ReduceOp op, float* out, const float* x, int64_t rows, int64_t cols) {
  // Each task owns a block of columns and walks all rows: no write sharing, fixed summation order.
  constexpr int64_t kBlock = 256;
  int64_t blocks = (cols + kBlock - 1) / kBlock;
  int64_t grain = rows >= 256 ? 1 : 256 / (rows + 1) + 1;
  const auto col_accumulate = vector_kernels().col_accumulate;
  parallel_for(blocks, grain, [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; ++blk) {
      int64_t c0 = blk * kBlock;
      int64_t n = cols - c0 < kBlock ? cols - c0 : kBlock;
      float* o = out + c0;
      if (rows == 0) {
        float init = op == ReduceOp::Max ? -INFINITY : (op == ReduceOp::Min ? INFINITY : (op == ReduceOp::Mean ? NAN : 0.0f));
        for (int64_t i = 0; i < n; ++i) o[i] = init;
        continue;
      }
      for (int64_t i = 0; i < n; ++i) o[i] = x[c0 + i];
      for (int64_t r = 1; r < rows; ++r) col_accumulate(op, o, x + r * cols + c0, n);
      if (op == ReduceOp::Mean)
        for (int64_t i = 0; i < n; ++i) o[i] /= static_cast<float>(rows);
    }
  });
}

}  // namespace tg
