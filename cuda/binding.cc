// The CUDA addon's own N-API surface (thinkgrad_cuda.node): device query, device buffers (float32, int32,
// bf16) from a caching allocator, upload/download, and the GRPO kernels (selective log-softmax, loss, group
// advantages), validated with the CPU binding's argument readers. Without a driver or device every entry point
// but deviceInfo throws "no CUDA device (...)"; nothing here exits the process.
#include <cuda_runtime.h>
#include <napi.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "binding/args.h"
#include "binding/grpo_args.h"
#include "grpo.cuh"
#include "math/bf16.h"

namespace {

using namespace tg::binding;

// dtype codes: 0 float32, 1 int32 (as the CPU addon), 2 bfloat16 (device only).
enum DevDType : int { kF32 = 0, kI32 = 1, kBF16 = 2 };
const char* dtype_name(int d) { return d == kF32 ? "float32" : d == kI32 ? "int32" : "bfloat16"; }
size_t dtype_size(int d) { return d == kBF16 ? 2 : 4; }

struct DevBuffer {
  void* data = nullptr;
  size_t nbytes = 0;
  size_t block = 0;  // bytes of the allocator's block behind data (nbytes rounded up)
  int dtype = kF32;
  int64_t numel() const { return static_cast<int64_t>(nbytes / dtype_size(dtype)); }
};

// A CUDA failure; the export wrapper prefixes "thinkgrad.cuda.<op>: ".
void check(const std::string& err) {
  if (!err.empty()) throw std::runtime_error(err);
}
void check(cudaError_t e, const char* what) { check(tg::cuda::cuda_error_string(e, what)); }

std::unordered_map<uint64_t, DevBuffer>& table() {
  static auto* t = new std::unordered_map<uint64_t, DevBuffer>();
  return *t;
}
uint64_t next_id = 1;
size_t live_bytes = 0, peak_bytes = 0;

// The caching allocator: a freed buffer's block goes to a free list of its size class and the next allocation of
// that class takes it, so steady-state ops never call cudaMalloc. Every launch and copy here runs on the legacy
// default stream, so a block freed after the work that used it was queued is safe to hand to later work (stream
// order: no event needed). Size classes: multiples of 512 bytes below 1 MiB, of 2 MiB above (as PyTorch rounds).
// emptyCache() (and an out-of-memory cudaMalloc, once) returns the cached blocks to the driver.
std::unordered_map<size_t, std::vector<void*>>& free_blocks() {
  static auto* m = new std::unordered_map<size_t, std::vector<void*>>();
  return *m;
}
size_t cached_bytes = 0;

size_t block_size(size_t nbytes) {
  const size_t small = 512, large = size_t(2) << 20;
  return nbytes < (size_t(1) << 20) ? (nbytes + small - 1) / small * small : (nbytes + large - 1) / large * large;
}

void release_cache() {
  for (auto& [size, blocks] : free_blocks())
    for (void* p : blocks) cudaFree(p);
  free_blocks().clear();
  cached_bytes = 0;
}

// A block of `bytes` (a size class), from the cache or cudaMalloc; nullptr with `e` set when the device is out.
void* take_block(size_t bytes, cudaError_t& e) {
  auto it = free_blocks().find(bytes);
  if (it != free_blocks().end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    cached_bytes -= bytes;
#ifdef THINKGRAD_CUDA_EMULATOR
    std::memset(p, 0xff, bytes);  // reused blocks start poisoned too, as fresh emulated memory does
#endif
    return p;
  }
  void* p = nullptr;
  e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess && cached_bytes > 0) {
    cudaGetLastError();
    release_cache();
    e = cudaMalloc(&p, bytes);
  }
  return e == cudaSuccess ? p : nullptr;
}

void give_block(void* p, size_t bytes) {
  free_blocks()[bytes].push_back(p);
  cached_bytes += bytes;
}

