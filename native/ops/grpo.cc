// CPU GRPO kernels. Row passes are branch-free loops over contiguous floats with 16 explicit lanes (so GCC
// vectorizes the float reductions without -ffast-math), cloned for AVX-512 at run time; rows go to the pool.
#include "ops/grpo.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/simd.h"
#include "core/thread_pool.h"
#include "math/grpo.h"

namespace tg {
namespace {

constexpr int kLanes = 16;
// Explicit vectors are 8 floats (one AVX2 register, half an AVX-512 one): a 16-float vector type compiles to
// AVX-512 in the x86-64-v4 clone, but in the AVX2 one GCC lowers its compares and selects lane by lane
// through the stack, which made the AVX2 forward 4x slower than the AVX-512 one on the same Zen 5 core.
typedef float Vec8 __attribute__((vector_size(8 * sizeof(float))));
constexpr int64_t kChunk = 2048;  // floats per online-max step: 8 KB, stays in L1 for the second look

// Lanes permuted by constant indices: clang and GCC >= 12 spell it __builtin_shufflevector, older GCC
// __builtin_shuffle with an index vector.
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define TG_PERMUTE(a, ...) __builtin_shufflevector(a, a, __VA_ARGS__)
#else
typedef int32_t VecI8 __attribute__((vector_size(8 * sizeof(int32_t))));
#define TG_PERMUTE(a, ...) __builtin_shuffle(a, VecI8{__VA_ARGS__})
#endif

// Lane k takes the max with lane k ^ w (w = 8, 4, 2, 1): four steps fold 16 lanes (a tree of vector halves;
// a 16-step scalar chain costs as much as a 64-wide row's exps). A pointer in and a float out keep vectors
// out of the signature, which differs between the AVX-512 and baseline clones.
__attribute__((always_inline)) inline float lanes_max16(const float* p) {
  Vec8 a, b;
  std::memcpy(&a, p, sizeof a);
  std::memcpy(&b, p + 8, sizeof b);
  a = b > a ? b : a;
  b = TG_PERMUTE(a, 4, 5, 6, 7, 0, 1, 2, 3);
  a = b > a ? b : a;
  b = TG_PERMUTE(a, 2, 3, 0, 1, 6, 7, 4, 5);
  a = b > a ? b : a;
  b = TG_PERMUTE(a, 1, 0, 3, 2, 5, 4, 7, 6);
  a = b > a ? b : a;
  return a[0];
}

// Row summary (m, s, t) of z = x * inv_t, see math/grpo.h. The max of each chunk is found first, the
// running sums are rescaled once per chunk when it grows, then exp is summed over the (L1-hot) chunk.
TG_CLONES static void row_stats(const float* x, int64_t v, float inv_t, bool want_t, float* out_m, float* out_s,
                                float* out_t) {
  float s[kLanes] = {}, t[kLanes] = {};
  float run_m = -INFINITY;
  for (int64_t c0 = 0; c0 < v; c0 += kChunk) {
    const float* xc = x + c0;
    int64_t len = v - c0 < kChunk ? v - c0 : kChunk;
    int64_t body = len & ~int64_t(kLanes - 1);
    // NOTE: GCC 12 does not vectorize a 16-lane max carried across iterations; vector types do it.
    Vec8 mx0 = Vec8{} - INFINITY, mx1 = mx0;
    for (int64_t i = 0; i < body; i += kLanes) {
      Vec8 a0, a1;
      std::memcpy(&a0, xc + i, sizeof a0);
      std::memcpy(&a1, xc + i + 8, sizeof a1);
      mx0 = a0 > mx0 ? a0 : mx0;
      mx1 = a1 > mx1 ? a1 : mx1;
    }
    float lane_max[kLanes];
    std::memcpy(lane_max, &mx0, sizeof mx0);
    std::memcpy(lane_max + 8, &mx1, sizeof mx1);
    float cm = lanes_max16(lane_max);
    for (int64_t i = body; i < len; ++i) cm = xc[i] > cm ? xc[i] : cm;
    cm *= inv_t;  // max(x) * inv_t == max(x * inv_t) for inv_t > 0
    if (cm > run_m) {
      // The first chunk (run_m = -inf) has nothing to rescale: skip 16 exps per row (matters for small V).
      if (run_m != -INFINITY)
        for (int k = 0; k < kLanes; ++k) math::lse_rescale(s[k], t[k], run_m, cm);
      run_m = cm;
    }
    const float m = math::lse_shift(run_m);
    // The exp pass is compute-bound and touches only the L1-hot chunk; prefetching the next chunk (one 64-byte
    // line per 16 floats) during it overlaps that chunk's memory read, which otherwise stalls its max pass:
    // the AVX2 forward at 4096 x 32000 went from 57 to 50 ms (1 thread). Past the row's end it is the next row's.
    if (want_t) {
      for (int64_t i = 0; i < body; i += kLanes) {
        __builtin_prefetch(xc + kChunk + i);
        for (int k = 0; k < kLanes; ++k) {
          float zm = xc[i + k] * inv_t - m;
          float e = math::fast_exp(zm);
          s[k] += e;
          t[k] += math::entropy_term(e, zm);
        }
      }
      for (int64_t i = body; i < len; ++i) {
        float zm = xc[i] * inv_t - m;
        float e = math::fast_exp(zm);
        s[0] += e;
        t[0] += math::entropy_term(e, zm);
      }
    } else {
      for (int64_t i = 0; i < body; i += kLanes) {
        __builtin_prefetch(xc + kChunk + i);
        for (int k = 0; k < kLanes; ++k) s[k] += math::fast_exp(xc[i + k] * inv_t - m);
      }
      for (int64_t i = body; i < len; ++i) s[0] += math::fast_exp(xc[i] * inv_t - m);
    }
  }
  // NOTE: summed lane by lane, not as a tree: the order fixes the low bits of every log-prob, and training
  // runs (the demo's table) are chaotic in them.
  float ss = 0.0f, tt = 0.0f;
  for (int k = 0; k < kLanes; ++k) {
    ss += s[k];
    tt += t[k];
  }
  // NaN anywhere in the row leaves it in s (the max ignores NaN, exp keeps it); +Inf gives inf - inf.
  *out_m = run_m;
  *out_s = ss;
  *out_t = tt;
}

// out[v] = -exp(z_v - lse) * g_over_t (the one-hot term is added by the caller).
TG_CLONES static void row_grad(float* __restrict out, const float* __restrict x, int64_t v, float inv_t, float lse,
                               float g_over_t) {
  for (int64_t i = 0; i < v; ++i) out[i] = math::selective_grad_noent(x[i] * inv_t, lse, g_over_t);
}
TG_CLONES static void row_grad_inplace(float* x, int64_t v, float inv_t, float lse, float g_over_t) {
  for (int64_t i = 0; i < v; ++i) x[i] = math::selective_grad_noent(x[i] * inv_t, lse, g_over_t);
}
TG_CLONES static void row_grad_ent(float* __restrict out, const float* __restrict x, int64_t v, float inv_t, float lse,
                                   float g, float gh, float h) {
  for (int64_t i = 0; i < v; ++i) out[i] = math::selective_grad(x[i] * inv_t, lse, g, gh, h, inv_t);
}
TG_CLONES static void row_grad_ent_inplace(float* x, int64_t v, float inv_t, float lse, float g, float gh, float h) {
  for (int64_t i = 0; i < v; ++i) x[i] = math::selective_grad(x[i] * inv_t, lse, g, gh, h, inv_t);
}

int64_t row_grain(int64_t v) { return v >= 32768 ? 1 : 32768 / (v > 0 ? v : 1); }

constexpr int64_t kFinishRows = 64;  // rows whose statistics are finished together

int32_t finite_bits(float x) { return (math::float_to_bits(x) & 0x7f800000u) != 0x7f800000u; }

// lse, lp (and entropy) of `count` rows from their (m, s, t) and chosen logits, in one vectorized loop over
// rows (a scalar log per row costs as much as a 64-wide row's exps); returns the first non-finite row or -1.
TG_CLONES static int64_t finish_rows(float* __restrict lp, float* __restrict lse, float* __restrict entropy,
                                     const float* m, const float* s, const float* t, const float* chosen,
                                     int64_t count, float inv_t) {
  int32_t ok[kFinishRows];  // 4-byte flags beside 4-byte floats: GCC vectorizes mixed bool/float loops poorly
  for (int64_t i = 0; i < count; ++i) {
    float l = math::lse_finish(m[i], s[i]);
    float p = chosen[i] * inv_t - l;
    lse[i] = l;
    lp[i] = p;
    ok[i] = finite_bits(l) & finite_bits(p);
  }
  if (entropy)
    for (int64_t i = 0; i < count; ++i) {
      float h = math::entropy_finish(s[i], t[i]);
      entropy[i] = h;
      ok[i] = ok[i] & finite_bits(h);
    }
  for (int64_t i = 0; i < count; ++i)
    if (!ok[i]) return i;
  return -1;
}

}  // namespace

int64_t tg_selective_log_softmax_forward(float* lp, float* lse, float* entropy, const float* logits, int64_t ld,
                                         const int32_t* ids, int64_t n, int64_t v, float temperature) {
  const float inv_t = 1.0f / temperature;
  // Each chunk records its first non-finite row; the minimum over chunks is the answer.
  std::atomic<int64_t> first_bad{n};
  parallel_for(n, row_grain(v), [&](int64_t b, int64_t e) {
    int64_t bad = n;
    for (int64_t r0 = b; r0 < e; r0 += kFinishRows) {
      const int64_t count = e - r0 < kFinishRows ? e - r0 : kFinishRows;
      float m[kFinishRows], s[kFinishRows], t[kFinishRows], chosen[kFinishRows];
      for (int64_t i = 0; i < count; ++i) {
        const float* x = logits + (r0 + i) * ld;
        row_stats(x, v, inv_t, entropy != nullptr, &m[i], &s[i], &t[i]);
        chosen[i] = x[ids[r0 + i]];
      }
      int64_t first = finish_rows(lp + r0, lse + r0, entropy ? entropy + r0 : nullptr, m, s, t, chosen, count, inv_t);
      if (first >= 0 && bad == n) bad = r0 + first;
    }
    int64_t cur = first_bad.load();
    while (bad < cur && !first_bad.compare_exchange_weak(cur, bad)) {
    }
  });
  int64_t fb = first_bad.load();
  return fb < n ? fb : -1;
}

void tg_selective_log_softmax_backward(float* dlogits, int64_t ld_out, const float* logits, int64_t ld,
                                       const int32_t* ids, const float* lse, const float* glp, const float* gent,
                                       const float* entropy, int64_t n, int64_t v, float temperature) {
  const float inv_t = 1.0f / temperature;
  const bool inplace = static_cast<const void*>(dlogits) == static_cast<const void*>(logits);
  parallel_for(n, row_grain(v), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      float* out = dlogits + r * ld_out;
      const float* x = logits + r * ld;
      float g = glp[r];
      float gh = gent ? gent[r] : 0.0f;
      if (g == 0.0f && gh == 0.0f) {  // padding tokens: nothing flows back
        std::memset(out, 0, static_cast<size_t>(v) * sizeof(float));
        continue;
      }
      if (gh == 0.0f) {
        if (inplace) row_grad_inplace(out, v, inv_t, lse[r], g * inv_t);
        else row_grad(out, x, v, inv_t, lse[r], g * inv_t);
      } else {
        if (inplace) row_grad_ent_inplace(out, v, inv_t, lse[r], g, gh, entropy[r]);
        else row_grad_ent(out, x, v, inv_t, lse[r], g, gh, entropy[r]);
      }
      out[ids[r]] += g * inv_t;
    }
  });
}

