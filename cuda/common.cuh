// Shared CUDA plumbing: error checks that return an error string (never exit), kernel launches, and the
// warp/block reductions of the (max, sum, entropy-sum) triple used by the GRPO kernels.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <string>

#include "grpo.cuh"
#include "math/grpo.h"

namespace tg::cuda {

inline std::string cuda_error(cudaError_t e, const char* what) { return cuda_error_string(e, what); }
// After a launch: the launch's own error (bad configuration), never a sticky error from elsewhere.
inline std::string launch_error(const char* kernel) { return cuda_error(cudaGetLastError(), kernel); }

// kernel<<<grid, block, 0, stream>>>(args...), written as a call so the CPU emulator (cuda/emulator) can run it.
template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t stream, Args... args) {
#ifdef THINKGRAD_CUDA_EMULATOR
  cuda_emulator::launch(kernel, grid, block, stream, args...);
#else
  kernel<<<grid, block, 0, stream>>>(args...);
#endif
}

#define TG_CUDA_TRY(expr)                                        \
  do {                                                           \
    std::string tg_err_ = ::tg::cuda::cuda_error((expr), #expr); \
    if (!tg_err_.empty()) return tg_err_;                        \
  } while (0)

// Element loads as float, for float32 and bf16 logits.
__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }
template <class T> __device__ __forceinline__ T from_f32(float x);
template <> __device__ __forceinline__ float from_f32<float>(float x) { return x; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

struct Lse {
  float m, s, t;
};

__device__ __forceinline__ Lse warp_merge(Lse a) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    float m2 = __shfl_xor_sync(0xffffffffu, a.m, off);
    float s2 = __shfl_xor_sync(0xffffffffu, a.s, off);
    float t2 = __shfl_xor_sync(0xffffffffu, a.t, off);
    math::lse_merge(a.m, a.s, a.t, m2, s2, t2);
  }
  return a;
}

// Block-wide merge; every thread gets the result. `shared` holds at least 32 entries.
__device__ __forceinline__ Lse block_merge(Lse a, Lse* shared) {
  a = warp_merge(a);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  if (lane == 0) shared[warp] = a;
  __syncthreads();
  if (warp == 0) {
    Lse b = lane < warps ? shared[lane] : Lse{-__builtin_inff(), 0.0f, 0.0f};
    b = warp_merge(b);
    if (lane == 0) shared[0] = b;
  }
  __syncthreads();
  Lse r = shared[0];
  __syncthreads();  // shared may be reused right after
  return r;
}

__device__ __forceinline__ double warp_sum(double x) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
  return x;
}
__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
  return x;
}
// Block-wide sum; every thread gets the result. `shared` holds at least 32 entries.
template <class T>
__device__ __forceinline__ T block_sum(T x, T* shared) {
  x = warp_sum(x);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  if (lane == 0) shared[warp] = x;
  __syncthreads();
  if (warp == 0) {
    T y = lane < warps ? shared[lane] : T(0);
    y = warp_sum(y);
    if (lane == 0) shared[0] = y;
  }
  __syncthreads();
  T r = shared[0];
  __syncthreads();
  return r;
}

}  // namespace tg::cuda
