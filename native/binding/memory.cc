// Storage, threads and fills: alloc/free/read/write of buffers, allocator statistics, pool size,
// constant, range and random fills.
#include <cstring>

#include "binding/common.h"
#include "core/allocator.h"
#include "core/thread_pool.h"
#include "kernels/vector_kernels.h"
#include "math/bf16.h"
#include "ops/cast.h"
#include "ops/fill.h"

namespace tg::binding {
namespace {

DType dtype_arg(const Napi::CallbackInfo& info, int i, const char* op) {
  int64_t code = int_arg(info, i, op, "dtype");
  if (code < 0 || code >= kDTypeCount) throw_range(op, "unknown dtype code " + std::to_string(code));
  return static_cast<DType>(code);
}

// V8 is told of the bytes live buffers hold, so that native pressure triggers garbage collection: the JS
// objects that own gigabytes of tensors are only a few hundred bytes of JS heap. Cached blocks are not
// reported: collecting garbage cannot give them back.
// NOTE: JS calls this once per turn of the event loop in which buffers came or went (backend/cpu.ts), not at
// each allocation. Reported per buffer, the hundreds of MiB a training step allocates and frees again made V8
// start a concurrent collection at every step, whose threads took the kernels' cores (the demo's GRPO phase
// ran 1.6x slower). Nothing is lost: a buffer dropped without dispose() is freed by its finalizer, which runs
// only after JS yields to the event loop anyway.
int64_t reported_external_bytes = 0;

// reportExternalMemory() -> the live bytes V8 now knows of.
Napi::Value report_external_memory(const Napi::CallbackInfo& info) {
  int64_t live = static_cast<int64_t>(allocator_stats().live_bytes);
  if (live != reported_external_bytes) {
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), live - reported_external_bytes);
    reported_external_bytes = live;
  }
  return Napi::Number::New(info.Env(), static_cast<double>(live));
}

// alloc(numel, dtype) -> id. Contents are uninitialized.
Napi::Value alloc(const Napi::CallbackInfo& info) {
  int64_t numel = int_arg(info, 0, "alloc", "numel");
  DType dtype = dtype_arg(info, 1, "alloc");
  if (numel < 0 || numel > (int64_t(1) << 40)) throw_range("alloc", "invalid element count " + std::to_string(numel));
  Buffer b;
  b.dtype = dtype;
  b.nbytes = static_cast<size_t>(numel) * dtype_size(dtype);
  b.data = alloc_bytes(b.nbytes);
  double id = 0;
  try {
    id = register_buffer(b);
  } catch (...) {
    free_bytes(b.data, b.nbytes);
    throw;
  }
  return Napi::Number::New(info.Env(), id);
}

// free(id) -> true when this call released it, false when it was already released.
Napi::Value free_buffer(const Napi::CallbackInfo& info) {
  double id = number_arg(info, 0, "free", "id");
  Buffer* found = nullptr;
  try {
    found = &buffer_arg(info, 0, "free", "id");
  } catch (const ArgError&) {
    return Napi::Boolean::New(info.Env(), false);
  }
  Buffer released = *found;
  release_buffer(id);
  free_bytes(released.data, released.nbytes);
  return Napi::Boolean::New(info.Env(), true);
}

// The host arrays a buffer takes and gives: float32 <-> Float32Array, int32 <-> Int32Array, bfloat16 <->
// Float32Array (converted: rounded to nearest even on write) or Uint16Array (the raw bits, for files).
enum class HostArray { Same, Bf16FromFloat };

HostArray check_typed_array(const char* op, const Buffer& b, Napi::TypedArray a) {
  const napi_typedarray_type t = a.TypedArrayType();
  if (b.dtype == DType::BFloat16) {
    if (t == napi_float32_array) return HostArray::Bf16FromFloat;
    if (t == napi_uint16_array) return HostArray::Same;
    throw_type(op, "a bfloat16 buffer needs a Float32Array (values) or a Uint16Array (raw bits)");
  }
  bool ok = (b.dtype == DType::Float32 && t == napi_float32_array) || (b.dtype == DType::Int32 && t == napi_int32_array);
  if (!ok) throw_type(op, std::string("a ") + dtype_name(b.dtype) + " buffer needs a " +
                              (b.dtype == DType::Float32 ? "Float32Array" : "Int32Array"));
  return HostArray::Same;
}

