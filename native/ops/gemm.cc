// SGEMM driver (BLIS/GotoBLAS structure): pack op(B) into kc x NR panels and op(A) into MR x kc panels,
// loop jc (nc) -> [threads: row tasks] ic (mc) -> pc (kc) -> jr (NR) -> ir (MR) around a register-blocked
// micro-kernel picked once at run time, with pc outside ic once packed B outgrows L2. Threads own disjoint
// blocks of C. M == 1 / N == 1: direct GEMV.
#include "ops/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sched.h>
#include <unistd.h>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "core/simd.h"
#include "core/thread_pool.h"
#include "math/bf16.h"
#include "ops/cast.h"
#include "ops/gemm_kernels.h"
#include "ops/gemm_transpose.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace tg {
namespace gemm_detail {
namespace {

// ---- portable micro-kernel (any CPU; 4x16 tile in 128-bit GNU vectors) ----

constexpr int kScalarMR = 4;
constexpr int kScalarNR = 16;

// GNU vector extension: 128-bit lanes (SSE on x86, NEON on aarch64) without ISA-specific intrinsics.
typedef float v4f __attribute__((vector_size(16)));

void scalar_tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta) {
  constexpr int kV = kScalarNR / 4;
  v4f acc[kScalarMR][kV] = {};
  for (int64_t k = 0; k < kc; ++k) {
    v4f bk[kV];
    std::memcpy(bk, b + k * kScalarNR, sizeof(bk));
    for (int r = 0; r < kScalarMR; ++r) {
      const float ar = a[k * kScalarMR + r];
      for (int v = 0; v < kV; ++v) acc[r][v] += ar * bk[v];
    }
  }
  for (int r = 0; r < kScalarMR; ++r) {
    float out[kScalarNR];
    std::memcpy(out, acc[r], sizeof(out));
    float* cr = c + r * ldc;
    if (beta == 0.0f) {
      for (int j = 0; j < kScalarNR; ++j) cr[j] = alpha * out[j];
    } else {
      for (int j = 0; j < kScalarNR; ++j) cr[j] = alpha * out[j] + beta * cr[j];
    }
  }
}

void scalar_kernel(int64_t kc, int64_t tiles, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                   float beta) {
  for (int64_t t = 0; t < tiles; ++t, a += kScalarMR * kc, c += kScalarMR * ldc) scalar_tile(kc, a, b, c, ldc, alpha, beta);
}

const Kernel kScalarKernel = {"scalar", kScalarMR, kScalarNR, 256, 128, 2048, scalar_kernel, nullptr};

// ---- kernel selection ----

const Kernel* best_kernel() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return avx512_kernel();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return avx2_kernel();
#endif
  return &kScalarKernel;
}

// Whether this CPU has AVX512-BF16, and whether its bf16 kernel beats the float32 one. AMD's Zen 4 and Zen 5 issue
// VDPBF16PS (two multiply-adds per lane) as fast as VFMADD231PS, which doubles the rate; the Intel Xeon measured
// (Emerald Rapids) issues one every ~4 cycles against two FMAs a cycle, so its bf16 kernel ran at half the float32
// one (80 vs 153 GFLOP/s on one core, 1024^3) and medium precision halved a training step's speed.
struct Bf16Support {
  bool available = false;
  bool faster = false;
};

const Bf16Support& bf16_support() {
  static const Bf16Support support = [] {
    Bf16Support s;
#if defined(__x86_64__)
    __builtin_cpu_init();
    s.available = __builtin_cpu_supports("avx512bf16") != 0;
    s.faster = s.available && __builtin_cpu_is("amd") != 0;
#endif
    return s;
  }();
  return support;
}

// Returns the float32 kernel called `name` if this CPU/build can run it, else nullptr. "auto" = best;
// "avx512-bf16" = the AVX-512 kernel, with the bf16 one at medium precision even where it is the slower
// (*bf16_forced; for tests and comparisons), and nullptr without AVX512-BF16.
const Kernel* kernel_by_name(const std::string& name, bool* known, bool* bf16_forced) {
  *known = true;
  *bf16_forced = false;
  if (name == "auto") return best_kernel();
  if (name == "scalar") return &kScalarKernel;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (name == "avx2")
    return (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? avx2_kernel() : nullptr;
  if (name == "avx512") return best_kernel() == avx512_kernel() ? avx512_kernel() : nullptr;
  if (name == "avx512-bf16") {
    *bf16_forced = true;
    return best_kernel() == avx512_kernel() && bf16_support().available ? avx512_kernel() : nullptr;
  }
#else
  if (name == "avx2" || name == "avx512" || name == "avx512-bf16") return nullptr;
#endif
  *known = false;
  return nullptr;
}

// Whether medium precision runs the bf16 kernel on this CPU even where it is the slower (THINKGRAD_GEMM or
// sgemm_force_kernel named avx512-bf16).
std::atomic<bool> g_bf16_forced{false};

const Kernel* initial_kernel() {
  const Kernel* best = best_kernel();
  if (const char* env = std::getenv("THINKGRAD_GEMM")) {
    bool known = false, bf16_forced = false;
    const Kernel* k = kernel_by_name(env, &known, &bf16_forced);
    if (k != nullptr) {
      g_bf16_forced.store(bf16_forced, std::memory_order_relaxed);
      return k;
    }
  }
  return best;
}

std::atomic<const Kernel*> g_kernel{nullptr};
// Counts forced kernel changes (sgemm_kernel_epoch).
std::atomic<uint64_t> g_kernel_epoch{0};
// The process default precision, for bindings whose caller names none.
std::atomic<MatmulPrecision> g_default_precision{MatmulPrecision::Highest};

const Kernel& kernel() {
  const Kernel* k = g_kernel.load(std::memory_order_acquire);
  if (k == nullptr) {
    k = initial_kernel();
    g_kernel.store(k, std::memory_order_release);
  }
  return *k;
}

// The bf16 kernel medium precision runs on, where the float32 kernel in use is the AVX-512 one: AMX tiles where
// the CPU has them (Intel's Sapphire Rapids and later), else the AVX512-BF16 kernel where it is the faster (or
// was forced; forcing it also passes over AMX).
const Bf16Kernel* bf16_kernel_available() {
#if defined(__x86_64__)
  if (&kernel() != avx512_kernel()) return nullptr;
  const Bf16Support& bf16 = bf16_support();
  if (g_bf16_forced.load(std::memory_order_acquire)) return bf16.available ? avx512_bf16_kernel() : nullptr;
  if (const Bf16Kernel* amx = amx_bf16_kernel()) return amx;
  if (bf16.faster) return avx512_bf16_kernel();
#endif
  return nullptr;
}

// Calls f with the kernel packed GEMMs run on at `precision` (the bf16 one at Medium where available).
template <class F>
void with_active_kernel(MatmulPrecision precision, F&& f) {
  if (precision == MatmulPrecision::Medium) {
    if (const Bf16Kernel* bf16 = bf16_kernel_available()) {
      f(*bf16);
      return;
    }
  }
  f(kernel());
}

// ---- per-thread scratch: 64-byte aligned, grown on demand, kept for the thread's lifetime ----

struct Buffer {
  float* data = nullptr;
  size_t cap = 0;  // floats
  ~Buffer() { std::free(data); }
  float* get(size_t n) {
    if (n > cap) {
      std::free(data);
      size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
      data = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (data == nullptr) {
        cap = 0;
        throw std::bad_alloc();
      }
      cap = bytes / sizeof(float);
    }
    return data;
  }
};

struct Scratch {
  Buffer a, b, v;
  Buffer a_pairs;  // bf16 path: A panels
  Buffer a_wide, b_wide;  // bfloat16 operands' blocks widened to float32 before packing
};

// n elements of T in a float buffer.
template <class T>
T* get_as(Buffer& buf, size_t n) {
  return reinterpret_cast<T*>(buf.get((n * sizeof(T) + sizeof(float) - 1) / sizeof(float)));
}

// k extent of a packed panel: bf16 panels round it up to the kernel's k_align.
int64_t packed_k(const Kernel&, int64_t kc) { return kc; }
int64_t packed_k(const Bf16Kernel& kr, int64_t kc) { return (kc + kr.k_align - 1) / kr.k_align * kr.k_align; }

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// ---- helpers ----

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// C[M,N] = beta * C (beta == 0 writes zeros without reading C).
void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  if (beta == 1.0f) return;
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    if (beta == 0.0f) {
      std::memset(c, 0, static_cast<size_t>(N) * sizeof(float));
    } else {
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
    }
  }
}

