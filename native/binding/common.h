// The binding's shared toolkit: the table of native buffers that JS refers to by id, argument parsing
// that validates every value before a kernel sees it, and error helpers that name the op and shapes.
// NOTE: nothing here trusts JS: ids are looked up, byte ranges and strided extents are checked, so a
// wrong call throws a JS TypeError/RangeError and never touches memory it does not own.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace tg::binding {

struct Buffer {
  void* data = nullptr;
  size_t nbytes = 0;
  DType dtype = DType::Float32;
  int64_t numel() const { return static_cast<int64_t>(nbytes / dtype_size(dtype)); }
};

// An argument error raised anywhere below the binding; the export wrapper turns it into a JS error.
struct ArgError {
  enum Kind { Type, Range } kind;
  std::string message;
};
[[noreturn]] void throw_type(const std::string& op, const std::string& message);
[[noreturn]] void throw_range(const std::string& op, const std::string& message);

std::string shape_str(const std::vector<int64_t>& shape);

// Buffer table (ids are positive integers < 2^53, never reused).
double register_buffer(const Buffer& b);
bool release_buffer(double id);  // false when unknown or already released
size_t live_buffer_count();

// Argument readers: `op` and `name` appear in the error message.
Buffer& buffer_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name);
Buffer& buffer_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name, DType expected);
int64_t int_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name);
double number_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name);
bool bool_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name);
std::string string_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name);
std::vector<int64_t> int_array_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name);

int64_t numel_of(const std::vector<int64_t>& shape, const char* op);
// Checks that a strided view (element offset, shape, non-negative strides) stays inside the buffer.
void check_view(const char* op, const char* name, const Buffer& b, int64_t offset,
                const std::vector<int64_t>& shape, const std::vector<int64_t>& strides);
// Checks that [offset, offset + count) elements lie inside the buffer.
void check_range(const char* op, const char* name, const Buffer& b, int64_t offset, int64_t count);

template <class T>
T* typed(Buffer& b, int64_t offset) {
  return static_cast<T*>(b.data) + offset;
}

using Handler = Napi::Value (*)(const Napi::CallbackInfo&);
// Exports `fn` as `name`, translating ArgError and C++ exceptions into JS errors.
void define(Napi::Env env, Napi::Object exports, const char* name, Handler fn);

}  // namespace tg::binding