Napi::TypedArray typed_array_arg(const Napi::CallbackInfo& info, int i, const char* op) {
  if (static_cast<int>(info.Length()) <= i || !info[i].IsTypedArray()) throw_type(op, "expected a typed array");
  return info[i].As<Napi::TypedArray>();
}

// write(id, elementOffset, typedArray): copies the array into the buffer.
Napi::Value write(const Napi::CallbackInfo& info) {
  Buffer& b = buffer_arg(info, 0, "write", "id");
  int64_t offset = int_arg(info, 1, "write", "offset");
  Napi::TypedArray a = typed_array_arg(info, 2, "write");
  HostArray kind = check_typed_array("write", b, a);
  int64_t count = static_cast<int64_t>(a.ElementLength());
  check_range("write", "destination", b, offset, count);
  const uint8_t* src = static_cast<const uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  if (kind == HostArray::Bf16FromFloat) {
    bf16_from_f32(typed<uint16_t>(b, offset), reinterpret_cast<const float*>(src), count);
  } else {
    const size_t size = dtype_size(b.dtype);
    std::memcpy(static_cast<uint8_t*>(b.data) + offset * size, src, static_cast<size_t>(count) * size);
  }
  return info.Env().Undefined();
}

// read(id, elementOffset, typedArray): copies from the buffer into the array.
Napi::Value read(const Napi::CallbackInfo& info) {
  Buffer& b = buffer_arg(info, 0, "read", "id");
  int64_t offset = int_arg(info, 1, "read", "offset");
  Napi::TypedArray a = typed_array_arg(info, 2, "read");
  HostArray kind = check_typed_array("read", b, a);
  int64_t count = static_cast<int64_t>(a.ElementLength());
  check_range("read", "source", b, offset, count);
  uint8_t* dst = static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  if (kind == HostArray::Bf16FromFloat) {
    bf16_to_f32(reinterpret_cast<float*>(dst), typed<uint16_t>(b, offset), count);
  } else {
    const size_t size = dtype_size(b.dtype);
    std::memcpy(dst, static_cast<const uint8_t*>(b.data) + offset * size, static_cast<size_t>(count) * size);
  }
  return info.Env().Undefined();
}

Napi::Value stats(const Napi::CallbackInfo& info) {
  AllocatorStats s = allocator_stats();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("liveBytes", Napi::Number::New(info.Env(), static_cast<double>(s.live_bytes)));
  o.Set("liveBuffers", Napi::Number::New(info.Env(), static_cast<double>(live_buffer_count())));
  o.Set("cachedBytes", Napi::Number::New(info.Env(), static_cast<double>(s.cached_bytes)));
  o.Set("peakBytes", Napi::Number::New(info.Env(), static_cast<double>(s.peak_live_bytes)));
  return o;
}

Napi::Value empty_cache(const Napi::CallbackInfo& info) {
  allocator_empty_cache();
  return info.Env().Undefined();
}

Napi::Value reset_peak(const Napi::CallbackInfo& info) {
  allocator_reset_peak();
  return info.Env().Undefined();
}

Napi::Value set_threads(const Napi::CallbackInfo& info) {
  int64_t n = int_arg(info, 0, "setNumThreads", "n");
  std::string problem = thread_count_problem(n);
  if (!problem.empty()) throw_range("setNumThreads", problem);
  set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

Napi::Value get_threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), num_threads()); }

