// Per-token GRPO math shared by the CPU loops (native/ops/grpo.cc) and the CUDA kernels (cuda/grpo.cu):
// the online log-sum-exp/entropy merge, the clipped surrogate, the k3 KL and their derivatives.
#pragma once
#include "math/fast_exp.h"
#include "math/softmax.h"  // lse_shift

namespace tg::math {

// ---- selective log-softmax pieces ---------------------------------------------------------------------
// A row is summarized by (m, s, t): m the running max of z = x/T, s = sum exp(z - m),
// t = sum exp(z - m) * (z - m). Then lse = m + log s and the entropy H = -sum p log p = log s - t/s.

// exp(z - m) * (z - m), with 0 where exp underflows (so z = -inf gives 0, not 0 * -inf = NaN).
TG_HD float entropy_term(float e, float zm) { return e == 0.0f ? 0.0f : e * zm; }

// Moves a partial sum (s, t) from max m_old to max m_new >= m_old.
// NOTE: sum e^{z-m'}(z-m') = e^{m-m'} (t + (m-m') s); m_old = -inf (empty) gives s = t = 0.
TG_HD void lse_rescale(float& s, float& t, float m_old, float m_new) {
  float d = m_old - m_new;
  float f = m_old == -__builtin_inff() ? 0.0f : fast_exp(d);
  float tt = s == 0.0f ? 0.0f : t + d * s;
  s *= f;
  t = tt * f;
}

// Merges partial (m2, s2, t2) into (m, s, t): the reduction step of the warp/block/lane trees.
TG_HD void lse_merge(float& m, float& s, float& t, float m2, float s2, float t2) {
  float mn = m > m2 ? m : m2;
  if (mn == -__builtin_inff()) return;  // both empty
  lse_rescale(s, t, m, mn);
  lse_rescale(s2, t2, m2, mn);
  m = mn;
  s += s2;
  t += t2;
}

TG_HD float lse_finish(float m, float s) { return m + fast_log(s); }
TG_HD float entropy_finish(float s, float t) { return fast_log(s) - t / s; }

// d lp / d z_v = 1[v = id] - p_v; d H / d z_v = -p_v (z_v - lse + H). With upstream g (for lp) and gh
// (for H), dx_v = [g 1[v = id] - p_v (g + gh (z_v - lse + H))] / T. This is the part without the one-hot.
TG_HD float selective_grad(float z, float lse, float g, float gh, float h, float inv_t) {
  float p = fast_exp(z - lse);
  return -p * (g + gh * (z - lse + h)) * inv_t;
}
TG_HD float selective_grad_noent(float z, float lse, float g_over_t) { return -fast_exp(z - lse) * g_over_t; }

// ---- policy loss ----------------------------------------------------------------------------------------
constexpr float kLogRatioClamp = 20.0f;

TG_HD float clamp_log_ratio(float x) {
  return x < -kLogRatioClamp ? -kLogRatioClamp : (x > kLogRatioClamp ? kLogRatioClamp : x);
}
// d clamp/dx: 1 inside, 0 where clamped (as torch.clamp).
TG_HD float clamp_log_ratio_grad(float x) { return (x >= -kLogRatioClamp && x <= kLogRatioClamp) ? 1.0f : 0.0f; }

TG_HD float clip_ratio(float r, float eps_low, float eps_high) {
  float lo = 1.0f - eps_low, hi = 1.0f + eps_high;
  return r < lo ? lo : (r > hi ? hi : r);
}

// l = -min(r A, clip(r, 1-eps_low, 1+eps_high) A)
TG_HD float clipped_surrogate(float r, float a, float eps_low, float eps_high) {
  float u = r * a, c = clip_ratio(r, eps_low, eps_high) * a;
  return -(u < c ? u : c);
}
// d l / d log r: -A r where the unclipped term is the min (the clipped term is constant there), else 0.
TG_HD float clipped_surrogate_grad(float r, float a, float eps_low, float eps_high) {
  float u = r * a, c = clip_ratio(r, eps_low, eps_high) * a;
  return u <= c ? -a * r : 0.0f;
}

// TRL's clip metrics: low = r < 1-eps_low with A < 0, high = r > 1+eps_high with A > 0.
TG_HD bool is_low_clipped(float r, float a, float eps_low) { return r < 1.0f - eps_low && a < 0.0f; }
TG_HD bool is_high_clipped(float r, float a, float eps_high) { return r > 1.0f + eps_high && a > 0.0f; }

// k3 estimator of KL(pi || ref): exp(ref - lp) - (ref - lp) - 1, d/dlp = 1 - exp(ref - lp).
TG_HD float k3_kl(float lp, float ref) {
  float d = ref - lp;
  return fast_exp(d) - d - 1.0f;
}
TG_HD float k3_kl_grad(float lp, float ref) { return 1.0f - fast_exp(ref - lp); }

// Everything one token contributes, given its (already clamped or sequence-level) log ratio.
struct GrpoToken {
  float loss;      // surrogate + beta * kl
  float dsurr;     // d surrogate / d log-ratio (before the clamp's own derivative)
  float ratio;
  float kl;
  float dkl;       // d kl / d lp
  float low, high; // clip indicators as 0/1
};

TG_HD GrpoToken grpo_token(float log_ratio, float lp, float ref, float adv, float eps_low, float eps_high, float beta) {
  GrpoToken o;
  float r = fast_exp(clamp_log_ratio(log_ratio));
  o.ratio = r;
  o.dsurr = clipped_surrogate_grad(r, adv, eps_low, eps_high) * clamp_log_ratio_grad(log_ratio);
  o.loss = clipped_surrogate(r, adv, eps_low, eps_high);
  // Selects, not a branch, so CPU loops over tokens vectorize; with beta = 0 the KL terms are exactly 0
  // (ref may then be anything: its exp is selected away, never multiplied in).
  const float kl = k3_kl(lp, ref), dkl = k3_kl_grad(lp, ref);
  o.kl = beta != 0.0f ? kl : 0.0f;
  o.dkl = beta != 0.0f ? dkl : 0.0f;
  o.loss += beta * o.kl;
  o.low = is_low_clipped(r, adv, eps_low) ? 1.0f : 0.0f;
  o.high = is_high_clipped(r, adv, eps_high) ? 1.0f : 0.0f;
  return o;
}

// Loss types and the per-sequence weight c_i / global divisor D: loss = sum_i c_i sum_t m l / D.
enum GrpoLossType : int { kLossGrpo = 0, kLossBnpo = 1, kLossDrGrpo = 2, kLossDapo = 3 };

TG_HD float grpo_seq_weight(int loss_type, float seq_tokens) {
  return loss_type == kLossGrpo ? 1.0f / (seq_tokens > 1.0f ? seq_tokens : 1.0f) : 1.0f;
}
// num_seqs B, total masked tokens, max completion length L, normalizer (dapo's active-token count; <= 0 = total).
TG_HD float grpo_divisor(int loss_type, float num_seqs, float total_tokens, float max_len, float normalizer) {
  float clamped = total_tokens > 1.0f ? total_tokens : 1.0f;
  switch (loss_type) {
    case kLossGrpo: return num_seqs > 1.0f ? num_seqs : 1.0f;
    case kLossBnpo: return clamped;
    case kLossDrGrpo: return num_seqs * max_len > 1.0f ? num_seqs * max_len : 1.0f;
    default: return normalizer > 0.0f ? normalizer : clamped;
  }
}

// Group advantages: A = (r - mean) / (std + eps) with the group's (scale 0) or the batch's (1) unbiased std,
// or unscaled (2). A group whose std is ~0 (torch.isclose(std, 0)) is counted in frac_reward_zero_std.
constexpr float kAdvantageEps = 1e-4f;
constexpr double kZeroStdTolerance = 1e-8;
enum AdvantageScale : int { kScaleGroup = 0, kScaleBatch = 1, kScaleNone = 2 };

TG_HD double group_advantage(double total, double group_mean, double group_std, double batch_std, int scale) {
  const double centered = total - group_mean;
  if (scale == kScaleNone) return centered;
  return centered / ((scale == kScaleGroup ? group_std : batch_std) + static_cast<double>(kAdvantageEps));
}
TG_HD bool is_zero_std(double std) { return std <= kZeroStdTolerance; }

}  // namespace tg::math