#if defined(__AVX2__)
// dst[c * ds + r] = src[r * ld + c] for c < 8, r < width (width <= 8): an 8x8 in-register transpose.
// Rows at or past `rows` (<= width) read as zero.
inline void transpose_8(const float* src, int64_t ld, int rows, int width, float* dst, int64_t ds) {
  __m256 o[8];
  for (int i = 0; i < 8; ++i) o[i] = i < rows ? _mm256_loadu_ps(src + i * ld) : _mm256_setzero_ps();
  transpose_8x8(o);
  if (width == 8) {
    for (int c = 0; c < 8; ++c) _mm256_storeu_ps(dst + c * ds, o[c]);
  } else if (width == 4) {
    for (int c = 0; c < 8; ++c) _mm_storeu_ps(dst + c * ds, _mm256_castps256_ps128(o[c]));
  } else {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(width), lane);
    for (int c = 0; c < 8; ++c) _mm256_maskstore_ps(dst + c * ds, mask, o[c]);
  }
}
#endif

// Packs `rows` (<= w) rows of a row-major block (row r at src + r * ld, k floats each) into one w-wide
// k-major panel: dst[kk * w + r] = src[r * ld + kk], rows past `rows` zero.
void pack_transposed_panel(const float* src, int64_t ld, int64_t rows, int64_t k, int w, float* dst) {
  int64_t kk = 0;
#if defined(__AVX2__)
  for (; kk + 8 <= k; kk += 8) {
    for (int r0 = 0; r0 < w; r0 += 8) {
      const int width = w - r0 < 8 ? w - r0 : 8;
      int valid = static_cast<int>(rows - r0);
      valid = valid < 0 ? 0 : (valid > width ? width : valid);
      transpose_8(src + r0 * ld + kk, ld, valid, width, dst + kk * w + r0, w);
    }
  }
#endif
  for (; kk < k; ++kk) {
    float* d = dst + kk * w;
    for (int64_t r = 0; r < rows; ++r) d[r] = src[r * ld + kk];
    for (int64_t r = rows; r < w; ++r) d[r] = 0.0f;
  }
}

// Packs `cols` (<= w) columns of a row-major block (row kk at src + kk * ld) into one w-wide k-major
// panel: dst[kk * w + j] = src[kk * ld + j], columns past `cols` zero.
void pack_copied_panel(const float* src, int64_t ld, int64_t cols, int64_t k, int w, float* dst) {
  for (int64_t kk = 0; kk < k; ++kk) {
    const float* s = src + kk * ld;
    float* d = dst + kk * w;
    if (cols == w) {
#if defined(__AVX2__)
      if (w % 8 == 0) {
        for (int j = 0; j < w; j += 8) _mm256_store_ps(d + j, _mm256_loadu_ps(s + j));
        continue;
      }
#endif
      for (int j = 0; j < w; ++j) d[j] = s[j];
    } else {
      for (int64_t j = 0; j < cols; ++j) d[j] = s[j];
      for (int64_t j = cols; j < w; ++j) d[j] = 0.0f;
    }
  }
}

// Packs op(A)[0:m, 0:k] (A points at element (0,0) of the block) into MR-wide panels.
void pack_a(bool trans, const float* A, int64_t lda, int64_t m, int64_t k, int mr, float* dst) {
  if (trans && mr % 8 == 0) {
    // A stored k x m: copy 8-row strips across all panels (one panel's column at a time would touch k
    // lines with a large power-of-two stride and thrash one L1 set).
    const int64_t full = m / mr * mr;
    for (int64_t k0 = 0; k0 < k; k0 += 8) {
      const int64_t k1 = std::min<int64_t>(k, k0 + 8);
      for (int64_t i0 = 0; i0 < full; i0 += mr) {
        for (int64_t kk = k0; kk < k1; ++kk) {
          const float* s = A + kk * lda + i0;
          float* d = dst + i0 * k + kk * mr;
#if defined(__AVX2__)
          for (int j = 0; j < mr; j += 8) _mm256_store_ps(d + j, _mm256_loadu_ps(s + j));
#else
          for (int j = 0; j < mr; ++j) d[j] = s[j];
#endif
        }
      }
    }
    if (full < m) pack_copied_panel(A + full, lda, m - full, k, mr, dst + full * k);
    return;
  }
  for (int64_t i0 = 0; i0 < m; i0 += mr) {
    const int64_t rows = std::min<int64_t>(mr, m - i0);
    if (trans) {  // A stored k x m
      pack_copied_panel(A + i0, lda, rows, k, mr, dst + i0 * k);
    } else {
      pack_transposed_panel(A + i0 * lda, lda, rows, k, mr, dst + i0 * k);
    }
  }
}