// Device state, probed once.
struct DeviceState {
  bool probed = false, ok = false;
  std::string reason;
  int count = 0;
  cudaDeviceProp prop{};
  int* status = nullptr;       // 2 ints for the forward's error rows
  void* scratch = nullptr;     // the loss's per-sequence sums, groupAdvantages' inputs
  size_t scratch_bytes = 0;
  double* result = nullptr;    // 9 doubles
};
DeviceState& dev() {
  static DeviceState d;
  if (!d.probed) {
    d.probed = true;
    cudaError_t e = cudaGetDeviceCount(&d.count);
    if (e != cudaSuccess) {
      // 35 = cudaErrorInsufficientDriver (no driver), 100 = cudaErrorNoDevice.
      d.reason = std::string("no CUDA device (cudaGetDeviceCount: ") + cudaGetErrorName(e) + ", error " +
                 std::to_string(static_cast<int>(e)) + ": " + cudaGetErrorString(e) + ")";
      d.count = 0;
      cudaGetLastError();
    } else if (d.count == 0) {
      d.reason = "no CUDA device (cudaGetDeviceCount returned 0)";
    } else if ((e = cudaGetDeviceProperties(&d.prop, 0)) != cudaSuccess) {
      d.reason = std::string("no usable CUDA device (cudaGetDeviceProperties: ") + cudaGetErrorString(e) + ")";
    } else if ((e = cudaMalloc(&d.status, 2 * sizeof(int))) != cudaSuccess ||
               (e = cudaMalloc(&d.result, 16 * sizeof(double))) != cudaSuccess) {
      d.reason = std::string("CUDA device unusable (cudaMalloc: ") + cudaGetErrorString(e) + ")";
    } else {
      d.ok = true;
    }
  }
  return d;
}
// The device scratch, grown to at least `bytes`.
void* scratch(DeviceState& d, size_t bytes) {
  if (d.scratch_bytes < bytes) {
    if (d.scratch) cudaFree(d.scratch);
    d.scratch = nullptr;
    d.scratch_bytes = 0;
    check(cudaMalloc(&d.scratch, bytes), "cudaMalloc (scratch)");
    d.scratch_bytes = bytes;
  }
  return d.scratch;
}

DeviceState& need_device() {
  DeviceState& d = dev();
  if (!d.ok) throw std::runtime_error(d.reason);
  return d;
}

DevBuffer& buffer_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  expect_arity(info, i, op, name);
  if (!info[i].IsNumber()) throw_type(op, std::string(name) + " must be a device buffer id (number)");
  double id = info[i].As<Napi::Number>().DoubleValue();
  auto it = id >= 1 && id == std::floor(id) ? table().find(static_cast<uint64_t>(id)) : table().end();
  if (it == table().end()) throw_range(op, std::string(name) + " refers to a disposed or unknown device buffer");
  return it->second;
}
DevBuffer& typed_buffer(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int dtype, int64_t count) {
  DevBuffer& b = buffer_arg(info, i, op, name);
  if (b.dtype != dtype) throw_type(op, std::string(name) + " must be " + dtype_name(dtype) + ", got " + dtype_name(b.dtype));
  if (count > b.numel())
    throw_range(op, std::string(name) + " needs " + std::to_string(count) + " elements, its buffer has " + std::to_string(b.numel()));
  return b;
}
float* f32(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int64_t count) {
  return static_cast<float*>(typed_buffer(info, i, op, name, kF32, count).data);
}
float* opt_f32(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int64_t count) {
  return absent(info, i) ? nullptr : f32(info, i, op, name, count);
}

// ---- device and buffers ------------------------------------------------------------------------------
Napi::Value device_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceState& d = dev();
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", Napi::Boolean::New(env, d.ok));
  o.Set("reason", d.ok ? std::string() : d.reason);
  o.Set("count", d.count);
  if (d.ok) {
    o.Set("name", std::string(d.prop.name));
    o.Set("computeCapability", std::to_string(d.prop.major) + "." + std::to_string(d.prop.minor));
    o.Set("totalMemory", static_cast<double>(d.prop.totalGlobalMem));
    o.Set("multiprocessors", d.prop.multiProcessorCount);
    o.Set("l2CacheBytes", d.prop.l2CacheSize);
  }
  int rt = 0, drv = 0;
  cudaRuntimeGetVersion(&rt);
  cudaDriverGetVersion(&drv);
  o.Set("runtimeVersion", rt);
  o.Set("driverVersion", drv);
  return o;
}

