// The GRPO exports' shared arguments (see grpo_args.h).
#include "binding/grpo_args.h"

#include <cmath>
#include <cstdio>

#include "math/grpo.h"

namespace tg::binding {
namespace {

double opt_number(Napi::Object o, const char* key, double fallback, const char* op) {
  Napi::Value val = o.Get(key);
  if (val.IsUndefined() || val.IsNull()) return fallback;
  if (!val.IsNumber()) throw_type(op, std::string("options.") + key + " must be a number");
  double d = val.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw_range(op, std::string("options.") + key + " must be finite");
  return d;
}

std::string opt_string(Napi::Object o, const char* key, const char* fallback, const char* op) {
  Napi::Value val = o.Get(key);
  if (val.IsUndefined() || val.IsNull()) return fallback;
  if (!val.IsString()) throw_type(op, std::string("options.") + key + " must be a string");
  return val.As<Napi::String>().Utf8Value();
}

Napi::Float32Array f32_array_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  if (static_cast<int>(info.Length()) <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_type(op, std::string(name) + " must be a Float32Array");
  return info[i].As<Napi::Float32Array>();
}

}  // namespace

std::string nv_str(int64_t n, int64_t v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "(%lld, %lld)", static_cast<long long>(n), static_cast<long long>(v));
  return buf;
}

void check_logits_view(const char* op, const char* name, int64_t n, int64_t v, int64_t offset, int64_t ld,
                       int64_t numel) {
  if (ld < v) throw_range(op, std::string(name) + ": row stride " + std::to_string(ld) + " < V = " + std::to_string(v));
  if (offset < 0) throw_range(op, std::string(name) + ": negative offset");
  int64_t extent = n == 0 ? 0 : (n - 1) * ld + v;
  if (offset + extent > numel)
    throw_range(op, std::string(name) + " " + nv_str(n, v) + " with row stride " + std::to_string(ld) + " at offset " +
                        std::to_string(offset) + " exceeds its buffer of " + std::to_string(numel) + " elements");
}

void check_inplace_view(const char* op, bool same_buffer, int64_t d_offset, int64_t d_ld, int64_t offset, int64_t ld) {
  if (same_buffer && (d_offset != offset || d_ld != ld))
    throw_range(op, "in-place dlogits must use the logits' own offset and row stride (" + std::to_string(offset) + ", " +
                        std::to_string(ld) + "), got (" + std::to_string(d_offset) + ", " + std::to_string(d_ld) + ")");
}

float temperature_arg(const Napi::CallbackInfo& info, int i, const char* op) {
  double t = number_arg(info, i, op, "temperature");
  if (!(t > 0.0) || !std::isfinite(t) || !std::isfinite(1.0f / static_cast<float>(t)))
    throw_range(op, "temperature must be a finite number > 0, got " + std::to_string(t));
  return static_cast<float>(t);
}

GrpoLossConfig grpo_loss_options(const Napi::CallbackInfo& info, int i, const char* op) {
  if (static_cast<int>(info.Length()) <= i || !info[i].IsObject()) throw_type(op, "options must be an object");
  Napi::Object o = info[i].As<Napi::Object>();
  GrpoLossConfig cfg;
  std::string type = opt_string(o, "lossType", "grpo", op);
  if (type == "grpo") cfg.loss_type = math::kLossGrpo;
  else if (type == "bnpo") cfg.loss_type = math::kLossBnpo;
  else if (type == "dr_grpo") cfg.loss_type = math::kLossDrGrpo;
  else if (type == "dapo") cfg.loss_type = math::kLossDapo;
  else throw_range(op, "options.lossType must be 'grpo', 'bnpo', 'dr_grpo' or 'dapo', got '" + type + "'");
  std::string is = opt_string(o, "importanceSampling", "token", op);
  if (is != "token" && is != "sequence")
    throw_range(op, "options.importanceSampling must be 'token' or 'sequence', got '" + is + "'");
  cfg.sequence_is = is == "sequence";
  cfg.eps_low = static_cast<float>(opt_number(o, "epsLow", 0.2, op));
  cfg.eps_high = static_cast<float>(opt_number(o, "epsHigh", cfg.eps_low, op));
  cfg.beta = static_cast<float>(opt_number(o, "beta", 0.0, op));
  cfg.normalizer = opt_number(o, "normalizer", 0.0, op);
  double ml = opt_number(o, "maxCompletionLength", 0.0, op);
  if (ml != std::floor(ml) || ml < 0) throw_range(op, "options.maxCompletionLength must be a non-negative integer");
  cfg.max_len = static_cast<int64_t>(ml);
  if (cfg.eps_low < 0 || cfg.eps_low >= 1) throw_range(op, "options.epsLow must be in [0, 1), got " + std::to_string(cfg.eps_low));
  if (cfg.eps_high < 0) throw_range(op, "options.epsHigh must be >= 0, got " + std::to_string(cfg.eps_high));
  if (cfg.beta < 0) throw_range(op, "options.beta must be >= 0, got " + std::to_string(cfg.beta));
  if (cfg.normalizer < 0) throw_range(op, "options.normalizer must be >= 0");
  return cfg;
}

GroupAdvantageArgs group_advantage_args(const Napi::CallbackInfo& info, const char* op) {
  Napi::Float32Array rew = f32_array_arg(info, 0, op, "rewards");
  Napi::Float32Array w = f32_array_arg(info, 1, op, "weights");
  int64_t n = int_arg(info, 2, op, "n");
  int64_t r = int_arg(info, 3, op, "r");
  int64_t g = int_arg(info, 4, op, "group");
  std::string scale = string_arg(info, 5, op, "scaleRewards");
  if (n < 0 || r < 1 || r > 4096) throw_range(op, "invalid (N, R) = " + nv_str(n, r));
  if (g < 1) throw_range(op, "group size G must be >= 1, got " + std::to_string(g));
  if (n % g != 0)
    throw_range(op, "group size G = " + std::to_string(g) + " does not divide the batch of " + std::to_string(n) +
                        " completions");
  if (static_cast<int64_t>(rew.ElementLength()) != n * r)
    throw_range(op, "rewards has " + std::to_string(rew.ElementLength()) + " elements, expected (N, R) = " +
                        nv_str(n, r));
  if (static_cast<int64_t>(w.ElementLength()) != r)
    throw_range(op, "weights has " + std::to_string(w.ElementLength()) + " elements, expected R = " + std::to_string(r));
  int mode = scale == "group" ? math::kScaleGroup : scale == "batch" ? math::kScaleBatch : scale == "none" ? math::kScaleNone : -1;
  if (mode < 0) throw_range(op, "scaleRewards must be 'group', 'batch' or 'none', got '" + scale + "'");
  const float* wp = w.Data();
  const float* rp = rew.Data();
  for (int64_t j = 0; j < r; ++j)
    if (!std::isfinite(wp[j])) throw_range(op, "weights[" + std::to_string(j) + "] is not finite");
  for (int64_t k = 0; k < n * r; ++k)
    if (std::isinf(rp[k])) throw_range(op, "rewards[" + std::to_string(k) + "] is infinite (use NaN for not scored)");
  return {rp, wp, n, r, g, mode};
}

}  // namespace tg::binding
