// The CUDA binding's toolkit, shared by its families (binding_*.cc): the device, the table of device buffers
// that JS refers to by id, the caching allocator behind it, and argument readers that check every id, dtype,
// element range and strided view before a kernel sees a pointer (errors name the op, as the CPU binding's do).
#pragma once
#include <cuda_runtime.h>
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "binding/args.h"
#include "binding/tensor_args.h"

namespace tg::cuda_binding {

// dtype codes: 0 float32, 1 int32 (as the CPU addon), 2 bfloat16 (device only).
enum DevDType : int { kF32 = 0, kI32 = 1, kBF16 = 2 };
inline const char* dtype_name(int d) { return d == kF32 ? "float32" : d == kI32 ? "int32" : "bfloat16"; }
inline size_t dtype_size(int d) { return d == kBF16 ? 2 : 4; }

struct DevBuffer {
  void* data = nullptr;
  size_t nbytes = 0;
  size_t block = 0;  // bytes of the allocator's block behind data (nbytes rounded up)
  int dtype = kF32;
  int64_t numel() const { return static_cast<int64_t>(nbytes / dtype_size(dtype)); }
  template <class T>
  T* at(int64_t offset) const {
    return reinterpret_cast<T*>(static_cast<uint8_t*>(data) + offset * static_cast<int64_t>(dtype_size(dtype)));
  }
};

// A CUDA failure (a launcher's message, or a runtime call's error); the export wrapper prefixes
// "thinkgrad.cuda.<op>: ".
void check(const std::string& err);
void check(cudaError_t e, const char* what);

// The device, probed once: why it cannot run, or its properties and the small buffers the bindings share.
struct DeviceState {
  bool probed = false, ok = false;
  std::string reason;
  int count = 0;
  cudaDeviceProp prop{};
  int* status = nullptr;    // 2 ints for the GRPO forward's error rows
  void* scratch = nullptr;  // per-call device scratch (see scratch())
  size_t scratch_bytes = 0;
  double* result = nullptr;  // 16 doubles of per-call results
};
DeviceState& dev();
// Whether the device runs bf16 mma.sync (compute capability 8.0, Ampere, or newer; the emulator runs it anywhere):
// the kernels of 'medium' precision on tensor cores, otherwise float32 on CUDA cores.
bool tensor_cores_bf16();
// Whether the process default of float32 products (matmulPrecision, binding_matmul.cc) is 'medium': what an
// entry point called without its precision argument computes at, as on the CPU.
bool default_precision_medium();
// The device, or the reason it cannot run as an Error.
DeviceState& need_device();
// The device scratch, grown to at least `bytes`. One call's: the next call may reuse or move it (growing it
// frees the old block, which waits for queued work).
void* scratch(DeviceState& d, size_t bytes);

// Buffer table and allocator (binding.cc's storage entry points).
uint64_t allocate_buffer(const char* op, int dtype, int64_t numel);
bool release_buffer(double id);
struct AllocatorStats {
  size_t live_bytes, live_buffers, peak_bytes, cached_bytes;
};
AllocatorStats allocator_stats();
void reset_peak();
void release_cache();

// Argument readers: `op` and `name` appear in the error message.
DevBuffer& buffer_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name);
// The buffer with id `id` (an element of an id list), of `dtype`; errors name `op` and `name`.
DevBuffer& buffer_by_id(double id, const char* op, const std::string& name, int dtype);
// A buffer of `dtype` with at least `count` elements.
DevBuffer& typed_buffer(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int dtype, int64_t count);
// A tensor argument: the buffer (of `dtype`) at position i and its element offset at i + 1.
tg::binding::TensorSpan<DevBuffer> tensor_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int dtype = kF32);
float* f32(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int64_t count);
float* opt_f32(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int64_t count);
// A buffer of `dtype` holding elements [offset, offset + count).
DevBuffer& range_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int dtype, int64_t offset,
                     int64_t count);
// A buffer of `dtype` holding the strided view (offset, shape, strides).
DevBuffer& view_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name, int dtype, int64_t offset,
                    const std::vector<int64_t>& shape, const std::vector<int64_t>& strides);

}  // namespace tg::cuda_binding
