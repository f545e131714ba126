// CPU GRPO kernels: rows go to the pool, and each row pass is one call into the vector kernel set
// (kernels/loops/grpo.h); the sequence loop, its sums in double and the group advantages stay here.
#include "ops/grpo.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/vector_kernels.h"
#include "math/grpo.h"

namespace tg {
namespace {

int64_t row_grain(int64_t v) { return v >= 32768 ? 1 : 32768 / (v > 0 ? v : 1); }

}  // namespace

int64_t tg_selective_log_softmax_forward(float* lp, float* lse, float* entropy, const float* logits, int64_t ld,
                                         const int32_t* ids, int64_t n, int64_t v, float temperature) {
  const float inv_t = 1.0f / temperature;
  // Each chunk records its first non-finite row; the minimum over chunks is the answer.
  std::atomic<int64_t> first_bad{n};
  const VectorKernels& k = vector_kernels();
  parallel_for(n, row_grain(v), [&](int64_t b, int64_t e) {
    int64_t bad = n;
    for (int64_t r0 = b; r0 < e; r0 += kGrpoFinishRows) {
      const int64_t count = e - r0 < kGrpoFinishRows ? e - r0 : kGrpoFinishRows;
      float m[kGrpoFinishRows], s[kGrpoFinishRows], t[kGrpoFinishRows], chosen[kGrpoFinishRows];
      for (int64_t i = 0; i < count; ++i) {
        const float* x = logits + (r0 + i) * ld;
        k.grpo_row_stats(x, v, inv_t, entropy != nullptr, &m[i], &s[i], &t[i]);
        chosen[i] = x[ids[r0 + i]];
      }
      int64_t first =
          k.grpo_finish_rows(lp + r0, lse + r0, entropy ? entropy + r0 : nullptr, m, s, t, chosen, count, inv_t);
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
  const VectorKernels& k = vector_kernels();
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
        if (inplace) k.grpo_row_grad_inplace(out, v, inv_t, lse[r], g * inv_t);
        else k.grpo_row_grad(out, x, v, inv_t, lse[r], g * inv_t);
      } else {
        if (inplace) k.grpo_row_grad_ent_inplace(out, v, inv_t, lse[r], g, gh, entropy[r]);
        else k.grpo_row_grad_ent(out, x, v, inv_t, lse[r], g, gh, entropy[r]);
      }
      out[ids[r]] += g * inv_t;
    }
  });
}

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
  const auto loss_sequence = vector_kernels().grpo_loss_sequence;
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
    float sums[kGrpoLossSums];
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
