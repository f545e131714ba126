// The matmul family of the CUDA addon: the batched GEMM with per-batch operand offsets, the kernel in use and the
// process default precision, with the CPU addon's arguments, checks and meaning (native/binding/matmul.cc).
// Kernels: cuBLASLt when it loads (cublaslt.h), else the addon's own (gemm.cuh): bf16 tensor cores at 'medium',
// float32 CUDA cores at 'highest'. gemmKernel forces one, as THINKGRAD_GEMM (also read here) does at load.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "binding_families.h"
#include "buffers.h"
#include "cublaslt.h"
#include "elementwise.cuh"
#include "gemm.cuh"
#include "ops/gemm.h"

namespace tg::cuda_binding {
namespace {

using namespace tg::binding;

// 'cublaslt': cuBLASLt at both precisions; 'mma': tensor cores at medium, float32 CUDA cores at highest;
// 'simt': float32 CUDA cores at both (medium then computes as highest, as the CPU does without AVX512-BF16).
enum class Kernel { CublasLt, Mma, Simt };

Kernel best_kernel() {
  if (tg::cuda::cublaslt_unavailable_reason().empty()) return Kernel::CublasLt;
  return tensor_cores_bf16() ? Kernel::Mma : Kernel::Simt;
}

// The kernel `name` selects; throws std::invalid_argument on an unknown one or cuBLASLt when it cannot load. The
// per-precision names matmulPrecision reports select their kernel too ('mma-bf16' -> mma, 'simt-f32' -> simt).
Kernel kernel_by_name(const std::string& name) {
  if (name == "auto") return best_kernel();
  if (name == "mma" || name == "mma-bf16") {
    if (!tensor_cores_bf16())
      throw std::invalid_argument("kernel 'mma' needs bf16 tensor cores (compute capability 8.0 or newer), this device has " +
                                  std::to_string(dev().prop.major) + "." + std::to_string(dev().prop.minor));
    return Kernel::Mma;
  }
  if (name == "simt" || name == "simt-f32") return Kernel::Simt;
  if (name == "cublaslt" || name == "cublaslt-f32" || name == "cublaslt-bf16") {
    const std::string& reason = tg::cuda::cublaslt_unavailable_reason();
    if (!reason.empty()) throw std::invalid_argument("kernel 'cublaslt' is not supported on this device/build: " + reason);
    return Kernel::CublasLt;
  }
  throw std::invalid_argument("unknown kernel '" + name + "' (expected cublaslt, mma, simt or auto)");
}

Kernel initial_kernel() {
  if (const char* env = std::getenv("THINKGRAD_GEMM")) {
    try {
      return kernel_by_name(env);
    } catch (const std::invalid_argument&) {
      // A CPU kernel name (or an unavailable one): the best CUDA kernel, as the CPU ignores names it lacks.
    }
  }
  return best_kernel();
}

Kernel& current_kernel() {
  static Kernel k = initial_kernel();
  return k;
}
MatmulPrecision default_precision = MatmulPrecision::Highest;

const char* family_name(Kernel k) { return k == Kernel::CublasLt ? "cublaslt" : k == Kernel::Mma ? "mma" : "simt"; }
const char* kernel_name(Kernel k, MatmulPrecision p) {
  const bool medium = p == MatmulPrecision::Medium;
  if (k == Kernel::CublasLt) return medium ? "cublaslt-bf16" : "cublaslt-f32";
  return k == Kernel::Mma && medium ? "mma-bf16" : "simt-f32";
}
const char* precision_name(MatmulPrecision p) { return p == MatmulPrecision::Medium ? "medium" : "highest"; }

MatmulPrecision precision_arg(const Napi::CallbackInfo& info, int i, const char* op) {
  if (absent(info, i)) return default_precision;
  const std::string name = string_arg(info, i, op, "precision");
  if (name != "highest" && name != "medium") throw_range(op, "precision must be 'highest' or 'medium', got '" + name + "'");
  return name == "medium" ? MatmulPrecision::Medium : MatmulPrecision::Highest;
}

std::vector<int64_t> offsets_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int64_t batch) {
  if (static_cast<int>(info.Length()) <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw_type(op, std::string(name) + " must be a Float64Array of element offsets");
  Napi::Float64Array a = info[i].As<Napi::Float64Array>();
  if (static_cast<int64_t>(a.ElementLength()) != batch)
    throw_range(op, std::string(name) + " has " + std::to_string(a.ElementLength()) + " entries, expected " + std::to_string(batch));
  std::vector<int64_t> out(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) {
    double v = a[static_cast<size_t>(b)];
    if (!(v >= 0 && v == std::floor(v) && v < 9007199254740992.0)) throw_range(op, std::string(name) + " holds an invalid offset");
    out[static_cast<size_t>(b)] = static_cast<int64_t>(v);
  }
  return out;
}

// Every (rows x cols, row stride ld) operand at the given offsets lies inside the buffer.
void check_operand(const char* op, const char* name, const DevBuffer& buf, const std::vector<int64_t>& offsets, int64_t rows,
                   int64_t cols, int64_t ld) {
  if (rows == 0 || cols == 0) return;
  if (ld < cols && rows > 1)
    throw_range(op, std::string(name) + ": leading dimension " + std::to_string(ld) + " < width " + std::to_string(cols));
  int64_t extent = (rows - 1) * ld + cols;
  for (int64_t o : offsets)
    if (o + extent > buf.numel())
      throw_range(op, std::string(name) + ": a " + std::to_string(rows) + "x" + std::to_string(cols) + " operand at offset " +
                          std::to_string(o) + " exceeds its buffer of " + std::to_string(buf.numel()) + " elements");
}

// The batch stride when offsets[b] = offsets[0] + b * stride with stride >= 0 (what cuBLASLt's strided batch
// takes), else -1.
int64_t uniform_stride(const std::vector<int64_t>& offsets) {
  const int64_t stride = offsets.size() > 1 ? offsets[1] - offsets[0] : 0;
  if (stride < 0) return -1;
  for (size_t b = 2; b < offsets.size(); ++b)
    if (offsets[b] - offsets[b - 1] != stride) return -1;
  return stride;
}

// A float32 or bfloat16 operand as cuBLASLt takes it (float32 only here): the buffer itself when float32; for
// bfloat16 a float32 device copy (a buffer of the caching allocator, freed in stream order when the call returns)
// of the elements the operands at `offsets` read, the offsets moved onto it.
class F32Operand {
 public:
  F32Operand(const char* op, const DevBuffer& buf, std::vector<int64_t>& offsets, int64_t rows, int64_t cols, int64_t ld) {
    if (buf.dtype == kF32 || rows == 0 || cols == 0 || offsets.empty()) {
      data_ = static_cast<const float*>(buf.data);
      return;
    }
    int64_t lo = offsets[0], hi = offsets[0];
    for (int64_t o : offsets) {
      lo = std::min(lo, o);
      hi = std::max(hi, o);
    }
    const int64_t count = hi - lo + (rows - 1) * ld + cols;
    id_ = allocate_buffer(op, kF32, count);
    DevBuffer& tmp = buffer_by_id(static_cast<double>(id_), op, "operand copy", kF32);
    StridedLayout<2> layout;
    layout.ndim = 1;
    layout.shape[0] = count;
    layout.strides[0][0] = layout.strides[1][0] = 1;
    check(tg::cuda::launch_copy(tmp.data, kF32, buf.at<uint16_t>(lo), kBF16, layout, 0));
    for (int64_t& o : offsets) o -= lo;
    data_ = static_cast<const float*>(tmp.data);
  }
  F32Operand(const F32Operand&) = delete;
  F32Operand& operator=(const F32Operand&) = delete;
  ~F32Operand() {
    if (id_ != 0) release_buffer(static_cast<double>(id_));
  }
  const float* data() const { return data_; }

 private:
  const float* data_ = nullptr;
  uint64_t id_ = 0;
};

DevBuffer& float_operand_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  DevBuffer& b = buffer_arg(info, i, op, name);
  if (b.dtype == kI32) throw_type(op, std::string(name) + " must be float32 or bfloat16, got int32");
  return b;
}

// matmul(outId, aId, aOffsets, lda, transA, bId, bOffsets, ldb, transB, M, N, K, batch, alpha, beta, precision?)
// out (batch, M, N) = alpha * op(A) @ op(B) + beta * out, at `precision` (default: the process default). A and B
// are float32 or bfloat16 (widened to float32 as they load; products and sums float32), out float32.
Napi::Value matmul(const Napi::CallbackInfo& info) {
  const char* op = "cuda.matmul";
  DevBuffer& out = typed_buffer(info, 0, op, "out", kF32, 0);
  DevBuffer& a = float_operand_arg(info, 1, op, "a");
  DevBuffer& b = float_operand_arg(info, 5, op, "b");
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
  check_elements(op, "out", out.numel(), 0, total);
  if (total == 0) return info.Env().Undefined();
  DeviceState& d = need_device();
  // The own kernels read bfloat16 operands as they load them; cuBLASLt gets float32 copies (F32Operand).
  const bool a_bf16 = a.dtype == kBF16, b_bf16 = b.dtype == kBF16;
  tg::cuda::GemmArgs g{trans_a, trans_b, M, N, K, batch, alpha, beta, a_bf16 ? nullptr : static_cast<const float*>(a.data),
                       lda, b_bf16 ? nullptr : static_cast<const float*>(b.data), ldb, static_cast<float*>(out.data),
                       nullptr, nullptr};
  if (a_bf16) g.a16 = static_cast<const uint16_t*>(a.data);
  if (b_bf16) g.b16 = static_cast<const uint16_t*>(b.data);
  const Kernel kernel = current_kernel();
  const int64_t a_stride = uniform_stride(a_off), b_stride = uniform_stride(b_off);
  if (kernel == Kernel::CublasLt && K > 0 && a_stride >= 0 && b_stride >= 0) {
    std::vector<int64_t> a_moved(a_off), b_moved(b_off);
    const F32Operand a32(op, a, a_moved, trans_a ? K : M, trans_a ? M : K, lda);
    const F32Operand b32(op, b, b_moved, trans_b ? N : K, trans_b ? K : N, ldb);
    tg::cuda::GemmArgs strided = g;
    strided.a = a32.data() + a_moved[0];
    strided.b = b32.data() + b_moved[0];
    strided.a16 = strided.b16 = nullptr;
    void* workspace = scratch(d, tg::cuda::kCublasLtWorkspaceBytes);
    bool ran = false;
    check(tg::cuda::cublaslt_gemm(strided, a_stride, b_stride, precision == MatmulPrecision::Medium, workspace,
                                  tg::cuda::kCublasLtWorkspaceBytes, 0, &ran));
    if (ran) return info.Env().Undefined();
  }
  // Own kernels read each batch's offsets from the device.
  std::vector<int64_t> offsets(a_off);
  offsets.insert(offsets.end(), b_off.begin(), b_off.end());
  auto* dev_offsets = static_cast<int64_t*>(scratch(d, offsets.size() * sizeof(int64_t)));
  check(cudaMemcpyAsync(dev_offsets, offsets.data(), offsets.size() * sizeof(int64_t), cudaMemcpyHostToDevice, 0),
        "cudaMemcpyAsync (batch offsets)");
  g.a_offsets = dev_offsets;
  g.b_offsets = dev_offsets + batch;
  const bool tensor_cores = precision == MatmulPrecision::Medium && kernel != Kernel::Simt;
  check(tensor_cores ? tg::cuda::launch_gemm_mma_bf16(g, 0) : tg::cuda::launch_gemm_simt_f32(g, 0));
  return info.Env().Undefined();
}

// gemmKernel(name?): forces 'cublaslt', 'mma', 'simt' or 'auto' (the best here) when given; returns the one in use.
Napi::Value gemm_kernel(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && !info[0].IsUndefined())
    current_kernel() = kernel_by_name(string_arg(info, 0, "cuda.gemmKernel", "name"));
  return Napi::String::New(info.Env(), family_name(current_kernel()));
}

