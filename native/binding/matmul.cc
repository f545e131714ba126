// Matmul family: batched SGEMM with per-batch operand offsets (so broadcast batch dims cost no copies)
// and transposed operands read in place. C is a contiguous (batch, M, N) buffer.
#include <cmath>

#include "binding/common.h"
#include "ops/gemm.h"

namespace tg::binding {
namespace {

std::vector<int64_t> offsets_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name,
                                 int64_t batch) {
  if (static_cast<int>(info.Length()) <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw_type(op, std::string(name) + " must be a Float64Array of element offsets");
  Napi::Float64Array a = info[i].As<Napi::Float64Array>();
  if (static_cast<int64_t>(a.ElementLength()) != batch)
    throw_range(op, std::string(name) + " has " + std::to_string(a.ElementLength()) + " entries, expected " +
                        std::to_string(batch));
  std::vector<int64_t> out(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) {
    double v = a[static_cast<size_t>(b)];
    if (!(v >= 0 && v == std::floor(v) && v < 9007199254740992.0))
      throw_range(op, std::string(name) + " holds an invalid offset");
    out[static_cast<size_t>(b)] = static_cast<int64_t>(v);
  }
  return out;
}

}  // namespace

// Shared with the attention bindings (binding/common.h).
MatmulPrecision precision_arg(const Napi::CallbackInfo& info, int i, const char* op) {
  if (absent(info, i)) return default_matmul_precision();
  const std::string name = string_arg(info, i, op, "precision");
  if (name != "highest" && name != "medium")
    throw_range(op, "precision must be 'highest' or 'medium', got '" + name + "'");
  return parse_matmul_precision(name.c_str(), op);
}

namespace {

// Checks that every (rows x cols, row stride ld) operand at the given offsets lies inside the buffer.
void check_operand(const char* op, const char* name, const Buffer& buf, const std::vector<int64_t>& offsets,
                   int64_t rows, int64_t cols, int64_t ld) {
  if (rows == 0 || cols == 0) return;
  if (ld < cols && rows > 1)
    throw_range(op, std::string(name) + ": leading dimension " + std::to_string(ld) + " < width " + std::to_string(cols));
  int64_t extent = (rows - 1) * ld + cols;
  for (int64_t o : offsets)
    if (o + extent > buf.numel())
      throw_range(op, std::string(name) + ": a " + std::to_string(rows) + "x" + std::to_string(cols) +
                          " operand at offset " + std::to_string(o) + " exceeds its buffer of " +
                          std::to_string(buf.numel()) + " elements");
}

Buffer& float_operand_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  Buffer& b = buffer_arg(info, i, op, name);
  if (b.dtype == DType::Int32) throw_type(op, std::string(name) + " must be float32 or bfloat16, got int32");
  return b;
}

// matmul(outId, aId, aOffsets, lda, transA, bId, bOffsets, ldb, transB, M, N, K, batch, alpha, beta, precision?)
// out (batch, M, N) = alpha * op(A) @ op(B) + beta * out, at `precision` (default: the process default). A and B
// are float32 or bfloat16 (widened to float32 while packing; products and sums float32), out float32.
Napi::Value matmul(const Napi::CallbackInfo& info) {
  const char* op = "matmul";
  Buffer& out = buffer_arg(info, 0, op, "out", DType::Float32);
  Buffer& a = float_operand_arg(info, 1, op, "a");
  Buffer& b = float_operand_arg(info, 5, op, "b");
  int64_t lda = int_arg(info, 3, op, "lda");
  bool trans_a = bool_arg(info, 4, op, "transA");
  int64_t ldb = int_arg(info, 7, op, "ldb");
  bool trans_b = bool_arg(info, 8, op, "transB");
  int64_t M = int_arg(info, 9, op, "M"), N = int_arg(info, 10, op, "N"), K = int_arg(info, 11, op, "K");
  int64_t batch = int_arg(info, 12, op, "batch");
  float alpha = static_cast<float>(number_arg(info, 13, op, "alpha"));
  float beta = static_cast<float>(number_arg(info, 14, op, "beta"));
  const MatmulPrecision precision = precision_arg(info, 15, op);
  int64_t total = numel_of({batch, M, N}, op);
  numel_of({M, K}, op);
  numel_of({K, N}, op);
  auto a_off = offsets_arg(info, 2, op, "aOffsets", batch);
  auto b_off = offsets_arg(info, 6, op, "bOffsets", batch);
  check_operand(op, "a", a, a_off, trans_a ? K : M, trans_a ? M : K, lda);
  check_operand(op, "b", b, b_off, trans_b ? N : K, trans_b ? K : N, ldb);
  check_range(op, "out", out, 0, total);
  std::vector<int64_t> c_off(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) c_off[static_cast<size_t>(i)] = i * M * N;
  const MatrixOperand a_op{a.data, a.dtype == DType::BFloat16}, b_op{b.data, b.dtype == DType::BFloat16};
  gemm_batched(trans_a, trans_b, M, N, K, alpha, a_op, lda, a_off.data(), b_op, ldb, b_off.data(), beta,
               typed<float>(out, 0), N, c_off.data(), batch, precision);
  return info.Env().Undefined();
}

Napi::Value gemm_kernel(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && !info[0].IsUndefined()) sgemm_force_kernel(string_arg(info, 0, "gemmKernel", "name").c_str());
  return Napi::String::New(info.Env(), sgemm_kernel_name());
}