// Packs NR-wide panel `panel` of op(B)[0:k, 0:n] (B points at element (0,0) of the block).
void pack_b_panel(bool trans, const float* B, int64_t ldb, int64_t k, int64_t n, int nr, int64_t panel,
                  float* dst) {
  const int64_t j0 = panel * nr;
  const int64_t cols = std::min<int64_t>(nr, n - j0);
  if (trans) {  // B stored n x k
    pack_transposed_panel(B + j0 * ldb, ldb, cols, k, nr, dst + j0 * k);
  } else {
    pack_copied_panel(B + j0, ldb, cols, k, nr, dst + j0 * k);
  }
}

// Packs NR-wide panels [g0, g1) of op(B)[0:k, 0:n] = B (row-major, not transposed) row by row: each
// source row segment is one contiguous read (a panel at a time would touch k pages per panel).
void pack_b_group(const float* B, int64_t ldb, int64_t k, int64_t n, int nr, int64_t g0, int64_t g1,
                  float* dst) {
  const int64_t full_end = std::min<int64_t>(g1, n / nr);  // panels with all nr columns present
  for (int64_t kk = 0; kk < k; ++kk) {
    const float* s = B + kk * ldb;
    int64_t panel = g0;
#if defined(__AVX2__)
    if (nr % 8 == 0) {
      for (; panel < full_end; ++panel) {
        const float* sp = s + panel * nr;
        float* d = dst + panel * nr * k + kk * nr;
        for (int j = 0; j < nr; j += 8) _mm256_store_ps(d + j, _mm256_loadu_ps(sp + j));
      }
    }
#endif
    for (; panel < g1; ++panel) {
      const int64_t j0 = panel * nr;
      const int64_t cols = std::min<int64_t>(nr, n - j0);
      float* d = dst + j0 * k + kk * nr;
      for (int64_t j = 0; j < cols; ++j) d[j] = s[j0 + j];
      for (int64_t j = cols; j < nr; ++j) d[j] = 0.0f;
    }
  }
}

// Largest mr * nr of any kernel (the edge-tile buffer).
constexpr int kMaxTile = 32 * 64;

struct Problem {
  bool ta, tb;
  int64_t K;
  float alpha, beta;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  float* C;
  int64_t ldc;
  // Set instead of A / B for bfloat16 operands (same layout and leading dims).
  const uint16_t* A16 = nullptr;
  const uint16_t* B16 = nullptr;
};

// rows x cols bfloat16 elements (row stride ld) widened into buf with row stride cols.
const float* widen_block(const uint16_t* src, int64_t ld, int64_t rows, int64_t cols, Buffer& buf) {
  float* d = buf.get(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) d[r * cols + c] = math::bf16_to_float(src[r * ld + c]);
  return d;
}

// Rows [m0, m1) x B panels [p0, p1) of the column block C[:, jc : jc + nc], over all of K:
// for each mc block of rows and each kc block of K, pack that A block (thread-local) and run the
// micro-kernel over the already packed B panels. pb holds the block's B, one kc x nc_pad slab per kc block.
// wait_slab(pc), when set, is called before slab pc of pb is first read (B may still be being packed).
// slab_major: k blocks outside row blocks, so each kc x nc slab of B is read by all the rows in turn while it
// is in cache, rather than all of packed B once per row block (the better order once packed B outgrows L2);
// otherwise each row block's C stays in cache across all of K.
template <class T, class WaitSlab>
void compute_block(const KernelT<T>& kr, const Problem& p, const T* pb, int64_t nc_pad, int64_t jc, int64_t nc,
                   int64_t m0, int64_t m1, int64_t p0, int64_t p1, bool slab_major, const WaitSlab& wait_slab) {
  const int mr = kr.mr, nr = kr.nr;
  const int64_t K = p.K;
  const int64_t kc_max = std::min<int64_t>(kr.kc, K);
  // Equal mc blocks (a short last block re-streams every B panel for few rows).
  const int64_t blocks = (m1 - m0 + kr.mc - 1) / kr.mc;
  const int64_t mc_max = round_up((m1 - m0 + blocks - 1) / blocks, mr);
  T* pa;
  if constexpr (std::is_same_v<T, float>) {
    pa = scratch().a.get(static_cast<size_t>(mc_max * kc_max));
  } else {
    pa = get_as<T>(scratch().a_pairs, static_cast<size_t>(mc_max * packed_k(kr, kc_max)));
  }
  alignas(64) float tile[kMaxTile];  // edge tiles are computed here, then merged into C
  auto block = [&](int64_t ic, int64_t pc) {
    const int64_t mc = std::min<int64_t>(mc_max, m1 - ic);
    const int64_t kc = std::min<int64_t>(kc_max, K - pc);
    const int64_t kcp = packed_k(kr, kc);
    const float beta = pc == 0 ? p.beta : 1.0f;
    const float* asrc = nullptr;
    int64_t lda = p.lda;
    if (p.A16 != nullptr) {  // op(A) block (mc x kc) widened, stored as A is (K x M when transposed)
      const uint16_t* s = p.ta ? p.A16 + pc * p.lda + ic : p.A16 + ic * p.lda + pc;
      asrc = p.ta ? widen_block(s, p.lda, kc, mc, scratch().a_wide) : widen_block(s, p.lda, mc, kc, scratch().a_wide);
      lda = p.ta ? mc : kc;
    } else {
      asrc = p.ta ? p.A + pc * p.lda + ic : p.A + ic * p.lda + pc;
    }
    if constexpr (std::is_same_v<T, float>) {
      if (kr.pack_a != nullptr) {
        kr.pack_a(p.ta, asrc, lda, mc, kc, pa);
      } else {
        pack_a(p.ta, asrc, lda, mc, kc, mr, pa);
      }
    } else if (p.ta) {
      kr.pack_a_lanes_contiguous(asrc, lda, mc, kc, mr, pa);
    } else {
      kr.pack_a_k_contiguous(asrc, lda, mc, kc, mr, pa);
    }
    if (ic == m0) wait_slab(pc / kc_max);
    const T* slab = pb + pc * nc_pad;
    for (int64_t panel = p0; panel < p1; ++panel) {
      const int64_t jr = panel * nr;
      const int64_t n = std::min<int64_t>(nr, nc - jr);
      const T* bp = slab + jr * kcp;
      // Full tiles straight into C, then edge tiles (rows past mc, columns past nc) one at a time through `tile`.
      const int64_t full = n == nr ? mc / mr * mr : 0;
      if (full > 0) kr.micro(kc, full / mr, pa, bp, p.C + ic * p.ldc + jc + jr, p.ldc, p.alpha, beta);
      for (int64_t ir = full; ir < mc; ir += mr) {
        const int64_t m = std::min<int64_t>(mr, mc - ir);
        const T* ap = pa + ir * kcp;
        float* c = p.C + (ic + ir) * p.ldc + jc + jr;
        kr.micro(kc, 1, ap, bp, tile, nr, 1.0f, 0.0f);
        for (int64_t r = 0; r < m; ++r) {
          float* cr = c + r * p.ldc;
          const float* t = tile + r * nr;
          if (beta == 0.0f) {
            for (int64_t j = 0; j < n; ++j) cr[j] = p.alpha * t[j];
          } else {
            for (int64_t j = 0; j < n; ++j) cr[j] = p.alpha * t[j] + beta * cr[j];
          }
        }
      }
    }
  };
  if (slab_major) {
    for (int64_t pc = 0; pc < K; pc += kc_max)
      for (int64_t ic = m0; ic < m1; ic += mc_max) block(ic, pc);
  } else {
    for (int64_t ic = m0; ic < m1; ic += mc_max)
      for (int64_t pc = 0; pc < K; pc += kc_max) block(ic, pc);
  }
}

