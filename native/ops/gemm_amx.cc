// AMX GEMM micro-kernel for float32 matmuls run at "medium" precision on Intel's Xeons (Sapphire Rapids and
// later): operands are rounded to bfloat16 while packed, as for the AVX512-BF16 kernel, and the tile unit
// multiplies them (TDPBF16PS: a 16x16 float32 tile += 16x32 bf16 times 32x16 bf16, products summed in float32).
// A 32x32 block of C lives in four accumulator tiles for the whole kc loop; two A tiles and two B tiles feed them.
// B panels are the AVX512-BF16 kernel's (k in pairs, 32 columns: two B tiles side by side); A panels hold 32 rows
// of 32 consecutive k per k block (an A tile is 16 of those rows). Both pad k with zeros to a multiple of 32.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "ops/gemm_kernels.h"
#include "ops/gemm_transpose.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

// See gemm_avx512.cc: no standard header and no std template below this line.
#pragma GCC push_options
#pragma GCC target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma")

namespace tg::gemm_detail {
// Named so that disassembly tells this AVX-512 code apart (tests/native-contract.test.ts).
namespace avx512 {
namespace {

constexpr int kMR = 32;
constexpr int kNR = 32;
constexpr int kKBlock = 32;  // k per tile: 16 rows of bf16 pairs in B, 64-byte rows of A

inline int64_t padded_k(int64_t k) { return (k + kKBlock - 1) / kKBlock * kKBlock; }

struct alignas(64) TileConfig {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

// Tiles 0-3: C (16 x 16 float32); 4-5: A (16 rows x 32 bf16); 6-7: B (16 pairs x 16 columns). All 16 rows of
// 64 bytes. Loaded once per thread (kernel_amx_32x32) and never released: releasing the tiles after each call cost
// about half the speed (1 thread, W1 shapes: 330-430 -> 650-875 GFLOP/s).
inline void configure_tiles() {
  TileConfig cfg;
  std::memset(&cfg, 0, sizeof(cfg));
  cfg.palette = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
}

// C[32,32] = alpha * acc + beta * C (beta == 0 does not read C), acc row-major with row stride 32.
inline void store_block(const float* acc, float* c, int64_t ldc, float alpha, float beta) {
  const __m512 va = _mm512_set1_ps(alpha);
  for (int r = 0; r < kMR; ++r) {
    float* cr = c + r * ldc;
    for (int j = 0; j < kNR; j += 16) {
      const __m512 v = _mm512_mul_ps(_mm512_load_ps(acc + r * kNR + j), va);
      _mm512_storeu_ps(cr + j, beta == 0.0f ? v : _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_loadu_ps(cr + j), v));
    }
  }
}

// The four accumulator tiles from / to a 32x32 float32 block at c with row stride ld floats.
inline void load_accumulators(const float* c, int64_t ld) {
  const int64_t stride = ld * static_cast<int64_t>(sizeof(float));
  _tile_loadd(0, c, stride);
  _tile_loadd(1, c + 16, stride);
  _tile_loadd(2, c + 16 * ld, stride);
  _tile_loadd(3, c + 16 * ld + 16, stride);
}

inline void store_accumulators(float* c, int64_t ld) {
  const int64_t stride = ld * static_cast<int64_t>(sizeof(float));
  _tile_stored(0, c, stride);
  _tile_stored(1, c + 16, stride);
  _tile_stored(2, c + 16 * ld, stride);
  _tile_stored(3, c + 16 * ld + 16, stride);
}

// Asks for C[32,32] (32 rows of two lines at c, row stride ldc) to be brought in for writing.
inline void prefetch_block_for_write(const float* c, int64_t ldc) {
  for (int r = 0; r < kMR; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_ET0);
    _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 16), _MM_HINT_ET0);
  }
}

