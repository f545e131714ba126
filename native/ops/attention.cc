// Attention CPU kernels, blocked over 64 query rows so scratch stays O(64 * Tk) per thread: the block's
// scores come from one GEMM, the row softmax is vectorized, and P v is a second GEMM. The forward runs
// (b, query head, block) tasks in parallel; the backward runs (b, kv head) tasks so each thread owns its
// dk/dv rows and accumulates them over that kv head's query heads without atomics. Decoding (at most
// kDecodeRows queries) takes a streaming path instead: dot products and a weighted row sum per (b, head).

#include "ops/attention.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/simd.h"
#include "core/thread_pool.h"
#include "math/attention.h"
#include "math/bf16.h"
#include "math/softmax.h"
#include "ops/gemm.h"
#include "ops/kv_cache.h"

namespace tg {
namespace {

using namespace tg::math;

constexpr int64_t kBlockQ = 64;
constexpr int kLanes = kSimdLanes;

// Block products go through one call site so the GEMM can be swapped (plain loops for debugging by
// defining TG_ATTENTION_PLAIN_GEMM). Inside parallel_for, tg::sgemm runs inline on the calling thread.
void block_gemm(MatmulPrecision precision, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
#if defined(TG_ATTENTION_PLAIN_GEMM)
  (void)precision;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float acc = 0.0f;
      for (int64_t p = 0; p < K; ++p)
        acc += (trans_a ? A[p * lda + i] : A[i * lda + p]) * (trans_b ? B[j * ldb + p] : B[p * ldb + j]);
      C[i * ldc + j] = alpha * acc + (beta == 0.0f ? 0.0f : beta * C[i * ldc + j]);
    }
#else
  sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, precision);
#endif
}

std::vector<float>& scratch(int which) {
  thread_local std::vector<float> bufs[2];
  return bufs[which];
}

// Keys visible to query row i (0-based in Tq): [0, limit).
inline int64_t key_limit(const AttentionDims& d, int64_t i) { return attention_key_limit(i, d.Tq, d.Tk, d.causal); }
// The first key query row i of batch row b sees (0 without key starts); non-decreasing in i.
inline int64_t key_first(const AttentionDims& d, int64_t b, int64_t i) {
  return d.key_start == nullptr ? 0 : attention_key_first(i, d.Tq, d.Tk, d.key_start[b]);
}

// Row softmax of scores s[first, n) in place, zeroing s[0, first) and s[n, width); returns the log-sum-exp.
TG_CLONES float softmax_row(float* s, int64_t first, int64_t n, int64_t width) {
  for (int64_t i = 0; i < first; ++i) s[i] = 0.0f;
  s += first;
  n -= first;
  width -= first;
  float m = lse_shift(lanes_max(s, n));
  float sum[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      float e = fast_exp(s[i + j] - m);
      s[i + j] = e;
      sum[j] += e;
    }
  float total = 0.0f;
  for (int j = 0; j < kLanes; ++j) total += sum[j];
  for (; i < n; ++i) {
    float e = fast_exp(s[i] - m);
    s[i] = e;
    total += e;
  }
  float inv = 1.0f / total;
  for (i = 0; i < n; ++i) s[i] *= inv;
  for (i = n; i < width; ++i) s[i] = 0.0f;
  return m + fast_log(total);
}

// Backward row: p[first, n) = exp(s - lse), ds = p * (dp - di) in dp; both zero on [0, first) and [n, width).
TG_CLONES void grad_row(float* __restrict s, float* __restrict dp, int64_t first, int64_t n, int64_t width, float lse,
                        float di) {
  for (int64_t i = 0; i < first; ++i) {
    s[i] = 0.0f;
    dp[i] = 0.0f;
  }
  for (int64_t i = first; i < n; ++i) {
    float p = fast_exp(s[i] - lse);
    s[i] = p;
    dp[i] = p * (dp[i] - di);
  }
  for (int64_t i = n; i < width; ++i) {
    s[i] = 0.0f;
    dp[i] = 0.0f;
  }
}

TG_CLONES float dot_row(const float* __restrict a, const float* __restrict b, int64_t n) { return lanes_dot(a, b, n); }

inline const float* at(const ConstHeadsView& v, int64_t b, int64_t t, int64_t h) {
  return v.data + b * v.sb + t * v.st + h * v.sh;
}
inline float* at(const HeadsView& v, int64_t b, int64_t t, int64_t h) { return v.data + b * v.sb + t * v.st + h * v.sh; }

