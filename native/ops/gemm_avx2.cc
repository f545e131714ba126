// AVX2/FMA SGEMM micro-kernel: a 6x16 register tile (12 ymm accumulators), the x86-64-v3 baseline path.
#include <cstddef>
#include <cstdint>

#include "ops/gemm_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

// NOTE: standard headers above; no std template instantiated below the target pragma.
#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace tg::gemm_detail {
namespace {

constexpr int kMR = 6;
constexpr int kNR = 16;

void kernel_6x16(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                 float beta) {
  __m256 acc0[kMR], acc1[kMR];
#pragma GCC unroll 8
  for (int r = 0; r < kMR; ++r) {
    acc0[r] = _mm256_setzero_ps();
    acc1[r] = _mm256_setzero_ps();
  }
#pragma GCC unroll 8
  for (int r = 0; r < kMR; ++r) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
#pragma GCC unroll 8
  for (int r = 0; r < kMR; ++r) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 15), _MM_HINT_T0);

  int64_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    _mm_prefetch(reinterpret_cast<const char*>(a + 8 * kMR), _MM_HINT_T0);
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) {
      __m256 b0 = _mm256_load_ps(b + u * kNR);
      __m256 b1 = _mm256_load_ps(b + u * kNR + 8);
#pragma GCC unroll 8
      for (int r = 0; r < kMR; ++r) {
        __m256 ar = _mm256_broadcast_ss(a + u * kMR + r);
        acc0[r] = _mm256_fmadd_ps(ar, b0, acc0[r]);
        acc1[r] = _mm256_fmadd_ps(ar, b1, acc1[r]);
      }
    }
    a += 4 * kMR;
    b += 4 * kNR;
  }
  for (; k < kc; ++k) {
    __m256 b0 = _mm256_load_ps(b);
    __m256 b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 8
    for (int r = 0; r < kMR; ++r) {
      __m256 ar = _mm256_broadcast_ss(a + r);
      acc0[r] = _mm256_fmadd_ps(ar, b0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(ar, b1, acc1[r]);
    }
    a += kMR;
    b += kNR;
  }

  const __m256 va = _mm256_set1_ps(alpha);
  if (beta == 0.0f) {
#pragma GCC unroll 8
    for (int r = 0; r < kMR; ++r) {
      _mm256_storeu_ps(c + r * ldc, _mm256_mul_ps(acc0[r], va));
      _mm256_storeu_ps(c + r * ldc + 8, _mm256_mul_ps(acc1[r], va));
    }
  } else {
    const __m256 vb = _mm256_set1_ps(beta);
#pragma GCC unroll 8
    for (int r = 0; r < kMR; ++r) {
      _mm256_storeu_ps(c + r * ldc,
                       _mm256_fmadd_ps(acc0[r], va, _mm256_mul_ps(vb, _mm256_loadu_ps(c + r * ldc))));
      _mm256_storeu_ps(c + r * ldc + 8,
                       _mm256_fmadd_ps(acc1[r], va, _mm256_mul_ps(vb, _mm256_loadu_ps(c + r * ldc + 8))));
    }
  }
}

const Kernel kKernel = {"avx2", kMR, kNR, 256, 144, 4096, kernel_6x16, nullptr};

}  // namespace

const Kernel* avx2_kernel() { return &kKernel; }

}  // namespace tg::gemm_detail

#pragma GCC pop_options
#endif  // __x86_64__
