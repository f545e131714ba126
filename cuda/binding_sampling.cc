// The sampling export of the CUDA addon: the CPU binding's arguments, checks and messages
// (native/binding/sampling_args.h), then one launch; nothing is read back (a bad row's id is -1).
#include <climits>
#include <string>

#include "binding/sampling_args.h"
#include "binding_families.h"
#include "buffers.h"
#include "sampling.cuh"

namespace tg::cuda_binding {
namespace {

using namespace tg::binding;

using TensorArg = TensorSpan<DevBuffer>;

Napi::Value sample_rows_fn(const Napi::CallbackInfo& info) {
  const char* op = "cuda.sampleRows";
  TensorArg ids = tensor_arg(info, 0, op, "ids", kI32);
  TensorArg logprobs = tensor_arg(info, 2, op, "logprobs", kF32);
  TensorArg policy = tensor_arg(info, 4, op, "policyLogprobs", kF32);
  TensorArg logits = tensor_arg(info, 6, op, "logits", kF32);
  const SampleRowsScalars s = sample_rows_scalars(info, op);
  // One block per row.
  if (s.rows > INT_MAX) throw_range(op, "at most 2^31 - 1 rows on cuda, got " + std::to_string(s.rows));
  TensorArg uniforms{};
  const bool none = sample_rows_without_uniforms(info, op, s.params.greedy);
  if (!none) uniforms = tensor_arg(info, 11, op, "uniforms", kF32);
  check_sample_rows_tensors(op, ids, logprobs, policy, logits, none ? nullptr : &uniforms, s);
  need_device();
  check(tg::cuda::launch_sample_rows(ids.at<int32_t>(), logprobs.at<float>(), policy.at<float>(), logits.at<float>(),
                                     s.rows, s.V, s.row_stride, none ? nullptr : uniforms.at<float>(), s.params, 0));
  return info.Env().Undefined();
}

}  // namespace

void register_sampling(Napi::Env env, Napi::Object exports) {
  define(env, exports, "sampleRows", sample_rows_fn, kSampleRowsArgs, "cuda.");
}

}  // namespace tg::cuda_binding