Napi::Value alloc(const Napi::CallbackInfo& info) {
  const char* op = "cuda.alloc";
  int64_t numel = int_arg(info, 0, op, "numel");
  int64_t dtype = int_arg(info, 1, op, "dtype");
  if (dtype < 0 || dtype > 2) throw_range(op, "unknown dtype code " + std::to_string(dtype) + " (0 float32, 1 int32, 2 bfloat16)");
  if (numel < 0 || numel > (int64_t(1) << 40)) throw_range(op, "invalid element count " + std::to_string(numel));
  need_device();
  DevBuffer b;
  b.dtype = static_cast<int>(dtype);
  b.nbytes = static_cast<size_t>(numel) * dtype_size(b.dtype);
  if (b.nbytes > 0) {
    cudaError_t e = cudaSuccess;
    b.block = block_size(b.nbytes);
    b.data = take_block(b.block, e);
    if (!b.data) {
      cudaGetLastError();
      throw_range(op, "out of device memory allocating " + std::to_string(b.nbytes) + " bytes (" + cudaGetErrorString(e) + ")");
    }
  }
  uint64_t id = next_id++;
  table().emplace(id, b);
  live_bytes += b.nbytes;
  peak_bytes = std::max(peak_bytes, live_bytes);
  return Napi::Number::New(info.Env(), static_cast<double>(id));
}

Napi::Value free_buffer(const Napi::CallbackInfo& info) {
  double id = number_arg(info, 0, "cuda.free", "id");
  auto it = id >= 1 && id == std::floor(id) ? table().find(static_cast<uint64_t>(id)) : table().end();
  if (it == table().end()) return Napi::Boolean::New(info.Env(), false);
  if (it->second.data) give_block(it->second.data, it->second.block);
  live_bytes -= it->second.nbytes;
  table().erase(it);
  return Napi::Boolean::New(info.Env(), true);
}

// upload(id, elementOffset, typedArray) / download(id, elementOffset, typedArray). float32 <-> Float32Array,
// int32 <-> Int32Array, bfloat16 <-> Uint16Array (raw bits) or Float32Array (converted, round to nearest even).
Napi::Value transfer(const Napi::CallbackInfo& info, bool up) {
  const char* op = up ? "cuda.upload" : "cuda.download";
  DevBuffer& b = buffer_arg(info, 0, op, "id");
  int64_t offset = int_arg(info, 1, op, "offset");
  if (static_cast<int>(info.Length()) <= 2 || !info[2].IsTypedArray()) throw_type(op, "expected a typed array");
  Napi::TypedArray a = info[2].As<Napi::TypedArray>();
  napi_typedarray_type t = a.TypedArrayType();
  bool convert = false;
  bool ok = (b.dtype == kF32 && t == napi_float32_array) || (b.dtype == kI32 && t == napi_int32_array) ||
            (b.dtype == kBF16 && t == napi_uint16_array) || (convert = (b.dtype == kBF16 && t == napi_float32_array));
  if (!ok)
    throw_type(op, std::string("a ") + dtype_name(b.dtype) + " buffer needs a " +
                       (b.dtype == kF32 ? "Float32Array" : b.dtype == kI32 ? "Int32Array" : "Uint16Array or Float32Array"));
  int64_t count = static_cast<int64_t>(a.ElementLength());
  if (offset < 0 || offset + count > b.numel())
    throw_range(op, "elements [" + std::to_string(offset) + ", " + std::to_string(offset + count) + ") exceed the buffer of " +
                        std::to_string(b.numel()));
  need_device();
  uint8_t* host = static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  uint8_t* devp = static_cast<uint8_t*>(b.data) + offset * dtype_size(b.dtype);
  size_t nbytes = static_cast<size_t>(count) * dtype_size(b.dtype);
  if (count == 0) return info.Env().Undefined();
  if (!convert) {
    check(up ? cudaMemcpy(devp, host, nbytes, cudaMemcpyHostToDevice) : cudaMemcpy(host, devp, nbytes, cudaMemcpyDeviceToHost),
          "cudaMemcpy");
  } else {
    std::vector<uint16_t> tmp(static_cast<size_t>(count));
    float* f = reinterpret_cast<float*>(host);
    if (up) {
      for (int64_t i = 0; i < count; ++i) tmp[i] = tg::math::bf16_from_float(f[i]);
      check(cudaMemcpy(devp, tmp.data(), nbytes, cudaMemcpyHostToDevice), "cudaMemcpy");
    } else {
      check(cudaMemcpy(tmp.data(), devp, nbytes, cudaMemcpyDeviceToHost), "cudaMemcpy");
      for (int64_t i = 0; i < count; ++i) f[i] = tg::math::bf16_to_float(tmp[i]);
    }
  }
  return info.Env().Undefined();
}
Napi::Value upload(const Napi::CallbackInfo& info) { return transfer(info, true); }
Napi::Value download(const Napi::CallbackInfo& info) { return transfer(info, false); }

