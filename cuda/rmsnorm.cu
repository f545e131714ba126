// RMSNorm kernels. Forward and dx: a warp per row up to 1024 columns, a block per row beyond, 16-byte loads
// where the rows allow. dw = sum over rows of dy * x * rstd in two deterministic stages: blocks of (32 columns x
// 8 row lanes) each sum one split of the rows (coalesced across columns), then a second kernel adds the splits'
// partials in split order. The dw stage runs before dx, since dx may overwrite dy.
#include "rmsnorm.cuh"
#include "rows.cuh"
#include "math/rmsnorm.h"

namespace tg::cuda {
namespace {

using namespace rows;

template <bool kWarp, int W>
__global__ void __launch_bounds__(kThreads)
    rmsnorm_forward(float* y, float* rstd, const float* x, const float* w, int64_t rows, int64_t cols, float eps) {
  const RowGroup<kWarp> g;
  for (int64_t r = g.first; r < rows; r += g.step) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float sum_sq = 0.0f;
    for (int64_t k = static_cast<int64_t>(g.lane) * W; k < cols; k += static_cast<int64_t>(g.lanes) * W) {
      float v[W];
      load<W>(xr + k, v);
#pragma unroll
      for (int j = 0; j < W; ++j) sum_sq += v[j] * v[j];
    }
    const float rs = math::rmsnorm_rstd(group_reduce<kWarp>(sum_sq, add), cols, eps);
    if (g.lane == 0) rstd[r] = rs;
    for (int64_t k = static_cast<int64_t>(g.lane) * W; k < cols; k += static_cast<int64_t>(g.lanes) * W) {
      float v[W], wv[W];
      load<W>(xr + k, v);
      load<W>(w + k, wv);
#pragma unroll
      for (int j = 0; j < W; ++j) v[j] = math::rmsnorm_value(v[j], rs, wv[j]);
      store<W>(yr + k, v);
    }
  }
}

template <bool kWarp, int W>
__global__ void __launch_bounds__(kThreads)
    rmsnorm_backward_dx(float* dx, const float* dy, const float* x, const float* w, const float* rstd, int64_t rows,
                        int64_t cols) {
  const RowGroup<kWarp> g;
  for (int64_t r = g.first; r < rows; r += g.step) {
    const float* xr = x + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    float acc = 0.0f;  // sum_i w_i dy_i x_i
    for (int64_t k = static_cast<int64_t>(g.lane) * W; k < cols; k += static_cast<int64_t>(g.lanes) * W) {
      float a[W], b[W], c[W];
      load<W>(xr + k, a);
      load<W>(dyr + k, b);
      load<W>(w + k, c);
#pragma unroll
      for (int j = 0; j < W; ++j) acc += c[j] * b[j] * a[j];
    }
    const float rs = rstd[r];
    // c = mean(w dy xhat) = rstd * mean(w dy x)
    const float mean_term = rs * group_reduce<kWarp>(acc, add) / static_cast<float>(cols);
    for (int64_t k = static_cast<int64_t>(g.lane) * W; k < cols; k += static_cast<int64_t>(g.lanes) * W) {
      float a[W], b[W], c[W];
      load<W>(xr + k, a);
      load<W>(dyr + k, b);
      load<W>(w + k, c);
#pragma unroll
      for (int j = 0; j < W; ++j) a[j] = math::rmsnorm_grad_x(a[j], b[j], c[j], rs, mean_term);
      store<W>(dxr + k, a);
    }
  }
}

constexpr int kColTile = 32, kColLanes = 8;

// Block (32, 8): one 32-column tile over rows [blockIdx.y * rows_per_split, ...). One split writes dw, several
// write partial[blockIdx.y * cols + c].
__global__ void __launch_bounds__(kColTile * kColLanes)
    rmsnorm_dw_partial(float* dw, float* partial, const float* dy, const float* x, const float* rstd, int64_t rows,
                       int64_t cols, int64_t rows_per_split) {
  __shared__ float lanes[kColLanes][kColTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kColTile + tx;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * rows_per_split;
  const int64_t r1 = rows - r0 < rows_per_split ? rows : r0 + rows_per_split;
  float acc = 0.0f;
  if (c < cols)
    for (int64_t r = r0 + ty; r < r1; r += kColLanes) acc += dy[r * cols + c] * (x[r * cols + c] * rstd[r]);
  lanes[ty][tx] = acc;
  __syncthreads();
  if (ty != 0 || c >= cols) return;
  for (int k = 1; k < kColLanes; ++k) acc += lanes[k][tx];
  if (gridDim.y > 1) partial[static_cast<int64_t>(blockIdx.y) * cols + c] = acc;
  else dw[c] = acc;
}

__global__ void __launch_bounds__(kThreads) sum_partials(float* dw, const float* partial, int64_t splits, int64_t cols) {
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < cols;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float acc = partial[c];
    for (int64_t s = 1; s < splits; ++s) acc += partial[s * cols + c];
    dw[c] = acc;
  }
}

struct Split {
  int64_t tiles, splits, rows_per_split;
};
// ~1024 blocks when the column tiles are few; every split keeps >= 64 rows. From the shape only.
Split dw_split(int64_t rows, int64_t cols) {
  const int64_t tiles = (cols + kColTile - 1) / kColTile;
  const int64_t max_splits = std::max<int64_t>(1, (rows + 63) / 64);
  int64_t splits = std::clamp<int64_t>(1024 / std::max<int64_t>(tiles, 1), 1, std::min<int64_t>(max_splits, 1024));
  const int64_t rows_per_split = std::max<int64_t>(1, (rows + splits - 1) / splits);
  splits = std::max<int64_t>(1, (rows + rows_per_split - 1) / rows_per_split);
  return {tiles, splits, rows_per_split};
}

}  // namespace