// matmulPrecision(name?): sets the process default "highest" or "medium" when given; returns
// {precision, kernel, kernels: {highest, medium}}: the default, its kernel, and the kernel of each precision.
Napi::Value matmul_precision(const Napi::CallbackInfo& info) {
  if (!absent(info, 0)) {
    const std::string name = string_arg(info, 0, "cuda.matmulPrecision", "precision");
    if (name != "highest" && name != "medium")
      throw std::invalid_argument("matmulPrecision: unknown precision '" + name + "' (expected highest or medium)");
    default_precision = name == "medium" ? MatmulPrecision::Medium : MatmulPrecision::Highest;
  }
  const Kernel k = current_kernel();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("precision", precision_name(default_precision));
  out.Set("kernel", kernel_name(k, default_precision));
  Napi::Object kernels = Napi::Object::New(info.Env());
  kernels.Set("highest", kernel_name(k, MatmulPrecision::Highest));
  kernels.Set("medium", kernel_name(k, MatmulPrecision::Medium));
  out.Set("kernels", kernels);
  return out;
}

}  // namespace

bool default_precision_medium() { return default_precision == MatmulPrecision::Medium; }

void register_matmul(Napi::Env env, Napi::Object exports) {
  const struct { const char* name; Handler fn; int max_args; } functions[] = {
      {"matmul", matmul, 16},
      {"gemmKernel", gemm_kernel, 1},
      {"matmulPrecision", matmul_precision, 1},
  };
  for (const auto& f : functions) define(env, exports, f.name, f.fn, f.max_args, "cuda.");
}

}  // namespace tg::cuda_binding
