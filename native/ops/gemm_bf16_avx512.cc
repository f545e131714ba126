// AVX512-BF16 GEMM micro-kernel for float32 matmuls run at "medium" precision: operands are rounded to
// bfloat16 (round to nearest even) while they are packed, products are exact in float32 and accumulate in
// float32 (vdpbf16ps: two multiply-adds per lane and instruction, twice the float32 FMA rate). The same
// 8x32 register tile as the float32 kernel; each packed "row" holds a pair of consecutive k.
#include <cstddef>
#include <cstdint>

#include "math/bf16.h"
#include "ops/gemm_kernels.h"
#include "ops/gemm_transpose.h"

#if defined(__x86_64__)
#include <immintrin.h>

// See gemm_avx512.cc: no standard header and no std template below this line.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma")
#include "ops/gemm_avx512_tile.h"

namespace tg::gemm_detail {
// Named so that disassembly tells this AVX-512 code apart (tests/native-contract.test.ts).
namespace avx512 {
namespace {

constexpr int kMR = 8;
constexpr int kNR = 32;

inline __m512bh as_bh(__m512i v) { return reinterpret_cast<__m512bh>(v); }

// C[8,32] = alpha * a @ b + beta * C over kc values of k (kc rounded up to pairs; the packer zeroed the
// odd one's partner). a: pairs (a[2*(p*MR + r)], a[2*(p*MR + r) + 1]) = op(A)[r, 2p], op(A)[r, 2p+1].
inline __attribute__((always_inline)) void tile_bf16_8x32(int64_t kc, const uint16_t* a, const uint16_t* b,
                                                           float* c, int64_t ldc, float alpha, float beta) {
  __m512 acc0[kMR], acc1[kMR];
#pragma GCC unroll 16
  for (int r = 0; r < kMR; ++r) {
    acc0[r] = _mm512_setzero_ps();
    acc1[r] = _mm512_setzero_ps();
  }
#pragma GCC unroll 16
  for (int r = 0; r < kMR; ++r) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
#pragma GCC unroll 16
  for (int r = 0; r < kMR; ++r) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 31), _MM_HINT_T0);

  const int64_t pairs = (kc + 1) / 2;
  const int32_t* ap = reinterpret_cast<const int32_t*>(a);
  int64_t p = 0;
  for (; p + 4 <= pairs; p += 4) {
    _mm_prefetch(reinterpret_cast<const char*>(ap + 4 * kMR), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(ap + 4 * kMR + 16), _MM_HINT_T0);
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) {
      const __m512bh b0 = as_bh(_mm512_load_si512(b + u * 2 * kNR));
      const __m512bh b1 = as_bh(_mm512_load_si512(b + u * 2 * kNR + 32));
#pragma GCC unroll 16
      for (int r = 0; r < kMR; ++r) {
        const __m512bh ar = as_bh(_mm512_set1_epi32(ap[u * kMR + r]));
        acc0[r] = _mm512_dpbf16_ps(acc0[r], ar, b0);
        acc1[r] = _mm512_dpbf16_ps(acc1[r], ar, b1);
      }
    }
    ap += 4 * kMR;
    b += 4 * 2 * kNR;
  }
  for (; p < pairs; ++p) {
    const __m512bh b0 = as_bh(_mm512_load_si512(b));
    const __m512bh b1 = as_bh(_mm512_load_si512(b + 32));
#pragma GCC unroll 16
    for (int r = 0; r < kMR; ++r) {
      const __m512bh ar = as_bh(_mm512_set1_epi32(ap[r]));
      acc0[r] = _mm512_dpbf16_ps(acc0[r], ar, b0);
      acc1[r] = _mm512_dpbf16_ps(acc1[r], ar, b1);
    }
    ap += kMR;
    b += 2 * kNR;
  }

  store_tile_x32<kMR>(acc0, acc1, c, ldc, alpha, beta);
}

void kernel_bf16_8x32(int64_t kc, int64_t tiles, const uint16_t* a, const uint16_t* b, float* c, int64_t ldc,
                      float alpha, float beta) {
  const int64_t panel = kMR * ((kc + 1) / 2 * 2);
  for (int64_t t = 0; t < tiles; ++t, a += panel, c += kMR * ldc) tile_bf16_8x32(kc, a, b, c, ldc, alpha, beta);
}

// bfloat16 bits of x with the vector conversion's flush of denormals to a signed zero: for the few values
// the vector paths leave over.
inline uint16_t bf16_bits(float x) {
  const float flushed = __builtin_fabsf(x) < __FLT_MIN__ ? __builtin_copysignf(0.0f, x) : x;
  return math::bf16_from_float(flushed);
}

// Interleaves bf16(x[j]) and bf16(y[j]) for j < 16: the vdpbf16ps layout of two k rows.
inline __m512i pair_rows(__m512 x, __m512 y) {
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                              23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(interleave, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(y, x)));
}

