// Reduction family: reduceRows / reduceCols over contiguous (rows, cols) float32 data.
#include "binding/common.h"
#include "ops/reduce.h"

namespace tg::binding {
namespace {

// reduceRows(op, outId, xId, xOffset, rows, cols) / reduceCols(...)
Napi::Value reduce(const Napi::CallbackInfo& info, bool rows_mode) {
  const char* op = rows_mode ? "reduceRows" : "reduceCols";
  int64_t code = int_arg(info, 0, op, "op");
  if (code < 0 || code >= static_cast<int64_t>(ReduceOp::Count)) throw_range(op, "unknown op code " + std::to_string(code));
  auto rop = static_cast<ReduceOp>(code);
  bool arg = rop == ReduceOp::Argmax || rop == ReduceOp::Argmin;
  if (!rows_mode && (arg || rop == ReduceOp::LogSumExp)) throw_range(op, "argmax/argmin/logsumexp reduce rows only");
  Buffer& out = buffer_arg(info, 1, op, "out", arg ? DType::Int32 : DType::Float32);
  Buffer& x = buffer_arg(info, 2, op, "x", DType::Float32);
  int64_t x_off = int_arg(info, 3, op, "xOffset");
  int64_t rows = int_arg(info, 4, op, "rows");
  int64_t cols = int_arg(info, 5, op, "cols");
  int64_t n = numel_of({rows, cols}, op);
  if (arg && cols == 0) throw_range(op, "argmax/argmin of an empty dimension");
  check_range(op, "x", x, x_off, n);
  check_range(op, "out", out, 0, rows_mode ? rows : cols);
  if (rows_mode) reduce_rows(rop, out.data, typed<float>(x, x_off), rows, cols);
  else reduce_cols(rop, typed<float>(out, 0), typed<float>(x, x_off), rows, cols);
  return info.Env().Undefined();
}

Napi::Value reduce_rows_js(const Napi::CallbackInfo& info) { return reduce(info, true); }
Napi::Value reduce_cols_js(const Napi::CallbackInfo& info) { return reduce(info, false); }

}  // namespace

void register_reduce(Napi::Env env, Napi::Object exports) {
  define(env, exports, "reduceRows", reduce_rows_js, 6);
  define(env, exports, "reduceCols", reduce_cols_js, 6);
}

}  // namespace tg::binding
