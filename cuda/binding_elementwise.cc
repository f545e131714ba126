// The elementwise family of the CUDA addon: fills, random fills, unary/binary/where, strided copy/cast, SwiGLU
// and AdamW (one tensor, or many in one launch) on device buffers, with the CPU addon's arguments, checks and
// messages (native/binding/memory.cc, elementwise.cc, fused.cc); copy also converts to and from bfloat16.
#include <algorithm>
#include <string>
#include <vector>

#include "adamw.cuh"
#include "binding/adamw_args.h"
#include "binding_families.h"
#include "buffers.h"
#include "elementwise.cuh"
#include "math/bf16.h"

namespace tg::cuda_binding {
namespace {

using namespace tg::binding;

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

DevBuffer& f32_buffer(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  return typed_buffer(info, i, op, name, kF32, 0);
}

// fill(id, offset, count, value): float32 and bfloat16 take the value as float (bfloat16 rounded to nearest
// even), int32 as the CPU converts it.
Napi::Value fill(const Napi::CallbackInfo& info) {
  const char* op = "cuda.fill";
  DevBuffer& b = buffer_arg(info, 0, op, "id");
  int64_t offset = int_arg(info, 1, op, "offset");
  int64_t count = int_arg(info, 2, op, "count");
  double value = number_arg(info, 3, op, "value");
  check_elements(op, "destination", b.numel(), offset, count);
  need_device();
  if (b.dtype == kBF16) {
    check(tg::cuda::launch_fill16(b.at<uint16_t>(offset), count, math::bf16_from_float(static_cast<float>(value)), 0));
  } else {
    const uint32_t bits = b.dtype == kF32 ? math::float_to_bits(static_cast<float>(value))
                                          : static_cast<uint32_t>(static_cast<int32_t>(value));
    check(tg::cuda::launch_fill32(b.at<uint32_t>(offset), count, bits, 0));
  }
  return info.Env().Undefined();
}

// arange(id, count, start, step)
Napi::Value arange(const Napi::CallbackInfo& info) {
  const char* op = "cuda.arange";
  DevBuffer& b = buffer_arg(info, 0, op, "id");
  int64_t count = int_arg(info, 1, op, "count");
  double start = number_arg(info, 2, op, "start");
  double step = number_arg(info, 3, op, "step");
  if (b.dtype == kBF16) throw_type(op, "id must be float32 or int32, got bfloat16");
  check_elements(op, "destination", b.numel(), 0, count);
  need_device();
  if (b.dtype == kF32) check(tg::cuda::launch_arange_f32(b.at<float>(0), count, start, step, 0));
  else check(tg::cuda::launch_arange_i32(b.at<int32_t>(0), count, static_cast<int64_t>(start), static_cast<int64_t>(step), 0));
  return info.Env().Undefined();
}

// randomFill(id, count, kind 0 uniform | 1 normal, seed, counter, a, b): uniform [a, b) or normal(a, b), the
// CPU's numbers for the same (seed, counter).
Napi::Value random_fill(const Napi::CallbackInfo& info) {
  const char* op = "cuda.randomFill";
  DevBuffer& b = f32_buffer(info, 0, op, "id");
  int64_t count = int_arg(info, 1, op, "count");
  int64_t kind = int_arg(info, 2, op, "kind");
  int64_t seed = int_arg(info, 3, op, "seed");
  int64_t counter = int_arg(info, 4, op, "counter");
  double p0 = number_arg(info, 5, op, "a");
  double p1 = number_arg(info, 6, op, "b");
  check_elements(op, "destination", b.numel(), 0, count);
  if (kind != 0 && kind != 1) throw_range(op, "kind must be 0 (uniform) or 1 (normal)");
  need_device();
  check(tg::cuda::launch_random_fill(b.at<float>(0), count, static_cast<int>(kind), static_cast<uint64_t>(seed),
                                     static_cast<uint64_t>(counter), static_cast<float>(p0), static_cast<float>(p1), 0));
  return info.Env().Undefined();
}

// unary(op, outId, xId, xOffset, shape, xStrides, p0, p1)
Napi::Value unary(const Napi::CallbackInfo& info) {
  const char* op = "cuda.unary";
  int64_t code = int_arg(info, 0, op, "op");
  if (code < 0 || code >= static_cast<int64_t>(UnaryOp::Count)) throw_range(op, "unknown op code " + std::to_string(code));
  DevBuffer& out = f32_buffer(info, 1, op, "out");
  DevBuffer& x = f32_buffer(info, 2, op, "x");
  int64_t x_off = int_arg(info, 3, op, "xOffset");
  auto shape = int_array_arg(info, 4, op, "shape");
  auto xs = int_array_arg(info, 5, op, "xStrides");
  float p0 = static_cast<float>(number_arg(info, 6, op, "p0"));
  float p1 = static_cast<float>(number_arg(info, 7, op, "p1"));
  check_view_elements(op, "x", x.numel(), x_off, shape, xs);
  check_elements(op, "out", out.numel(), 0, numel_of(shape, op));
  need_device();
  const std::vector<int64_t>* strides[1] = {&xs};
  check(tg::cuda::launch_unary(static_cast<UnaryOp>(code), out.at<float>(0), x.at<float>(x_off), make_layout<1>(shape, strides),
                               p0, p1, 0));
  return info.Env().Undefined();
}

// binary(op, outId, aId, aOffset, aStrides, bId, bOffset, bStrides, shape)
Napi::Value binary(const Napi::CallbackInfo& info) {
  const char* op = "cuda.binary";
  int64_t code = int_arg(info, 0, op, "op");
  if (code < 0 || code >= static_cast<int64_t>(BinaryOp::Count)) throw_range(op, "unknown op code " + std::to_string(code));
  DevBuffer& out = f32_buffer(info, 1, op, "out");
  DevBuffer& a = f32_buffer(info, 2, op, "a");
  int64_t a_off = int_arg(info, 3, op, "aOffset");
  auto as = int_array_arg(info, 4, op, "aStrides");
  DevBuffer& b = f32_buffer(info, 5, op, "b");
  int64_t b_off = int_arg(info, 6, op, "bOffset");
  auto bs = int_array_arg(info, 7, op, "bStrides");
  auto shape = int_array_arg(info, 8, op, "shape");
  check_view_elements(op, "a", a.numel(), a_off, shape, as);
  check_view_elements(op, "b", b.numel(), b_off, shape, bs);
  check_elements(op, "out", out.numel(), 0, numel_of(shape, op));
  need_device();
  const std::vector<int64_t>* strides[2] = {&as, &bs};
  check(tg::cuda::launch_binary(static_cast<BinaryOp>(code), out.at<float>(0), a.at<float>(a_off), b.at<float>(b_off),
                                make_layout<2>(shape, strides), 0));
  return info.Env().Undefined();
}

// where(outId, condId, condOffset, condStrides, aId, aOffset, aStrides, bId, bOffset, bStrides, shape)
Napi::Value where(const Napi::CallbackInfo& info) {
  const char* op = "cuda.where";
  DevBuffer& out = f32_buffer(info, 0, op, "out");
  DevBuffer& c = f32_buffer(info, 1, op, "cond");
  int64_t c_off = int_arg(info, 2, op, "condOffset");
  auto cs = int_array_arg(info, 3, op, "condStrides");
  DevBuffer& a = f32_buffer(info, 4, op, "a");
  int64_t a_off = int_arg(info, 5, op, "aOffset");
  auto as = int_array_arg(info, 6, op, "aStrides");
  DevBuffer& b = f32_buffer(info, 7, op, "b");
  int64_t b_off = int_arg(info, 8, op, "bOffset");
  auto bs = int_array_arg(info, 9, op, "bStrides");
  auto shape = int_array_arg(info, 10, op, "shape");
  check_view_elements(op, "cond", c.numel(), c_off, shape, cs);
  check_view_elements(op, "a", a.numel(), a_off, shape, as);
  check_view_elements(op, "b", b.numel(), b_off, shape, bs);
  check_elements(op, "out", out.numel(), 0, numel_of(shape, op));
  need_device();
  const std::vector<int64_t>* strides[3] = {&cs, &as, &bs};
  check(tg::cuda::launch_where(out.at<float>(0), c.at<float>(c_off), a.at<float>(a_off), b.at<float>(b_off),
                               make_layout<3>(shape, strides), 0));
  return info.Env().Undefined();
}

// copy(dstId, dstOffset, dstStrides, srcId, srcOffset, srcStrides, shape): dst[view] = src[view], converting
// between float32, int32 and bfloat16 when the dtypes differ.
Napi::Value copy(const Napi::CallbackInfo& info) {
  const char* op = "cuda.copy";
  DevBuffer& dst = buffer_arg(info, 0, op, "dst");
  int64_t d_off = int_arg(info, 1, op, "dstOffset");
  auto ds = int_array_arg(info, 2, op, "dstStrides");
  DevBuffer& src = buffer_arg(info, 3, op, "src");
  int64_t s_off = int_arg(info, 4, op, "srcOffset");
  auto ss = int_array_arg(info, 5, op, "srcStrides");
  auto shape = int_array_arg(info, 6, op, "shape");
  check_view_elements(op, "dst", dst.numel(), d_off, shape, ds);
  check_view_elements(op, "src", src.numel(), s_off, shape, ss);
  for (size_t d = 0; d < shape.size(); ++d)
    if (ds[d] == 0 && shape[d] > 1) throw_range(op, "dst cannot be a broadcast view (stride 0 in " + shape_str(ds) + ")");
  need_device();
  const std::vector<int64_t>* strides[2] = {&ds, &ss};
  check(tg::cuda::launch_copy(dst.at<uint8_t>(0) + d_off * static_cast<int64_t>(dtype_size(dst.dtype)), dst.dtype,
                              src.at<uint8_t>(0) + s_off * static_cast<int64_t>(dtype_size(src.dtype)), src.dtype,
                              make_layout<2>(shape, strides), 0));
  return info.Env().Undefined();
}

// A contiguous float32 operand of `count` elements at (buffer id, offset) arguments i, i + 1.
struct Span {
  DevBuffer* buf;
  int64_t off;
  const char* name;
  int64_t count;
  float* ptr() const { return buf->at<float>(off); }
  bool overlaps(const Span& o) const {
    const float* a = ptr();
    const float* b = o.ptr();
    return buf->data == o.buf->data && count > 0 && o.count > 0 && a < b + o.count && b < a + count;
  }
};

Span span_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int64_t n) {
  DevBuffer& b = f32_buffer(info, i, op, name);
  int64_t off = int_arg(info, i + 1, op, (std::string(name) + "Offset").c_str());
  check_elements(op, name, b.numel(), off, n);
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

// swigluForward(hId, hOffset, gateId, gateOffset, upId, upOffset, n); h may be gate or up (in place).
Napi::Value swiglu_fwd(const Napi::CallbackInfo& info) {
  const char* op = "cuda.swigluForward";
  int64_t n = int_arg(info, 6, op, "n");
  if (n < 0) throw_range(op, "n must be >= 0, got " + std::to_string(n));
  Span h = span_arg(info, 0, op, "h", n), g = span_arg(info, 2, op, "gate", n), u = span_arg(info, 4, op, "up", n);
  check_out(op, h, {&g, &u}, h.ptr() == g.ptr() ? &g : &u);
  need_device();
  check(tg::cuda::launch_swiglu_forward(h.ptr(), g.ptr(), u.ptr(), n, 0));
  return info.Env().Undefined();
}

// swigluBackward(dgateId, dgateOffset, dupId, dupOffset, dhId, dhOffset, gateId, gateOffset, upId, upOffset, n);
// dgate may be gate and dup may be up (in place).
Napi::Value swiglu_bwd(const Napi::CallbackInfo& info) {
  const char* op = "cuda.swigluBackward";
  int64_t n = int_arg(info, 10, op, "n");
  if (n < 0) throw_range(op, "n must be >= 0, got " + std::to_string(n));
  Span dg = span_arg(info, 0, op, "dgate", n), du = span_arg(info, 2, op, "dup", n), dh = span_arg(info, 4, op, "dh", n);
  Span g = span_arg(info, 6, op, "gate", n), u = span_arg(info, 8, op, "up", n);
  check_out(op, dg, {&du, &dh, &g, &u}, &g);
  check_out(op, du, {&dh, &g, &u}, &u);
  need_device();
  check(tg::cuda::launch_swiglu_backward(dg.ptr(), du.ptr(), dh.ptr(), g.ptr(), u.ptr(), n, 0));
  return info.Env().Undefined();
}

// A contiguous float32 tensor of adamwStep: (buffer id, element offset) at arguments i, i + 1.
struct AdamWArg {
  DevBuffer* buf;
  int64_t offset;
  const char* name;
};

// adamwStep(pId, pOffset, gId, gOffset, mId, mOffset, vId, vOffset, n, lr, beta1, beta2, eps, weightDecay, step):
// updates param, m, v in place, as the CPU addon.
Napi::Value adamw_step(const Napi::CallbackInfo& info) {
  const char* op = "cuda.adamwStep";
  AdamWArg t[4];
  const char* names[4] = {"param", "grad", "m", "v"};
  for (int k = 0; k < 4; ++k)
    t[k] = AdamWArg{&f32_buffer(info, 2 * k, op, names[k]), int_arg(info, 2 * k + 1, op, (std::string(names[k]) + " offset").c_str()),
                    names[k]};
  int64_t n = int_arg(info, 8, op, "n");
  if (n < 1) throw_range(op, "n must be positive, got " + std::to_string(n));
  const AdamWHyperArgs h = adamw_hyper_args(info, 9, op);
  for (const AdamWArg& a : t) check_elements(op, a.name, a.buf->numel(), a.offset, n);
  for (int a = 0; a < 4; ++a)
    for (int b = a + 1; b < 4; ++b)
      if (t[a].buf == t[b].buf && t[a].offset < t[b].offset + n && t[b].offset < t[a].offset + n)
        throw_range(op, std::string(t[a].name) + " overlaps " + t[b].name);
  need_device();
  check(tg::cuda::launch_adamw(t[0].buf->at<float>(t[0].offset), t[1].buf->at<float>(t[1].offset),
                               t[2].buf->at<float>(t[2].offset), t[3].buf->at<float>(t[3].offset), n,
                               math::adamw_params(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, h.step), 0));
  return info.Env().Undefined();
}

// adamwMultiStep(params, paramOffsets, grads, gradOffsets, ms, mOffsets, vs, vOffsets, numels, lr, beta1, beta2,
//                eps, weightDecay, step): adamwStep over every tensor of the lists in one launch; the table of
// chunks (kAdamWChunk elements of one tensor each) goes to device scratch first.
Napi::Value adamw_multi_step(const Napi::CallbackInfo& info) {
  const char* op = "cuda.adamwMultiStep";
  const AdamWTensorLists l = adamw_tensor_lists(info, op);
  const AdamWHyperArgs h = adamw_hyper_args(info, 9, op);
  std::vector<tg::cuda::AdamWChunk> chunks;
  std::vector<AdamWSpan> spans;
  spans.reserve(l.size() * kRoleCount);
  for (size_t t = 0; t < l.size(); ++t) {
    float* ptr[kRoleCount];
    for (int r = 0; r < kRoleCount; ++r) {
      const std::string name = adamw_tensor_name(r, t);
      DevBuffer& b = buffer_by_id(static_cast<double>(l.ids[r][t]), op, name, kF32);
      check_elements(op, name.c_str(), b.numel(), l.offsets[r][t], l.numels[t]);
      ptr[r] = b.at<float>(l.offsets[r][t]);
      spans.push_back({b.data, l.offsets[r][t], l.offsets[r][t] + l.numels[t], r, t});
    }
    for (int64_t s = 0; s < l.numels[t]; s += tg::cuda::kAdamWChunk)
      chunks.push_back({ptr[kParams] + s, ptr[kGrads] + s, ptr[kMs] + s, ptr[kVs] + s,
                        std::min(tg::cuda::kAdamWChunk, l.numels[t] - s)});
  }
  check_adamw_spans_disjoint(op, std::move(spans));
  DeviceState& d = need_device();
  const size_t bytes = chunks.size() * sizeof(tg::cuda::AdamWChunk);
  auto* table = static_cast<tg::cuda::AdamWChunk*>(scratch(d, bytes));
  check(cudaMemcpyAsync(table, chunks.data(), bytes, cudaMemcpyHostToDevice, 0), "cudaMemcpyAsync (chunk table)");
  check(tg::cuda::launch_adamw_chunks(table, static_cast<int64_t>(chunks.size()),
                                      math::adamw_params(h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, h.step), 0));
  return info.Env().Undefined();
}

}  // namespace

void register_elementwise(Napi::Env env, Napi::Object exports) {
  const struct { const char* name; Handler fn; int max_args; } functions[] = {
      {"fill", fill, 4},
      {"arange", arange, 4},
      {"randomFill", random_fill, 7},
      {"unary", unary, 8},
      {"binary", binary, 9},
      {"where", where, 11},
      {"copy", copy, 7},
      {"swigluForward", swiglu_fwd, 7},
      {"swigluBackward", swiglu_bwd, 11},
      {"adamwStep", adamw_step, 15},
      {"adamwMultiStep", adamw_multi_step, 15},
  };
  for (const auto& f : functions) define(env, exports, f.name, f.fn, f.max_args, "cuda.");
}

}  // namespace tg::cuda_binding
