// sampleRows' shared arguments (see sampling_args.h).
#include "binding/sampling_args.h"

#include <cmath>
#include <cstdint>

namespace tg::binding {

SampleRowsScalars sample_rows_scalars(const Napi::CallbackInfo& info, const char* op) {
  SampleRowsScalars s{};
  s.row_stride = int_arg(info, 8, op, "rowStride");
  s.rows = positive_dim(info, 9, op, "rows");
  s.V = positive_dim(info, 10, op, "V");
  if (s.V > INT32_MAX) throw_range(op, "V = " + std::to_string(s.V) + " exceeds the int32 ids' range");
  SamplingParams& p = s.params;
  p.temperature = number_arg(info, 13, op, "temperature");
  p.top_k = int_arg(info, 14, op, "topK");
  p.top_p = number_arg(info, 15, op, "topP");
  p.min_p = number_arg(info, 16, op, "minP");
  p.greedy = bool_arg(info, 17, op, "greedy");
  if (!(std::isfinite(p.temperature) && p.temperature >= 0))
    throw_range(op, "temperature must be a finite number >= 0, got " + std::to_string(p.temperature));
  if (p.temperature == 0 && !p.greedy) throw_range(op, "temperature 0 needs greedy (it is the argmax)");
  if (p.top_k < 0) throw_range(op, "topK must be >= 0 (0 = off), got " + std::to_string(p.top_k));
  if (!(p.top_p > 0 && p.top_p <= 1)) throw_range(op, "topP must be in (0, 1], got " + std::to_string(p.top_p));
  if (!(p.min_p >= 0 && p.min_p <= 1)) throw_range(op, "minP must be in [0, 1], got " + std::to_string(p.min_p));
  return s;
}

bool sample_rows_without_uniforms(const Napi::CallbackInfo& info, const char* op, bool greedy) {
  expect_arity(info, 11, op, "uniforms");
  if (!info[11].IsNumber() || info[11].As<Napi::Number>().DoubleValue() != 0) return false;
  if (!greedy) throw_range(op, "uniforms are required unless greedy (id 0 = none)");
  return true;
}

}  // namespace tg::binding
