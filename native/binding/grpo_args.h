// Arguments of the fused GRPO exports that the CPU binding (native/binding/grpo.cc) and the CUDA binding
// (cuda/binding.cc) read the same way, with the same messages.
#pragma once
#include <cstdint>
#include <string>

#include "binding/args.h"
#include "ops/grpo.h"

namespace tg::binding {

// "(n, v)": the (N, V) or (B, L) shape in messages.
std::string nv_str(int64_t n, int64_t v);
// An (N, V) logits view at element `offset` with row stride `ld` >= V inside a buffer of `numel` elements.
void check_logits_view(const char* op, const char* name, int64_t n, int64_t v, int64_t offset, int64_t ld,
                       int64_t numel);
// dlogits in the logits' own buffer (in place) must be the same view.
void check_inplace_view(const char* op, bool same_buffer, int64_t d_offset, int64_t d_ld, int64_t offset, int64_t ld);
// A temperature > 0 whose reciprocal is a finite float.
float temperature_arg(const Napi::CallbackInfo& info, int i, const char* op);
// grpoLoss's options object: { lossType: 'grpo'|'bnpo'|'dr_grpo'|'dapo', importanceSampling: 'token'|'sequence',
// epsLow, epsHigh, beta, normalizer (dapo), maxCompletionLength (dr_grpo) }, each checked.
GrpoLossConfig grpo_loss_options(const Napi::CallbackInfo& info, int i, const char* op);

// groupAdvantages' host inputs (arguments 0-5): rewards Float32Array (N, R), NaN = not scored, no infinities;
// weights Float32Array (R), finite; n; r; group size G dividing N; scaleRewards 'group' | 'batch' | 'none'.
struct GroupAdvantageArgs {
  const float* rewards;
  const float* weights;
  int64_t n, r, group;
  int scale;  // math::AdvantageScale
};
GroupAdvantageArgs group_advantage_args(const Napi::CallbackInfo& info, const char* op);

}  // namespace tg::binding