// The per-core L2 size (1 MiB where the OS does not say).
int64_t l2_cache_bytes() {
  static const int64_t bytes = [] {
#if defined(_SC_LEVEL2_CACHE_SIZE)
    const long reported = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (reported > 0) return static_cast<int64_t>(reported);
#endif
    return int64_t{1} << 20;
  }();
  return bytes;
}

// Work (multiply-adds) below which a GEMM runs on one thread.
constexpr double kParallelMinWork = double(1 << 21);
// Most floats of packed B held at once (16 MB, kept by the calling thread); wider problems are done in
// column blocks.
constexpr int64_t kMaxPackedB = int64_t{1} << 22;
// Most k blocks tracked by the per-slab "packed" counters (K up to 64 * kc in one column block).
constexpr int64_t kMaxSlabs = 64;

// For each column block (usually all of N), one parallel region: every thread takes B pack items
// (k block x group of panels) from a shared ticket until none are left, then takes compute tasks (row
// ranges, or panel ranges when M is short) from a second ticket, packing its own A blocks. Before first
// reading a k slab of B, a thread waits until that slab's items are packed. This wait is safe on a late
// or descheduled worker: a thread only starts computing once every pack item has been claimed, and an
// item is claimed only by a thread that packs it at once without waiting on anything; the pool may run
// both "threads" one after the other on one thread, which then packs everything itself.
// prepacked: op(B) already packed by pack_b_all for this kernel (one column block of all N).
template <class T>
void gemm_packed(const KernelT<T>& kr, const Problem& p, int64_t M, int64_t N, const T* prepacked = nullptr) {
  const int mr = kr.mr, nr = kr.nr;
  const int64_t K = p.K;
  const double work = double(M) * double(N) * double(K);
  const int threads = (work >= kParallelMinWork && !in_parallel_region()) ? num_threads() : 1;
  int64_t kc_max = std::min<int64_t>(kr.kc, K);
  int64_t k_blocks = (K + kc_max - 1) / kc_max;
  int64_t nc_max = std::min<int64_t>(kr.nc, round_up(N, nr));
  nc_max = std::max<int64_t>(nr, std::min<int64_t>(nc_max, kMaxPackedB / K / nr * nr));
  if (prepacked != nullptr) nc_max = round_up(N, nr);
  // The packed B is shared by all threads; it lives in the calling thread's scratch.
  const int64_t nc_pad_max = round_up(nc_max, nr);
  T* pb = prepacked != nullptr ? const_cast<T*>(prepacked)
                               : get_as<T>(scratch().b, static_cast<size_t>(nc_pad_max * packed_k(kr, K)));

  for (int64_t jc = 0; jc < N; jc += nc_max) {
    const int64_t nc = std::min<int64_t>(nc_max, N - jc);
    const int64_t panels = (nc + nr - 1) / nr;
    const int64_t nc_pad = panels * nr;
    const bool b_fits_l2 = packed_k(kr, K) * nc_pad * static_cast<int64_t>(sizeof(T)) <= l2_cache_bytes();
    // Tasks walk their rows slab-major (see compute_block) when packed B is larger than L2, and always on
    // several threads, which share packed B.
    const bool slab_major = threads > 1 || !b_fits_l2;
    // Task grid: split rows when there are enough, one task per thread, else split panels. Every row task
    // reads all of packed B, so fewer, larger tasks read it less; a late worker then leaves a larger share to
    // the others, which measured as the smaller cost (AVX2, 2 Zen 4 cores, against tasks of at most mc rows:
    // 2048^3 200 -> 214 GFLOP/s; 256^3 +2%, 512^3 +3%, 2048 x 256 x 1024 +8% in alternating runs).
    // A product whose packed B fits one core's L2, with no more rows than columns, splits its panels instead:
    // each thread then reads half of B and packs all of A, which is no larger (AVX2, 2 Zen 4 cores, three
    // paired runs: 256^3 +4 to +8%, 384^3 +2 to +19%, 512^3 0 to +6%; for every shape it lost 1-5% on M = 2048).
    int64_t row_tasks = 1, panel_tasks = 1;
    if (threads > 1) {
      const int64_t row_tiles = (M + mr - 1) / mr;
      if (b_fits_l2 && M <= nc && panels >= 2 * threads) {
        panel_tasks = threads;
      } else if (row_tiles >= 2 * threads || row_tiles >= panels) {
        row_tasks = std::min<int64_t>(row_tiles, threads);
      } else {
        panel_tasks = std::min<int64_t>(panels, threads * 2);
      }
    }
    const int64_t rows_per_task = round_up((M + row_tasks - 1) / row_tasks, mr);
    const int64_t panels_per_task = (panels + panel_tasks - 1) / panel_tasks;
    row_tasks = (M + rows_per_task - 1) / rows_per_task;
    panel_tasks = (panels + panels_per_task - 1) / panels_per_task;
    const int64_t tasks = row_tasks * panel_tasks;

    // Pack item q = (k block, group of `group` panels). Copied (not transposed) panels are packed a
    // group at a time row by row, so each source row is read as one contiguous run.
    const int64_t group = p.tb ? 1 : std::max<int64_t>(1, std::min<int64_t>(8, panels / (2 * threads)));
    const int64_t groups = (panels + group - 1) / group;
    const int64_t items = prepacked != nullptr ? 0 : k_blocks * groups;
    auto pack_item = [&](int64_t q) {
      const int64_t pc = (q / groups) * kc_max, g0 = (q % groups) * group;
      const int64_t g1 = std::min(panels, g0 + group);
      const int64_t kc = std::min<int64_t>(kc_max, K - pc);
      // Panels [g0, g1) of this column block, indexed from g0.
      const int64_t j0 = jc + g0 * nr;
      const int64_t cols = nc - g0 * nr, count = g1 - g0;
      // The lanes (columns of op(B)) these panels read.
      const int64_t lanes = std::min<int64_t>(cols, count * nr);
      const float* bsrc = nullptr;
      int64_t ldb = p.ldb;
      if (p.B16 != nullptr) {  // the k block of these lanes widened, stored as B is (N x K when transposed)
        const uint16_t* s = p.tb ? p.B16 + j0 * p.ldb + pc : p.B16 + pc * p.ldb + j0;
        bsrc = p.tb ? widen_block(s, p.ldb, lanes, kc, scratch().b_wide) : widen_block(s, p.ldb, kc, lanes, scratch().b_wide);
        ldb = p.tb ? kc : lanes;
      } else {
        bsrc = p.tb ? p.B + j0 * p.ldb + pc : p.B + pc * p.ldb + j0;
      }
      T* dst = pb + pc * nc_pad + g0 * nr * packed_k(kr, kc);
      if constexpr (std::is_same_v<T, float>) {
        if (p.tb || count == 1) {
          for (int64_t panel = 0; panel < count; ++panel) pack_b_panel(p.tb, bsrc, ldb, kc, cols, nr, panel, dst);
        } else {
          pack_b_group(bsrc, ldb, kc, cols, nr, 0, count, dst);
        }
      } else if (p.tb) {
        kr.pack_k_contiguous(bsrc, ldb, lanes, kc, nr, dst);
      } else {
        kr.pack_lanes_contiguous(bsrc, ldb, lanes, kc, nr, dst);
      }
    };
    auto compute_task = [&](int64_t t, const auto& wait_slab) {
      const int64_t m0 = (t / panel_tasks) * rows_per_task, q0 = (t % panel_tasks) * panels_per_task;
      const int64_t m1 = std::min(M, m0 + rows_per_task), q1 = std::min(panels, q0 + panels_per_task);
      if (m0 < m1 && q0 < q1) compute_block(kr, p, pb, nc_pad, jc, nc, m0, m1, q0, q1, slab_major, wait_slab);
    };
    if (threads <= 1 || tasks <= 1 || k_blocks > kMaxSlabs || items == 0) {
      auto no_wait = [](int64_t) {};
      if (threads > 1) {
        if (items > 0) parallel_for(items, 1, [&](int64_t b, int64_t e) { for (int64_t q = b; q < e; ++q) pack_item(q); });
        parallel_for(tasks, 1, [&](int64_t b, int64_t e) { for (int64_t t = b; t < e; ++t) compute_task(t, no_wait); });
      } else {
        for (int64_t q = 0; q < items; ++q) pack_item(q);
        for (int64_t t = 0; t < tasks; ++t) compute_task(t, no_wait);
      }
      continue;
    }
    std::atomic<int64_t> next_item{0}, next_task{0};
    std::atomic<int64_t> packed[kMaxSlabs];
    for (int64_t b = 0; b < k_blocks; ++b) packed[b].store(0, std::memory_order_relaxed);
    auto wait_slab = [&](int64_t b) {
      for (int spin = 0; packed[b].load(std::memory_order_acquire) != groups; ++spin) {
        if (spin < 4000) cpu_relax();
        else sched_yield();
      }
    };
    parallel_run(threads, [&](int, int) {
      for (int64_t q; (q = next_item.fetch_add(1, std::memory_order_relaxed)) < items;) {
        pack_item(q);
        packed[q / groups].fetch_add(1, std::memory_order_release);
      }
      for (int64_t t; (t = next_task.fetch_add(1, std::memory_order_relaxed)) < tasks;) compute_task(t, wait_slab);
    });
  }
}

