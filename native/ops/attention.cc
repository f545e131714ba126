// Attention CPU kernels, blocked over 64 query rows so scratch stays O(64 * Tk) per thread: the block's
// scores come from one GEMM, the row softmax is vectorized, and P v is a second GEMM. The forward runs
// (b, query head, block) tasks in parallel; the backward runs (b, kv head) tasks so each thread owns its
// dk/dv rows and accumulates them over that kv head's query heads without atomics. Decoding (at most
// kDecodeRows queries) takes a streaming path instead: dot products and a weighted row sum per (b, head).

#include "ops/attention.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/prefetch.h"
#include "core/thread_pool.h"
#include "kernels/vector_kernels.h"
#include "math/attention.h"
#include "math/bf16.h"
#include "math/softmax.h"
#include "ops/gemm.h"
#include "ops/kv_cache.h"

namespace tg {
namespace {

using namespace tg::math;

constexpr int64_t kBlockQ = 64;

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

inline const float* at(const ConstHeadsView& v, int64_t b, int64_t t, int64_t h) {
  return v.data + b * v.sb + t * v.st + h * v.sh;
}
inline float* at(const HeadsView& v, int64_t b, int64_t t, int64_t h) { return v.data + b * v.sb + t * v.st + h * v.sh; }

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
  const VectorKernels& kn = vector_kernels();
  const auto score_rows = [&] {
    if constexpr (std::is_same_v<T, float>) return kn.score_rows;
    else return kn.score_rows_bf16;
  }();
  const auto weighted_rows = [&] {
    if constexpr (std::is_same_v<T, float>) return kn.weighted_rows;
    else return kn.weighted_rows_bf16;
  }();
  // The first K rows of a task, which the in-loop prefetch (running ahead of itself) never covers.
  const int head_rows = static_cast<int>(std::min<int64_t>(d.Tk, prefetch_ahead_rows<T>(d.D)));
  const auto prefetch_head = [&](int64_t task) {
    const int64_t b = task / d.Hq, hk = (task % d.Hq) / group;
    prefetch_rows(k.at(b, key_first(d, b, 0), hk), head_rows, k.st, d.D);
  };
  parallel_for(d.B * d.Hq, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float>& sbuf = scratch(0);
    if (static_cast<int64_t>(sbuf.size()) < d.Tk) sbuf.resize(static_cast<size_t>(d.Tk));
    float* s = sbuf.data();
    prefetch_head(t0);
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t h = task % d.Hq, b = task / d.Hq, hk = h / group;
      const T* kb = k.at(b, 0, hk);
      const T* vb = v.at(b, 0, hk);
      for (int64_t r = 0; r < d.Tq; ++r) {
        const int64_t first = key_first(d, b, r), n = key_limit(d, r) - first;
        // The V rows stream in along the K pass (score_rows); the next task's first K rows along this one's
        // softmax and V pass, so no task starts on a cold stream.
        score_rows(s, at(q, b, r, h), kb + first * k.st, k.st, n, d.D, d.scale, vb + first * v.st, v.st);
        if (r == d.Tq - 1 && task + 1 < t1) prefetch_head(task + 1);
        if (bias.data != nullptr) {
          const float* row = bias.data + b * bias.sb + r * bias.sq + first * bias.sk;
          for (int64_t j = 0; j < n; ++j) s[j] += row[j * bias.sk];
        }
        const float row_lse = kn.attention_softmax_row(s, 0, n, n);
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
  const auto softmax_row = vector_kernels().attention_softmax_row;
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
  const VectorKernels& kn = vector_kernels();
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
            float di = kn.dot(dob + r * d_o.st, at(o, b, i0 + r, h), d.D);
            kn.attention_grad_row(s + r * width, dp + r * width, key_first(d, b, i0 + r) - lo,
                                  key_limit(d, i0 + r) - lo, width, lse_row[i0 + r], di);
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