namespace {

// One sequence's masked sums: [0] m*loss, [1] m*low, [2] m*high, [3] m*kl, [4] m*ratio, [5] w*dsurr (GSPO's
// d loss / d s_i). Float partials per sequence, as the CUDA kernel keeps them; sequences add up in double.
constexpr int kLossSums = 6;

// 16 tokens: one vector lane each. Every pointer holds 16 floats (the caller substitutes lp for a missing
// oldLp or refLp, a broadcast row for per-sequence advantages, scratch for a missing dlp), so the loop has
// no branches and vectorizes; the formulas are math::grpo_token's.
__attribute__((always_inline)) inline void loss_block(float (&acc)[kLossSums][kLanes], float* __restrict dlp,
                                                      const float* p, const float* o, const float* ref,
                                                      const float* adv, const float* m, bool sequence_is,
                                                      float seq_log_ratio, float c, float eps_low, float eps_high,
                                                      float beta) {
  // NOTE: GCC 12 does not vectorize a select on an invariant bool; on a float comparison it does.
  const float sequence_level = sequence_is ? 1.0f : 0.0f;
  for (int k = 0; k < kLanes; ++k) {
    const float token_log_ratio = p[k] - o[k];
    const float log_ratio = sequence_level > 0.0f ? seq_log_ratio : token_log_ratio;
    const math::GrpoToken tok = math::grpo_token(log_ratio, p[k], ref[k], adv[k], eps_low, eps_high, beta);
    const float w = c * m[k];
    acc[0][k] += m[k] * tok.loss;
    acc[1][k] += m[k] * tok.low;
    acc[2][k] += m[k] * tok.high;
    acc[3][k] += m[k] * tok.kl;
    acc[4][k] += m[k] * tok.ratio;
    acc[5][k] += w * tok.dsurr;
    dlp[k] = sequence_level > 0.0f ? w * beta * tok.dkl : w * (tok.dsurr + beta * tok.dkl);
  }
}

// One sequence of l tokens; the last l % 16 go through zero-masked, zero-valued padding (finite: ratio 1).
TG_CLONES static void loss_sequence(float* dlp, float* sums, const float* p, const float* o, const float* ref,
                                    const float* adv, const float* m, int64_t l, bool sequence_is,
                                    float seq_log_ratio, float c, float eps_low, float eps_high, float beta) {
  float acc[kLossSums][kLanes] = {};
  const int64_t body = l & ~int64_t(kLanes - 1);
  for (int64_t t = 0; t < body; t += kLanes)
    loss_block(acc, dlp + t, p + t, o + t, ref + t, adv + t, m + t, sequence_is, seq_log_ratio, c, eps_low,
               eps_high, beta);
  if (body < l) {
    const int64_t rest = l - body;
    float pad[6][kLanes] = {};  // p, o, ref, adv, m, dlp
    for (int64_t k = 0; k < rest; ++k) {
      pad[0][k] = p[body + k];
      pad[1][k] = o[body + k];
      pad[2][k] = ref[body + k];
      pad[3][k] = adv[body + k];
      pad[4][k] = m[body + k];
    }
    loss_block(acc, pad[5], pad[0], pad[1], pad[2], pad[3], pad[4], sequence_is, seq_log_ratio, c, eps_low, eps_high,
               beta);
    for (int64_t k = 0; k < rest; ++k) dlp[body + k] = pad[5][k];
  }
  for (int j = 0; j < kLossSums; ++j) {
    float total = 0.0f;
    for (int k = 0; k < kLanes; ++k) total += acc[j][k];
    sums[j] = total;
  }
}

}  // namespace