// ---- M == 1 or N == 1: memory-bound matrix-vector products, no packing ----

// A matrix element as float32: float32 itself, or bfloat16 bits (streamed rows of a bfloat16 weight).
inline float widen(float v) { return v; }
inline float widen(uint16_t v) { return math::bf16_to_float(v); }

// y[i * incy] = alpha * dot(x, row_i) + beta * y for rows i of a matrix with row stride ld.
template <class E>
void gemv_dot(int64_t rows, int64_t K, float alpha, const E* Mx, int64_t ld, const float* x, float beta,
              float* y, int64_t incy) {
  parallel_for(rows, std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(K, 1)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t i = begin; i < end; ++i) {
                   const E* row = Mx + i * ld;
                   float lanes[16] = {};
                   int64_t k = 0;
                   for (; k + 16 <= K; k += 16)
                     for (int l = 0; l < 16; ++l) lanes[l] += widen(row[k + l]) * x[k + l];
                   float sum = 0.0f;
                   for (; k < K; ++k) sum += widen(row[k]) * x[k];
                   for (int l = 0; l < 16; ++l) sum += lanes[l];
                   float* yi = y + i * incy;
                   *yi = beta == 0.0f ? alpha * sum : alpha * sum + beta * *yi;
                 }
               });
}

// y[j * incy] = alpha * sum_k x[k] * Mx[k * ld + j] + beta * y for j in [0, cols).
void gemv_axpy(int64_t cols, int64_t K, float alpha, const float* Mx, int64_t ld, const float* x, float beta,
               float* y, int64_t incy) {
  parallel_for(cols, std::max<int64_t>(256, (int64_t{1} << 16) / std::max<int64_t>(K, 1)),
               [&](int64_t begin, int64_t end) {
                 const int64_t n = end - begin;
                 float* acc = scratch().v.get(static_cast<size_t>(n));
                 std::memset(acc, 0, static_cast<size_t>(n) * sizeof(float));
                 for (int64_t k = 0; k < K; ++k) {
                   const float xk = x[k];
                   const float* row = Mx + k * ld + begin;
                   for (int64_t j = 0; j < n; ++j) acc[j] += xk * row[j];
                 }
                 for (int64_t j = 0; j < n; ++j) {
                   float* yj = y + (begin + j) * incy;
                   *yj = beta == 0.0f ? alpha * acc[j] : alpha * acc[j] + beta * *yj;
                 }
               });
}

