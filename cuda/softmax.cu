// Softmax-family kernels on rows of float32: a warp per row up to 1024 columns, a block per row beyond,
// 16-byte loads where every row start is aligned. The forward keeps an online (max, sum) per thread (one
// rescale per 4 values), merged across the row group, then writes the row; the backward reduces sum(dy) or
// sum(dy * y) and writes. Per-element formulas are native/math/softmax.h's, as the CPU loops use.
#include <climits>

#include "rows.cuh"
#include "softmax.cuh"

namespace tg::cuda {
namespace {

using namespace rows;

// A row's log-sum-exp state, every lane of the group gets it.
template <bool kWarp, int W>
__device__ __forceinline__ math::LseState row_lse(const float* x, int64_t cols, const RowGroup<kWarp>& g) {
  math::LseState st{-__builtin_inff(), 0.0f};
  for (int64_t k = static_cast<int64_t>(g.lane) * W; k < cols; k += static_cast<int64_t>(g.lanes) * W) {
    float v[W];
    load<W>(x + k, v);
    lse_accumulate<W>(st, v);
  }
  return group_reduce<kWarp>(st, lse_combine);
}

template <bool kLog, bool kWarp, int W>
__global__ void __launch_bounds__(kThreads) softmax_forward(float* y, const float* x, int64_t rows, int64_t cols) {
  const RowGroup<kWarp> g;
  for (int64_t r = g.first; r < rows; r += g.step) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const math::LseState st = row_lse<kWarp, W>(xr, cols, g);
    const float m = math::lse_shift(st.m);
    // (x - m) - log(s): subtracting the max first keeps large logits exact.
    const float log_s = math::fast_log(st.s), inv_s = 1.0f / st.s;
    for (int64_t k = static_cast<int64_t>(g.lane) * W; k < cols; k += static_cast<int64_t>(g.lanes) * W) {
      float v[W];
      load<W>(xr + k, v);
#pragma unroll
      for (int j = 0; j < W; ++j) v[j] = kLog ? (v[j] - m) - log_s : math::fast_exp(v[j] - m) * inv_s;
      store<W>(yr + k, v);
    }
  }
}

template <bool kLog, bool kWarp, int W>
__global__ void __launch_bounds__(kThreads)
    softmax_backward(float* dx, const float* dy, const float* y, int64_t rows, int64_t cols) {
  const RowGroup<kWarp> g;
  for (int64_t r = g.first; r < rows; r += g.step) {
    const float* dyr = dy + r * cols;
    const float* yr = y + r * cols;
    float* dxr = dx + r * cols;
    float acc = 0.0f;  // log: sum(dy); else sum(dy * y)
    for (int64_t k = static_cast<int64_t>(g.lane) * W; k < cols; k += static_cast<int64_t>(g.lanes) * W) {
      float a[W];
      load<W>(dyr + k, a);
      if constexpr (kLog) {
#pragma unroll
        for (int j = 0; j < W; ++j) acc += a[j];
      } else {
        float b[W];
        load<W>(yr + k, b);
#pragma unroll
        for (int j = 0; j < W; ++j) acc += a[j] * b[j];
      }
    }
    acc = group_reduce<kWarp>(acc, add);
    for (int64_t k = static_cast<int64_t>(g.lane) * W; k < cols; k += static_cast<int64_t>(g.lanes) * W) {
      float a[W], b[W];
      load<W>(dyr + k, a);
      load<W>(yr + k, b);
#pragma unroll
      for (int j = 0; j < W; ++j) a[j] = kLog ? math::log_softmax_grad(b[j], a[j], acc) : math::softmax_grad(b[j], a[j], acc);
      store<W>(dxr + k, a);
    }
  }
}

// ---- cross-entropy ----

__global__ void __launch_bounds__(kThreads)
    check_targets(const int32_t* targets, int64_t n, int64_t v, int64_t ignore_index, int* bad) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = targets[i];
    if (t != ignore_index && (t < 0 || t >= v)) atomicMin(bad, static_cast<int>(i));
  }
}

template <bool kWarp, int W>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_forward(float* loss, float* lse, const float* logits, const int32_t* targets, int64_t n, int64_t v,
                          int64_t ignore_index, int* status) {
  if (status[1] != INT_MAX) return;
  const RowGroup<kWarp> g;
  for (int64_t r = g.first; r < n; r += g.step) {
    const float* x = logits + r * v;
    const math::LseState st = row_lse<kWarp, W>(x, v, g);
    if (g.lane != 0) continue;
    const float m = math::lse_shift(st.m), log_s = math::fast_log(st.s);
    const float row_lse = m + log_s;
    lse[r] = row_lse;
    const int64_t t = targets[r];
    if (t == ignore_index) {
      loss[r] = 0.0f;
      continue;
    }
    // (m - x[t]) + log(s): the max is subtracted first so large logits keep their precision.
    const float l = (m - x[t]) + log_s;
    loss[r] = l;
    if (!(row_lse - row_lse == 0.0f && l - l == 0.0f)) atomicMin(&status[0], static_cast<int>(r));
  }
}

