// The reduction family of the CUDA addon: reduceRows / reduceCols on device buffers, with the CPU binding's
// arguments and checks (native/binding/reduce.cc).
#include <cstdint>
#include <string>

#include "binding_families.h"
#include "buffers.h"
#include "reduce.cuh"

namespace tg::cuda_binding {
namespace {

using namespace tg::binding;

// reduceRows(op, outId, xId, xOffset, rows, cols) / reduceCols(...)
Napi::Value reduce(const Napi::CallbackInfo& info, bool rows_mode) {
  const char* op = rows_mode ? "cuda.reduceRows" : "cuda.reduceCols";
  int64_t code = int_arg(info, 0, op, "op");
  if (code < 0 || code >= static_cast<int64_t>(ReduceOp::Count)) throw_range(op, "unknown op code " + std::to_string(code));
  auto rop = static_cast<ReduceOp>(code);
  bool arg = rop == ReduceOp::Argmax || rop == ReduceOp::Argmin;
  if (!rows_mode && (arg || rop == ReduceOp::LogSumExp)) throw_range(op, "argmax/argmin/logsumexp reduce rows only");
  DevBuffer& out = typed_buffer(info, 1, op, "out", arg ? kI32 : kF32, 0);
  DevBuffer& x = typed_buffer(info, 2, op, "x", kF32, 0);
  int64_t x_off = int_arg(info, 3, op, "xOffset");
  int64_t rows = int_arg(info, 4, op, "rows");
  int64_t cols = int_arg(info, 5, op, "cols");
  int64_t n = numel_of({rows, cols}, op);
  if (arg && cols == 0) throw_range(op, "argmax/argmin of an empty dimension");
  if (arg && cols > INT32_MAX) throw_range(op, "argmax/argmin over more than 2^31 - 1 columns");
  check_elements(op, "x", x.numel(), x_off, n);
  check_elements(op, "out", out.numel(), 0, rows_mode ? rows : cols);
  DeviceState& d = need_device();
  const float* px = x.at<float>(x_off);
  if (rows_mode) {
    void* s = scratch(d, tg::cuda::reduce_rows_scratch_bytes(rop, rows, cols));
    check(tg::cuda::launch_reduce_rows(rop, out.data, px, rows, cols, s, 0));
  } else {
    void* s = scratch(d, tg::cuda::reduce_cols_scratch_bytes(rows, cols));
    check(tg::cuda::launch_reduce_cols(rop, static_cast<float*>(out.data), px, rows, cols, static_cast<float*>(s), 0));
  }
  return info.Env().Undefined();
}

Napi::Value reduce_rows_js(const Napi::CallbackInfo& info) { return reduce(info, true); }
Napi::Value reduce_cols_js(const Napi::CallbackInfo& info) { return reduce(info, false); }

}  // namespace

void register_reduce(Napi::Env env, Napi::Object exports) {
  define(env, exports, "reduceRows", reduce_rows_js, 6, "cuda.");
  define(env, exports, "reduceCols", reduce_cols_js, 6, "cuda.");
}

}  // namespace tg::cuda_binding