Napi::Value stats(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("liveBytes", static_cast<double>(live_bytes));
  o.Set("liveBuffers", static_cast<double>(table().size()));
  o.Set("peakBytes", static_cast<double>(peak_bytes));
  o.Set("cachedBytes", static_cast<double>(cached_bytes));
  return o;
}
Napi::Value empty_cache(const Napi::CallbackInfo& info) {
  if (dev().ok) check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  release_cache();
  return info.Env().Undefined();
}
Napi::Value reset_peak(const Napi::CallbackInfo& info) {
  peak_bytes = live_bytes;
  return info.Env().Undefined();
}
Napi::Value synchronize(const Napi::CallbackInfo& info) {
  need_device();
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  return info.Env().Undefined();
}

// ---- GRPO ----------------------------------------------------------------------------------------------
struct LogitsView {
  DevBuffer* buf;
  void* ptr;
  bool bf16;
};
LogitsView logits_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int64_t n, int64_t v,
                      int64_t offset, int64_t ld) {
  DevBuffer& b = buffer_arg(info, i, op, name);
  if (b.dtype == kI32) throw_type(op, std::string(name) + " must be float32 or bfloat16, got int32");
  check_logits_view(op, name, n, v, offset, ld, b.numel());
  return {&b, static_cast<uint8_t*>(b.data) + offset * dtype_size(b.dtype), b.dtype == kBF16};
}
void check_nv(const char* op, int64_t n, int64_t v) {
  if (n < 0 || n > INT_MAX - 1) throw_range(op, "N must be in [0, 2^31 - 1), got " + std::to_string(n));
  if (v < 1 || v > (int64_t(1) << 31)) throw_range(op, "V must be in [1, 2^31], got " + std::to_string(v));
}

// selectiveLogSoftmax(logits, offset, rowStride, ids, n, v, temperature, lp, lse, entropy | null)
// Same contract as the CPU addon; ids out of [0, V) and non-finite rows are found on the device and reported.
Napi::Value selective_forward(const Napi::CallbackInfo& info) {
  const char* op = "cuda.selectiveLogSoftmax";
  int64_t offset = int_arg(info, 1, op, "offset");
  int64_t ld = int_arg(info, 2, op, "rowStride");
  int64_t n = int_arg(info, 4, op, "n");
  int64_t v = int_arg(info, 5, op, "v");
  check_nv(op, n, v);
  LogitsView x = logits_arg(info, 0, op, "logits", n, v, offset, ld);
  const int32_t* ids = static_cast<const int32_t*>(typed_buffer(info, 3, op, "ids", kI32, n).data);
  float t = temperature_arg(info, 6, op);
  float* lp = f32(info, 7, op, "lp", n);
  float* lse = f32(info, 8, op, "lse", n);
  float* ent = opt_f32(info, 9, op, "entropy", n);
  if (lp == lse || (ent && (ent == lp || ent == lse))) throw_range(op, "lp, lse and entropy must be different buffers");
  DeviceState& d = need_device();
  const int init[2] = {INT_MAX, INT_MAX};
  check(cudaMemcpyAsync(d.status, init, sizeof init, cudaMemcpyHostToDevice, 0), "cudaMemcpyAsync");
  check(tg::cuda::launch_selective_forward(lp, lse, ent, x.ptr, x.bf16, ld, ids, n, v, t, d.status, 0));
  int status[2];
  check(cudaMemcpy(status, d.status, sizeof status, cudaMemcpyDeviceToHost), "cudaMemcpy (status)");
  if (status[1] != INT_MAX) {
    int32_t bad = 0;
    cudaMemcpy(&bad, ids + status[1], sizeof bad, cudaMemcpyDeviceToHost);
    throw_range(op, "ids[" + std::to_string(status[1]) + "] = " + std::to_string(bad) + " is out of range [0, " +
                        std::to_string(v) + ") for logits " + nv_str(n, v));
  }
  if (status[0] != INT_MAX)
    throw_range(op, "logits " + nv_str(n, v) + " row " + std::to_string(status[0]) +
                        " holds NaN or Inf (non-finite log-sum-exp or log-prob); check the model's outputs");
  return info.Env().Undefined();
}

