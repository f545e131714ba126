// TG_HD marks scalar math shared by the CPU kernels and the CUDA kernels: __host__ __device__ under
// nvcc, plain inline elsewhere. Headers in native/math/ include nothing but this and <cmath>/<cstdint>.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define TG_HD __host__ __device__ __forceinline__
#else
#define TG_HD inline __attribute__((always_inline))
#endif

namespace tg::math {

TG_HD float bits_to_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

TG_HD uint32_t float_to_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

}  // namespace tg::math
