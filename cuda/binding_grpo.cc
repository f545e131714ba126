// The GRPO family of the CUDA addon: selective log-softmax forward/backward, the loss and group advantages on
// device buffers (same contracts and checks as the CPU addon's native/binding/grpo.cc), and the kernel timer
// bench/gpu.sh reads.
#include <algorithm>
#include <climits>
#include <cmath>
#include <string>
#include <vector>

#include "binding/grpo_args.h"
#include "binding_families.h"
#include "buffers.h"
#include "grpo.cuh"

namespace tg::cuda_binding {
namespace {

using namespace tg::binding;

struct LogitsView {
  DevBuffer* buf;
  void* ptr;
  bool bf16;
};
LogitsView logits_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int64_t n, int64_t v,
                      int64_t offset, int64_t ld) {
  DevBuffer& b = buffer_arg(info, i, op, name);
  if (b.dtype == kI32) throw_type(op, std::string(name) + " must be float32 or bfloat16, got int32");
  check_logits_view(op, name, n, v, offset, ld, b.numel());
  return {&b, static_cast<uint8_t*>(b.data) + offset * dtype_size(b.dtype), b.dtype == kBF16};
}
void check_nv(const char* op, int64_t n, int64_t v) {
  if (n < 0 || n > INT_MAX - 1) throw_range(op, "N must be in [0, 2^31 - 1), got " + std::to_string(n));
  if (v < 1 || v > (int64_t(1) << 31)) throw_range(op, "V must be in [1, 2^31], got " + std::to_string(v));
}

// selectiveLogSoftmax(logits, offset, rowStride, ids, n, v, temperature, lp, lse, entropy | null)
// Same contract as the CPU addon; ids out of [0, V) and non-finite rows are found on the device and reported.
Napi::Value selective_forward(const Napi::CallbackInfo& info) {
  const char* op = "cuda.selectiveLogSoftmax";
  int64_t offset = int_arg(info, 1, op, "offset");
  int64_t ld = int_arg(info, 2, op, "rowStride");
  int64_t n = int_arg(info, 4, op, "n");
  int64_t v = int_arg(info, 5, op, "v");
  check_nv(op, n, v);
  LogitsView x = logits_arg(info, 0, op, "logits", n, v, offset, ld);
  const int32_t* ids = static_cast<const int32_t*>(typed_buffer(info, 3, op, "ids", kI32, n).data);
  float t = temperature_arg(info, 6, op);
  float* lp = f32(info, 7, op, "lp", n);
  float* lse = f32(info, 8, op, "lse", n);
  float* ent = opt_f32(info, 9, op, "entropy", n);
  if (lp == lse || (ent && (ent == lp || ent == lse))) throw_range(op, "lp, lse and entropy must be different buffers");
  DeviceState& d = need_device();
  const int init[2] = {INT_MAX, INT_MAX};
  check(cudaMemcpyAsync(d.status, init, sizeof init, cudaMemcpyHostToDevice, 0), "cudaMemcpyAsync");
  check(tg::cuda::launch_selective_forward(lp, lse, ent, x.ptr, x.bf16, ld, ids, n, v, t, d.status, 0));
  int status[2];
  check(cudaMemcpy(status, d.status, sizeof status, cudaMemcpyDeviceToHost), "cudaMemcpy (status)");
  if (status[1] != INT_MAX) {
    int32_t bad = 0;
    cudaMemcpy(&bad, ids + status[1], sizeof bad, cudaMemcpyDeviceToHost);
    throw_range(op, "ids[" + std::to_string(status[1]) + "] = " + std::to_string(bad) + " is out of range [0, " +
                        std::to_string(v) + ") for logits " + nv_str(n, v));
  }
  if (status[0] != INT_MAX)
    throw_range(op, "logits " + nv_str(n, v) + " row " + std::to_string(status[0]) +
                        " holds NaN or Inf (non-finite log-sum-exp or log-prob); check the model's outputs");
  return info.Env().Undefined();
}

// selectiveLogSoftmaxBackward(dlogits, dOffset, dRowStride, logits, offset, rowStride, ids, lse, glp,
//                             gentropy | null, entropy | null, n, v, temperature)
Napi::Value selective_backward(const Napi::CallbackInfo& info) {
  const char* op = "cuda.selectiveLogSoftmaxBackward";
  int64_t doff = int_arg(info, 1, op, "dOffset");
  int64_t dld = int_arg(info, 2, op, "dRowStride");
  int64_t offset = int_arg(info, 4, op, "offset");
  int64_t ld = int_arg(info, 5, op, "rowStride");
  int64_t n = int_arg(info, 11, op, "n");
  int64_t v = int_arg(info, 12, op, "v");
  check_nv(op, n, v);
  LogitsView d = logits_arg(info, 0, op, "dlogits", n, v, doff, dld);
  LogitsView x = logits_arg(info, 3, op, "logits", n, v, offset, ld);
  if (d.bf16 != x.bf16) throw_type(op, std::string("dlogits must have the logits' dtype (") + (x.bf16 ? "bfloat16" : "float32") + ")");
  check_inplace_view(op, d.buf == x.buf, doff, dld, offset, ld);
  const int32_t* ids = static_cast<const int32_t*>(typed_buffer(info, 6, op, "ids", kI32, n).data);
  const float* lse = f32(info, 7, op, "lse", n);
  const float* glp = f32(info, 8, op, "glp", n);
  const float* gent = opt_f32(info, 9, op, "gentropy", n);
  const float* ent = opt_f32(info, 10, op, "entropy", n);
  float t = temperature_arg(info, 13, op);
  if ((gent == nullptr) != (ent == nullptr)) throw_type(op, "gentropy and entropy must be given together (both buffers or both null)");
  need_device();
  // NOTE: ids are only compared with column indices here (never used to address memory), so an id out of
  // range cannot fault; the forward that produced lse has already rejected such ids.
  check(tg::cuda::launch_selective_backward(d.ptr, dld, x.ptr, ld, x.bf16, ids, lse, glp, gent, ent, n, v, t, 0));
  return info.Env().Undefined();
}

// grpoLoss(lp, oldLp | null, refLp | null, adv, advPerToken, mask, entropy | null, dlp | null, B, L, options)
Napi::Value grpo_loss(const Napi::CallbackInfo& info) {
  const char* op = "cuda.grpoLoss";
  int64_t b = int_arg(info, 8, op, "B");
  int64_t l = int_arg(info, 9, op, "L");
  if (b < 0 || l < 0 || b > INT_MAX || (l > 0 && b > (int64_t(1) << 40) / l)) throw_range(op, "invalid shape (B, L) = " + nv_str(b, l));
  const int64_t n = b * l;
  const tg::GrpoLossConfig cfg = grpo_loss_options(info, 10, op);
  tg::cuda::LossArgs a{};
  a.loss_type = cfg.loss_type;
  a.sequence_is = cfg.sequence_is;
  a.eps_low = cfg.eps_low;
  a.eps_high = cfg.eps_high;
  a.beta = cfg.beta;
  a.normalizer = static_cast<float>(cfg.normalizer);
  a.max_len = cfg.max_len;
  a.b = b;
  a.l = l;
  a.lp = f32(info, 0, op, "lp", n);
  a.old_lp = opt_f32(info, 1, op, "oldLp", n);
  a.ref_lp = opt_f32(info, 2, op, "refLp", n);
  if (a.beta > 0 && !a.ref_lp) throw_type(op, "beta > 0 needs refLp (reference log-probs (B, L) = " + nv_str(b, l) + ")");
  a.adv_per_token = bool_arg(info, 4, op, "advPerToken");
  a.adv = f32(info, 3, op, "advantages", a.adv_per_token ? n : b);
  a.mask = f32(info, 5, op, "mask", n);
  a.entropy = opt_f32(info, 6, op, "entropy", n);
  a.dlp = opt_f32(info, 7, op, "dlp", n);
  if (a.dlp && (a.dlp == a.lp || a.dlp == a.old_lp || a.dlp == a.ref_lp || a.dlp == a.adv || a.dlp == a.mask || a.dlp == a.entropy))
    throw_range(op, "dlp must not be one of the inputs");
  DeviceState& d = need_device();
  check(tg::cuda::launch_grpo_loss(d.result, scratch(d, tg::cuda::loss_scratch_bytes(b)), a, 0));
  double r[9];
  check(cudaMemcpy(r, d.result, sizeof r, cudaMemcpyDeviceToHost), "cudaMemcpy (result)");
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  const char* names[9] = {"loss", "clipLow", "clipHigh", "clipRegion", "kl", "entropy", "ratio", "tokens", "divisor"};
  for (int k = 0; k < 9; ++k) out.Set(names[k], r[k]);
  if (!std::isfinite(r[0])) throw_range(op, "the loss is not finite for (B, L) = " + nv_str(b, l) + " (NaN/Inf in the inputs?)");
  return out;
}

// groupAdvantages(rewards Float32Array (N, R), weights Float32Array (R), n, r, group, scaleRewards, advantages,
//                 totals | null) -> { fracZeroStd, zeroStdGroups, mean, std }. The host inputs are checked as the
// CPU addon checks them and uploaded; advantages (N) and totals (N) are written on the device, ready for grpoLoss.
Napi::Value group_advantages(const Napi::CallbackInfo& info) {
  const char* op = "cuda.groupAdvantages";
  const GroupAdvantageArgs g = group_advantage_args(info, op);
  float* adv = f32(info, 6, op, "advantages", g.n);
  float* total = opt_f32(info, 7, op, "totals", g.n);
  if (total == adv) throw_range(op, "advantages and totals must be different buffers");
  DeviceState& d = need_device();
  const size_t reward_bytes = static_cast<size_t>(g.n * g.r) * sizeof(float), weight_bytes = static_cast<size_t>(g.r) * sizeof(float);
  float* inputs = static_cast<float*>(scratch(d, reward_bytes + weight_bytes + (total ? 0 : static_cast<size_t>(g.n) * sizeof(float))));
  float* weights = inputs + g.n * g.r;
  if (!total) total = weights + g.r;
  if (reward_bytes) check(cudaMemcpy(inputs, g.rewards, reward_bytes, cudaMemcpyHostToDevice), "cudaMemcpy (rewards)");
  check(cudaMemcpy(weights, g.weights, weight_bytes, cudaMemcpyHostToDevice), "cudaMemcpy (weights)");
  check(tg::cuda::launch_group_advantages(adv, total, d.result, inputs, weights, g.n, g.r, g.group, g.scale, 0));
  double stats[3];
  check(cudaMemcpy(stats, d.result, sizeof stats, cudaMemcpyDeviceToHost), "cudaMemcpy (stats)");
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("fracZeroStd", g.n > 0 ? stats[2] * static_cast<double>(g.group) / static_cast<double>(g.n) : 0.0);
  o.Set("zeroStdGroups", stats[2]);
  o.Set("mean", stats[0]);
  o.Set("std", stats[1]);
  return o;
}

// benchSelective(logits, ids, lp, lse, glp, dlogits, n, v, temperature, reps) -> { fwdMs, bwdMs, fwdBwdMs }:
// medians over `reps` runs timed with CUDA events after 3 warm-up runs. dlogits may be the logits (in place,
// then the logits are overwritten: time on a copy).
Napi::Value bench_selective(const Napi::CallbackInfo& info) {
  const char* op = "cuda.benchSelective";
  int64_t n = int_arg(info, 6, op, "n");
  int64_t v = int_arg(info, 7, op, "v");
  check_nv(op, n, v);
  LogitsView x = logits_arg(info, 0, op, "logits", n, v, 0, v);
  const int32_t* ids = static_cast<const int32_t*>(typed_buffer(info, 1, op, "ids", kI32, n).data);
  float* lp = f32(info, 2, op, "lp", n);
  float* lse = f32(info, 3, op, "lse", n);
  float* glp = f32(info, 4, op, "glp", n);
  LogitsView d = logits_arg(info, 5, op, "dlogits", n, v, 0, v);
  float t = temperature_arg(info, 8, op);
  int64_t reps = int_arg(info, 9, op, "reps");
  if (reps < 1 || reps > 100000) throw_range(op, "reps must be in [1, 100000]");
  if (d.bf16 != x.bf16) throw_type(op, "dlogits must have the logits' dtype");
  DeviceState& dv = need_device();
  cudaEvent_t e0, e1, e2;
  check(cudaEventCreate(&e0), "cudaEventCreate");
  check(cudaEventCreate(&e1), "cudaEventCreate");
  check(cudaEventCreate(&e2), "cudaEventCreate");
  std::vector<float> fwd, bwd, both;
  std::string err;
  for (int64_t r = 0; r < reps + 3 && err.empty(); ++r) {
    cudaEventRecord(e0, 0);
    err = tg::cuda::launch_selective_forward(lp, lse, nullptr, x.ptr, x.bf16, v, ids, n, v, t, dv.status, 0);
    cudaEventRecord(e1, 0);
    if (err.empty()) err = tg::cuda::launch_selective_backward(d.ptr, v, x.ptr, v, x.bf16, ids, lse, glp, nullptr, nullptr, n, v, t, 0);
    cudaEventRecord(e2, 0);
    if (err.empty()) err = tg::cuda::cuda_error_string(cudaEventSynchronize(e2), "cudaEventSynchronize");
    float a = 0, b = 0;
    cudaEventElapsedTime(&a, e0, e1);
    cudaEventElapsedTime(&b, e1, e2);
    if (r >= 3) {
      fwd.push_back(a);
      bwd.push_back(b);
      both.push_back(a + b);
    }
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cudaEventDestroy(e2);
  check(err);
  auto median = [](std::vector<float>& xs) {
    std::sort(xs.begin(), xs.end());
    return static_cast<double>(xs[xs.size() / 2]);
  };
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("fwdMs", median(fwd));
  o.Set("bwdMs", median(bwd));
  o.Set("fwdBwdMs", median(both));
  return o;
}

}  // namespace

void register_grpo(Napi::Env env, Napi::Object exports) {
  const struct { const char* name; Handler fn; int max_args; } functions[] = {
      {"selectiveLogSoftmax", selective_forward, 10},
      {"selectiveLogSoftmaxBackward", selective_backward, 14},
      {"grpoLoss", grpo_loss, 11},
      {"groupAdvantages", group_advantages, 8},
      {"benchSelective", bench_selective, 10},
  };
  for (const auto& f : functions) define(env, exports, f.name, f.fn, f.max_args, "cuda.");
}

}  // namespace tg::cuda_binding
