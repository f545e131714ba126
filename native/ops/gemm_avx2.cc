// AVX2/FMA SGEMM micro-kernel: a 6x16 register tile (12 ymm accumulators), the x86-64-v3 baseline path.
#include <cstddef>
#include <cstdint>

#include "ops/gemm_kernels.h"
#include "ops/gemm_transpose.h"

#if defined(__x86_64__)
#include <immintrin.h>

// NOTE: standard headers above; no std template instantiated below the target pragma.
#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace tg::gemm_detail {
namespace {

constexpr int kMR = 6;
constexpr int kNR = 16;

// One k step of the 6x16 tile in the asm loop below: two B vectors, six A broadcasts, twelve FMAs.
// ymm12-13 hold B, ymm14-15 the broadcasts (fixed: asm takes at most 30 operands, and the twelve accumulators
// with the pointers already use them).
#define TG_K_STEP(u)                                                                 \
  "vmovaps " #u "*64(%[b]), %%ymm12\n\t"                                               \
  "vmovaps " #u "*64+32(%[b]), %%ymm13\n\t"                                            \
  "vbroadcastss " #u "*24+0(%[a]), %%ymm14\n\t"                                        \
  "vbroadcastss " #u "*24+4(%[a]), %%ymm15\n\t"                                        \
  "vfmadd231ps %%ymm12, %%ymm14, %[c00]\n\t"                                             \
  "vfmadd231ps %%ymm13, %%ymm14, %[c01]\n\t"                                             \
  "vfmadd231ps %%ymm12, %%ymm15, %[c10]\n\t"                                             \
  "vfmadd231ps %%ymm13, %%ymm15, %[c11]\n\t"                                             \
  "vbroadcastss " #u "*24+8(%[a]), %%ymm14\n\t"                                        \
  "vbroadcastss " #u "*24+12(%[a]), %%ymm15\n\t"                                       \
  "vfmadd231ps %%ymm12, %%ymm14, %[c20]\n\t"                                             \
  "vfmadd231ps %%ymm13, %%ymm14, %[c21]\n\t"                                             \
  "vfmadd231ps %%ymm12, %%ymm15, %[c30]\n\t"                                             \
  "vfmadd231ps %%ymm13, %%ymm15, %[c31]\n\t"                                             \
  "vbroadcastss " #u "*24+16(%[a]), %%ymm14\n\t"                                       \
  "vbroadcastss " #u "*24+20(%[a]), %%ymm15\n\t"                                       \
  "vfmadd231ps %%ymm12, %%ymm14, %[c40]\n\t"                                             \
  "vfmadd231ps %%ymm13, %%ymm14, %[c41]\n\t"                                             \
  "vfmadd231ps %%ymm12, %%ymm15, %[c50]\n\t"                                             \
  "vfmadd231ps %%ymm13, %%ymm15, %[c51]\n\t"

inline __attribute__((always_inline)) void tile_6x16(int64_t kc, const float* a, const float* b, float* c,
                                                      int64_t ldc, float alpha, float beta) {
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

  // NOTE: the main loop is asm because GCC's allocation of the intrinsic version spills accumulators and
  // copies B registers (fmadd132 forms) inside the loop: 107 vs 116 GFLOP/s on one Zen 5 core.
  if (int64_t steps = kc / 4) {
    asm volatile(
        ".p2align 5\n\t"
        "1:\n\t"
        "prefetcht0 384(%[a])\n\t"
        TG_K_STEP(0) TG_K_STEP(1) TG_K_STEP(2) TG_K_STEP(3)
        "add $96, %[a]\n\t"
        "add $256, %[b]\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        : [a] "+r"(a), [b] "+r"(b), [n] "+r"(steps), [c00] "+x"(acc0[0]), [c01] "+x"(acc1[0]), [c10] "+x"(acc0[1]), [c11] "+x"(acc1[1]),
          [c20] "+x"(acc0[2]), [c21] "+x"(acc1[2]), [c30] "+x"(acc0[3]), [c31] "+x"(acc1[3]),
          [c40] "+x"(acc0[4]), [c41] "+x"(acc1[4]), [c50] "+x"(acc0[5]), [c51] "+x"(acc1[5])
        :
        : "cc", "memory", "xmm12", "xmm13", "xmm14", "xmm15");
  }
  for (int64_t k = kc / 4 * 4; k < kc; ++k) {
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

// A call per tile cost up to 2.5% of a product (W1 and W2 shapes, one and two Zen 4 cores): the kernel's
// pointers and arguments were reloaded around each call.
void kernel_6x16(int64_t kc, int64_t tiles, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                 float beta) {
  for (int64_t t = 0; t < tiles; ++t, a += kMR * kc, c += kMR * ldc) tile_6x16(kc, a, b, c, ldc, alpha, beta);
}

// Six floats from s to d (a panel column), without touching s[6] or d[6].
inline void copy6(const float* s, float* d) {
  _mm_storeu_ps(d, _mm_loadu_ps(s));
  _mm_storel_pi(reinterpret_cast<__m64*>(d + 4), _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(s + 4))));
}

// Packs op(A)[0:m, 0:k] into 6-wide panels (a[kk*6 + r] = op(A)[r, kk]). The driver's generic packer
// transposes 8 rows at a time and writes 6-wide columns with masked stores, which AMD cores run as slow
// microcode (12% of a 256^3 product on Zen 5); here each 8x8 transpose's columns are written as
// overlapping full stores in order, so every later store overwrites the previous one's two extra lanes.
void pack_a_6(bool trans, const float* A, int64_t lda, int64_t m, int64_t k, float* dst) {
  for (int64_t i0 = 0; i0 < m; i0 += kMR, dst += kMR * k) {
    const int64_t rows = m - i0 < kMR ? m - i0 : kMR;
    if (rows < kMR) {
      for (int64_t kk = 0; kk < k; ++kk)
        for (int r = 0; r < kMR; ++r)
          dst[kk * kMR + r] = r < rows ? (trans ? A[kk * lda + i0 + r] : A[(i0 + r) * lda + kk]) : 0.0f;
      continue;
    }
    if (trans) {  // A stored k x m: each panel row is 6 contiguous floats
      for (int64_t kk = 0; kk < k; ++kk) copy6(A + kk * lda + i0, dst + kk * kMR);
      continue;
    }
    const float* src = A + i0 * lda;
    int64_t kk = 0;
    for (; kk + 8 <= k; kk += 8) {
      __m256 o[8];
      for (int r = 0; r < kMR; ++r) o[r] = _mm256_loadu_ps(src + r * lda + kk);
      o[6] = o[7] = _mm256_setzero_ps();
      transpose_8x8(o);
      float* d = dst + kk * kMR;
      for (int c = 0; c < 7; ++c) _mm256_storeu_ps(d + c * kMR, o[c]);
      _mm_storeu_ps(d + 7 * kMR, _mm256_castps256_ps128(o[7]));
      _mm_storel_pi(reinterpret_cast<__m64*>(d + 7 * kMR + 4), _mm256_extractf128_ps(o[7], 1));
    }
    for (; kk < k; ++kk)
      for (int r = 0; r < kMR; ++r) dst[kk * kMR + r] = src[r * lda + kk];
  }
}

#undef TG_K_STEP

// kc 384: the 16 x kc B panel (24 KiB) stays in a 32 KiB L1 (Zen 3) beside the streamed A panel, and takes a
// third of kc 256's C tile updates away; the 144 x 384 A block (216 KiB) fits a 512 KiB L2. Measured on Zen 5 against
// OpenBLAS's Haswell kernels: kc 256..512 and mc 144..384 within 2% of each other.
const Kernel kKernel = {"avx2", kMR, kNR, 384, 144, 4096, kernel_6x16, pack_a_6};

}  // namespace

const Kernel* avx2_kernel() { return &kKernel; }

}  // namespace tg::gemm_detail

#pragma GCC pop_options
#endif  // __x86_64__
