// The sampling export: one token per logits row on the CPU (ops/sampling.h); arguments in binding/sampling_args.h.
#include "binding/common.h"
#include "binding/registry.h"
#include "binding/sampling_args.h"

namespace tg::binding {
namespace {

using TensorArg = TensorSpan<Buffer>;

Napi::Value sample_rows_fn(const Napi::CallbackInfo& info) {
  const char* op = "sampleRows";
  TensorArg ids = tensor_arg(info, 0, op, "ids", DType::Int32);
  TensorArg logprobs = tensor_arg(info, 2, op, "logprobs", DType::Float32);
  TensorArg policy = tensor_arg(info, 4, op, "policyLogprobs", DType::Float32);
  TensorArg logits = tensor_arg(info, 6, op, "logits", DType::Float32);
  const SampleRowsScalars s = sample_rows_scalars(info, op);
  TensorArg uniforms{};
  const bool none = sample_rows_without_uniforms(info, op, s.params.greedy);
  if (!none) uniforms = tensor_arg(info, 11, op, "uniforms", DType::Float32);
  check_sample_rows_tensors(op, ids, logprobs, policy, logits, none ? nullptr : &uniforms, s);
  sample_rows(typed<int32_t>(*ids.buf, ids.offset), typed<float>(*logprobs.buf, logprobs.offset),
              typed<float>(*policy.buf, policy.offset), typed<float>(*logits.buf, logits.offset), s.rows, s.V,
              s.row_stride, none ? nullptr : typed<float>(*uniforms.buf, uniforms.offset), s.params);
  return info.Env().Undefined();
}

}  // namespace

void register_sampling(Napi::Env env, Napi::Object exports) { define(env, exports, "sampleRows", sample_rows_fn, kSampleRowsArgs); }

}  // namespace tg::binding