// NOTE: decoding streams the whole KV cache once per step (larger than L3 for long caches) as short per-head
// streams, which are bound by DRAM latency rather than bandwidth: prefetching K/V rows 4 KiB ahead (and a
// stream's first rows before it starts) keeps enough lines in flight (2 KiB -> 4 KiB: 454 -> 295 us per layer
// for a bf16 cache of 64 x 4 heads x 80 positions; 548 -> 485 us in float32). The non-temporal hint keeps the
// next GEMMs' weights from being evicted as much. A prefetch past the end of a buffer never faults.
constexpr int64_t kAheadBytes = 4096;
// Rows of D values of type T that make kAheadBytes.
template <class T>
inline int64_t ahead_rows(int64_t D) {
  return std::max<int64_t>(4, kAheadBytes / (D * static_cast<int64_t>(sizeof(T))));
}
template <class T>
inline void prefetch_rows(const T* r, int rows, int64_t ld, int64_t D) {
  for (int i = 0; i < rows; ++i)
    for (int64_t c = 0; c < D; c += 64 / sizeof(T)) __builtin_prefetch(r + i * ld + c, 0, 0);
}

inline float widen(float x) { return x; }
inline float widen(uint16_t x) { return bf16_to_float(x); }

// o[0, D) = sum_j p[j] * V row j for j < n (rows ldv apart), V in float32 or bfloat16 (widened on load).
template <class T>
__attribute__((always_inline)) inline void weighted_rows_of(float* __restrict o, const float* __restrict p,
                                                            const T* __restrict v, int64_t ldv, int64_t n, int64_t D) {
  const int64_t ahead = ahead_rows<T>(D);
  for (int64_t c = 0; c < D; ++c) o[c] = 0.0f;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {  // four rows per pass over o: fewer loads and stores of the accumulator
    const float p0 = p[j], p1 = p[j + 1], p2 = p[j + 2], p3 = p[j + 3];
    const T* v0 = v + j * ldv;
    const T* v1 = v0 + ldv;
    const T* v2 = v1 + ldv;
    const T* v3 = v2 + ldv;
    prefetch_rows(v0 + ahead * ldv, 4, ldv, D);
    for (int64_t c = 0; c < D; ++c)
      o[c] += p0 * widen(v0[c]) + p1 * widen(v1[c]) + p2 * widen(v2[c]) + p3 * widen(v3[c]);
  }
  for (; j < n; ++j) {
    const float pj = p[j];
    const T* vj = v + j * ldv;
    for (int64_t c = 0; c < D; ++c) o[c] += pj * widen(vj[c]);
  }
}

// s[j] = scale * q . K row j for j < n (rows ldk apart), K in float32 or bfloat16 (widened on load).
template <class T>
__attribute__((always_inline)) inline void score_rows_of(float* __restrict s, const float* __restrict q,
                                                         const T* __restrict k, int64_t ldk, int64_t n, int64_t D,
                                                         float scale) {
  const int64_t ahead = ahead_rows<T>(D);
  const int64_t Dv = D / kLanes * kLanes;
  for (int64_t j = 0; j < n; ++j) {
    const T* kj = k + j * ldk;
    prefetch_rows(kj + ahead * ldk, 1, ldk, D);
    float acc[kLanes] = {};
    for (int64_t c = 0; c < Dv; c += kLanes)
      for (int l = 0; l < kLanes; ++l) acc[l] += q[c + l] * widen(kj[c + l]);
    float t = 0.0f;
    for (int l = 0; l < kLanes; ++l) t += acc[l];
    for (int64_t c = Dv; c < D; ++c) t += q[c] * widen(kj[c]);
    s[j] = scale * t;
  }
}

// The cloned entry points (target_clones cannot be put on templates).
TG_CLONES void weighted_rows(float* o, const float* p, const float* v, int64_t ldv, int64_t n, int64_t D) {
  weighted_rows_of(o, p, v, ldv, n, D);
}
TG_CLONES void weighted_rows(float* o, const float* p, const uint16_t* v, int64_t ldv, int64_t n, int64_t D) {
  weighted_rows_of(o, p, v, ldv, n, D);
}
TG_CLONES void score_rows(float* s, const float* q, const float* k, int64_t ldk, int64_t n, int64_t D, float scale) {
  score_rows_of(s, q, k, ldk, n, D, scale);
}
TG_CLONES void score_rows(float* s, const float* q, const uint16_t* k, int64_t ldk, int64_t n, int64_t D, float scale) {
  score_rows_of(s, q, k, ldk, n, D, scale);
}

