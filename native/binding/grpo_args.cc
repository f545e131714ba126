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

}  // namespace

std::string nv_str(int64_t n, int64_t v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "(%lld, %lld)", static_cast<long long>(n), static_cast<long long>(v));
  return buf;
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

}  // namespace tg::binding
