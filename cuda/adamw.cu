// CUDA AdamW: the per-element update of native/math/adamw.h (the CPU loop's function, with the same host-side
// constants from math::adamw_params), so the device's result is the CPU's. Memory-bound: 16-byte loads and
// stores of the four arrays where aligned, scalar tails. The multi-tensor kernel runs a block per chunk of a
// chunk table covering every tensor, so a step over hundreds of small parameters is one launch.
#include <algorithm>
#include <climits>

#include "adamw.cuh"
#include "common.cuh"

namespace tg::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kVec = 4;
constexpr int64_t kMaxBlocks = 8192;

struct alignas(16) Float4 {
  float v[kVec];
};

__host__ __device__ __forceinline__ bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Elements [first, n) of the arrays with stride `step` (in elements), 4 at a time when `vec`.
__device__ __forceinline__ void adamw_range(float* p, const float* g, float* m, float* v, int64_t n, int64_t first,
                                            int64_t step, bool vec, const math::AdamWParams& a) {
  const int64_t body = vec ? n / kVec * kVec : 0;
  for (int64_t i = first * kVec; i < body; i += step * kVec) {
    Float4 pp = *reinterpret_cast<const Float4*>(p + i);
    const Float4 gg = *reinterpret_cast<const Float4*>(g + i);
    Float4 mm = *reinterpret_cast<const Float4*>(m + i);
    Float4 vv = *reinterpret_cast<const Float4*>(v + i);
#pragma unroll
    for (int j = 0; j < kVec; ++j) math::adamw_update(pp.v[j], gg.v[j], mm.v[j], vv.v[j], a);
    *reinterpret_cast<Float4*>(p + i) = pp;
    *reinterpret_cast<Float4*>(m + i) = mm;
    *reinterpret_cast<Float4*>(v + i) = vv;
  }
  for (int64_t i = body + first; i < n; i += step) math::adamw_update(p[i], g[i], m[i], v[i], a);
}

__global__ void __launch_bounds__(kThreads) adamw_kernel(float* __restrict__ p, const float* __restrict__ g,
                                                         float* __restrict__ m, float* __restrict__ v, int64_t n,
                                                         math::AdamWParams a, bool vec) {
  adamw_range(p, g, m, v, n, static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x,
              static_cast<int64_t>(gridDim.x) * blockDim.x, vec, a);
}

__global__ void __launch_bounds__(kThreads) adamw_chunks_kernel(const AdamWChunk* __restrict__ chunks,
                                                                math::AdamWParams a) {
  const AdamWChunk c = chunks[blockIdx.x];
  const bool vec = aligned16(c.param) && aligned16(c.grad) && aligned16(c.m) && aligned16(c.v);
  adamw_range(c.param, c.grad, c.m, c.v, c.n, threadIdx.x, blockDim.x, vec, a);
}

}  // namespace

std::string launch_adamw(float* param, const float* grad, float* m, float* v, int64_t n, const math::AdamWParams& a,
                         cudaStream_t stream) {
  if (n == 0) return {};
  const bool vec = aligned16(param) && aligned16(grad) && aligned16(m) && aligned16(v);
  const int64_t work = vec ? (n + kVec - 1) / kVec : n;
  const int blocks = static_cast<int>(std::min<int64_t>((work + kThreads - 1) / kThreads, kMaxBlocks));
  launch(adamw_kernel, blocks, kThreads, stream, param, grad, m, v, n, a, vec);
  return launch_error("adamwStep");
}

std::string launch_adamw_chunks(const AdamWChunk* chunks, int64_t count, const math::AdamWParams& a, cudaStream_t stream) {
  if (count == 0) return {};
  if (count > INT_MAX) return "adamwMultiStep: " + std::to_string(count) + " chunks exceed the grid";
  launch(adamw_chunks_kernel, static_cast<int>(count), kThreads, stream, chunks, a);
  return launch_error("adamwMultiStep");
}

}  // namespace tg::cuda