// K or V rows of element type T: (b, t, h) at data + b*sb + t*st + h*sh.
template <class T>
struct KVRows {
  const T* data;
  int64_t sb, st, sh;
  const T* at(int64_t b, int64_t t, int64_t h) const { return data + b * sb + t * st + h * sh; }
};

}  // namespace

// NOTE: a few query rows (decoding with a KV cache) are memory-bound on reading K and V once: dot products
// and a weighted row sum per (b, head), no GEMM packing of a 1-row operand. lse may be null (not saved).
template <class T>
static void attention_forward_decode(HeadsView o, float* lse, ConstHeadsView q, KVRows<T> k, KVRows<T> v,
                                     const AttentionBias& bias, const AttentionDims& d) {
  const int64_t group = d.Hq / d.Hkv;
  parallel_for(d.B * d.Hq, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float>& sbuf = scratch(0);
    if (static_cast<int64_t>(sbuf.size()) < d.Tk) sbuf.resize(static_cast<size_t>(d.Tk));
    float* s = sbuf.data();
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t h = task % d.Hq, b = task / d.Hq, hk = h / group;
      const T* kb = k.at(b, 0, hk);
      const T* vb = v.at(b, 0, hk);
      // The stream heads, which the in-loop prefetch (running ahead of itself) never covers.
      const int64_t head_rows = std::min<int64_t>(d.Tk, ahead_rows<T>(d.D));
      prefetch_rows(kb, static_cast<int>(head_rows), k.st, d.D);
      prefetch_rows(vb, static_cast<int>(head_rows), v.st, d.D);
      for (int64_t r = 0; r < d.Tq; ++r) {
        const int64_t first = key_first(d, b, r), n = key_limit(d, r) - first;
        score_rows(s, at(q, b, r, h), kb + first * k.st, k.st, n, d.D, d.scale);
        if (bias.data != nullptr) {
          const float* row = bias.data + b * bias.sb + r * bias.sq + first * bias.sk;
          for (int64_t j = 0; j < n; ++j) s[j] += row[j * bias.sk];
        }
        const float row_lse = softmax_row(s, 0, n, n);
        if (lse != nullptr) lse[(b * d.Hq + h) * d.Tq + r] = row_lse;
        weighted_rows(at(o, b, r, h), s, vb + first * v.st, v.st, n, d.D);
      }
    }
  });
}

void attention_decode_bf16(HeadsView o, ConstHeadsView q, const Bf16Cache& k, const Bf16Cache& v,
                           const AttentionBias& bias, const AttentionDims& d) {
  const KVRows<uint16_t> kr{k.data, k.Hkv * k.L * k.D, k.D, k.L * k.D};
  const KVRows<uint16_t> vr{v.data, v.Hkv * v.L * v.D, v.D, v.L * v.D};
  attention_forward_decode(o, nullptr, q, kr, vr, bias, d);
}

namespace {
constexpr int64_t kDecodeRows = 4;  // queries per (b, head) at or below which the decode path runs
}  // namespace

void attention_forward(HeadsView o, float* lse, ConstHeadsView q, ConstHeadsView k, ConstHeadsView v,
                       const AttentionDims& d) {
  if (d.Tq <= kDecodeRows) {
    attention_forward_decode(o, lse, q, KVRows<float>{k.data, k.sb, k.st, k.sh}, KVRows<float>{v.data, v.sb, v.st, v.sh},
                             AttentionBias{nullptr, 0, 0, 0}, d);
    return;
  }
  const int64_t blocks = (d.Tq + kBlockQ - 1) / kBlockQ;
  const int64_t group = d.Hq / d.Hkv;
  parallel_for(d.B * d.Hq * blocks, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t blk = task % blocks, h = (task / blocks) % d.Hq, b = task / (blocks * d.Hq);
      const int64_t hk = h / group;
      const int64_t i0 = blk * kBlockQ, nq = std::min(kBlockQ, d.Tq - i0);
      // Keys any row of the block may see: [lo, lo + width).
      const int64_t lo = key_first(d, b, i0), width = key_limit(d, i0 + nq - 1) - lo;
      std::vector<float>& sbuf = scratch(0);
      if (static_cast<int64_t>(sbuf.size()) < nq * width) sbuf.resize(static_cast<size_t>(nq * width));
      float* s = sbuf.data();
      // S (nq, width) = scale * Q_blk (nq, D) @ K[lo:lo+width]^T
      block_gemm(d.precision, false, true, nq, width, d.D, d.scale, at(q, b, i0, h), q.st, at(k, b, lo, hk), k.st, 0.0f, s,
                 width);
      float* lse_row = lse + (b * d.Hq + h) * d.Tq + i0;
      for (int64_t r = 0; r < nq; ++r)
        lse_row[r] = softmax_row(s + r * width, key_first(d, b, i0 + r) - lo, key_limit(d, i0 + r) - lo, width);
      // O_blk (nq, D) = P (nq, width) @ V[lo:lo+width]
      block_gemm(d.precision, false, false, nq, d.D, width, 1.0f, s, width, at(v, b, lo, hk), v.st, 0.0f, at(o, b, i0, h),
                 o.st);
    }
  });
}