// selectiveLogSoftmaxBackward(dlogits, dOffset, dRowStride, logits, offset, rowStride, ids, lse, glp,
//                             gentropy | null, entropy | null, n, v, temperature)
Napi::Value selective_backward(const Napi::CallbackInfo& info) {
  const char* op = "cuda.selectiveLogSoftmaxBackward";
  int64_t doff = int_arg(info, 1, op, "dOffset");
  int64_t dld = int_arg(info, 2, op, "dRowStride");
  int64_t offset = int_arg(info, 4, op, "offset");
  int64_t ld = int_arg(info, 5, op, "rowStride");
  int64_t n = int_arg(info, 11, op, "n");
  int64_t v = int_arg(info, 12, op, "v");
  check_nv(op, n, v);
  LogitsView d = logits_arg(info, 0, op, "dlogits", n, v, doff, dld);
  LogitsView x = logits_arg(info, 3, op, "logits", n, v, offset, ld);
  if (d.bf16 != x.bf16) throw_type(op, std::string("dlogits must have the logits' dtype (") + (x.bf16 ? "bfloat16" : "float32") + ")");
  check_inplace_view(op, d.buf == x.buf, doff, dld, offset, ld);
  const int32_t* ids = static_cast<const int32_t*>(typed_buffer(info, 6, op, "ids", kI32, n).data);
  const float* lse = f32(info, 7, op, "lse", n);
  const float* glp = f32(info, 8, op, "glp", n);
  const float* gent = opt_f32(info, 9, op, "gentropy", n);
  const float* ent = opt_f32(info, 10, op, "entropy", n);
  float t = temperature_arg(info, 13, op);
  if ((gent == nullptr) != (ent == nullptr)) throw_type(op, "gentropy and entropy must be given together (both buffers or both null)");
  need_device();
  // NOTE: ids are only compared with column indices here (never used to address memory), so an id out of
  // range cannot fault; the forward that produced lse has already rejected such ids.
  check(tg::cuda::launch_selective_backward(d.ptr, dld, x.ptr, ld, x.bf16, ids, lse, glp, gent, ent, n, v, t, 0));
  return info.Env().Undefined();
}

