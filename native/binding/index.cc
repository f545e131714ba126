// Index family: indexSelect / indexAdd along a dim, gather / scatterAdd with per-element indices.
// Data is viewed as (outer, dim, inner); indices are int32 and checked against dim.
#include "binding/common.h"
#include "ops/index.h"

namespace tg::binding {
namespace {

enum class Kind { Select, Add, Gather, Scatter };

// (outId, srcId, srcOffset, outer, dim, inner, idxId, idxOffset, count)
Napi::Value index_op(const Napi::CallbackInfo& info, Kind kind, const char* op) {
  bool accumulate = kind == Kind::Add || kind == Kind::Scatter;
  Buffer& out = accumulate ? buffer_arg(info, 0, op, "out", DType::Float32) : buffer_arg(info, 0, op, "out");
  Buffer& src = accumulate ? buffer_arg(info, 1, op, "src", DType::Float32) : buffer_arg(info, 1, op, "x");
  int64_t s_off = int_arg(info, 2, op, "srcOffset");
  int64_t outer = int_arg(info, 3, op, "outer");
  int64_t dim = int_arg(info, 4, op, "dim");
  int64_t inner = int_arg(info, 5, op, "inner");
  Buffer& idx = buffer_arg(info, 6, op, "index", DType::Int32);
  int64_t i_off = int_arg(info, 7, op, "indexOffset");
  int64_t count = int_arg(info, 8, op, "count");
  if (out.dtype != src.dtype) throw_type(op, "out and source dtypes differ");
  int64_t full = numel_of({outer, dim, inner}, op);
  int64_t picked = numel_of({outer, count, inner}, op);
  int64_t n_idx = (kind == Kind::Select || kind == Kind::Add) ? count : picked;
  check_range(op, "index", idx, i_off, n_idx);
  if (accumulate) {
    check_range(op, "out", out, 0, full);
    check_range(op, "src", src, s_off, picked);
  } else {
    check_range(op, "out", out, 0, picked);
    check_range(op, "x", src, s_off, full);
  }
  const int32_t* ip = typed<int32_t>(idx, i_off);
  int64_t bad = -1;
  switch (kind) {
    case Kind::Select:
      bad = dtype_size(out.dtype) == 2
                ? index_select(typed<uint16_t>(out, 0), typed<uint16_t>(src, s_off), outer, dim, inner, ip, count)
                : index_select(typed<uint32_t>(out, 0), typed<uint32_t>(src, s_off), outer, dim, inner, ip, count);
      break;
    case Kind::Add: bad = index_add(typed<float>(out, 0), typed<float>(src, s_off), outer, dim, inner, ip, count); break;
    case Kind::Gather:
      bad = dtype_size(out.dtype) == 2
                ? gather(typed<uint16_t>(out, 0), typed<uint16_t>(src, s_off), outer, dim, inner, ip, count)
                : gather(typed<uint32_t>(out, 0), typed<uint32_t>(src, s_off), outer, dim, inner, ip, count);
      break;
    case Kind::Scatter: bad = scatter_add(typed<float>(out, 0), typed<float>(src, s_off), outer, dim, inner, ip, count); break;
  }
  if (bad >= 0)
    throw_range(op, "index " + std::to_string(ip[bad]) + " at position " + std::to_string(bad) +
                        " is out of range for a dimension of size " + std::to_string(dim));
  return info.Env().Undefined();
}

Napi::Value index_select_js(const Napi::CallbackInfo& info) { return index_op(info, Kind::Select, "indexSelect"); }
Napi::Value index_add_js(const Napi::CallbackInfo& info) { return index_op(info, Kind::Add, "indexAdd"); }
Napi::Value gather_js(const Napi::CallbackInfo& info) { return index_op(info, Kind::Gather, "gather"); }
Napi::Value scatter_add_js(const Napi::CallbackInfo& info) { return index_op(info, Kind::Scatter, "scatterAdd"); }

}  // namespace

void register_index(Napi::Env env, Napi::Object exports) {
  define(env, exports, "indexSelect", index_select_js, 9);
  define(env, exports, "indexAdd", index_add_js, 9);
  define(env, exports, "gather", gather_js, 9);
  define(env, exports, "scatterAdd", scatter_add_js, 9);
}

}  // namespace tg::binding
