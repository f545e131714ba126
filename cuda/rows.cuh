// Device plumbing shared by the row kernels (reduce.cu, softmax.cu, rmsnorm.cu): which threads own a row (a warp
// for short rows, the whole block for long ones), 1- or 4-wide loads, and warp/block reductions with any
// commutative combine. Reductions run in a fixed order for a given shape, so results are reproducible.
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "common.cuh"
#include "math/softmax.h"

namespace tg::cuda::rows {

constexpr int kThreads = 256;
constexpr int64_t kWarpRowMax = 1024;  // rows of at most this many elements: a warp per row
constexpr int64_t kMaxBlocks = int64_t{1} << 20;  // beyond this, blocks loop over rows (grid-stride)

// The threads that share a row: a warp (kWarp) or the whole block; `lane` numbers them in [0, lanes).
template <bool kWarp>
struct RowGroup {
  int lane, lanes;
  int64_t first, step;  // first row of this group and the distance to its next one
  __device__ __forceinline__ RowGroup() {
    if constexpr (kWarp) {
      lane = threadIdx.x & 31;
      lanes = 32;
      const int64_t per_block = blockDim.x >> 5;
      first = static_cast<int64_t>(blockIdx.x) * per_block + (threadIdx.x >> 5);
      step = static_cast<int64_t>(gridDim.x) * per_block;
    } else {
      lane = threadIdx.x;
      lanes = blockDim.x;
      first = blockIdx.x;
      step = gridDim.x;
    }
  }
};

struct RowLaunch {
  dim3 grid, block;
  bool warp;
};
inline RowLaunch row_launch(int64_t rows, int64_t cols) {
  const bool warp = cols <= kWarpRowMax;
  const int64_t per_block = warp ? kThreads / 32 : 1;
  const int64_t blocks = std::clamp<int64_t>((rows + per_block - 1) / per_block, 1, kMaxBlocks);
  return {dim3(static_cast<unsigned>(blocks)), dim3(kThreads), warp};
}

// 16-byte loads need every row start 16-byte aligned: an aligned base and whole float4s per row.
inline bool vec4_ok(int64_t cols, std::initializer_list<const void*> ptrs) {
  if (cols % 4 != 0) return false;
  for (const void* p : ptrs)
    if (p && reinterpret_cast<uintptr_t>(p) % 16 != 0) return false;
  return true;
}

// Calls f(kWarp, W) with compile-time constants: the row group and the load width (4 when vec, else 1).
template <class F>
auto dispatch_rows(bool warp, bool vec, F&& f) {
  using W4 = std::integral_constant<int, 4>;
  using W1 = std::integral_constant<int, 1>;
  if (warp) return vec ? f(std::true_type{}, W4{}) : f(std::true_type{}, W1{});
  return vec ? f(std::false_type{}, W4{}) : f(std::false_type{}, W1{});
}

template <int W>
__device__ __forceinline__ void load(const float* p, float (&v)[W]) {
  if constexpr (W == 4) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    v[0] = q.x;
    v[1] = q.y;
    v[2] = q.z;
    v[3] = q.w;
  } else {
    v[0] = *p;
  }
}
template <int W>
__device__ __forceinline__ void store(float* p, const float (&v)[W]) {
  if constexpr (W == 4) {
    *reinterpret_cast<float4*>(p) = float4{v[0], v[1], v[2], v[3]};
  } else {
    *p = v[0];
  }
}

// Lane exchanges of the reduction states (CUDA shuffles scalars only).
__device__ __forceinline__ float shfl_xor(float v, int off) { return __shfl_xor_sync(0xffffffffu, v, off); }
__device__ __forceinline__ int shfl_xor(int v, int off) { return __shfl_xor_sync(0xffffffffu, v, off); }
__device__ __forceinline__ math::LseState shfl_xor(math::LseState v, int off) {
  return {shfl_xor(v.m, off), shfl_xor(v.s, off)};
}
// A candidate for argmax/argmin: value and column.
struct ArgBest {
  float v;
  int i;
};
__device__ __forceinline__ ArgBest shfl_xor(ArgBest v, int off) { return {shfl_xor(v.v, off), shfl_xor(v.i, off)}; }

// Butterfly over the warp; with a commutative combine every lane ends with the same bits.
template <class T, class F>
__device__ __forceinline__ T warp_reduce(T v, F combine) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v = combine(v, shfl_xor(v, off));
  return v;
}

// Reduction over the row group: a warp's shuffles, or the block's through shared memory. Every lane gets the
// result. All threads of the group must call it.
template <bool kWarp, class T, class F>
__device__ __forceinline__ T group_reduce(T v, F combine) {
  v = warp_reduce(v, combine);
  if constexpr (kWarp) {
    return v;
  } else {
    __shared__ T partial[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    T r = partial[0];
    for (int w = 1; w < warps; ++w) r = combine(r, partial[w]);
    __syncthreads();  // partial is reused by the next reduction
    return r;
  }
}

__device__ __forceinline__ float add(float a, float b) { return a + b; }
// NaN-propagating max/min, symmetric so that a butterfly gives every lane the same value.
__device__ __forceinline__ float nan_max(float a, float b) { return (a != a || b != b) ? a + b : (a > b ? a : b); }
__device__ __forceinline__ float nan_min(float a, float b) { return (a != a || b != b) ? a + b : (a < b ? a : b); }
__device__ __forceinline__ math::LseState lse_combine(math::LseState a, math::LseState b) {
  return math::lse_merge(a, b.m, b.s);
}

// Folds W values into a running log-sum-exp state: one rescale per group, one exp per value.
template <int W>
__device__ __forceinline__ void lse_accumulate(math::LseState& st, const float (&v)[W]) {
  float mx = v[0];
#pragma unroll
  for (int k = 1; k < W; ++k) mx = v[k] > mx ? v[k] : mx;
  if (mx > st.m) {
    st.s = st.m == -__builtin_inff() ? 0.0f : st.s * math::fast_exp(st.m - mx);
    st.m = mx;
  }
  const float shift = math::lse_shift(st.m);
#pragma unroll
  for (int k = 0; k < W; ++k) st.s += math::fast_exp(v[k] - shift);
}

}  // namespace tg::cuda::rows