GrpoLossMetrics tg_grpo_loss_forward(float* dlp, const float* lp, const float* old_lp, const float* ref_lp,
                                     const float* adv, bool adv_per_token, const float* mask, const float* entropy,
                                     int64_t b, int64_t l, const GrpoLossConfig& cfg) {
  GrpoLossMetrics out;
  const float beta = ref_lp ? cfg.beta : 0.0f;
  // Pass 1: tokens in total.
  double total = 0;
  for (int64_t i = 0; i < b * l; ++i) total += mask[i];
  const int64_t max_len = cfg.max_len > 0 ? cfg.max_len : l;
  const double divisor = math::grpo_divisor(cfg.loss_type, static_cast<float>(b), static_cast<float>(total),
                                            static_cast<float>(max_len), static_cast<float>(cfg.normalizer));
  out.tokens = total;
  out.divisor = divisor;
  std::vector<float> adv_row(adv_per_token ? 0 : l), dlp_scratch(dlp ? 0 : l);
  double loss = 0, low = 0, high = 0, kl = 0, ent = 0, ratio = 0;
  for (int64_t s = 0; s < b; ++s) {
    const float* m = mask + s * l;
    const float* p = lp + s * l;
    const float* o = old_lp ? old_lp + s * l : p;  // no old log-probs: ratio 1
    float seq_tokens = 0, seq_lr = 0;
    for (int64_t t = 0; t < l; ++t) {
      seq_tokens += m[t];
      seq_lr += m[t] * (p[t] - o[t]);
    }
    const float inv_tokens = 1.0f / (seq_tokens > 1.0f ? seq_tokens : 1.0f);
    // w_t = c_i m_t / D: each token's weight in the loss.
    const float c = math::grpo_seq_weight(cfg.loss_type, seq_tokens) / static_cast<float>(divisor);
    const float* a = adv + s * l;
    if (!adv_per_token) {
      std::fill(adv_row.begin(), adv_row.end(), adv[s]);
      a = adv_row.data();
    }
    float* d = dlp ? dlp + s * l : dlp_scratch.data();
    float sums[kLossSums];
    loss_sequence(d, sums, p, o, ref_lp ? ref_lp + s * l : p, a, m, l, cfg.sequence_is, seq_lr * inv_tokens, c,
                  cfg.eps_low, cfg.eps_high, beta);
    if (dlp && cfg.sequence_is)
      for (int64_t t = 0; t < l; ++t) d[t] += m[t] * inv_tokens * sums[5];
    loss += static_cast<double>(sums[0]) * math::grpo_seq_weight(cfg.loss_type, seq_tokens);
    low += sums[1];
    high += sums[2];
    kl += sums[3];
    ratio += sums[4];
    if (entropy)
      for (int64_t t = 0; t < l; ++t) ent += m[t] * entropy[s * l + t];
  }
  const double inv = total > 0 ? 1.0 / total : 0.0;
  out.loss = loss / divisor;
  out.clip_low = low * inv;
  out.clip_high = high * inv;
  out.clip_region = (low + high) * inv;
  out.kl = kl * inv;
  out.entropy = ent * inv;
  out.ratio = ratio * inv;
  return out;
}

