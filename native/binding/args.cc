// Argument readers and the export wrapper shared by both addons' bindings.
#include "binding/args.h"

#include <cmath>
#include <new>
#include <sstream>
#include <stdexcept>

namespace tg::binding {
namespace {

std::string prefix(const std::string& op) { return "thinkgrad." + op + ": "; }

}  // namespace

void throw_type(const std::string& op, const std::string& message) {
  throw ArgError{ArgError::Type, prefix(op) + message};
}
void throw_range(const std::string& op, const std::string& message) {
  throw ArgError{ArgError::Range, prefix(op) + message};
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

void expect_arity(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  if (static_cast<int>(info.Length()) <= i)
    throw_type(op, std::string("missing argument ") + std::to_string(i) + " (" + name + ")");
}

int64_t int_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  expect_arity(info, i, op, name);
  if (!info[i].IsNumber()) throw_type(op, std::string(name) + " must be an integer");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v == std::floor(v)) || std::fabs(v) > 9007199254740991.0)
    throw_type(op, std::string(name) + " must be an integer, got " + std::to_string(v));
  return static_cast<int64_t>(v);
}

double number_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  expect_arity(info, i, op, name);
  if (!info[i].IsNumber()) throw_type(op, std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

bool bool_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  expect_arity(info, i, op, name);
  if (!info[i].IsBoolean()) throw_type(op, std::string(name) + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

std::string string_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  expect_arity(info, i, op, name);
  if (!info[i].IsString()) throw_type(op, std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

std::vector<int64_t> int_array_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  expect_arity(info, i, op, name);
  if (!info[i].IsArray()) throw_type(op, std::string(name) + " must be an array of integers");
  Napi::Array a = info[i].As<Napi::Array>();
  uint32_t n = a.Length();
  if (n > 64) throw_range(op, std::string(name) + " has too many entries (" + std::to_string(n) + ")");
  std::vector<int64_t> out(n);
  for (uint32_t k = 0; k < n; ++k) {
    Napi::Value v = a.Get(k);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
    if (!(d == std::floor(d)) || std::fabs(d) > 9007199254740991.0)
      throw_type(op, std::string(name) + " must be an array of integers");
    out[k] = static_cast<int64_t>(d);
  }
  return out;
}

bool absent(const Napi::CallbackInfo& info, int i) {
  return static_cast<int>(info.Length()) <= i || info[i].IsNull() || info[i].IsUndefined();
}

namespace {

struct Entry {
  Handler fn;
  size_t max_args;
  std::string name;         // for messages: op_prefix + name
  std::string oom_message;  // made at export time: building a message can itself run out of memory
};

std::string out_of_memory_message(const std::string& name, const std::bad_alloc& e) {
  std::string detail = e.what();
  // The standard library's own what() ("std::bad_alloc") says nothing a reader can use.
  if (detail.rfind("std::", 0) == 0) return prefix(name) + "out of memory (" + detail + ")";
  return prefix(name) + "out of memory: " + detail;
}

// Rethrows the exception in flight as the JS error it maps to. NOTE: an exception escaping an export
// terminates the process (node-addon-api passes on only Napi::Error), so every kind is caught here.
[[noreturn]] void rethrow_as_js(Napi::Env env, const Entry& entry) {
  try {
    throw;
  } catch (const ArgError& e) {
    if (e.kind == ArgError::Type) throw Napi::TypeError::New(env, e.message);
    throw Napi::RangeError::New(env, e.message);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc& e) {
    throw Napi::RangeError::New(env, out_of_memory_message(entry.name, e));
  } catch (const std::invalid_argument& e) {
    throw Napi::TypeError::New(env, prefix(entry.name) + e.what());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, prefix(entry.name) + e.what());
  } catch (...) {
    throw Napi::Error::New(env, prefix(entry.name) + "unknown native exception");
  }
}

Napi::Value dispatch(const Napi::CallbackInfo& info) {
  auto* entry = static_cast<Entry*>(info.Data());
  Napi::Env env = info.Env();
  try {
    if (info.Length() > entry->max_args)
      throw_type(entry->name, "takes at most " + std::to_string(entry->max_args) + " arguments, got " +
                                  std::to_string(info.Length()));
    return entry->fn(info);
  } catch (...) {
    try {
      rethrow_as_js(env, *entry);
    } catch (const Napi::Error&) {
      throw;
    } catch (...) {
      throw Napi::RangeError::New(env, entry->oom_message);
    }
  }
}

}  // namespace

void define(Napi::Env env, Napi::Object exports, const char* name, Handler fn, int max_args, const char* op_prefix) {
  std::string full_name = std::string(op_prefix) + name;
  auto* entry = new Entry{fn, static_cast<size_t>(max_args), full_name, prefix(full_name) + "out of memory"};  // NOTE: lives as long as the addon
  exports.Set(name, Napi::Function::New(env, dispatch, name, entry));
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

void check_elements(const char* op, const char* name, int64_t buffer_numel, int64_t offset, int64_t count) {
  if (offset < 0 || count < 0 || offset + count > buffer_numel)
    throw_range(op, std::string(name) + ": elements [" + std::to_string(offset) + ", " +
                        std::to_string(offset + count) + ") exceed its buffer of " + std::to_string(buffer_numel));
}

void check_view_elements(const char* op, const char* name, int64_t buffer_numel, int64_t offset,
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
  if (last >= buffer_numel)
    throw_range(op, std::string(name) + ": view (offset " + std::to_string(offset) + ", shape " + shape_str(shape) +
                        ", strides " + shape_str(strides) + ") exceeds its buffer of " + std::to_string(buffer_numel) +
                        " elements");
}

int64_t positive_dim(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  const int64_t v = int_arg(info, i, op, name);
  if (v < 1) throw_range(op, std::string(name) + " must be positive, got " + std::to_string(v));
  return v;
}

float finite_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name) {
  const double v = number_arg(info, i, op, name);
  if (!std::isfinite(v)) throw_range(op, std::string(name) + " must be finite");
  return static_cast<float>(v);
}

std::string dims_str(std::initializer_list<int64_t> d) { return shape_str(std::vector<int64_t>(d)); }

}  // namespace tg::binding
