// Elementwise family: unary, binary, where and strided copy/cast. Outputs are contiguous buffers of
// prod(shape) elements; inputs are strided views (broadcast dims have stride 0).
#include <string>

#include "binding/common.h"
#include "ops/elementwise.h"

namespace tg::binding {
namespace {

template <int N>
StridedLayout<N> make_layout(const std::vector<int64_t>& shape, const std::vector<int64_t>* strides[N]) {
  StridedLayout<N> layout;
  layout.ndim = static_cast<int>(shape.size());
  for (int d = 0; d < layout.ndim; ++d) {
    layout.shape[d] = shape[d];
    for (int k = 0; k < N; ++k) layout.strides[k][d] = (*strides[k])[d];
  }
  return layout;
}


// unary(op, outId, xId, xOffset, shape, xStrides, p0, p1)
Napi::Value unary(const Napi::CallbackInfo& info) {
  const char* op = "unary";
  int64_t code = int_arg(info, 0, op, "op");
  if (code < 0 || code >= static_cast<int64_t>(UnaryOp::Count)) throw_range(op, "unknown op code " + std::to_string(code));
  Buffer& out = buffer_arg(info, 1, op, "out", DType::Float32);
  Buffer& x = buffer_arg(info, 2, op, "x", DType::Float32);
  int64_t x_off = int_arg(info, 3, op, "xOffset");
  auto shape = int_array_arg(info, 4, op, "shape");
  auto xs = int_array_arg(info, 5, op, "xStrides");
  float p0 = static_cast<float>(number_arg(info, 6, op, "p0"));
  float p1 = static_cast<float>(number_arg(info, 7, op, "p1"));
  check_view(op, "x", x, x_off, shape, xs);
  check_range(op, "out", out, 0, numel_of(shape, op));
  const std::vector<int64_t>* strides[1] = {&xs};
  unary_f32(static_cast<UnaryOp>(code), typed<float>(out, 0), typed<float>(x, x_off), make_layout<1>(shape, strides), p0, p1);
  return info.Env().Undefined();
}

// binary(op, outId, aId, aOffset, aStrides, bId, bOffset, bStrides, shape)
Napi::Value binary(const Napi::CallbackInfo& info) {
  const char* op = "binary";
  int64_t code = int_arg(info, 0, op, "op");
  if (code < 0 || code >= static_cast<int64_t>(BinaryOp::Count)) throw_range(op, "unknown op code " + std::to_string(code));
  Buffer& out = buffer_arg(info, 1, op, "out", DType::Float32);
  Buffer& a = buffer_arg(info, 2, op, "a", DType::Float32);
  int64_t a_off = int_arg(info, 3, op, "aOffset");
  auto as = int_array_arg(info, 4, op, "aStrides");
  Buffer& b = buffer_arg(info, 5, op, "b", DType::Float32);
  int64_t b_off = int_arg(info, 6, op, "bOffset");
  auto bs = int_array_arg(info, 7, op, "bStrides");
  auto shape = int_array_arg(info, 8, op, "shape");
  check_view(op, "a", a, a_off, shape, as);
  check_view(op, "b", b, b_off, shape, bs);
  check_range(op, "out", out, 0, numel_of(shape, op));
  const std::vector<int64_t>* strides[2] = {&as, &bs};
  binary_f32(static_cast<BinaryOp>(code), typed<float>(out, 0), typed<float>(a, a_off), typed<float>(b, b_off),
             make_layout<2>(shape, strides));
  return info.Env().Undefined();
}

// where(outId, condId, condOffset, condStrides, aId, aOffset, aStrides, bId, bOffset, bStrides, shape)
Napi::Value where(const Napi::CallbackInfo& info) {
  const char* op = "where";
  Buffer& out = buffer_arg(info, 0, op, "out", DType::Float32);
  Buffer& c = buffer_arg(info, 1, op, "cond", DType::Float32);
  int64_t c_off = int_arg(info, 2, op, "condOffset");
  auto cs = int_array_arg(info, 3, op, "condStrides");
  Buffer& a = buffer_arg(info, 4, op, "a", DType::Float32);
  int64_t a_off = int_arg(info, 5, op, "aOffset");
  auto as = int_array_arg(info, 6, op, "aStrides");
  Buffer& b = buffer_arg(info, 7, op, "b", DType::Float32);
  int64_t b_off = int_arg(info, 8, op, "bOffset");
  auto bs = int_array_arg(info, 9, op, "bStrides");
  auto shape = int_array_arg(info, 10, op, "shape");
  check_view(op, "cond", c, c_off, shape, cs);
  check_view(op, "a", a, a_off, shape, as);
  check_view(op, "b", b, b_off, shape, bs);
  check_range(op, "out", out, 0, numel_of(shape, op));
  const std::vector<int64_t>* strides[3] = {&cs, &as, &bs};
  where_f32(typed<float>(out, 0), typed<float>(c, c_off), typed<float>(a, a_off), typed<float>(b, b_off),
            make_layout<3>(shape, strides));
  return info.Env().Undefined();
}

// copy(dstId, dstOffset, dstStrides, srcId, srcOffset, srcStrides, shape): dst[view] = src[view], with a
// conversion between float32, int32 and bfloat16 when the dtypes differ.
Napi::Value copy(const Napi::CallbackInfo& info) {
  const char* op = "copy";
  Buffer& dst = buffer_arg(info, 0, op, "dst");
  int64_t d_off = int_arg(info, 1, op, "dstOffset");
  auto ds = int_array_arg(info, 2, op, "dstStrides");
  Buffer& src = buffer_arg(info, 3, op, "src");
  int64_t s_off = int_arg(info, 4, op, "srcOffset");
  auto ss = int_array_arg(info, 5, op, "srcStrides");
  auto shape = int_array_arg(info, 6, op, "shape");
  check_view(op, "dst", dst, d_off, shape, ds);
  check_view(op, "src", src, s_off, shape, ss);
  for (size_t d = 0; d < shape.size(); ++d)
    if (ds[d] == 0 && shape[d] > 1) throw_range(op, "dst cannot be a broadcast view (stride 0 in " + shape_str(ds) + ")");
  const std::vector<int64_t>* strides[2] = {&ds, &ss};
  copy_strided(static_cast<uint8_t*>(dst.data) + d_off * dtype_size(dst.dtype), dst.dtype,
               static_cast<const uint8_t*>(src.data) + s_off * dtype_size(src.dtype), src.dtype, make_layout<2>(shape, strides));
  return info.Env().Undefined();
}

// A contiguous float32 operand of `count` elements at (buffer id, offset) arguments i, i + 1.
struct Span {
  Buffer* buf;
  int64_t off;
  const char* name;
  int64_t count;
  float* ptr() const { return typed<float>(*buf, off); }
  bool overlaps(const Span& o) const {
    const float* a = ptr();
    const float* b = o.ptr();
    return buf->data == o.buf->data && count > 0 && o.count > 0 && a < b + o.count && b < a + count;
  }
};

Span span_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int64_t n) {
  Buffer& b = buffer_arg(info, i, op, name, DType::Float32);
  int64_t off = int_arg(info, i + 1, op, (std::string(name) + "Offset").c_str());
  check_range(op, name, b, off, n);
  return Span{&b, off, name, n};
}

// An output may coincide exactly with `exact_ok` (element-for-element in place), never partly overlap an input.
void check_out(const char* op, const Span& out, std::initializer_list<const Span*> ins, const Span* exact_ok) {
  for (const Span* in : ins) {
    if (!out.overlaps(*in)) continue;
    if (in == exact_ok && out.ptr() == in->ptr()) continue;
    throw_range(op, std::string(out.name) + " overlaps " + in->name);
  }
}

// swigluForward(hId, hOffset, gateId, gateOffset, upId, upOffset, n): h = silu(gate) * up, contiguous; h may
// be gate or up (in place).
Napi::Value swiglu_fwd(const Napi::CallbackInfo& info) {
  const char* op = "swigluForward";
  int64_t n = int_arg(info, 6, op, "n");
  if (n < 0) throw_range(op, "n must be >= 0, got " + std::to_string(n));
  Span h = span_arg(info, 0, op, "h", n), g = span_arg(info, 2, op, "gate", n), u = span_arg(info, 4, op, "up", n);
  check_out(op, h, {&g, &u}, h.ptr() == g.ptr() ? &g : &u);
  swiglu_forward(h.ptr(), g.ptr(), u.ptr(), n);
  return info.Env().Undefined();
}

// swigluBackward(dgateId, dgateOffset, dupId, dupOffset, dhId, dhOffset, gateId, gateOffset, upId, upOffset, n):
// dgate = dh * up * silu'(gate), dup = dh * silu(gate); dgate may be gate and dup may be up (in place).
Napi::Value swiglu_bwd(const Napi::CallbackInfo& info) {
  const char* op = "swigluBackward";
  int64_t n = int_arg(info, 10, op, "n");
  if (n < 0) throw_range(op, "n must be >= 0, got " + std::to_string(n));
  Span dg = span_arg(info, 0, op, "dgate", n), du = span_arg(info, 2, op, "dup", n), dh = span_arg(info, 4, op, "dh", n);
  Span g = span_arg(info, 6, op, "gate", n), u = span_arg(info, 8, op, "up", n);
  check_out(op, dg, {&du, &dh, &g, &u}, &g);
  check_out(op, du, {&dh, &g, &u}, &u);
  swiglu_backward(dg.ptr(), du.ptr(), dh.ptr(), g.ptr(), u.ptr(), n);
  return info.Env().Undefined();
}

}  // namespace

void register_elementwise(Napi::Env env, Napi::Object exports) {
  define(env, exports, "unary", unary, 8);
  define(env, exports, "binary", binary, 9);
  define(env, exports, "where", where, 11);
  define(env, exports, "copy", copy, 7);
  define(env, exports, "swigluForward", swiglu_fwd, 7);
  define(env, exports, "swigluBackward", swiglu_bwd, 11);
}

}  // namespace tg::binding
