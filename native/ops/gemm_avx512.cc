// AVX-512 SGEMM micro-kernel: an 8x32 register tile (16 zmm accumulators, two B vectors, one broadcast of
// A per row). 8x32 measured best on Zen 5 (vs 12x32, 14x32, 10x32) and packs A with exact 8x8 transposes.
#include <cstddef>
#include <cstdint>

#include "ops/gemm_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

// Everything below may use AVX-512. NOTE: all standard headers are included above this line, and no std
// template is instantiated below it (an AVX-512 COMDAT copy could be linked into baseline callers).
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")
#include "ops/gemm_avx512_tile.h"

namespace tg::gemm_detail {
// Named so that disassembly tells this AVX-512 code apart (tests/native-contract.test.ts).
namespace avx512 {
namespace {

constexpr int kMR = 8;
constexpr int kNR = 32;

// C[MR,32] = alpha * a @ b + beta * C. Accumulators stay in zmm registers for the whole kc loop.
template <int MR>
inline __attribute__((always_inline)) void micro_kernel(int64_t kc, const float* a, const float* b, float* c,
                                                         int64_t ldc, float alpha, float beta) {
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    acc0[r] = _mm512_setzero_ps();
    acc1[r] = _mm512_setzero_ps();
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 31), _MM_HINT_T0);

  int64_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    _mm_prefetch(reinterpret_cast<const char*>(a + 8 * MR), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(a + 8 * MR + 16), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(a + 8 * MR + 32), _MM_HINT_T0);
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) {
      __m512 b0 = _mm512_load_ps(b + u * kNR);
      __m512 b1 = _mm512_load_ps(b + u * kNR + 16);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        __m512 ar = _mm512_set1_ps(a[u * MR + r]);
        acc0[r] = _mm512_fmadd_ps(ar, b0, acc0[r]);
        acc1[r] = _mm512_fmadd_ps(ar, b1, acc1[r]);
      }
    }
    a += 4 * MR;
    b += 4 * kNR;
  }
  for (; k < kc; ++k) {
    __m512 b0 = _mm512_load_ps(b);
    __m512 b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      __m512 ar = _mm512_set1_ps(a[r]);
      acc0[r] = _mm512_fmadd_ps(ar, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(ar, b1, acc1[r]);
    }
    a += MR;
    b += kNR;
  }

  store_tile_x32<MR>(acc0, acc1, c, ldc, alpha, beta);
}

void kernel_8x32(int64_t kc, int64_t tiles, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                 float beta) {
  for (int64_t t = 0; t < tiles; ++t, a += kMR * kc, c += kMR * ldc) micro_kernel<kMR>(kc, a, b, c, ldc, alpha, beta);
}

// kc = 256: the 32 KB B micro-panel stays in the 48 KB L1; mc = 240: a 240 KB A block in the 1 MB L2.
const Kernel kKernel = {"avx512", kMR, kNR, 256, 240, 4096, kernel_8x32, nullptr};

}  // namespace
}  // namespace avx512

const Kernel* avx512_kernel() { return &avx512::kKernel; }

}  // namespace tg::gemm_detail

#pragma GCC pop_options
#endif  // __x86_64__