// For each of `tiles` row tiles: C[32,32] = alpha * a_t @ b + beta * C over kc values of k.
// With alpha 1 and beta 0 or 1 (what the driver passes: beta 1 after the first k block), the accumulator tiles start
// from C (or zero) and are stored to C, without a pass through memory and vector registers; the next block of C is
// prefetched for writing meanwhile. 1 thread, W1 shapes, paired in one process: 3-13% faster, except K = 256 (no C to
// read) at 0.99; without the prefetch that shape ran 5-8% slower (tile stores to lines not yet in cache).
void kernel_amx_32x32(int64_t kc, int64_t tiles, const uint16_t* a, const uint16_t* b, float* c, int64_t ldc,
                      float alpha, float beta) {
  thread_local bool configured = false;
  if (!configured) {
    configure_tiles();
    configured = true;
  }
  const int64_t kcp = padded_k(kc), blocks = kcp / kKBlock;
  const bool in_place = alpha == 1.0f && (beta == 0.0f || beta == 1.0f);
  alignas(64) float acc[kMR * kNR];
  if (in_place) prefetch_block_for_write(c, ldc);
  for (int64_t t = 0; t < tiles; ++t, a += kMR * kcp, c += kMR * ldc) {
    if (in_place && t + 1 < tiles) prefetch_block_for_write(c + kMR * ldc, ldc);
    if (in_place && beta == 1.0f) {
      load_accumulators(c, ldc);
    } else {
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
    }
    for (int64_t kb = 0; kb < blocks; ++kb) {
      const uint16_t* ak = a + kb * kMR * kKBlock;
      const uint16_t* bk = b + kb * (kKBlock / 2) * 2 * kNR;
      _tile_loadd(4, ak, 64);
      _tile_loadd(6, bk, 2 * kNR * 2);
      _tile_dpbf16ps(0, 4, 6);
      _tile_loadd(7, bk + 32, 2 * kNR * 2);
      _tile_dpbf16ps(1, 4, 7);
      _tile_loadd(5, ak + 16 * kKBlock, 64);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
    if (in_place) {
      store_accumulators(c, ldc);
      continue;
    }
    store_accumulators(acc, kNR);
    store_block(acc, c, ldc, alpha, beta);
  }
}

// The AVX512-BF16 kernel's packers, one panel at a time, each panel's k padded with zero pairs to padded_k(k).
template <bool KContiguous>
void pack_b_padded(const float* src, int64_t ld, int64_t lanes, int64_t k, int w, uint16_t* dst) {
  const Bf16Kernel& pairs = *avx512_bf16_kernel();
  const int64_t written = (k + 1) / 2 * 2 * w, panel = padded_k(k) * w;
  for (int64_t q = 0; q * w < lanes; ++q) {
    const int64_t n = lanes - q * w < w ? lanes - q * w : w;
    uint16_t* d = dst + q * panel;
    if (KContiguous) {
      pairs.pack_k_contiguous(src + q * w * ld, ld, n, k, w, d);
    } else {
      pairs.pack_lanes_contiguous(src + q * w, ld, n, k, w, d);
    }
    std::memset(d + written, 0, static_cast<size_t>(panel - written) * sizeof(uint16_t));
  }
}

// bf16 bits of 16 floats, rounded to nearest even, denormals flushed as the vector conversion does.
inline __m256i to_bf16(__m512 x) { return reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(x)); }

// A panels from rows with contiguous k (row i at src + i*ld): row r of tile t, k block kb at
// dst + t*32*kcp + kb*32*32 + r*32.
void pack_a_k_contiguous(const float* src, int64_t ld, int64_t lanes, int64_t k, int w, uint16_t* dst) {
  const int64_t kcp = padded_k(k);
  for (int64_t t = 0; t * kMR < lanes; ++t) {
    uint16_t* dt = dst + t * kMR * kcp;
    for (int r = 0; r < kMR; ++r) {
      const int64_t row = t * kMR + r;
      for (int64_t kb = 0; kb < kcp; kb += kKBlock) {
        uint16_t* d = dt + kb * kMR + r * kKBlock;
        if (row >= lanes) {
          std::memset(d, 0, kKBlock * sizeof(uint16_t));
          continue;
        }
        const float* s = src + row * ld + kb;
        const int64_t n = k - kb;
        const __mmask16 lo = n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1);  // n >= 1: kb < k
        const __mmask16 hi = n >= 32 ? 0xFFFF : static_cast<__mmask16>((1u << (n > 16 ? n - 16 : 0)) - 1);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(d), to_bf16(_mm512_maskz_loadu_ps(lo, s)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + 16), to_bf16(_mm512_maskz_loadu_ps(hi, s + 16)));
      }
    }
  }
}

