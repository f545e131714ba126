// GRPO rows: the selective log-softmax's row summary, gradient and finish, and the loss of one sequence, as
// branch-free loops over contiguous floats with 16 explicit lanes (GCC vectorizes the float reductions without
// -ffast-math). A loops/ fragment (kernels/instantiate.h).

constexpr int kGrpoLanes = 16;
constexpr int64_t kGrpoChunk = 2048;  // floats per online-max step: 8 KB, stays in L1 for the second look

// Row summary (m, s, t) of z = x * inv_t, see math/grpo.h. The max of each chunk is found first, the
// running sums are rescaled once per chunk when it grows, then exp is summed over the (L1-hot) chunk.
void grpo_row_stats(const float* x, int64_t v, float inv_t, bool want_t, float* out_m, float* out_s,
                    float* out_t) {
  float s[kGrpoLanes] = {}, t[kGrpoLanes] = {};
  float run_m = -INFINITY;
  for (int64_t c0 = 0; c0 < v; c0 += kGrpoChunk) {
    const float* xc = x + c0;
    int64_t len = v - c0 < kGrpoChunk ? v - c0 : kGrpoChunk;
    int64_t body = len & ~int64_t(kGrpoLanes - 1);
    float cm = lanes_max(xc, len);
    cm *= inv_t;  // max(x) * inv_t == max(x * inv_t) for inv_t > 0
    if (cm > run_m) {
      // The first chunk (run_m = -inf) has nothing to rescale: skip 16 exps per row (matters for small V).
      if (run_m != -INFINITY)
        for (int k = 0; k < kGrpoLanes; ++k) math::lse_rescale(s[k], t[k], run_m, cm);
      run_m = cm;
    }
    const float m = math::lse_shift(run_m);
    // The exp pass is compute-bound and touches only the L1-hot chunk; prefetching the next chunk (one 64-byte
    // line per 16 floats) during it overlaps that chunk's memory read, which otherwise stalls its max pass:
    // the AVX2 forward at 4096 x 32000 went from 57 to 50 ms (1 thread). Past the row's end it is the next row's.
    if (want_t) {
      for (int64_t i = 0; i < body; i += kGrpoLanes) {
        __builtin_prefetch(xc + kGrpoChunk + i);
        for (int k = 0; k < kGrpoLanes; ++k) {
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
      for (int64_t i = 0; i < body; i += kGrpoLanes) {
        __builtin_prefetch(xc + kGrpoChunk + i);
        for (int k = 0; k < kGrpoLanes; ++k) s[k] += math::fast_exp(xc[i + k] * inv_t - m);
      }
      for (int64_t i = body; i < len; ++i) s[0] += math::fast_exp(xc[i] * inv_t - m);
    }
  }
  // NOTE: summed lane by lane, not as a tree: the order fixes the low bits of every log-prob, and training
  // runs (the demo's table) are chaotic in them.
  float ss = 0.0f, tt = 0.0f;
  for (int k = 0; k < kGrpoLanes; ++k) {
    ss += s[k];
    tt += t[k];
  }
  // NaN anywhere in the row leaves it in s (the max ignores NaN, exp keeps it); +Inf gives inf - inf.
  *out_m = run_m;
  *out_s = ss;
  *out_t = tt;
}

// out[v] = -exp(z_v - lse) * g_over_t (the one-hot term is added by the caller).
void grpo_row_grad(float* __restrict out, const float* __restrict x, int64_t v, float inv_t, float lse,
                   float g_over_t) {
  for (int64_t i = 0; i < v; ++i) out[i] = math::selective_grad_noent(x[i] * inv_t, lse, g_over_t);
}
void grpo_row_grad_inplace(float* x, int64_t v, float inv_t, float lse, float g_over_t) {
  for (int64_t i = 0; i < v; ++i) x[i] = math::selective_grad_noent(x[i] * inv_t, lse, g_over_t);
}
void grpo_row_grad_ent(float* __restrict out, const float* __restrict x, int64_t v, float inv_t, float lse,
                       float g, float gh, float h) {
  for (int64_t i = 0; i < v; ++i) out[i] = math::selective_grad(x[i] * inv_t, lse, g, gh, h, inv_t);
}
void grpo_row_grad_ent_inplace(float* x, int64_t v, float inv_t, float lse, float g, float gh, float h) {
  for (int64_t i = 0; i < v; ++i) x[i] = math::selective_grad(x[i] * inv_t, lse, g, gh, h, inv_t);
}

__attribute__((always_inline)) inline int32_t finite_bits(float x) {
  return (math::float_to_bits(x) & 0x7f800000u) != 0x7f800000u;
}

// lse, lp (and entropy) of `count` rows from their (m, s, t) and chosen logits, in one vectorized loop over
// rows (a scalar log per row costs as much as a 64-wide row's exps); returns the first non-finite row or -1.
int64_t grpo_finish_rows(float* __restrict lp, float* __restrict lse, float* __restrict entropy,
                         const float* m, const float* s, const float* t, const float* chosen,
                         int64_t count, float inv_t) {
  int32_t ok[kGrpoFinishRows];  // 4-byte flags beside 4-byte floats: GCC vectorizes bool/float loops poorly
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

// 16 tokens: one vector lane each. Every pointer holds 16 floats (the caller substitutes lp for a missing
// oldLp or refLp, a broadcast row for per-sequence advantages, scratch for a missing dlp), so the loop has
// no branches and vectorizes; the formulas are math::grpo_token's.
__attribute__((always_inline)) inline void loss_block(float (&acc)[kGrpoLossSums][kGrpoLanes], float* __restrict dlp,
              const float* p, const float* o, const float* ref,
                                                      const float* adv, const float* m, bool sequence_is,
                                                      float seq_log_ratio, float c, float eps_low, float eps_high,
                                                      float beta) {
  // NOTE: GCC 12 does not vectorize a select on an invariant bool; on a float comparison it does.
  const float sequence_level = sequence_is ? 1.0f : 0.0f;
  for (int k = 0; k < kGrpoLanes; ++k) {
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
void grpo_loss_sequence(float* dlp, float* sums, const float* p, const float* o, const float* ref,
                        const float* adv, const float* m, int64_t l, bool sequence_is,
                        float seq_log_ratio, float c, float eps_low, float eps_high, float beta) {
  float acc[kGrpoLossSums][kGrpoLanes] = {};
  const int64_t body = l & ~int64_t(kGrpoLanes - 1);
  for (int64_t t = 0; t < body; t += kGrpoLanes)
    loss_block(acc, dlp + t, p + t, o + t, ref + t, adv + t, m + t, sequence_is, seq_log_ratio, c, eps_low,
               eps_high, beta);
  if (body < l) {
    const int64_t rest = l - body;
    float pad[6][kGrpoLanes] = {};  // p, o, ref, adv, m, dlp
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
  for (int j = 0; j < kGrpoLossSums; ++j) {
    float total = 0.0f;
    for (int k = 0; k < kGrpoLanes; ++k) total += acc[j][k];
    sums[j] = total;
  }
}