Napi::Value cpu_features(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
#if defined(__x86_64__)
  __builtin_cpu_init();
  o.Set("arch", "x64");
  o.Set("avx2", Napi::Boolean::New(info.Env(), __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")));
  o.Set("avx512", Napi::Boolean::New(info.Env(), __builtin_cpu_supports("avx512f") != 0));
#else
  o.Set("arch", "other");
  o.Set("avx2", false);
  o.Set("avx512", false);
#endif
  return o;
}

// simdKernels(name?): selects the vector kernel set when given (avx512, avx2 or auto); returns the one in use.
Napi::Value simd_kernels(const Napi::CallbackInfo& info) {
  if (!absent(info, 0)) set_vector_kernels(string_arg(info, 0, "simdKernels", "name"));
  return Napi::String::New(info.Env(), vector_kernels().name);
}

// fill(id, offset, count, value): bfloat16 takes the value rounded to nearest even.
Napi::Value fill(const Napi::CallbackInfo& info) {
  Buffer& b = buffer_arg(info, 0, "fill", "id");
  int64_t offset = int_arg(info, 1, "fill", "offset");
  int64_t count = int_arg(info, 2, "fill", "count");
  double value = number_arg(info, 3, "fill", "value");
  check_range("fill", "destination", b, offset, count);
  if (b.dtype == DType::Float32) fill_f32(typed<float>(b, offset), count, static_cast<float>(value));
  else if (b.dtype == DType::BFloat16)
    fill_u16(typed<uint16_t>(b, offset), count, math::bf16_from_float(static_cast<float>(value)));
  else fill_i32(typed<int32_t>(b, offset), count, static_cast<int32_t>(value));
  return info.Env().Undefined();
}

// arange(id, count, start, step)
Napi::Value arange(const Napi::CallbackInfo& info) {
  Buffer& b = buffer_arg(info, 0, "arange", "id");
  int64_t count = int_arg(info, 1, "arange", "count");
  double start = number_arg(info, 2, "arange", "start");
  double step = number_arg(info, 3, "arange", "step");
  if (b.dtype == DType::BFloat16) throw_type("arange", "id must be float32 or int32, got bfloat16");
  check_range("arange", "destination", b, 0, count);
  if (b.dtype == DType::Float32) arange_f32(typed<float>(b, 0), count, start, step);
  else arange_i32(typed<int32_t>(b, 0), count, static_cast<int64_t>(start), static_cast<int64_t>(step));
  return info.Env().Undefined();
}

// randomFill(id, count, kind 0 uniform | 1 normal, seed, counter, a, b): uniform [a, b) or normal(a, b).
Napi::Value random_fill(const Napi::CallbackInfo& info) {
  Buffer& b = buffer_arg(info, 0, "randomFill", "id", DType::Float32);
  int64_t count = int_arg(info, 1, "randomFill", "count");
  int64_t kind = int_arg(info, 2, "randomFill", "kind");
  int64_t seed = int_arg(info, 3, "randomFill", "seed");
  int64_t counter = int_arg(info, 4, "randomFill", "counter");
  double p0 = number_arg(info, 5, "randomFill", "a");
  double p1 = number_arg(info, 6, "randomFill", "b");
  check_range("randomFill", "destination", b, 0, count);
  if (kind == 0) rand_uniform_f32(typed<float>(b, 0), count, static_cast<uint64_t>(seed), static_cast<uint64_t>(counter),
                                  static_cast<float>(p0), static_cast<float>(p1));
  else if (kind == 1) rand_normal_f32(typed<float>(b, 0), count, static_cast<uint64_t>(seed), static_cast<uint64_t>(counter),
                                      static_cast<float>(p0), static_cast<float>(p1));
  else throw_range("randomFill", "kind must be 0 (uniform) or 1 (normal)");
  return info.Env().Undefined();
}

}  // namespace

void register_memory(Napi::Env env, Napi::Object exports) {
  // Checked at load so that a bad value fails at once, as a RangeError like setNumThreads' own.
  std::string thread_problem = thread_env_problem();
  if (!thread_problem.empty()) throw Napi::RangeError::New(env, "thinkgrad: " + thread_problem);
  define(env, exports, "alloc", alloc, 2);
  define(env, exports, "free", free_buffer, 1);
  define(env, exports, "write", write, 3);
  define(env, exports, "read", read, 3);
  define(env, exports, "stats", stats, 0);
  define(env, exports, "reportExternalMemory", report_external_memory, 0);
  define(env, exports, "emptyCache", empty_cache, 0);
  define(env, exports, "resetPeak", reset_peak, 0);
  define(env, exports, "setNumThreads", set_threads, 1);
  define(env, exports, "numThreads", get_threads, 0);
  define(env, exports, "cpuFeatures", cpu_features, 0);
  define(env, exports, "simdKernels", simd_kernels, 1);
  define(env, exports, "fill", fill, 4);
  define(env, exports, "arange", arange, 4);
  define(env, exports, "randomFill", random_fill, 7);
}

}  // namespace tg::binding