std::string launch_rmsnorm_forward(float* y, float* rstd, const float* x, const float* w, int64_t rows, int64_t cols,
                                   float eps, cudaStream_t stream) {
  const RowLaunch l = row_launch(rows, cols);
  return dispatch_rows(l.warp, vec4_ok(cols, {y, x, w}), [&](auto warp, auto vw) {
    launch(rmsnorm_forward<decltype(warp)::value, decltype(vw)::value>, l.grid, l.block, stream, y, rstd, x, w, rows,
           cols, eps);
    return launch_error("rmsnorm_forward");
  });
}

size_t rmsnorm_backward_scratch_bytes(int64_t rows, int64_t cols) {
  const Split s = dw_split(rows, cols);
  return s.splits > 1 ? static_cast<size_t>(s.splits * cols) * sizeof(float) : 0;
}

std::string launch_rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                                    const float* rstd, int64_t rows, int64_t cols, void* scratch, cudaStream_t stream) {
  const Split s = dw_split(rows, cols);
  float* partial = static_cast<float*>(scratch);
  launch(rmsnorm_dw_partial, dim3(static_cast<unsigned>(s.tiles), static_cast<unsigned>(s.splits)),
         dim3(kColTile, kColLanes), stream, dw, partial, dy, x, rstd, rows, cols, s.rows_per_split);
  std::string err = launch_error("rmsnorm_dw_partial");
  if (!err.empty()) return err;
  if (s.splits > 1) {
    const int64_t blocks = std::clamp<int64_t>((cols + kThreads - 1) / kThreads, 1, kMaxBlocks);
    launch(sum_partials, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), stream, dw,
           static_cast<const float*>(partial), s.splits, cols);
    if (!(err = launch_error("sum_partials")).empty()) return err;
  }
  const RowLaunch l = row_launch(rows, cols);
  return dispatch_rows(l.warp, vec4_ok(cols, {dx, dy, x, w}), [&](auto warp, auto vw) {
    launch(rmsnorm_backward_dx<decltype(warp)::value, decltype(vw)::value>, l.grid, l.block, stream, dx, dy, x, w, rstd,
           rows, cols);
    return launch_error("rmsnorm_backward_dx");
  });
}

}  // namespace tg::cuda
