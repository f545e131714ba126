// The CUDA addon's N-API surface (thinkgrad_cuda.node): device query and device buffers (float32, int32,
// bf16) from the caching allocator (buffers.cc) here, then every op family of binding_families.h, validated
// with the CPU binding's argument readers. Without a driver or device every entry point but deviceInfo throws
// "no CUDA device (...)"; nothing here exits the process.
#include <cuda_runtime.h>
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "binding_families.h"
#include "buffers.h"
#include "math/bf16.h"

namespace {

using namespace tg::binding;
using namespace tg::cuda_binding;

// ---- device and buffers ------------------------------------------------------------------------------
Napi::Value device_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceState& d = dev();
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", Napi::Boolean::New(env, d.ok));
#ifdef THINKGRAD_CUDA_EMULATOR
  o.Set("emulated", Napi::Boolean::New(env, true));
#else
  o.Set("emulated", Napi::Boolean::New(env, false));
#endif
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
  return Napi::Number::New(info.Env(), static_cast<double>(allocate_buffer(op, static_cast<int>(dtype), numel)));
}

Napi::Value free_buffer(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), release_buffer(number_arg(info, 0, "cuda.free", "id")));
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
  const AllocatorStats s = allocator_stats();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("liveBytes", static_cast<double>(s.live_bytes));
  o.Set("liveBuffers", static_cast<double>(s.live_buffers));
  o.Set("peakBytes", static_cast<double>(s.peak_bytes));
  o.Set("cachedBytes", static_cast<double>(s.cached_bytes));
  return o;
}
Napi::Value empty_cache(const Napi::CallbackInfo& info) {
  if (dev().ok) check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  release_cache();
  return info.Env().Undefined();
}
Napi::Value reset_peak_bytes(const Napi::CallbackInfo& info) {
  reset_peak();
  return info.Env().Undefined();
}
Napi::Value synchronize(const Napi::CallbackInfo& info) {
  need_device();
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  return info.Env().Undefined();
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  const struct { const char* name; Handler fn; int max_args; } functions[] = {
      {"deviceInfo", device_info, 0},
      {"alloc", alloc, 2},
      {"free", free_buffer, 1},
      {"upload", upload, 3},
      {"download", download, 3},
      {"stats", stats, 0},
      {"resetPeak", reset_peak_bytes, 0},
      {"emptyCache", empty_cache, 0},
      {"synchronize", synchronize, 0},
  };
  for (const auto& f : functions) define(env, exports, f.name, f.fn, f.max_args, "cuda.");
#define TG_REGISTER_FAMILY(name) tg::cuda_binding::register_##name(env, exports);
  TG_CUDA_BINDING_FAMILIES(TG_REGISTER_FAMILY)
#undef TG_REGISTER_FAMILY
  return exports;
}

}  // namespace

NODE_API_MODULE(thinkgrad_cuda, init)
