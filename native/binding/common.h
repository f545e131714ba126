// The CPU binding's toolkit: the table of native buffers that JS refers to by id and the checks of
// ranges and strided views (argument readers and errors: binding/args.h).
// NOTE: nothing here trusts JS: ids are looked up, byte ranges and strided extents are checked, so a
// wrong call throws a JS TypeError/RangeError and never touches memory it does not own.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "binding/args.h"
#include "binding/tensor_args.h"
#include "core/dtype.h"
#include "ops/gemm.h"

namespace tg::binding {

struct Buffer {
  void* data = nullptr;
  size_t nbytes = 0;
  DType dtype = DType::Float32;
  int64_t numel() const { return static_cast<int64_t>(nbytes / dtype_size(dtype)); }
};

// Buffer table (ids are positive integers < 2^53, never reused).
double register_buffer(const Buffer& b);
bool release_buffer(double id);  // false when unknown or already released
size_t live_buffer_count();

// Buffer arguments: `op` and `name` appear in the error message.
Buffer& buffer_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name);
Buffer& buffer_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name, DType expected);
// A tensor argument: the buffer (of `dtype`) at position i and its element offset at i + 1.
TensorSpan<Buffer> tensor_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name, DType dtype);

// The buffer with id `id` (an element of an id list), of dtype `expected`; errors name `op` and `name`.
Buffer& buffer_by_id(double id, const char* op, const std::string& name, DType expected);

// Checks that a strided view (element offset, shape, non-negative strides) stays inside the buffer.
void check_view(const char* op, const char* name, const Buffer& b, int64_t offset,
                const std::vector<int64_t>& shape, const std::vector<int64_t>& strides);
// Checks that [offset, offset + count) elements lie inside the buffer.
void check_range(const char* op, const char* name, const Buffer& b, int64_t offset, int64_t count);

// A GEMM precision argument ("highest" | "medium"); left out, null or undefined = the process default.
MatmulPrecision precision_arg(const Napi::CallbackInfo& info, int i, const char* op);

template <class T>
T* typed(Buffer& b, int64_t offset) {
  return static_cast<T*>(b.data) + offset;
}

}  // namespace tg::binding