template <bool kWarp, int W>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_backward(float* dlogits, const float* g_row, const float* logits, const float* lse,
                           const int32_t* targets, int64_t n, int64_t v, int64_t ignore_index, const int* status) {
  if (status[1] != INT_MAX) return;
  const RowGroup<kWarp> g;
  for (int64_t r = g.first; r < n; r += g.step) {
    const float* x = logits + r * v;
    float* d = dlogits + r * v;
    const bool ignored = targets[r] == ignore_index;
    const int64_t t = ignored ? -1 : targets[r];
    const float gr = ignored ? 0.0f : g_row[r], l = ignored ? 0.0f : lse[r];
    for (int64_t k = static_cast<int64_t>(g.lane) * W; k < v; k += static_cast<int64_t>(g.lanes) * W) {
      float a[W];
      if (ignored) {
#pragma unroll
        for (int j = 0; j < W; ++j) a[j] = 0.0f;
      } else {
        load<W>(x + k, a);
        // g * exp(x - lse), minus g at the target: the CPU's two steps, so the same float operations.
#pragma unroll
        for (int j = 0; j < W; ++j) {
          const float p = gr * math::fast_exp(a[j] - l);
          a[j] = k + j == t ? p - gr : p;
        }
      }
      store<W>(d + k, a);
    }
  }
}

std::string check_targets_launch(const int32_t* targets, int64_t n, int64_t v, int64_t ignore_index, int* bad,
                                 cudaStream_t stream) {
  const int64_t blocks = std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, kMaxBlocks);
  launch(check_targets, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), stream, targets, n, v, ignore_index, bad);
  return launch_error("check_targets");
}

}  // namespace

std::string launch_softmax_forward(float* y, const float* x, int64_t rows, int64_t cols, bool log, cudaStream_t stream) {
  const RowLaunch l = row_launch(rows, cols);
  return dispatch_rows(l.warp, vec4_ok(cols, {y, x}), [&](auto warp, auto w) {
    constexpr bool kWarp = decltype(warp)::value;
    constexpr int W = decltype(w)::value;
    if (log) launch(softmax_forward<true, kWarp, W>, l.grid, l.block, stream, y, x, rows, cols);
    else launch(softmax_forward<false, kWarp, W>, l.grid, l.block, stream, y, x, rows, cols);
    return launch_error("softmax_forward");
  });
}

std::string launch_softmax_backward(float* dx, const float* dy, const float* y, int64_t rows, int64_t cols, bool log,
                                    cudaStream_t stream) {
  const RowLaunch l = row_launch(rows, cols);
  return dispatch_rows(l.warp, vec4_ok(cols, {dx, dy, y}), [&](auto warp, auto w) {
    constexpr bool kWarp = decltype(warp)::value;
    constexpr int W = decltype(w)::value;
    if (log) launch(softmax_backward<true, kWarp, W>, l.grid, l.block, stream, dx, dy, y, rows, cols);
    else launch(softmax_backward<false, kWarp, W>, l.grid, l.block, stream, dx, dy, y, rows, cols);
    return launch_error("softmax_backward");
  });
}

std::string launch_cross_entropy_forward(float* loss, float* lse, const float* logits, const int32_t* targets,
                                         int64_t n, int64_t v, int64_t ignore_index, int* status, cudaStream_t stream) {
  std::string err = check_targets_launch(targets, n, v, ignore_index, status + 1, stream);
  if (!err.empty()) return err;
  const RowLaunch l = row_launch(n, v);
  return dispatch_rows(l.warp, vec4_ok(v, {logits}), [&](auto warp, auto w) {
    launch(cross_entropy_forward<decltype(warp)::value, decltype(w)::value>, l.grid, l.block, stream, loss, lse, logits,
           targets, n, v, ignore_index, status);
    return launch_error("cross_entropy_forward");
  });
}

std::string launch_cross_entropy_backward(float* dlogits, const float* g, const float* logits, const float* lse,
                                          const int32_t* targets, int64_t n, int64_t v, int64_t ignore_index,
                                          int* status, cudaStream_t stream) {
  std::string err = check_targets_launch(targets, n, v, ignore_index, status + 1, stream);
  if (!err.empty()) return err;
  const RowLaunch l = row_launch(n, v);
  return dispatch_rows(l.warp, vec4_ok(v, {dlogits, logits}), [&](auto warp, auto w) {
    launch(cross_entropy_backward<decltype(warp)::value, decltype(w)::value>, l.grid, l.block, stream, dlogits, g,
           logits, lse, targets, n, v, ignore_index, static_cast<const int*>(status));
    return launch_error("cross_entropy_backward");
  });
}

}  // namespace tg::cuda
