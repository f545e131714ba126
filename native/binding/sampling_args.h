// sampleRows' arguments, read and checked the same way (same messages) by the CPU binding
// (native/binding/sampling.cc) and the CUDA binding (cuda/binding_sampling.cc), over either addon's buffers.
//
// sampleRows(idsId, idsOffset, logprobsId, logprobsOffset, policyLogprobsId, policyLogprobsOffset, logitsId,
//            logitsOffset, rowStride, rows, V, uniformsId, uniformsOffset, temperature, topK, topP, minP, greedy):
// ids int32 (rows), logprobs and policyLogprobs float32 (rows), contiguous; logits float32 (rows, V) with row
// stride >= V; uniforms float32 (rows) in [0, 1), or id 0 (offset 0) when greedy.
#pragma once
#include <cstdint>
#include <string>

#include "binding/grpo_args.h"
#include "binding/tensor_args.h"
#include "ops/sampling.h"

namespace tg::binding {

constexpr int kSampleRowsArgs = 18;

// The dims (arguments 8-10) and the sampling options (13-17): temperature finite >= 0 (0 only with greedy), topK
// an integer >= 0, topP in (0, 1], minP in [0, 1].
struct SampleRowsScalars {
  int64_t row_stride, rows, V;
  SamplingParams params;
};
SampleRowsScalars sample_rows_scalars(const Napi::CallbackInfo& info, const char* op);
// Whether the uniforms argument is id 0 (none; only with greedy).
bool sample_rows_without_uniforms(const Napi::CallbackInfo& info, const char* op, bool greedy);

// Checks every tensor's extent and that no output overlaps another tensor; uniforms may be null (greedy).
template <class Buffer>
void check_sample_rows_tensors(const char* op, TensorSpan<Buffer>& ids, TensorSpan<Buffer>& logprobs,
                               TensorSpan<Buffer>& policy_logprobs, TensorSpan<Buffer>& logits,
                               TensorSpan<Buffer>* uniforms, const SampleRowsScalars& s) {
  contiguous(op, ids, s.rows);
  contiguous(op, logprobs, s.rows);
  contiguous(op, policy_logprobs, s.rows);
  check_logits_view(op, logits.name, s.rows, s.V, logits.offset, s.row_stride, logits.buf->numel());
  logits.begin = logits.offset;
  logits.end = logits.offset + (s.rows - 1) * s.row_stride + s.V;
  if (uniforms) contiguous(op, *uniforms, s.rows);
  no_overlap(op, logprobs, policy_logprobs);
  for (TensorSpan<Buffer>* out : {&logprobs, &policy_logprobs}) {
    no_overlap(op, *out, logits);
    if (uniforms) no_overlap(op, *out, *uniforms);
  }
}

}  // namespace tg::binding