// grpoLoss(lp, oldLp | null, refLp | null, adv, advPerToken, mask, entropy | null, dlp | null, B, L, options)
Napi::Value grpo_loss(const Napi::CallbackInfo& info) {
  const char* op = "cuda.grpoLoss";
  int64_t b = int_arg(info, 8, op, "B");
  int64_t l = int_arg(info, 9, op, "L");
  if (b < 0 || l < 0 || b > INT_MAX || (l > 0 && b > (int64_t(1) << 40) / l)) throw_range(op, "invalid shape (B, L) = " + nv_str(b, l));
  const int64_t n = b * l;
  const tg::GrpoLossConfig cfg = grpo_loss_options(info, 10, op);
  tg::cuda::LossArgs a{};
  a.loss_type = cfg.loss_type;
  a.sequence_is = cfg.sequence_is;
  a.eps_low = cfg.eps_low;
  a.eps_high = cfg.eps_high;
  a.beta = cfg.beta;
  a.normalizer = static_cast<float>(cfg.normalizer);
  a.max_len = cfg.max_len;
  a.b = b;
  a.l = l;
  a.lp = f32(info, 0, op, "lp", n);
  a.old_lp = opt_f32(info, 1, op, "oldLp", n);
  a.ref_lp = opt_f32(info, 2, op, "refLp", n);
  if (a.beta > 0 && !a.ref_lp) throw_type(op, "beta > 0 needs refLp (reference log-probs (B, L) = " + nv_str(b, l) + ")");
  a.adv_per_token = bool_arg(info, 4, op, "advPerToken");
  a.adv = f32(info, 3, op, "advantages", a.adv_per_token ? n : b);
  a.mask = f32(info, 5, op, "mask", n);
  a.entropy = opt_f32(info, 6, op, "entropy", n);
  a.dlp = opt_f32(info, 7, op, "dlp", n);
  if (a.dlp && (a.dlp == a.lp || a.dlp == a.old_lp || a.dlp == a.ref_lp || a.dlp == a.adv || a.dlp == a.mask || a.dlp == a.entropy))
    throw_range(op, "dlp must not be one of the inputs");
  DeviceState& d = need_device();
  check(tg::cuda::launch_grpo_loss(d.result, scratch(d, tg::cuda::loss_scratch_bytes(b)), a, 0));
  double r[9];
  check(cudaMemcpy(r, d.result, sizeof r, cudaMemcpyDeviceToHost), "cudaMemcpy (result)");
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  const char* names[9] = {"loss", "clipLow", "clipHigh", "clipRegion", "kl", "entropy", "ratio", "tokens", "divisor"};
  for (int k = 0; k < 9; ++k) out.Set(names[k], r[k]);
  if (!std::isfinite(r[0])) throw_range(op, "the loss is not finite for (B, L) = " + nv_str(b, l) + " (NaN/Inf in the inputs?)");
  return out;
}

// groupAdvantages(rewards Float32Array (N, R), weights Float32Array (R), n, r, group, scaleRewards, advantages,
//                 totals | null) -> { fracZeroStd, zeroStdGroups, mean, std }. The host inputs are checked as the
// CPU addon checks them and uploaded; advantages (N) and totals (N) are written on the device, ready for grpoLoss.
Napi::Value group_advantages(const Napi::CallbackInfo& info) {
  const char* op = "cuda.groupAdvantages";
  const GroupAdvantageArgs g = group_advantage_args(info, op);
  float* adv = f32(info, 6, op, "advantages", g.n);
  float* total = opt_f32(info, 7, op, "totals", g.n);
  if (total == adv) throw_range(op, "advantages and totals must be different buffers");
  DeviceState& d = need_device();
  const size_t reward_bytes = static_cast<size_t>(g.n * g.r) * sizeof(float), weight_bytes = static_cast<size_t>(g.r) * sizeof(float);
  float* inputs = static_cast<float*>(scratch(d, reward_bytes + weight_bytes + (total ? 0 : static_cast<size_t>(g.n) * sizeof(float))));
  float* weights = inputs + g.n * g.r;
  if (!total) total = weights + g.r;
  if (reward_bytes) check(cudaMemcpy(inputs, g.rewards, reward_bytes, cudaMemcpyHostToDevice), "cudaMemcpy (rewards)");
  check(cudaMemcpy(weights, g.weights, weight_bytes, cudaMemcpyHostToDevice), "cudaMemcpy (weights)");
  check(tg::cuda::launch_group_advantages(adv, total, d.result, inputs, weights, g.n, g.r, g.group, g.scale, 0));
  double stats[3];
  check(cudaMemcpy(stats, d.result, sizeof stats, cudaMemcpyDeviceToHost), "cudaMemcpy (stats)");
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("fracZeroStd", g.n > 0 ? stats[2] * static_cast<double>(g.group) / static_cast<double>(g.n) : 0.0);
  o.Set("zeroStdGroups", stats[2]);
  o.Set("mean", stats[0]);
  o.Set("std", stats[1]);
  return o;
}

