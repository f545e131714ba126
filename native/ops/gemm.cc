// SGEMM driver (BLIS/GotoBLAS structure): pack op(B) into kc x NR panels and op(A) into MR x kc panels,
// loop jc (nc) -> pc (kc) -> ic (mc) -> jr (NR) -> ir (MR) around a register-blocked micro-kernel picked
// once at run time; threads own disjoint blocks of C (no barriers). M == 1 / N == 1 take a direct path.
#include "ops/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "core/thread_pool.h"
#include "ops/gemm_kernels.h"

namespace tg {
namespace gemm_detail {
namespace {

// ---- portable micro-kernel (any CPU; the compiler vectorizes the j loops) ----

constexpr int kScalarMR = 4;
constexpr int kScalarNR = 16;

void scalar_kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                   float beta) {
  float acc[kScalarMR][kScalarNR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = b + k * kScalarNR;
    for (int r = 0; r < kScalarMR; ++r) {
      const float ar = a[k * kScalarMR + r];
      for (int j = 0; j < kScalarNR; ++j) acc[r][j] += ar * bk[j];
    }
  }
  for (int r = 0; r < kScalarMR; ++r) {
    float* cr = c + r * ldc;
    if (beta == 0.0f) {
      for (int j = 0; j < kScalarNR; ++j) cr[j] = alpha * acc[r][j];
    } else {
      for (int j = 0; j < kScalarNR; ++j) cr[j] = alpha * acc[r][j] + beta * cr[j];
    }
  }
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

// Returns the kernel called `name` if this CPU/build can run it, else nullptr. "auto" = best.
const Kernel* kernel_by_name(const std::string& name, bool* known) {
  *known = true;
  if (name == "auto") return best_kernel();
  if (name == "scalar") return &kScalarKernel;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (name == "avx2")
    return (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? avx2_kernel() : nullptr;
  if (name == "avx512") return best_kernel() == avx512_kernel() ? avx512_kernel() : nullptr;
#else
  if (name == "avx2" || name == "avx512") return nullptr;
#endif
  *known = false;
  return nullptr;
}

const Kernel* initial_kernel() {
  const Kernel* best = best_kernel();
  if (const char* env = std::getenv("THINKGRAD_GEMM")) {
    bool known = false;
    const Kernel* k = kernel_by_name(env, &known);
    if (k != nullptr) return k;
  }
  return best;
}

std::atomic<const Kernel*> g_kernel{nullptr};

const Kernel& kernel() {
  const Kernel* k = g_kernel.load(std::memory_order_acquire);
  if (k == nullptr) {
    k = initial_kernel();
    g_kernel.store(k, std::memory_order_release);
  }
  return *k;
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
};

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

// Packs op(A)[0:m, 0:k] (A points at element (0,0) of the block) into MR-wide panels, zero-padded.
void pack_a_generic(bool trans, const float* A, int64_t lda, int64_t m, int64_t k, int mr, float* dst) {
  for (int64_t i0 = 0; i0 < m; i0 += mr) {
    const int64_t rows = std::min<int64_t>(mr, m - i0);
    float* d = dst + i0 * k;
    if (trans) {  // A stored k x m: row kk holds op(A)[:, kk] contiguously
      for (int64_t kk = 0; kk < k; ++kk) {
        const float* s = A + kk * lda + i0;
        float* dk = d + kk * mr;
        for (int64_t r = 0; r < rows; ++r) dk[r] = s[r];
        for (int64_t r = rows; r < mr; ++r) dk[r] = 0.0f;
      }
    } else {
      for (int64_t r = 0; r < rows; ++r) {
        const float* s = A + (i0 + r) * lda;
        for (int64_t kk = 0; kk < k; ++kk) d[kk * mr + r] = s[kk];
      }
      for (int64_t r = rows; r < mr; ++r)
        for (int64_t kk = 0; kk < k; ++kk) d[kk * mr + r] = 0.0f;
    }
  }
}

// Packs op(B)[0:k, 0:n] (B points at element (0,0) of the block) into NR-wide panels, zero-padded.
void pack_b(bool trans, const float* B, int64_t ldb, int64_t k, int64_t n, int nr, float* dst) {
  for (int64_t j0 = 0; j0 < n; j0 += nr) {
    const int64_t cols = std::min<int64_t>(nr, n - j0);
    float* d = dst + j0 * k;
    if (!trans) {
      for (int64_t kk = 0; kk < k; ++kk) {
        const float* s = B + kk * ldb + j0;
        float* dk = d + kk * nr;
        if (cols == nr) {
          std::memcpy(dk, s, static_cast<size_t>(nr) * sizeof(float));
        } else {
          for (int64_t j = 0; j < cols; ++j) dk[j] = s[j];
          for (int64_t j = cols; j < nr; ++j) dk[j] = 0.0f;
        }
      }
    } else {  // B stored n x k
      for (int64_t j = 0; j < cols; ++j) {
        const float* s = B + (j0 + j) * ldb;
        for (int64_t kk = 0; kk < k; ++kk) d[kk * nr + j] = s[kk];
      }
      for (int64_t j = cols; j < nr; ++j)
        for (int64_t kk = 0; kk < k; ++kk) d[kk * nr + j] = 0.0f;
    }
  }
}

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
};

// Computes the block C[m0:m1, n0:n1] of the problem on the calling thread.
void gemm_block(const Kernel& kr, const Problem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const int mr = kr.mr, nr = kr.nr;
  const int64_t K = p.K;
  const int64_t kc_max = std::min<int64_t>(kr.kc, K);
  const int64_t mc_max = std::min<int64_t>(kr.mc, round_up(m1 - m0, mr));
  const int64_t nc_max = std::min<int64_t>(kr.nc, round_up(n1 - n0, nr));
  Scratch& s = scratch();
  float* pa = s.a.get(static_cast<size_t>(round_up(mc_max, mr) * kc_max));
  float* pb = s.b.get(static_cast<size_t>(round_up(nc_max, nr) * kc_max));
  alignas(64) float tile[32 * 64];  // edge tiles: mr * nr <= 32 * 64

  for (int64_t jc = n0; jc < n1; jc += nc_max) {
    const int64_t nc = std::min<int64_t>(nc_max, n1 - jc);
    for (int64_t pc = 0; pc < K; pc += kc_max) {
      const int64_t kc = std::min<int64_t>(kc_max, K - pc);
      const float beta = pc == 0 ? p.beta : 1.0f;
      const float* bsrc = p.tb ? p.B + jc * p.ldb + pc : p.B + pc * p.ldb + jc;
      pack_b(p.tb, bsrc, p.ldb, kc, nc, nr, pb);
      for (int64_t ic = m0; ic < m1; ic += mc_max) {
        const int64_t mc = std::min<int64_t>(mc_max, m1 - ic);
        const float* asrc = p.ta ? p.A + pc * p.lda + ic : p.A + ic * p.lda + pc;
        if (kr.pack_a != nullptr) {
          kr.pack_a(p.ta, asrc, p.lda, mc, kc, pa);
        } else {
          pack_a_generic(p.ta, asrc, p.lda, mc, kc, mr, pa);
        }
        for (int64_t jr = 0; jr < nc; jr += nr) {
          const int64_t n = std::min<int64_t>(nr, nc - jr);
          const float* bp = pb + jr * kc;
          for (int64_t ir = 0; ir < mc; ir += mr) {
            const int64_t m = std::min<int64_t>(mr, mc - ir);
            const float* ap = pa + ir * kc;
            float* c = p.C + (ic + ir) * p.ldc + jc + jr;
            if (m == mr && n == nr) {
              kr.micro(kc, ap, bp, c, p.ldc, p.alpha, beta);
            } else {
              kr.micro(kc, ap, bp, tile, nr, 1.0f, 0.0f);
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
        }
      }
    }
  }
}

// ---- M == 1 or N == 1: memory-bound matrix-vector products, no packing ----

// y[i * incy] = alpha * dot(x, row_i) + beta * y for rows i of a matrix with row stride ld.
void gemv_dot(int64_t rows, int64_t K, float alpha, const float* Mx, int64_t ld, const float* x, float beta,
              float* y, int64_t incy) {
  parallel_for(rows, std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(K, 1)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t i = begin; i < end; ++i) {
                   const float* row = Mx + i * ld;
                   float lanes[16] = {};
                   int64_t k = 0;
                   for (; k + 16 <= K; k += 16)
                     for (int l = 0; l < 16; ++l) lanes[l] += row[k + l] * x[k + l];
                   float sum = 0.0f;
                   for (; k < K; ++k) sum += row[k] * x[k];
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

void gemv(const Problem& p, int64_t M, int64_t N) {
  const int64_t K = p.K;
  Buffer xbuf;  // only used for strided vectors (rare); freed on return
  if (M == 1) {
    // x = op(A)[0, :]: contiguous unless trans_a (then A is K x 1 with stride lda).
    const float* x = contiguous(p.A, K, p.ta ? p.lda : 1, xbuf);
    if (p.tb) {
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

// Work (multiply-adds) below which a GEMM runs on one thread, and the least work per thread.
constexpr double kParallelMinWork = double(1 << 18);
constexpr double kWorkPerThread = double(1 << 17);

void gemm_packed(const Kernel& kr, const Problem& p, int64_t M, int64_t N, bool allow_threads) {
  const double work = double(M) * double(N) * double(p.K);
  int threads = 1;
  if (allow_threads && work >= kParallelMinWork && !in_parallel_region()) {
    threads = std::min<int>(num_threads(), static_cast<int>(std::max(1.0, work / kWorkPerThread)));
  }
  if (threads <= 1) {
    gemm_block(kr, p, 0, M, 0, N);
    return;
  }
  // Grid tm x tn = threads minimizing padded compute plus packing traffic per thread.
  int best_tm = 1, best_tn = threads;
  double best_cost = 1e300;
  for (int tm = 1; tm <= threads; ++tm) {
    if (threads % tm != 0) continue;
    const int tn = threads / tm;
    const double mt = double(round_up((M + tm - 1) / tm, kr.mr));
    const double nt = double(round_up((N + tn - 1) / tn, kr.nr));
    const double cost = mt * nt + 16.0 * (mt + nt);
    if (cost < best_cost) {
      best_cost = cost;
      best_tm = tm;
      best_tn = tn;
    }
  }
  const int tm = best_tm, tn = best_tn;
  const int64_t mstep = round_up((M + tm - 1) / tm, kr.mr);
  const int64_t nstep = round_up((N + tn - 1) / tn, kr.nr);
  parallel_run(threads, [&](int tid, int count) {
    if (count == 1) {  // ran inline (nested or a one-thread pool): do everything
      gemm_block(kr, p, 0, M, 0, N);
      return;
    }
    for (int t = tid; t < tm * tn; t += count) {
      const int64_t m0 = (t / tn) * mstep, n0 = (t % tn) * nstep;
      const int64_t m1 = std::min(M, m0 + mstep), n1 = std::min(N, n0 + nstep);
      if (m0 < m1 && n0 < n1) gemm_block(kr, p, m0, m1, n0, n1);
    }
  });
}

void gemm(const Problem& p, int64_t M, int64_t N, bool allow_threads) {
  if (M <= 0 || N <= 0) return;
  if (p.K <= 0 || p.alpha == 0.0f) {
    scale_c(M, N, p.beta, p.C, p.ldc);
    return;
  }
  if (M == 1 || N == 1) {
    gemv(p, M, N);  // its parallel_for runs inline inside a batch worker
    return;
  }
  gemm_packed(kernel(), p, M, N, allow_threads);
}

}  // namespace
}  // namespace gemm_detail

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_detail::Problem p{trans_a, trans_b, K, alpha, beta, A, lda, B, ldb, C, ldc};
  gemm_detail::gemm(p, M, N, true);
}

void sgemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, const int64_t* a_offsets, const float* B, int64_t ldb,
                   const int64_t* b_offsets, float beta, float* C, int64_t ldc, const int64_t* c_offsets,
                   int64_t batch) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  auto one = [&](int64_t b, bool allow_threads) {
    gemm_detail::Problem p{trans_a, trans_b, K,    alpha, beta, A + a_offsets[b], lda, B + b_offsets[b],
                           ldb,     C + c_offsets[b], ldc};
    gemm_detail::gemm(p, M, N, allow_threads);
  };
  const double work = double(M) * double(N) * double(std::max<int64_t>(K, 1));
  const int threads = num_threads();
  // Across the batch when one GEMM is too small to split well, or the batch alone fills the threads.
  const bool across = batch > 1 && threads > 1 && !in_parallel_region() &&
                      (work < double(1 << 22) || batch >= 4 * threads);
  if (!across) {
    for (int64_t b = 0; b < batch; ++b) one(b, true);
    return;
  }
  const int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(double(1 << 17) / work));
  parallel_for(batch, grain, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) one(b, false);
  });
}

const char* sgemm_kernel_name() { return gemm_detail::kernel().name; }

void sgemm_force_kernel(const char* name) {
  const std::string n = name == nullptr ? "" : name;
  bool known = false;
  const gemm_detail::Kernel* k = gemm_detail::kernel_by_name(n, &known);
  if (!known) throw std::invalid_argument("sgemm_force_kernel: unknown kernel '" + n +
                                          "' (expected avx512, avx2, scalar or auto)");
  if (k == nullptr)
    throw std::invalid_argument("sgemm_force_kernel: kernel '" + n + "' is not supported on this CPU/build");
  gemm_detail::g_kernel.store(k, std::memory_order_release);
}

}  // namespace tg