// Copies a strided vector into contiguous scratch when needed.
const float* contiguous(const float* x, int64_t n, int64_t inc, Buffer& buf) {
  if (inc == 1) return x;
  float* d = buf.get(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) d[i] = x[i * inc];
  return d;
}

// ---- 2 <= M <= kSmallM: stream op(B) once, no packing (packing a large B would cost more than the math) ----

constexpr int64_t kSmallM = 8;  // small_m_axpy's switch covers 2..8
typedef float v8f __attribute__((vector_size(32)));

// By reference: returning a 32-byte vector by value warns (-Wpsabi) on targets without AVX.
inline void load8(v8f& v, const float* p) { std::memcpy(&v, p, sizeof(v)); }
inline void load8(v8f& v, const uint16_t* p) {
  for (int l = 0; l < 8; ++l) v[l] = math::bf16_to_float(p[l]);
}

// B stored N x K (trans_b; float32 or bfloat16 elements E): C[r, j] for rows r < R of x (contiguous, row stride
// K), columns [j0, j1).
template <int R, class E>
void small_m_dot(const Problem& p, const E* B, const float* x, int64_t j0, int64_t j1, float* c) {
  const int64_t K = p.K;
  for (int64_t j = j0; j < j1; ++j) {
    const E* b = B + j * p.ldb;
    v8f acc[R][2] = {};
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
      v8f b0, b1, x0, x1;
      load8(b0, b + k);
      load8(b1, b + k + 8);
      for (int r = 0; r < R; ++r) {
        load8(x0, x + r * K + k);
        load8(x1, x + r * K + k + 8);
        acc[r][0] += x0 * b0;
        acc[r][1] += x1 * b1;
      }
    }
    for (int r = 0; r < R; ++r) {
      const v8f v = acc[r][0] + acc[r][1];
      float sum = 0.0f;
      for (int l = 0; l < 8; ++l) sum += v[l];
      for (int64_t kk = k; kk < K; ++kk) sum += x[r * K + kk] * widen(b[kk]);
      float* cj = c + r * p.ldc + j;
      *cj = p.beta == 0.0f ? p.alpha * sum : p.alpha * sum + p.beta * *cj;
    }
  }
}

// B stored K x N: C[r, j0:j1] for rows r < R of x. Streams B rows contiguously (a column walk would stride
// through memory); accumulators for a 256-column block stay in L1.
template <int R>
void small_m_axpy(const Problem& p, const float* x, int64_t j0, int64_t j1, float* c) {
  constexpr int64_t kW = 256;
  const int64_t K = p.K;
  alignas(32) float acc[R][kW];
  for (int64_t jb = j0; jb < j1; jb += kW) {
    const int64_t w = std::min<int64_t>(kW, j1 - jb);
    const int64_t wv = w / 8 * 8;
    for (int r = 0; r < R; ++r)
      for (int64_t j = 0; j < w; ++j) acc[r][j] = 0.0f;
    for (int64_t k = 0; k < K; ++k) {
      const float* b = p.B + k * p.ldb + jb;
      float xr[R];
      for (int r = 0; r < R; ++r) xr[r] = x[r * K + k];
      for (int64_t j = 0; j < wv; j += 8) {
        v8f bv, av;
        load8(bv, b + j);
        for (int r = 0; r < R; ++r) {
          std::memcpy(&av, &acc[r][j], sizeof(av));
          av += xr[r] * bv;
          std::memcpy(&acc[r][j], &av, sizeof(av));
        }
      }
      for (int64_t j = wv; j < w; ++j)
        for (int r = 0; r < R; ++r) acc[r][j] += xr[r] * b[j];
    }
    for (int r = 0; r < R; ++r) {
      float* cr = c + r * p.ldc + jb;
      if (p.beta == 0.0f) {
        for (int64_t j = 0; j < w; ++j) cr[j] = p.alpha * acc[r][j];
      } else {
        for (int64_t j = 0; j < w; ++j) cr[j] = p.alpha * acc[r][j] + p.beta * cr[j];
      }
    }
  }
}

void small_m(const Problem& p, int64_t M, int64_t N) {
  const int64_t K = p.K;
  // op(A) rows, contiguous (M * K floats: small).
  Buffer xbuf;
  float* x = xbuf.get(static_cast<size_t>(M * K));
  for (int64_t r = 0; r < M; ++r)
    for (int64_t k = 0; k < K; ++k) x[r * K + k] = p.ta ? p.A[k * p.lda + r] : p.A[r * p.lda + k];
  const int64_t grain = std::max<int64_t>(16, (int64_t{1} << 16) / std::max<int64_t>(M * K, 1)) / 16 * 16;
  parallel_for(N, grain, [&](int64_t j0, int64_t j1) {
    if (!p.tb) {  // all rows in one pass over B
      switch (M) {
        case 2: small_m_axpy<2>(p, x, j0, j1, p.C); break;
        case 3: small_m_axpy<3>(p, x, j0, j1, p.C); break;
        case 4: small_m_axpy<4>(p, x, j0, j1, p.C); break;
        case 5: small_m_axpy<5>(p, x, j0, j1, p.C); break;
        case 6: small_m_axpy<6>(p, x, j0, j1, p.C); break;
        case 7: small_m_axpy<7>(p, x, j0, j1, p.C); break;
        default: small_m_axpy<8>(p, x, j0, j1, p.C); break;
      }
      return;
    }
    for (int64_t r0 = 0; r0 < M; r0 += 4) {  // dot products: 4 rows fill the registers
      const float* xr = x + r0 * K;
      float* cr = p.C + r0 * p.ldc;
      if (p.B16 != nullptr) {
        switch (std::min<int64_t>(4, M - r0)) {
          case 1: small_m_dot<1>(p, p.B16, xr, j0, j1, cr); break;
          case 2: small_m_dot<2>(p, p.B16, xr, j0, j1, cr); break;
          case 3: small_m_dot<3>(p, p.B16, xr, j0, j1, cr); break;
          default: small_m_dot<4>(p, p.B16, xr, j0, j1, cr); break;
        }
        continue;
      }
      switch (std::min<int64_t>(4, M - r0)) {
        case 1: small_m_dot<1>(p, p.B, xr, j0, j1, cr); break;
        case 2: small_m_dot<2>(p, p.B, xr, j0, j1, cr); break;
        case 3: small_m_dot<3>(p, p.B, xr, j0, j1, cr); break;
        default: small_m_dot<4>(p, p.B, xr, j0, j1, cr); break;
      }
    }
  });
}

