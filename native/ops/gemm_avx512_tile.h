// The epilogue of the AVX-512 micro-kernels (float32 and bf16): C[MR, 32] = alpha * acc + beta * C, with
// beta == 0 not reading C. Include it inside the kernels' `#pragma GCC target("avx512f,...")` region.
#pragma once

namespace tg::gemm_detail {

template <int MR>
__attribute__((always_inline)) static inline void store_tile_x32(const __m512 (&acc0)[MR], const __m512 (&acc1)[MR],
                                                                 float* c, int64_t ldc, float alpha, float beta) {
  const __m512 va = _mm512_set1_ps(alpha);
  if (beta == 0.0f) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      _mm512_storeu_ps(c + r * ldc, _mm512_mul_ps(acc0[r], va));
      _mm512_storeu_ps(c + r * ldc + 16, _mm512_mul_ps(acc1[r], va));
    }
  } else if (beta == 1.0f) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      _mm512_storeu_ps(c + r * ldc, _mm512_fmadd_ps(acc0[r], va, _mm512_loadu_ps(c + r * ldc)));
      _mm512_storeu_ps(c + r * ldc + 16, _mm512_fmadd_ps(acc1[r], va, _mm512_loadu_ps(c + r * ldc + 16)));
    }
  } else {
    const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      _mm512_storeu_ps(c + r * ldc, _mm512_fmadd_ps(acc0[r], va, _mm512_mul_ps(vb, _mm512_loadu_ps(c + r * ldc))));
      _mm512_storeu_ps(c + r * ldc + 16,
                       _mm512_fmadd_ps(acc1[r], va, _mm512_mul_ps(vb, _mm512_loadu_ps(c + r * ldc + 16))));
    }
  }
}

}  // namespace tg::gemm_detail
