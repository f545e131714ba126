// The CUDA binding's toolkit (buffers.h): device probe, buffer table, caching allocator, argument readers.
#include "buffers.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "grpo.cuh"

namespace tg::cuda_binding {

using namespace tg::binding;

void check(const std::string& err) {
  if (!err.empty()) throw std::runtime_error(err);
}
void check(cudaError_t e, const char* what) { check(tg::cuda::cuda_error_string(e, what)); }

namespace {

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

}  // namespace

void release_cache() {
  for (auto& [size, blocks] : free_blocks())
    for (void* p : blocks) cudaFree(p);
  free_blocks().clear();
  cached_bytes = 0;
}

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

bool tensor_cores_bf16() {
#ifdef THINKGRAD_CUDA_EMULATOR
  return true;
#else
  return dev().ok && dev().prop.major >= 8;
#endif
}

DeviceState& need_device() {
  DeviceState& d = dev();
  if (!d.ok) throw std::runtime_error(d.reason);
  return d;
}

namespace {
DevBuffer& lookup(double id, const char* op, const std::string& name) {
  auto it = id >= 1 && id == std::floor(id) ? table().find(static_cast<uint64_t>(id)) : table().end();
  if (it == table().end()) throw_range(op, name + " refers to a disposed or unknown device buffer");
  return it->second;
}
DevBuffer& expect_dtype(DevBuffer& b, const char* op, const std::string& name, int dtype) {
  if (b.dtype != dtype) throw_type(op, name + " must be " + dtype_name(dtype) + ", got " + dtype_name(b.dtype));
  return b;
}
}  // namespace

DevBuffer& buffer_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  expect_arity(info, i, op, name);
  if (!info[i].IsNumber()) throw_type(op, std::string(name) + " must be a device buffer id (number)");
  return lookup(info[i].As<Napi::Number>().DoubleValue(), op, name);
}
DevBuffer& buffer_by_id(double id, const char* op, const std::string& name, int dtype) {
  return expect_dtype(lookup(id, op, name), op, name, dtype);
}
DevBuffer& typed_buffer(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int dtype, int64_t count) {
  DevBuffer& b = expect_dtype(buffer_arg(info, i, op, name), op, name, dtype);
  if (count > b.numel())
    throw_range(op, std::string(name) + " needs " + std::to_string(count) + " elements, its buffer has " + std::to_string(b.numel()));
  return b;
}

tg::binding::TensorSpan<DevBuffer> tensor_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int dtype) {
  DevBuffer& b = typed_buffer(info, i, op, name, dtype, 0);
  return tg::binding::TensorSpan<DevBuffer>{&b, tg::binding::int_arg(info, i + 1, op, (std::string(name) + " offset").c_str()), name};
}
float* f32(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int64_t count) {
  return static_cast<float*>(typed_buffer(info, i, op, name, kF32, count).data);
}
float* opt_f32(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int64_t count) {
  return absent(info, i) ? nullptr : f32(info, i, op, name, count);
}

uint64_t allocate_buffer(const char* op, int dtype, int64_t numel) {
  if (dtype < 0 || dtype > 2) throw_range(op, "unknown dtype code " + std::to_string(dtype) + " (0 float32, 1 int32, 2 bfloat16)");
  if (numel < 0 || numel > (int64_t(1) << 40)) throw_range(op, "invalid element count " + std::to_string(numel));
  need_device();
  DevBuffer b;
  b.dtype = dtype;
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
  return id;
}

bool release_buffer(double id) {
  auto it = id >= 1 && id == std::floor(id) ? table().find(static_cast<uint64_t>(id)) : table().end();
  if (it == table().end()) return false;
  if (it->second.data) give_block(it->second.data, it->second.block);
  live_bytes -= it->second.nbytes;
  table().erase(it);
  return true;
}

AllocatorStats allocator_stats() { return {live_bytes, table().size(), peak_bytes, cached_bytes}; }
void reset_peak() { peak_bytes = live_bytes; }

DevBuffer& range_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int dtype, int64_t offset,
                     int64_t count) {
  DevBuffer& b = typed_buffer(info, i, op, name, dtype, 0);
  check_elements(op, name, b.numel(), offset, count);
  return b;
}

DevBuffer& view_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int dtype, int64_t offset,
                    const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  DevBuffer& b = typed_buffer(info, i, op, name, dtype, 0);
  check_view_elements(op, name, b.numel(), offset, shape, strides);
  return b;
}

}  // namespace tg::cuda_binding