// benchSelective(logits, ids, lp, lse, glp, dlogits, n, v, temperature, reps) -> { fwdMs, bwdMs, fwdBwdMs }:
// medians over `reps` runs timed with CUDA events after 3 warm-up runs. dlogits may be the logits (in place,
// then the logits are overwritten: time on a copy).
Napi::Value bench_selective(const Napi::CallbackInfo& info) {
  const char* op = "cuda.benchSelective";
  int64_t n = int_arg(info, 6, op, "n");
  int64_t v = int_arg(info, 7, op, "v");
  check_nv(op, n, v);
  LogitsView x = logits_arg(info, 0, op, "logits", n, v, 0, v);
  const int32_t* ids = static_cast<const int32_t*>(typed_buffer(info, 1, op, "ids", kI32, n).data);
  float* lp = f32(info, 2, op, "lp", n);
  float* lse = f32(info, 3, op, "lse", n);
  float* glp = f32(info, 4, op, "glp", n);
  LogitsView d = logits_arg(info, 5, op, "dlogits", n, v, 0, v);
  float t = temperature_arg(info, 8, op);
  int64_t reps = int_arg(info, 9, op, "reps");
  if (reps < 1 || reps > 100000) throw_range(op, "reps must be in [1, 100000]");
  if (d.bf16 != x.bf16) throw_type(op, "dlogits must have the logits' dtype");
  DeviceState& dv = need_device();
  cudaEvent_t e0, e1, e2;
  check(cudaEventCreate(&e0), "cudaEventCreate");
  check(cudaEventCreate(&e1), "cudaEventCreate");
  check(cudaEventCreate(&e2), "cudaEventCreate");
  std::vector<float> fwd, bwd, both;
  std::string err;
  for (int64_t r = 0; r < reps + 3 && err.empty(); ++r) {
    cudaEventRecord(e0, 0);
    err = tg::cuda::launch_selective_forward(lp, lse, nullptr, x.ptr, x.bf16, v, ids, n, v, t, dv.status, 0);
    cudaEventRecord(e1, 0);
    if (err.empty()) err = tg::cuda::launch_selective_backward(d.ptr, v, x.ptr, v, x.bf16, ids, lse, glp, nullptr, nullptr, n, v, t, 0);
    cudaEventRecord(e2, 0);
    if (err.empty()) err = tg::cuda::cuda_error_string(cudaEventSynchronize(e2), "cudaEventSynchronize");
    float a = 0, b = 0;
    cudaEventElapsedTime(&a, e0, e1);
    cudaEventElapsedTime(&b, e1, e2);
    if (r >= 3) {
      fwd.push_back(a);
      bwd.push_back(b);
      both.push_back(a + b);
    }
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cudaEventDestroy(e2);
  check(err);
  auto median = [](std::vector<float>& xs) {
    std::sort(xs.begin(), xs.end());
    return static_cast<double>(xs[xs.size() / 2]);
  };
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("fwdMs", median(fwd));
  o.Set("bwdMs", median(bwd));
  o.Set("fwdBwdMs", median(both));
  return o;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  const struct { const char* name; Handler fn; int max_args; } functions[] = {
      {"deviceInfo", device_info, 0},
      {"alloc", alloc, 2},
      {"free", free_buffer, 1},
      {"upload", upload, 3},
      {"download", download, 3},
      {"stats", stats, 0},
      {"resetPeak", reset_peak, 0},
      {"emptyCache", empty_cache, 0},
      {"synchronize", synchronize, 0},
      {"selectiveLogSoftmax", selective_forward, 10},
      {"selectiveLogSoftmaxBackward", selective_backward, 14},
      {"grpoLoss", grpo_loss, 11},
      {"groupAdvantages", group_advantages, 8},
      {"benchSelective", bench_selective, 10},
  };
  for (const auto& f : functions) define(env, exports, f.name, f.fn, f.max_args, "cuda.");
  return exports;
}

}  // namespace

NODE_API_MODULE(thinkgrad_cuda, init)
