// Reductions on the device. Rows: a warp per row up to 1024 columns, a block per row beyond, 16-byte loads
// where the rows allow; a few very long rows (a whole-tensor sum) are cut into fixed segments reduced in
// parallel, then the segments' partials are reduced in segment order. Columns: a block reads a 32-column
// tile across 8 row lanes (coalesced), rows split over blockIdx.y into partials summed in split order by a
// second kernel. No atomics: the summation order depends on the shape only, so results are reproducible.
#include <climits>

#include "reduce.cuh"
#include "rows.cuh"

namespace tg::cuda {
namespace {

using namespace rows;

// Few-long-rows split: segments of this many elements, for at most kSplitRows rows of at least 2 segments.
constexpr int64_t kSplitSegment = int64_t{1} << 14;
constexpr int64_t kSplitRows = 64;

constexpr int kSum = static_cast<int>(ReduceOp::Sum), kMean = static_cast<int>(ReduceOp::Mean),
              kMax = static_cast<int>(ReduceOp::Max), kMin = static_cast<int>(ReduceOp::Min),
              kLse = static_cast<int>(ReduceOp::LogSumExp), kArgmax = static_cast<int>(ReduceOp::Argmax),
              kArgmin = static_cast<int>(ReduceOp::Argmin);

// The better of two argmax/argmin candidates: a NaN beats any number, ties go to the lower column, i = INT_MAX
// is "none yet". Symmetric, so a butterfly gives every lane the same answer.
template <bool kWantMax>
__device__ __forceinline__ ArgBest arg_better(ArgBest a, ArgBest b) {
  if (a.i == INT_MAX) return b;
  if (b.i == INT_MAX) return a;
  const bool an = a.v != a.v, bn = b.v != b.v;
  if (an != bn) return an ? a : b;
  if (!an && a.v != b.v) return (kWantMax ? a.v > b.v : a.v < b.v) ? a : b;
  return a.i < b.i ? a : b;
}

// Reduces logical rows s in [0, nrows): segment s % segs of row s / segs, `seg` elements long (the last one
// shorter). out[s] as float, or int32 for argmax/argmin. Mean divides by `divisor`.
template <int kOp, bool kWarp, int W>
__global__ void __launch_bounds__(kThreads)
    reduce_rows_kernel(void* out, const float* x, int64_t nrows, int64_t cols, int64_t seg, int64_t segs, float divisor) {
  const RowGroup<kWarp> g;
  for (int64_t s = g.first; s < nrows; s += g.step) {
    const int64_t r = s / segs, c0 = (s - r * segs) * seg;
    const int64_t len = cols - c0 < seg ? cols - c0 : seg;
    const float* p = x + r * cols + c0;
    const int64_t start = static_cast<int64_t>(g.lane) * W, stride = static_cast<int64_t>(g.lanes) * W;
    if constexpr (kOp == kArgmax || kOp == kArgmin) {
      constexpr bool kWantMax = kOp == kArgmax;
      ArgBest best{0.0f, INT_MAX};
      for (int64_t k = start; k < len; k += stride) {
        float v[W];
        load<W>(p + k, v);
#pragma unroll
        for (int j = 0; j < W; ++j) best = arg_better<kWantMax>(best, ArgBest{v[j], static_cast<int>(k + j)});
      }
      best = group_reduce<kWarp>(best, arg_better<kWantMax>);
      if (g.lane == 0) static_cast<int32_t*>(out)[s] = best.i;
    } else if constexpr (kOp == kLse) {
      // Max first, then the exp-sum relative to it: NaN, +inf and all -inf rows are the max itself, as on CPU.
      float m = -__builtin_inff();
      for (int64_t k = start; k < len; k += stride) {
        float v[W];
        load<W>(p + k, v);
#pragma unroll
        for (int j = 0; j < W; ++j) m = nan_max(m, v[j]);
      }
      m = group_reduce<kWarp>(m, nan_max);
      float sum = 0.0f;
      const bool finite = m - m == 0.0f;
      if (finite) {
        for (int64_t k = start; k < len; k += stride) {
          float v[W];
          load<W>(p + k, v);
#pragma unroll
          for (int j = 0; j < W; ++j) sum += math::fast_exp(v[j] - m);
        }
      }
      sum = group_reduce<kWarp>(sum, add);
      if (g.lane == 0) static_cast<float*>(out)[s] = finite ? m + logf(sum) : m;
    } else {
      constexpr bool kAdd = kOp == kSum || kOp == kMean;
      float acc = kAdd ? 0.0f : (kOp == kMax ? -__builtin_inff() : __builtin_inff());
      for (int64_t k = start; k < len; k += stride) {
        float v[W];
        load<W>(p + k, v);
#pragma unroll
        for (int j = 0; j < W; ++j) acc = kAdd ? acc + v[j] : (kOp == kMax ? nan_max(acc, v[j]) : nan_min(acc, v[j]));
      }
      acc = group_reduce<kWarp>(acc, kAdd ? add : (kOp == kMax ? nan_max : nan_min));
      if (g.lane == 0) static_cast<float*>(out)[s] = kOp == kMean ? acc / divisor : acc;
    }
  }
}

template <int kOp>
std::string rows_pass(void* out, const float* x, int64_t rows, int64_t cols, int64_t seg, int64_t segs, float divisor,
                      cudaStream_t stream) {
  const RowLaunch l = row_launch(rows * segs, seg);
  return dispatch_rows(l.warp, vec4_ok(cols, {x}) && seg % 4 == 0, [&](auto warp, auto w) {
    launch(reduce_rows_kernel<kOp, decltype(warp)::value, decltype(w)::value>, l.grid, l.block, stream, out, x,
           rows * segs, cols, seg, segs, divisor);
    return launch_error("reduce_rows_kernel");
  });
}

std::string rows_pass(ReduceOp op, void* out, const float* x, int64_t rows, int64_t cols, int64_t seg, int64_t segs,
                      float divisor, cudaStream_t stream) {
  switch (op) {
    case ReduceOp::Sum: return rows_pass<kSum>(out, x, rows, cols, seg, segs, divisor, stream);
    case ReduceOp::Mean: return rows_pass<kMean>(out, x, rows, cols, seg, segs, divisor, stream);
    case ReduceOp::Max: return rows_pass<kMax>(out, x, rows, cols, seg, segs, divisor, stream);
    case ReduceOp::Min: return rows_pass<kMin>(out, x, rows, cols, seg, segs, divisor, stream);
    case ReduceOp::LogSumExp: return rows_pass<kLse>(out, x, rows, cols, seg, segs, divisor, stream);
    case ReduceOp::Argmax: return rows_pass<kArgmax>(out, x, rows, cols, seg, segs, divisor, stream);
    case ReduceOp::Argmin: return rows_pass<kArgmin>(out, x, rows, cols, seg, segs, divisor, stream);
    default: return "reduce: unknown op";
  }
}

// Segments per row when few long rows are split, else 1.
int64_t row_segments(ReduceOp op, int64_t rows, int64_t cols) {
  const bool splittable = op == ReduceOp::Sum || op == ReduceOp::Mean || op == ReduceOp::Max || op == ReduceOp::Min;
  if (!splittable || rows > kSplitRows || cols < 2 * kSplitSegment) return 1;
  return (cols + kSplitSegment - 1) / kSplitSegment;
}

// ---- columns ----

constexpr int kColTile = 32, kColLanes = 8;

template <int kOp>
__device__ __forceinline__ float col_combine(float a, float b) {
  if constexpr (kOp == kMax) return nan_max(a, b);
  else if constexpr (kOp == kMin) return nan_min(a, b);
  else return a + b;
}
template <int kOp>
__device__ __forceinline__ float col_init() {
  return kOp == kMax ? -__builtin_inff() : (kOp == kMin ? __builtin_inff() : 0.0f);
}

// Block (32, 8): columns of one tile, rows [blockIdx.y * rows_per_split, ...) in 8 lanes. With one split the
// result goes to out (Mean divided by rows), else the split's partial to partial[blockIdx.y * cols + c].
template <int kOp>
__global__ void __launch_bounds__(kColTile * kColLanes)
    reduce_cols_kernel(float* out, float* partial, const float* x, int64_t rows, int64_t cols, int64_t rows_per_split) {
  __shared__ float lanes[kColLanes][kColTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kColTile + tx;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * rows_per_split;
  const int64_t r1 = rows - r0 < rows_per_split ? rows : r0 + rows_per_split;
  float acc = col_init<kOp>();
  if (c < cols)
    for (int64_t r = r0 + ty; r < r1; r += kColLanes) acc = col_combine<kOp>(acc, x[r * cols + c]);
  lanes[ty][tx] = acc;
  __syncthreads();
  if (ty != 0 || c >= cols) return;
  for (int k = 1; k < kColLanes; ++k) acc = col_combine<kOp>(acc, lanes[k][tx]);
  if (gridDim.y > 1) partial[static_cast<int64_t>(blockIdx.y) * cols + c] = acc;
  else out[c] = kOp == kMean ? acc / static_cast<float>(rows) : acc;
}

// out[c] = the splits' partials combined in split order.
template <int kOp>
__global__ void __launch_bounds__(kThreads)
    reduce_col_partials(float* out, const float* partial, int64_t splits, int64_t rows, int64_t cols) {
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < cols;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float acc = partial[c];
    for (int64_t s = 1; s < splits; ++s) acc = col_combine<kOp>(acc, partial[s * cols + c]);
    out[c] = kOp == kMean ? acc / static_cast<float>(rows) : acc;
  }
}

struct ColSplit {
  int64_t tiles, splits, rows_per_split;
};
// Enough blocks to fill the device (~1024) when there are few column tiles; each split keeps >= 64 rows.
ColSplit col_split(int64_t rows, int64_t cols) {
  const int64_t tiles = (cols + kColTile - 1) / kColTile;
  const int64_t max_splits = std::max<int64_t>(1, (rows + 63) / 64);
  int64_t splits = std::clamp<int64_t>(1024 / std::max<int64_t>(tiles, 1), 1, std::min<int64_t>(max_splits, 1024));
  const int64_t rows_per_split = std::max<int64_t>(1, (rows + splits - 1) / splits);
  splits = std::max<int64_t>(1, (rows + rows_per_split - 1) / rows_per_split);
  return {tiles, splits, rows_per_split};
}

template <int kOp>
std::string cols_pass(float* out, const float* x, int64_t rows, int64_t cols, float* partial, cudaStream_t stream) {
  const ColSplit s = col_split(rows, cols);
  launch(reduce_cols_kernel<kOp>, dim3(static_cast<unsigned>(s.tiles), static_cast<unsigned>(s.splits)),
         dim3(kColTile, kColLanes), stream, out, partial, x, rows, cols, s.rows_per_split);
  std::string err = launch_error("reduce_cols_kernel");
  if (!err.empty() || s.splits == 1) return err;
  const int64_t blocks = std::clamp<int64_t>((cols + kThreads - 1) / kThreads, 1, kMaxBlocks);
  launch(reduce_col_partials<kOp>, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), stream, out,
         static_cast<const float*>(partial), s.splits, rows, cols);
  return launch_error("reduce_col_partials");
}

}  // namespace