void attention_backward(HeadsView dq, HeadsView dk, HeadsView dv, ConstHeadsView d_o, ConstHeadsView q,
                        ConstHeadsView k, ConstHeadsView v, ConstHeadsView o, const float* lse,
                        const AttentionDims& d) {
  const int64_t blocks = (d.Tq + kBlockQ - 1) / kBlockQ;
  const int64_t group = d.Hq / d.Hkv;
  parallel_for(d.B * d.Hkv, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t hk = task % d.Hkv, b = task / d.Hkv;
      for (int64_t j = 0; j < d.Tk; ++j) {
        std::memset(at(dk, b, j, hk), 0, static_cast<size_t>(d.D) * sizeof(float));
        std::memset(at(dv, b, j, hk), 0, static_cast<size_t>(d.D) * sizeof(float));
      }
      for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
        const float* lse_row = lse + (b * d.Hq + h) * d.Tq;
        for (int64_t blk = 0; blk < blocks; ++blk) {
          const int64_t i0 = blk * kBlockQ, nq = std::min(kBlockQ, d.Tq - i0);
          const int64_t lo = key_first(d, b, i0), width = key_limit(d, i0 + nq - 1) - lo;
          std::vector<float>& sbuf = scratch(0);
          std::vector<float>& pbuf = scratch(1);
          if (static_cast<int64_t>(sbuf.size()) < nq * width) sbuf.resize(static_cast<size_t>(nq * width));
          if (static_cast<int64_t>(pbuf.size()) < nq * width) pbuf.resize(static_cast<size_t>(nq * width));
          float* s = sbuf.data();
          float* dp = pbuf.data();
          const float* qb = at(q, b, i0, h);
          const float* dob = at(d_o, b, i0, h);
          // S = scale * Q_blk K^T, dP = dO_blk V^T  (nq, width)
          block_gemm(d.precision, false, true, nq, width, d.D, d.scale, qb, q.st, at(k, b, lo, hk), k.st, 0.0f, s, width);
          block_gemm(d.precision, false, true, nq, width, d.D, 1.0f, dob, d_o.st, at(v, b, lo, hk), v.st, 0.0f, dp, width);
          for (int64_t r = 0; r < nq; ++r) {
            // di = rowsum(dO * O) = rowsum(P * dP)
            float di = dot_row(dob + r * d_o.st, at(o, b, i0 + r, h), d.D);
            grad_row(s + r * width, dp + r * width, key_first(d, b, i0 + r) - lo, key_limit(d, i0 + r) - lo, width,
                     lse_row[i0 + r], di);
          }
          // dV += P^T dO_blk, dK += scale dS^T Q_blk  (width, D); dQ_blk = scale dS K  (nq, D)
          block_gemm(d.precision, true, false, width, d.D, nq, 1.0f, s, width, dob, d_o.st, 1.0f, at(dv, b, lo, hk), dv.st);
          block_gemm(d.precision, true, false, width, d.D, nq, d.scale, dp, width, qb, q.st, 1.0f, at(dk, b, lo, hk), dk.st);
          block_gemm(d.precision, false, false, nq, d.D, width, d.scale, dp, width, at(k, b, lo, hk), k.st, 0.0f,
                     at(dq, b, i0, h), dq.st);
        }
      }
    }
  });
}

}  // namespace tg
