// The index family of the CUDA addon: indexSelect / indexAdd / gather / scatterAdd on device buffers, with the
// CPU binding's arguments, checks and messages (native/binding/index.cc). Indices are checked on the device and
// the first bad position is read back, so a bad index is the CPU's RangeError and the output stays untouched.
#include <climits>
#include <string>

#include "binding_families.h"
#include "buffers.h"
#include "index.cuh"

namespace tg::cuda_binding {
namespace {

using namespace tg::binding;

enum class Kind { Select, Add, Gather, Scatter };

// (outId, srcId, srcOffset, outer, dim, inner, idxId, idxOffset, count)
Napi::Value index_op(const Napi::CallbackInfo& info, Kind kind, const char* op) {
  bool accumulate = kind == Kind::Add || kind == Kind::Scatter;
  DevBuffer& out = accumulate ? typed_buffer(info, 0, op, "out", kF32, 0) : buffer_arg(info, 0, op, "out");
  DevBuffer& src = accumulate ? typed_buffer(info, 1, op, "src", kF32, 0) : buffer_arg(info, 1, op, "x");
  int64_t s_off = int_arg(info, 2, op, "srcOffset");
  int64_t outer = int_arg(info, 3, op, "outer");
  int64_t dim = int_arg(info, 4, op, "dim");
  int64_t inner = int_arg(info, 5, op, "inner");
  DevBuffer& idx = typed_buffer(info, 6, op, "index", kI32, 0);
  int64_t i_off = int_arg(info, 7, op, "indexOffset");
  int64_t count = int_arg(info, 8, op, "count");
  if (out.dtype != src.dtype) throw_type(op, "out and source dtypes differ");
  int64_t full = numel_of({outer, dim, inner}, op);
  int64_t picked = numel_of({outer, count, inner}, op);
  int64_t n_idx = (kind == Kind::Select || kind == Kind::Add) ? count : picked;
  check_elements(op, "index", idx.numel(), i_off, n_idx);
  if (accumulate) {
    check_elements(op, "out", out.numel(), 0, full);
    check_elements(op, "src", src.numel(), s_off, picked);
  } else {
    check_elements(op, "out", out.numel(), 0, picked);
    check_elements(op, "x", src.numel(), s_off, full);
  }
  // The device status word holds a position as an int.
  if (n_idx > INT_MAX - 1) throw_range(op, "at most 2^31 - 2 indices per call on cuda, got " + std::to_string(n_idx));
  DeviceState& d = need_device();
  const int32_t* ip = idx.at<int32_t>(i_off);
  const int element_bytes = static_cast<int>(dtype_size(out.dtype));
  const int init = INT_MAX;
  check(cudaMemcpyAsync(d.status, &init, sizeof init, cudaMemcpyHostToDevice, 0), "cudaMemcpyAsync");
  check(tg::cuda::launch_check_indices(ip, n_idx, dim, d.status, 0));
  switch (kind) {
    case Kind::Select:
      check(tg::cuda::launch_index_select(out.data, src.at<uint8_t>(s_off), element_bytes, outer, dim, inner, ip, count,
                                          d.status, 0));
      break;
    case Kind::Add:
      check(tg::cuda::launch_index_add(static_cast<float*>(out.data), src.at<float>(s_off), outer, dim, inner, ip,
                                       count, d.status, 0));
      break;
    case Kind::Gather:
      check(tg::cuda::launch_gather(out.data, src.at<uint8_t>(s_off), element_bytes, outer, dim, inner, ip, count, d.status,
                                    0));
      break;
    case Kind::Scatter:
      check(tg::cuda::launch_scatter_add(static_cast<float*>(out.data), src.at<float>(s_off), outer, dim, inner, ip,
                                         count, d.status, 0));
      break;
  }
  int bad = INT_MAX;
  check(cudaMemcpy(&bad, d.status, sizeof bad, cudaMemcpyDeviceToHost), "cudaMemcpy (status)");
  if (bad != INT_MAX) {
    int32_t value = 0;
    check(cudaMemcpy(&value, ip + bad, sizeof value, cudaMemcpyDeviceToHost), "cudaMemcpy (index)");
    throw_range(op, "index " + std::to_string(value) + " at position " + std::to_string(bad) +
                        " is out of range for a dimension of size " + std::to_string(dim));
  }
  return info.Env().Undefined();
}

Napi::Value index_select_js(const Napi::CallbackInfo& info) { return index_op(info, Kind::Select, "cuda.indexSelect"); }
Napi::Value index_add_js(const Napi::CallbackInfo& info) { return index_op(info, Kind::Add, "cuda.indexAdd"); }
Napi::Value gather_js(const Napi::CallbackInfo& info) { return index_op(info, Kind::Gather, "cuda.gather"); }
Napi::Value scatter_add_js(const Napi::CallbackInfo& info) { return index_op(info, Kind::Scatter, "cuda.scatterAdd"); }

}  // namespace

void register_index(Napi::Env env, Napi::Object exports) {
  define(env, exports, "indexSelect", index_select_js, 9, "cuda.");
  define(env, exports, "indexAdd", index_add_js, 9, "cuda.");
  define(env, exports, "gather", gather_js, 9, "cuda.");
  define(env, exports, "scatterAdd", scatter_add_js, 9, "cuda.");
}

}  // namespace tg::cuda_binding