size_t reduce_rows_scratch_bytes(ReduceOp op, int64_t rows, int64_t cols) {
  const int64_t segs = row_segments(op, rows, cols);
  return segs > 1 ? static_cast<size_t>(rows * segs) * sizeof(float) : 0;
}

size_t reduce_cols_scratch_bytes(int64_t rows, int64_t cols) {
  const ColSplit s = col_split(rows, cols);
  return s.splits > 1 ? static_cast<size_t>(s.splits * cols) * sizeof(float) : 0;
}

std::string launch_reduce_rows(ReduceOp op, void* out, const float* x, int64_t rows, int64_t cols, void* scratch,
                               cudaStream_t stream) {
  if (rows == 0) return {};
  const int64_t segs = row_segments(op, rows, cols);
  if (segs == 1) return rows_pass(op, out, x, rows, cols, cols, 1, static_cast<float>(cols), stream);
  // Partial sums (or maxima) per segment, then the same op over each row's segments; Mean sums the segments.
  float* partial = static_cast<float*>(scratch);
  std::string err = rows_pass(op == ReduceOp::Mean ? ReduceOp::Sum : op, partial, x, rows, cols, kSplitSegment, segs,
                              1.0f, stream);
  if (!err.empty()) return err;
  return rows_pass(op, out, partial, rows, segs, segs, 1, static_cast<float>(cols), stream);
}

std::string launch_reduce_cols(ReduceOp op, float* out, const float* x, int64_t rows, int64_t cols, void* scratch,
                               cudaStream_t stream) {
  if (cols == 0) return {};
  float* partial = static_cast<float*>(scratch);
  switch (op) {
    case ReduceOp::Sum: return cols_pass<kSum>(out, x, rows, cols, partial, stream);
    case ReduceOp::Mean: return cols_pass<kMean>(out, x, rows, cols, partial, stream);
    case ReduceOp::Max: return cols_pass<kMax>(out, x, rows, cols, partial, stream);
    case ReduceOp::Min: return cols_pass<kMin>(out, x, rows, cols, partial, stream);
    default: return "reduce_cols: argmax/argmin/logsumexp reduce rows only";
  }
}

}  // namespace tg::cuda
