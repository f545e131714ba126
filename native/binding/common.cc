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

Buffer& buffer_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  expect_arity(info, i, op, name);
  if (!info[i].IsNumber()) throw_type(op, std::string(name) + " must be a buffer id (number)");
  double id = info[i].As<Napi::Number>().DoubleValue();
  auto it = id >= 1 && id == std::floor(id) ? table().find(static_cast<uint64_t>(id)) : table().end();
  if (it == table().end())
    throw_range(op, std::string(name) + " refers to a disposed or unknown buffer");
  return it->second;
}

Buffer& buffer_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name, DType expected) {
  Buffer& b = buffer_arg(info, i, op, name);
  if (b.dtype != expected)
    throw_type(op, std::string(name) + " must be " + dtype_name(expected) + ", got " + dtype_name(b.dtype));
  return b;
}

int64_t numel_of(const std::vector<int64_t>& shape, const char* op) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw_range(op, "negative dimension in shape " + shape_str(shape));
    if (d != 0 && n > (int64_t(1) << 48) / d) throw_range(op, "shape " + shape_str(shape) + " is too large");
    n *= d;
  }
  return n;
}

void check_range(const char* op, const char* name, const Buffer& b, int64_t offset, int64_t count) {
  if (offset < 0 || count < 0 || offset + count > b.numel())
    throw_range(op, std::string(name) + ": elements [" + std::to_string(offset) + ", " +
                        std::to_string(offset + count) + ") exceed its buffer of " + std::to_string(b.numel()));
}

void check_view(const char* op, const char* name, const Buffer& b, int64_t offset,
                const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  if (shape.size() != strides.size())
    throw_range(op, std::string(name) + ": shape " + shape_str(shape) + " and strides " + shape_str(strides) +
                        " differ in length");
  if (shape.size() > 12) throw_range(op, std::string(name) + ": more than 12 dimensions");
  int64_t n = numel_of(shape, op);
  if (offset < 0) throw_range(op, std::string(name) + ": negative offset");
  if (n == 0) return;
  int64_t last = offset;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (strides[d] < 0) throw_range(op, std::string(name) + ": negative stride in " + shape_str(strides));
    last += (shape[d] - 1) * strides[d];
  }
  if (last >= b.numel())
    throw_range(op, std::string(name) + ": view (offset " + std::to_string(offset) + ", shape " + shape_str(shape) +
                        ", strides " + shape_str(strides) + ") exceeds its buffer of " + std::to_string(b.numel()) +
                        " elements");
}

}  // namespace tg::binding