// Lane i's k values are contiguous (row i of a row-major A, or of B stored N x K). A pair of consecutive k
// is one 32-bit value once converted, so packing is an 8x8 transpose of 32-bit values per 8 lanes x 16 k.
void pack_k_contiguous(const float* src, int64_t ld, int64_t lanes, int64_t k, int w, uint16_t* dst) {
  const int64_t pairs = (k + 1) / 2;
  for (int64_t q = 0; q * w < lanes; ++q) {
    uint16_t* dq = dst + q * w * 2 * pairs;
    for (int g = 0; g < w; g += 8) {
      const int64_t l0 = q * w + g;
      const int64_t valid = lanes - l0 < 0 ? 0 : (lanes - l0 > 8 ? 8 : lanes - l0);
      int64_t kk = 0;
      for (; kk + 16 <= k; kk += 16) {
        __m256 r[8];
        for (int i = 0; i < 8; ++i)
          r[i] = i < valid ? reinterpret_cast<__m256>(_mm512_cvtneps_pbh(_mm512_loadu_ps(src + (l0 + i) * ld + kk)))
                           : _mm256_setzero_ps();
        transpose_8x8(r);
        for (int t = 0; t < 8; ++t)
          _mm256_storeu_ps(reinterpret_cast<float*>(dq + (kk / 2 + t) * 2 * w + 2 * g), r[t]);
      }
      for (; kk < k; kk += 2) {
        uint16_t* d = dq + (kk / 2) * 2 * w + 2 * g;
        for (int i = 0; i < 8; ++i) {
          const float* row = src + (l0 + i) * ld;
          d[2 * i] = i < valid ? bf16_bits(row[kk]) : 0;
          d[2 * i + 1] = i < valid && kk + 1 < k ? bf16_bits(row[kk + 1]) : 0;
        }
      }
    }
  }
}

// The lanes of each k are contiguous (row kk of a row-major B, or of A stored K x M): two k rows are
// converted and interleaved 16 lanes at a time. Strips of 8 pairs go to one panel before the next: a pair at
// a time across all panels would write lines a power-of-two panel size apart, all in one L1 set.
void pack_lanes_contiguous(const float* src, int64_t ld, int64_t lanes, int64_t k, int w, uint16_t* dst) {
  constexpr int64_t kStrip = 8;
  const int64_t pairs = (k + 1) / 2;
  const int64_t panels = (lanes + w - 1) / w;
  for (int64_t p0 = 0; p0 < pairs; p0 += kStrip) {
    const int64_t p1 = p0 + kStrip < pairs ? p0 + kStrip : pairs;
    if (w == 8) {  // two 8-wide panels per 16-lane conversion
      for (int64_t q = 0; q < panels; q += 2) {
        const int64_t l0 = q * 8;
        const int64_t n = lanes - l0 > 16 ? 16 : lanes - l0;
        const __mmask16 load = static_cast<__mmask16>((1u << n) - 1);
        uint16_t* d0 = dst + q * 16 * pairs;
        uint16_t* d1 = q + 1 < panels ? d0 + 16 * pairs : nullptr;
        for (int64_t p = p0; p < p1; ++p) {
          const float* r0 = src + 2 * p * ld + l0;
          const __m512 x = _mm512_maskz_loadu_ps(load, r0);
          const __m512 y = 2 * p + 1 < k ? _mm512_maskz_loadu_ps(load, r0 + ld) : _mm512_setzero_ps();
          const __m512i v = pair_rows(x, y);
          // Lanes 0-7 (32-bit pairs) to this panel, lanes 8-15 to the next: a masked store addressed 8 lanes
          // early puts lane 8 at d1 + p*16 (masked-off lanes touch no memory).
          _mm512_mask_storeu_epi32(d0 + p * 16, 0x00FF, v);
          if (d1 != nullptr) _mm512_mask_storeu_epi32(d1 + p * 16 - 16, 0xFF00, v);
        }
      }
      continue;
    }
    for (int64_t q = 0; q < panels; ++q) {
      for (int g = 0; g < w; g += 16) {
        const int64_t l0 = q * w + g;
        const int64_t width = w - g < 16 ? w - g : 16;
        const int64_t n = lanes - l0 < 0 ? 0 : (lanes - l0 > width ? width : lanes - l0);
        const __mmask16 load = static_cast<__mmask16>((1u << n) - 1);
        const __mmask16 store = static_cast<__mmask16>((1u << width) - 1);
        uint16_t* d = dst + q * w * 2 * pairs + 2 * g;
        for (int64_t p = p0; p < p1; ++p) {
          const float* r0 = src + 2 * p * ld + l0;
          const __m512 x = _mm512_maskz_loadu_ps(load, r0);
          const __m512 y = 2 * p + 1 < k ? _mm512_maskz_loadu_ps(load, r0 + ld) : _mm512_setzero_ps();
          _mm512_mask_storeu_epi32(d + p * 2 * w, store, pair_rows(x, y));
        }
      }
    }
  }
}

}  // namespace
}  // namespace avx512

// kc = 512: the B micro-panel is 32 KB as in the float32 kernel (pairs of bf16 take the space of one float).
const Bf16Kernel* avx512_bf16_kernel() {
  using namespace avx512;
  static const Bf16Kernel kernel = {"avx512-bf16", kMR, kNR, 512, 240, 4096, kernel_bf16_8x32, pack_k_contiguous,
                                    pack_lanes_contiguous, pack_k_contiguous, pack_lanes_contiguous, 2};
  return &kernel;
}

}  // namespace tg::gemm_detail

#pragma GCC pop_options
#endif  // __x86_64__
