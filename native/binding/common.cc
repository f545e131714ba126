// The CPU engine's buffer table and the checks of buffer ranges and strided views.
#include "binding/common.h"

#include <cmath>
#include <unordered_map>

namespace tg::binding {
namespace {

std::unordered_map<uint64_t, Buffer>& table() {
  static auto* t = new std::unordered_map<uint64_t, Buffer>();
  return *t;
}
uint64_t next_id = 1;

}  // namespace

double register_buffer(const Buffer& b) {
  uint64_t id = next_id++;
  table().emplace(id, b);
  return static_cast<double>(id);
}

bool release_buffer(double id) {
  auto it = table().find(static_cast<uint64_t>(id));
  if (it == table().end()) return false;
  table().erase(it);
  return true;
}

size_t live_buffer_count() { return table().size(); }

namespace {

Buffer& lookup(double id, const char* op, const std::string& name) {
  auto it = id >= 1 && id == std::floor(id) ? table().find(static_cast<uint64_t>(id)) : table().end();
  if (it == table().end()) throw_range(op, name + " refers to a disposed or unknown buffer");
  return it->second;
}

Buffer& expect_dtype(Buffer& b, const char* op, const std::string& name, DType expected) {
  if (b.dtype != expected) throw_type(op, name + " must be " + dtype_name(expected) + ", got " + dtype_name(b.dtype));
  return b;
}

}  // namespace

Buffer& buffer_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  expect_arity(info, i, op, name);
  if (!info[i].IsNumber()) throw_type(op, std::string(name) + " must be a buffer id (number)");
  return lookup(info[i].As<Napi::Number>().DoubleValue(), op, name);
}

Buffer& buffer_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name, DType expected) {
  return expect_dtype(buffer_arg(info, i, op, name), op, name, expected);
}

TensorSpan<Buffer> tensor_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name, DType dtype) {
  Buffer& b = buffer_arg(info, i, op, name, dtype);
  return TensorSpan<Buffer>{&b, int_arg(info, i + 1, op, (std::string(name) + " offset").c_str()), name};
}

Buffer& buffer_by_id(double id, const char* op, const std::string& name, DType expected) {
  return expect_dtype(lookup(id, op, name), op, name, expected);
}

void check_range(const char* op, const char* name, const Buffer& b, int64_t offset, int64_t count) {
  check_elements(op, name, b.numel(), offset, count);
}

void check_view(const char* op, const char* name, const Buffer& b, int64_t offset,
                const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  check_view_elements(op, name, b.numel(), offset, shape, strides);
}

}  // namespace tg::binding