// A thread's buffer of at least n bf16 values, 64-byte aligned, kept for the thread's lifetime.
uint16_t* pairs_scratch(int64_t n) {
  struct Buffer {
    uint16_t* data = nullptr;
    int64_t capacity = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffer;
  if (buffer.capacity < n) {
    std::free(buffer.data);
    buffer.capacity = 0;
    buffer.data = static_cast<uint16_t*>(std::aligned_alloc(64, static_cast<size_t>(n) * sizeof(uint16_t)));
    if (buffer.data == nullptr) throw std::bad_alloc();
    buffer.capacity = n;
  }
  return buffer.data;
}

// A panels from columns with contiguous lanes (A stored K x M: row i's k values at src + kk*ld + i): each tile
// is packed in pairs first (the B layout: pair p of lane r is 32-bit unit p*32 + r), then each k block's 16 x 32
// units are transposed to 32 rows of 16 pairs, 8x8 at a time.
void pack_a_lanes_contiguous(const float* src, int64_t ld, int64_t lanes, int64_t k, int w, uint16_t* dst) {
  const int64_t kcp = padded_k(k);
  uint16_t* pairs = pairs_scratch(kMR * kcp);
  for (int64_t t = 0; t * kMR < lanes; ++t) {
    pack_b_padded<false>(src + t * kMR, ld, lanes - t * kMR < kMR ? lanes - t * kMR : kMR, k, kMR, pairs);
    const float* units = reinterpret_cast<const float*>(pairs);
    float* out = reinterpret_cast<float*>(dst + t * kMR * kcp);
    for (int64_t kb = 0; kb < kcp; kb += kKBlock) {
      const float* block = units + (kb / 2) * kMR;
      float* ob = out + (kb / 2) * kMR;
      for (int p0 = 0; p0 < kKBlock / 2; p0 += 8)
        for (int l0 = 0; l0 < kMR; l0 += 8) {
          __m256 o[8];
          for (int i = 0; i < 8; ++i) o[i] = _mm256_load_ps(block + (p0 + i) * kMR + l0);
          transpose_8x8(o);
          for (int i = 0; i < 8; ++i) _mm256_storeu_ps(ob + (l0 + i) * (kKBlock / 2) + p0, o[i]);
        }
    }
  }
}

// Whether this CPU has AMX-BF16 and the kernel lets this process use the tile data (Linux asks for it once).
bool amx_usable() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool amx_bf16 = (edx >> 22) & 1, amx_tile = (edx >> 24) & 1;
  if (!amx_bf16 || !amx_tile) return false;
  constexpr int kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

}  // namespace
}  // namespace avx512

// kc = 512: a B panel is 32 KB (512 x 32 bf16) in the 48 KB L1; mc = 256: a 256 KB A block in the 2 MB L2.
const Bf16Kernel* amx_bf16_kernel() {
  using namespace avx512;
  static const Bf16Kernel kernel = {"amx-bf16",           kMR, kNR, 512, 256, 4096, kernel_amx_32x32, pack_b_padded<true>,
                                    pack_b_padded<false>, pack_a_k_contiguous, pack_a_lanes_contiguous, kKBlock};
  static const bool usable = amx_usable();
  return usable ? &kernel : nullptr;
}

}  // namespace tg::gemm_detail

#pragma GCC pop_options
#endif  // __x86_64__