// gemmKernelEpoch(): bumped by every gemmKernel(name); the names matmulPrecision() reports change only with it.
Napi::Value gemm_kernel_epoch(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(sgemm_kernel_epoch()));
}

// matmulPrecision(name?): sets the process default "highest" or "medium" when given; returns
// {precision, kernel, kernels: {highest, medium}}: the default, its kernel, and the kernel of each precision.
Napi::Value matmul_precision_binding(const Napi::CallbackInfo& info) {
  if (!absent(info, 0)) set_matmul_precision(string_arg(info, 0, "matmulPrecision", "precision").c_str());
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("precision", matmul_precision_name(default_matmul_precision()));
  out.Set("kernel", matmul_kernel_name(default_matmul_precision()));
  Napi::Object kernels = Napi::Object::New(info.Env());
  kernels.Set("highest", matmul_kernel_name(MatmulPrecision::Highest));
  kernels.Set("medium", matmul_kernel_name(MatmulPrecision::Medium));
  out.Set("kernels", kernels);
  return out;
}

// gemmPackedSize(K, N, precision?): floats gemmPackB needs for a K x N op(B) with the kernel of `precision`.
Napi::Value gemm_packed_size(const Napi::CallbackInfo& info) {
  const char* op = "gemmPackedSize";
  const int64_t K = int_arg(info, 0, op, "K"), N = int_arg(info, 1, op, "N");
  numel_of({K, N}, op);
  return Napi::Number::New(info.Env(), static_cast<double>(packed_b_floats(K, N, precision_arg(info, 2, op))));
}

// gemmPackB(dstId, bId, bOffset, ldb, transB, K, N, precision?): packs op(B) (K x N) into the whole of dst for
// the kernel of `precision`.
Napi::Value gemm_pack_b(const Napi::CallbackInfo& info) {
  const char* op = "gemmPackB";
  Buffer& dst = buffer_arg(info, 0, op, "dst", DType::Float32);
  Buffer& b = buffer_arg(info, 1, op, "b", DType::Float32);
  const int64_t offset = int_arg(info, 2, op, "bOffset"), ldb = int_arg(info, 3, op, "ldb");
  const bool trans_b = bool_arg(info, 4, op, "transB");
  const int64_t K = int_arg(info, 5, op, "K"), N = int_arg(info, 6, op, "N");
  const MatmulPrecision precision = precision_arg(info, 7, op);
  numel_of({K, N}, op);
  check_operand(op, "b", b, {offset}, trans_b ? N : K, trans_b ? K : N, ldb);
  const int64_t need = packed_b_floats(K, N, precision);
  if (dst.numel() != need)
    throw_range(op, "dst holds " + std::to_string(dst.numel()) + " floats, the packed operand needs " + std::to_string(need));
  pack_b(trans_b, K, N, typed<float>(b, offset), ldb, typed<float>(dst, 0), precision);
  return info.Env().Undefined();
}

// matmulPackedB(outId, aId, aOffset, lda, transA, packedId, M, N, K, precision?): out (M, N) = op(A) @ B, B from
// gemmPackB at the same precision.
Napi::Value matmul_packed_b(const Napi::CallbackInfo& info) {
  const char* op = "matmulPackedB";
  Buffer& out = buffer_arg(info, 0, op, "out", DType::Float32);
  Buffer& a = buffer_arg(info, 1, op, "a", DType::Float32);
  const int64_t offset = int_arg(info, 2, op, "aOffset"), lda = int_arg(info, 3, op, "lda");
  const bool trans_a = bool_arg(info, 4, op, "transA");
  Buffer& packed = buffer_arg(info, 5, op, "packed", DType::Float32);
  const int64_t M = int_arg(info, 6, op, "M"), N = int_arg(info, 7, op, "N"), K = int_arg(info, 8, op, "K");
  const MatmulPrecision precision = precision_arg(info, 9, op);
  numel_of({M, K}, op);
  numel_of({K, N}, op);
  check_operand(op, "a", a, {offset}, trans_a ? K : M, trans_a ? M : K, lda);
  check_range(op, "out", out, 0, numel_of({M, N}, op));
  if (packed.numel() != packed_b_floats(K, N, precision))
    throw_range(op, "packed holds " + std::to_string(packed.numel()) + " floats, not a packed " + std::to_string(K) + "x" +
                        std::to_string(N) + " operand for the kernel in use (" + matmul_kernel_name(precision) + ")");
  sgemm_packed_b(trans_a, M, N, K, typed<float>(a, offset), lda, typed<float>(packed, 0), typed<float>(out, 0), N,
                 precision);
  return info.Env().Undefined();
}

}  // namespace

void register_matmul(Napi::Env env, Napi::Object exports) {
  define(env, exports, "matmul", matmul, 16);
  define(env, exports, "gemmKernel", gemm_kernel, 1);
  define(env, exports, "gemmKernelEpoch", gemm_kernel_epoch, 0);
  define(env, exports, "matmulPrecision", matmul_precision_binding, 1);
  define(env, exports, "gemmPackedSize", gemm_packed_size, 3);
  define(env, exports, "gemmPackB", gemm_pack_b, 8);
  define(env, exports, "matmulPackedB", matmul_packed_b, 10);
}

}  // namespace tg::binding
