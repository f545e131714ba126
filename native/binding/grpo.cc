// GRPO exports: selectiveLogSoftmax / selectiveLogSoftmaxBackward over (N, V) logits, grpoLoss (loss,
// metrics and d loss / d lp) and groupAdvantages. Every id, dtype, length, index and option is checked here.
#include <cmath>
#include <vector>

#include "binding/common.h"
#include "binding/grpo_args.h"
#include "ops/grpo.h"

namespace tg::binding {
namespace {

// An optional float32 buffer (null/undefined = absent) holding at least `count` elements.
float* opt_f32(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int64_t count) {
  if (absent(info, i)) return nullptr;
  Buffer& b = buffer_arg(info, i, op, name, DType::Float32);
  check_range(op, name, b, 0, count);
  return typed<float>(b, 0);
}

float* req_f32(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int64_t count) {
  Buffer& b = buffer_arg(info, i, op, name, DType::Float32);
  check_range(op, name, b, 0, count);
  return typed<float>(b, 0);
}

void check_nv(const char* op, int64_t n, int64_t v) {
  if (n < 0) throw_range(op, "N must be >= 0, got " + std::to_string(n));
  if (v < 1 || v > (int64_t(1) << 31)) throw_range(op, "V must be in [1, 2^31], got " + std::to_string(v));
}

// ids (N) int32, every one in [0, V).
const int32_t* ids_arg(const Napi::CallbackInfo& info, int i, const char* op, int64_t n, int64_t v) {
  Buffer& b = buffer_arg(info, i, op, "ids", DType::Int32);
  check_range(op, "ids", b, 0, n);
  const int32_t* ids = typed<int32_t>(b, 0);
  for (int64_t k = 0; k < n; ++k)
    if (ids[k] < 0 || ids[k] >= v)
      throw_range(op, "ids[" + std::to_string(k) + "] = " + std::to_string(ids[k]) + " is out of range [0, " +
                          std::to_string(v) + ") for logits " + nv_str(n, v));
  return ids;
}

// The logits view: buffer, element offset, row stride >= V; returns the first element.
float* logits_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int64_t n, int64_t v,
                  int64_t offset, int64_t ld, Buffer** out) {
  Buffer& b = buffer_arg(info, i, op, name, DType::Float32);
  check_logits_view(op, name, n, v, offset, ld, b.numel());
  if (out) *out = &b;
  return typed<float>(b, offset);
}

void check_distinct(const char* op, const void* a, const char* an, const void* b, const char* bn) {
  if (a && b && a == b) throw_range(op, std::string(an) + " and " + bn + " must be different buffers");
}

// selectiveLogSoftmax(logits, offset, rowStride, ids, n, v, temperature, lp, lse, entropy | null)
Napi::Value selective_forward(const Napi::CallbackInfo& info) {
  const char* op = "selectiveLogSoftmax";
  int64_t offset = int_arg(info, 1, op, "offset");
  int64_t ld = int_arg(info, 2, op, "rowStride");
  int64_t n = int_arg(info, 4, op, "n");
  int64_t v = int_arg(info, 5, op, "v");
  check_nv(op, n, v);
  Buffer* lb = nullptr;
  const float* logits = logits_arg(info, 0, op, "logits", n, v, offset, ld, &lb);
  const int32_t* ids = ids_arg(info, 3, op, n, v);
  float temperature = temperature_arg(info, 6, op);
  float* lp = req_f32(info, 7, op, "lp", n);
  float* lse = req_f32(info, 8, op, "lse", n);
  float* ent = opt_f32(info, 9, op, "entropy", n);
  check_distinct(op, lp, "lp", lse, "lse");
  check_distinct(op, lp, "lp", ent, "entropy");
  check_distinct(op, lse, "lse", ent, "entropy");
  for (const void* p : {static_cast<const void*>(lp), static_cast<const void*>(lse), static_cast<const void*>(ent)})
    check_distinct(op, p, "an output", lb->data, "logits");
  int64_t bad = tg_selective_log_softmax_forward(lp, lse, ent, logits, ld, ids, n, v, temperature);
  if (bad >= 0)
    throw_range(op, "logits " + nv_str(n, v) + " row " + std::to_string(bad) +
                        " holds NaN or Inf (log-sum-exp = " + std::to_string(lse[bad]) + ", log-prob = " +
                        std::to_string(lp[bad]) + "); check the model's outputs");
  return info.Env().Undefined();
}

// selectiveLogSoftmaxBackward(dlogits, dOffset, dRowStride, logits, offset, rowStride, ids, lse, glp,
//                             gentropy | null, entropy | null, n, v, temperature)
// dlogits may be the logits buffer itself with the same offset and row stride (in place).
Napi::Value selective_backward(const Napi::CallbackInfo& info) {
  const char* op = "selectiveLogSoftmaxBackward";
  int64_t doff = int_arg(info, 1, op, "dOffset");
  int64_t dld = int_arg(info, 2, op, "dRowStride");
  int64_t offset = int_arg(info, 4, op, "offset");
  int64_t ld = int_arg(info, 5, op, "rowStride");
  int64_t n = int_arg(info, 11, op, "n");
  int64_t v = int_arg(info, 12, op, "v");
  check_nv(op, n, v);
  Buffer* db = nullptr;
  Buffer* lb = nullptr;
  float* dlogits = logits_arg(info, 0, op, "dlogits", n, v, doff, dld, &db);
  const float* logits = logits_arg(info, 3, op, "logits", n, v, offset, ld, &lb);
  const int32_t* ids = ids_arg(info, 6, op, n, v);
  const float* lse = req_f32(info, 7, op, "lse", n);
  const float* glp = req_f32(info, 8, op, "glp", n);
  const float* gent = opt_f32(info, 9, op, "gentropy", n);
  const float* ent = opt_f32(info, 10, op, "entropy", n);
  float temperature = temperature_arg(info, 13, op);
  if ((gent == nullptr) != (ent == nullptr))
    throw_type(op, "gentropy and entropy must be given together (both buffers or both null)");
  check_inplace_view(op, db->data == lb->data, doff, dld, offset, ld);
  for (const void* p : {static_cast<const void*>(lse), static_cast<const void*>(glp), static_cast<const void*>(gent),
                        static_cast<const void*>(ent)})
    check_distinct(op, p, "an input", db->data, "dlogits");
  tg_selective_log_softmax_backward(dlogits, dld, logits, ld, ids, lse, glp, gent, ent, n, v, temperature);
  return info.Env().Undefined();
}

// grpoLoss(lp, oldLp | null, refLp | null, adv, advPerToken, mask, entropy | null, dlp | null, B, L, options)
// options: { lossType: 'grpo'|'bnpo'|'dr_grpo'|'dapo', importanceSampling: 'token'|'sequence', epsLow,
//            epsHigh, beta, normalizer (dapo), maxCompletionLength (dr_grpo) } -> metrics object.
Napi::Value grpo_loss(const Napi::CallbackInfo& info) {
  const char* op = "grpoLoss";
  int64_t b = int_arg(info, 8, op, "B");
  int64_t l = int_arg(info, 9, op, "L");
  if (b < 0 || l < 0 || (l > 0 && b > (int64_t(1) << 40) / l))
    throw_range(op, "invalid shape (B, L) = " + nv_str(b, l));
  const int64_t n = b * l;
  const std::string shape = "(B, L) = " + nv_str(b, l);
  GrpoLossConfig cfg = grpo_loss_options(info, 10, op);

  const float* lp = req_f32(info, 0, op, "lp", n);
  const float* old_lp = opt_f32(info, 1, op, "oldLp", n);
  const float* ref_lp = opt_f32(info, 2, op, "refLp", n);
  if (cfg.beta > 0 && !ref_lp) throw_type(op, "beta > 0 needs refLp (reference log-probs " + shape + ")");
  bool per_token = bool_arg(info, 4, op, "advPerToken");
  const float* adv = req_f32(info, 3, op, per_token ? "advantages (B, L)" : "advantages (B)", per_token ? n : b);
  const float* mask = req_f32(info, 5, op, "mask", n);
  const float* ent = opt_f32(info, 6, op, "entropy", n);
  float* dlp = opt_f32(info, 7, op, "dlp", n);
  for (const void* p : {static_cast<const void*>(lp), static_cast<const void*>(old_lp), static_cast<const void*>(ref_lp),
                        static_cast<const void*>(adv), static_cast<const void*>(mask), static_cast<const void*>(ent)})
    check_distinct(op, p, "an input", dlp, "dlp");

  GrpoLossMetrics m = tg_grpo_loss_forward(dlp, lp, old_lp, ref_lp, adv, per_token, mask, ent, b, l, cfg);
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  r.Set("loss", m.loss);
  r.Set("clipLow", m.clip_low);
  r.Set("clipHigh", m.clip_high);
  r.Set("clipRegion", m.clip_region);
  r.Set("kl", m.kl);
  r.Set("entropy", m.entropy);
  r.Set("ratio", m.ratio);
  r.Set("tokens", m.tokens);
  r.Set("divisor", m.divisor);
  if (!std::isfinite(m.loss))
    throw_range(op, "the loss is not finite for " + shape + " (NaN/Inf in lp, oldLp, refLp, advantages or mask?)");
  return r;
}

// groupAdvantages(rewards Float32Array (N, R) with NaN = not scored, weights Float32Array (R), n, r, group,
//                 scale 'group'|'batch'|'none', advantages, totals | null) -> { fracZeroStd, zeroStdGroups, mean, std }:
// advantages (N) and, when given, the weighted reward totals (N) written into float32 buffers (the CUDA addon's
// signature, so one Backend method serves both).
Napi::Value group_advantages(const Napi::CallbackInfo& info) {
  const char* op = "groupAdvantages";
  const GroupAdvantageArgs a = group_advantage_args(info, op);
  const int64_t n = a.n;
  float* adv = req_f32(info, 6, op, "advantages", n);
  float* total = opt_f32(info, 7, op, "totals", n);
  check_distinct(op, adv, "advantages", total, "totals");
  std::vector<float> scratch;
  if (!total) {
    scratch.resize(static_cast<size_t>(n));
    total = scratch.data();
  }
  GroupAdvantageStats st = tg_group_advantages(adv, total, a.rewards, a.weights, n, a.r, a.group, a.scale);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("fracZeroStd", st.frac_zero_std);
  o.Set("zeroStdGroups", static_cast<double>(st.zero_std_groups));
  o.Set("mean", st.reward_mean);
  o.Set("std", st.reward_std);
  return o;
}

}  // namespace

void register_grpo(Napi::Env env, Napi::Object exports) {
  define(env, exports, "selectiveLogSoftmax", selective_forward, 10);
  define(env, exports, "selectiveLogSoftmaxBackward", selective_backward, 14);
  define(env, exports, "grpoLoss", grpo_loss, 11);
  define(env, exports, "groupAdvantages", group_advantages, 8);
}

}  // namespace tg::binding