GroupAdvantageStats tg_group_advantages(float* adv, float* total, const float* rewards, const float* weights,
                                        int64_t n, int64_t r, int64_t group, int scale_mode) {
  GroupAdvantageStats st;
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < r; ++j) {
      float x = rewards[i * r + j];
      if (!std::isnan(x)) sum += static_cast<double>(weights[j]) * x;
    }
    total[i] = static_cast<float>(sum);
  }
  // Batch statistics (unbiased std, as torch.std).
  double bm = 0;
  for (int64_t i = 0; i < n; ++i) bm += total[i];
  bm = n > 0 ? bm / n : 0.0;
  double bv = 0;
  for (int64_t i = 0; i < n; ++i) bv += (total[i] - bm) * (total[i] - bm);
  double bstd = n > 1 ? std::sqrt(bv / (n - 1)) : 0.0;
  st.reward_mean = bm;
  st.reward_std = bstd;
  int64_t zero_groups = 0;
  for (int64_t g0 = 0; g0 < n; g0 += group) {
    double mean = 0;
    for (int64_t i = g0; i < g0 + group; ++i) mean += total[i];
    mean /= static_cast<double>(group);
    double var = 0;
    for (int64_t i = g0; i < g0 + group; ++i) var += (total[i] - mean) * (total[i] - mean);
    // NOTE: a group of one has no spread: std 0 (torch.std would give NaN).
    double std_g = group > 1 ? std::sqrt(var / static_cast<double>(group - 1)) : 0.0;
    if (math::is_zero_std(std_g)) ++zero_groups;
    for (int64_t i = g0; i < g0 + group; ++i)
      adv[i] = static_cast<float>(math::group_advantage(total[i], mean, std_g, bstd, scale_mode));
  }
  st.zero_std_groups = zero_groups;
  st.frac_zero_std = n > 0 ? static_cast<double>(zero_groups * group) / static_cast<double>(n) : 0.0;
  return st;
}

}  // namespace tg
