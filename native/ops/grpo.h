// Fused GRPO kernels on the CPU: selective log-softmax (forward/backward straight from logits), the
// per-token clipped policy loss with its masked aggregation and metrics, and group-normalized advantages.
#pragma once
#include <cstdint>

namespace tg {

// lp[n] = z[n, id[n]] - lse[n], lse[n] = logsumexp_v z[n, v], z = logits / T, entropy[n] = -sum p log p.
// logits (N, V) with row stride ld >= V; ids (N) in [0, V); lp, lse (N); entropy (N) or nullptr.
// Returns the first row whose lse, lp or entropy is not finite (NaN/Inf logits), or -1.
int64_t tg_selective_log_softmax_forward(float* lp, float* lse, float* entropy, const float* logits, int64_t ld,
                                         const int32_t* ids, int64_t n, int64_t v, float temperature);

// dlogits[n, v] = [glp[n] (1[v = id] - p_v) - gent[n] p_v (z_v - lse + H)] / T, p = softmax(z).
// dlogits (N, V) with row stride ld_out; it may be the logits buffer itself (in place, same ld).
// gent and entropy are nullptr together (no entropy term).
void tg_selective_log_softmax_backward(float* dlogits, int64_t ld_out, const float* logits, int64_t ld,
                                       const int32_t* ids, const float* lse, const float* glp, const float* gent,
                                       const float* entropy, int64_t n, int64_t v, float temperature);

struct GrpoLossConfig {
  int loss_type = 0;        // math::GrpoLossType: 0 grpo, 1 bnpo, 2 dr_grpo, 3 dapo
  bool sequence_is = false; // GSPO: ratio_i = exp(sum_t m logratio / sum_t m)
  float eps_low = 0.2f, eps_high = 0.2f, beta = 0.0f;
  double normalizer = 0.0;  // dapo: active tokens in the whole generation batch (<= 0: this batch's)
  int64_t max_len = 0;      // dr_grpo: max completion length (<= 0: L)
};

// Masked means over active tokens, as TRL reports them.
struct GrpoLossMetrics {
  double loss = 0, clip_low = 0, clip_high = 0, clip_region = 0, kl = 0, entropy = 0, ratio = 0;
  double tokens = 0;  // sum of the mask
  double divisor = 0; // D in loss = sum_i c_i sum_t m l / D
};

// Sequences B of length L (row-major (B, L)): lp, mask (B, L); old_lp (B, L) or nullptr (= lp, ratio 1);
// ref_lp (B, L) or nullptr (needs beta == 0); adv (B, L) when adv_per_token else (B); entropy (B, L) or
// nullptr (metric only). dlp (B, L) or nullptr receives d loss / d lp.
GrpoLossMetrics tg_grpo_loss_forward(float* dlp, const float* lp, const float* old_lp, const float* ref_lp,
                                     const float* adv, bool adv_per_token, const float* mask, const float* entropy,
                                     int64_t b, int64_t l, const GrpoLossConfig& cfg);

struct GroupAdvantageStats {
  double frac_zero_std = 0;  // fraction of completions whose group's rewards have (unbiased) std ~ 0
  double reward_mean = 0, reward_std = 0;
  int64_t zero_std_groups = 0;
};

// rewards (N, R) per completion and reward function (NaN = not scored, skipped like torch.nansum);
// weights (R). total (N) = sum_r w_r rewards[:, r]; adv (N) = (total - group mean) / (std + 1e-4) with the
// std of the group (scale 0), of the whole batch (1), or no scaling (2). N must be a multiple of group.
GroupAdvantageStats tg_group_advantages(float* adv, float* total, const float* rewards, const float* weights,
                                        int64_t n, int64_t r, int64_t group, int scale_mode);

}  // namespace tg