void gemv(const Problem& p, int64_t M, int64_t N) {
  const int64_t K = p.K;
  Buffer xbuf;  // only used for strided vectors (rare); freed on return
  if (M == 1) {
    // x = op(A)[0, :]: contiguous unless trans_a (then A is K x 1 with stride lda).
    const float* x = contiguous(p.A, K, p.ta ? p.lda : 1, xbuf);
    if (p.tb && p.B16 != nullptr) {
      gemv_dot(N, K, p.alpha, p.B16, p.ldb, x, p.beta, p.C, 1);  // bfloat16 B stored N x K, read as it is
    } else if (p.tb) {
      gemv_dot(N, K, p.alpha, p.B, p.ldb, x, p.beta, p.C, 1);  // B stored N x K
    } else {
      gemv_axpy(N, K, p.alpha, p.B, p.ldb, x, p.beta, p.C, 1);  // B stored K x N
    }
  } else {
    // N == 1: x = op(B)[:, 0]: stride ldb unless trans_b (then B is 1 x K).
    const float* x = contiguous(p.B, K, p.tb ? 1 : p.ldb, xbuf);
    if (p.ta) {
      gemv_axpy(M, K, p.alpha, p.A, p.lda, x, p.beta, p.C, p.ldc);  // A stored K x M
    } else {
      gemv_dot(M, K, p.alpha, p.A, p.lda, x, p.beta, p.C, p.ldc);  // A stored M x K
    }
  }
}

// A bfloat16 operand of `rows` x `cols` (row stride ld) widened whole into buf (same leading dim).
const float* widen_operand(const uint16_t* src, int64_t ld, int64_t rows, int64_t cols, Buffer& buf) {
  const int64_t count = (rows - 1) * ld + cols;
  float* d = buf.get(static_cast<size_t>(count));
  bf16_to_f32(d, src, count);
  return d;
}

void gemm(const Problem& p, int64_t M, int64_t N, MatmulPrecision precision) {
  if (M <= 0 || N <= 0) return;
  if (p.K <= 0 || p.alpha == 0.0f) {
    scale_c(M, N, p.beta, p.C, p.ldc);
    return;
  }
  // Few rows and a big B: packing B would cost more than the math. (Measured: the unpacked K x N path
  // loses to packing at 5-8 rows while B still fits in L3.)
  const double bsize = double(N) * double(p.K);
  const bool unpacked =
      M == 1 || N == 1 || (M <= kSmallM && bsize >= double(1 << 18) && (p.tb || M <= 4 || bsize >= double(1 << 21)));
  // Rows of a bfloat16 B stored N x K are streamed as they are (matrix-vector and few-rows dot products: decoding
  // through a bfloat16 weight reads 2 bytes an element); other unpacked layouts widen the operand first.
  const bool streams_b16 = p.tb && N > 1 && p.A16 == nullptr;
  if (unpacked && (p.A16 != nullptr || (p.B16 != nullptr && !streams_b16))) {
    // The other unpacked paths read float32: widen bfloat16 operands whole (this call's buffers).
    Buffer a_wide, b_wide;
    Problem wide = p;
    if (p.A16 != nullptr) wide.A = widen_operand(p.A16, p.lda, p.ta ? p.K : M, p.ta ? M : p.K, a_wide);
    if (p.B16 != nullptr) wide.B = widen_operand(p.B16, p.ldb, p.tb ? N : p.K, p.tb ? p.K : N, b_wide);
    wide.A16 = wide.B16 = nullptr;
    gemm(wide, M, N, precision);
    return;
  }
  if (M == 1 || N == 1) {
    gemv(p, M, N);  // its parallel_for runs inline inside a batch worker
    return;
  }
  if (unpacked) {
    small_m(p, M, N);
    return;
  }
  with_active_kernel(precision, [&](const auto& kr) { gemm_packed(kr, p, M, N); });
}

// ---- pre-packed B: packed once, used by many products (weights while generating) ----

struct PackedHeader {
  uint32_t magic;
  uint32_t kernel;  // kKernelNames index + 1
  int64_t K, N;
};
constexpr uint32_t kPackedMagic = 0x50444754;  // "TGDP"
constexpr int64_t kHeaderFloats = 16;          // 64 bytes: panels stay 64-byte aligned
const char* const kKernelNames[] = {"scalar", "avx2", "avx512", "avx512-bf16", "amx-bf16"};

template <class T>
uint32_t kernel_tag(const KernelT<T>& kr) {
  for (uint32_t i = 0; i < sizeof(kKernelNames) / sizeof(kKernelNames[0]); ++i)
    if (std::strcmp(kKernelNames[i], kr.name) == 0) return i + 1;
  return 0;
}

template <class T>
int64_t packed_b_data_floats(const KernelT<T>& kr, int64_t K, int64_t N) {
  const int64_t elems = packed_k(kr, K) * round_up(N, kr.nr);
  return (elems * static_cast<int64_t>(sizeof(T)) + 3) / 4;
}

// Packs all of op(B) in gemm_packed's layout for one column block: k slab pc at pc * nc_pad.
template <class T>
void pack_b_all(const KernelT<T>& kr, bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, T* dst) {
  const int nr = kr.nr;
  const int64_t kc_max = std::min<int64_t>(kr.kc, K);
  const int64_t nc_pad = round_up(N, nr);
  parallel_for((K + kc_max - 1) / kc_max, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t pc = blk * kc_max, kc = std::min<int64_t>(kc_max, K - pc);
      const float* bsrc = trans_b ? B + pc : B + pc * ldb;
      T* slab = dst + pc * nc_pad;
      if constexpr (std::is_same_v<T, float>) {
        for (int64_t panel = 0; panel < nc_pad / nr; ++panel) pack_b_panel(trans_b, bsrc, ldb, kc, N, nr, panel, slab);
      } else if (trans_b) {
        kr.pack_k_contiguous(bsrc, ldb, N, kc, nr, slab);
      } else {
        kr.pack_lanes_contiguous(bsrc, ldb, N, kc, nr, slab);
      }
    }
  });
}

}  // namespace
}  // namespace gemm_detail

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, MatmulPrecision precision) {
  gemm_detail::Problem p{trans_a, trans_b, K, alpha, beta, A, lda, B, ldb, C, ldc};
  gemm_detail::gemm(p, M, N, precision);
}

void sgemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, const int64_t* a_offsets, const float* B, int64_t ldb,
                   const int64_t* b_offsets, float beta, float* C, int64_t ldc, const int64_t* c_offsets,
                   int64_t batch, MatmulPrecision precision) {
  gemm_batched(trans_a, trans_b, M, N, K, alpha, MatrixOperand{A, false}, lda, a_offsets, MatrixOperand{B, false}, ldb,
               b_offsets, beta, C, ldc, c_offsets, batch, precision);
}

void gemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, MatrixOperand A, int64_t lda,
                  const int64_t* a_offsets, MatrixOperand B, int64_t ldb, const int64_t* b_offsets, float beta, float* C,
                  int64_t ldc, const int64_t* c_offsets, int64_t batch, MatmulPrecision precision) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  auto one = [&](int64_t b) {
    gemm_detail::Problem p{trans_a, trans_b, K, alpha, beta, nullptr, lda, nullptr, ldb, C + c_offsets[b], ldc};
    if (A.bf16) p.A16 = static_cast<const uint16_t*>(A.data) + a_offsets[b];
    else p.A = static_cast<const float*>(A.data) + a_offsets[b];
    if (B.bf16) p.B16 = static_cast<const uint16_t*>(B.data) + b_offsets[b];
    else p.B = static_cast<const float*>(B.data) + b_offsets[b];
    gemm_detail::gemm(p, M, N, precision);
  };
  const double work = double(M) * double(N) * double(std::max<int64_t>(K, 1));
  const int threads = num_threads();
  // Across the batch when one GEMM is too small to split well, or the batch alone fills the threads.
  const bool across = batch > 1 && threads > 1 && !in_parallel_region() &&
                      (work < double(1 << 22) || batch >= 4 * threads);
  if (!across) {
    for (int64_t b = 0; b < batch; ++b) one(b);
    return;
  }
  const int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(double(1 << 17) / work));
  parallel_for(batch, grain, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) one(b);
  });
}

const char* sgemm_kernel_name() { return gemm_detail::kernel().name; }

int64_t packed_b_floats(int64_t K, int64_t N, MatmulPrecision precision) {
  int64_t floats = 0;
  gemm_detail::with_active_kernel(
      precision, [&](const auto& kr) { floats = gemm_detail::kHeaderFloats + gemm_detail::packed_b_data_floats(kr, K, N); });
  return floats;
}

void pack_b(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, float* dst, MatmulPrecision precision) {
  using namespace gemm_detail;
  with_active_kernel(precision, [&](const auto& kr) {
    using T = typename std::remove_cvref_t<decltype(kr)>::elem;
    const PackedHeader h{kPackedMagic, kernel_tag(kr), K, N};
    std::memcpy(dst, &h, sizeof(h));
    if (K > 0 && N > 0) pack_b_all(kr, trans_b, K, N, B, ldb, reinterpret_cast<T*>(dst + kHeaderFloats));
  });
}

void sgemm_packed_b(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* packed,
                    float* C, int64_t ldc, MatmulPrecision precision) {
  using namespace gemm_detail;
  PackedHeader h;
  std::memcpy(&h, packed, sizeof(h));
  if (h.magic != kPackedMagic || h.K != K || h.N != N)
    throw std::invalid_argument("matmulPackedB: the packed operand is not a packed " + std::to_string(K) + "x" +
                                std::to_string(N) + " matrix");
  with_active_kernel(precision, [&](const auto& kr) {
    if (h.kernel != kernel_tag(kr)) {
      const char* was = h.kernel >= 1 && h.kernel <= 4 ? kKernelNames[h.kernel - 1] : "?";
      throw std::invalid_argument(std::string("matmulPackedB: operand packed for the ") + was +
                                  " kernel, but products now run on " + kr.name + ": pack it again");
    }
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
      scale_c(M, N, 0.0f, C, ldc);
      return;
    }
    using T = typename std::remove_cvref_t<decltype(kr)>::elem;
    const Problem p{trans_a, false, K, 1.0f, 0.0f, A, lda, nullptr, 0, C, ldc};
    gemm_packed(kr, p, M, N, reinterpret_cast<const T*>(packed + kHeaderFloats));
  });
}

MatmulPrecision parse_matmul_precision(const char* name, const char* op) {
  const std::string n = name == nullptr ? "" : name;
  if (n == "highest") return MatmulPrecision::Highest;
  if (n == "medium") return MatmulPrecision::Medium;
  throw std::invalid_argument(std::string(op) + ": unknown precision '" + n + "' (expected highest or medium)");
}

const char* matmul_precision_name(MatmulPrecision precision) {
  return precision == MatmulPrecision::Medium ? "medium" : "highest";
}

void set_matmul_precision(const char* name) {
  gemm_detail::g_default_precision.store(parse_matmul_precision(name, "matmulPrecision"), std::memory_order_relaxed);
}

MatmulPrecision default_matmul_precision() { return gemm_detail::g_default_precision.load(std::memory_order_relaxed); }

const char* matmul_kernel_name(MatmulPrecision precision) {
  gemm_detail::kernel();
  const gemm_detail::Bf16Kernel* bf16 = gemm_detail::bf16_kernel_available();
  return precision == MatmulPrecision::Medium && bf16 != nullptr ? bf16->name : gemm_detail::kernel().name;
}

void sgemm_force_kernel(const char* name) {
  const std::string n = name == nullptr ? "" : name;
  bool known = false, bf16_forced = false;
  const gemm_detail::Kernel* k = gemm_detail::kernel_by_name(n, &known, &bf16_forced);
  if (!known) throw std::invalid_argument("sgemm_force_kernel: unknown kernel '" + n +
                                          "' (expected avx512, avx512-bf16, avx2, scalar or auto)");
  if (k == nullptr)
    throw std::invalid_argument("sgemm_force_kernel: kernel '" + n + "' is not supported on this CPU/build");
  gemm_detail::g_bf16_forced.store(bf16_forced, std::memory_order_release);
  gemm_detail::g_kernel.store(k, std::memory_order_release);
  gemm_detail::g_kernel_epoch.fetch_add(1, std::memory_order_release);
}

uint64_t sgemm_kernel_epoch() { return gemm_detail::g_kernel_epoch.load(std::memory_order_acquire); }

}  // namespace tg
