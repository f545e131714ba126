// Argument parsing and error reporting shared by both addons' bindings (native/binding for the CPU engine,
// cuda/binding.cc for the CUDA addon): every JS value is checked before a kernel sees it, and failures become
// JS errors that name the op ("thinkgrad.<op>: ...").
#pragma once
#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace tg::binding {

// An argument error raised anywhere below the binding; the export wrapper turns it into a JS error.
struct ArgError {
  enum Kind { Type, Range } kind;
  std::string message;
};
[[noreturn]] void throw_type(const std::string& op, const std::string& message);
[[noreturn]] void throw_range(const std::string& op, const std::string& message);

std::string shape_str(const std::vector<int64_t>& shape);

// Argument readers: `op` and `name` appear in the error message.
void expect_arity(const Napi::CallbackInfo& info, int i, const char* op, const char* name);
int64_t int_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name);
double number_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name);
bool bool_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name);
std::string string_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name);
std::vector<int64_t> int_array_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name);
// An optional argument left out, null or undefined.
bool absent(const Napi::CallbackInfo& info, int i);

// An integer >= 1, a finite number (as float), and dims written as a shape for messages.
int64_t positive_dim(const Napi::CallbackInfo& info, int i, const char* op, const char* name);
float finite_arg(const Napi::CallbackInfo& info, int i, const char* op, const char* name);
std::string dims_str(std::initializer_list<int64_t> d);

// Element counts and views against a buffer of `buffer_numel` elements (either addon's buffers).
int64_t numel_of(const std::vector<int64_t>& shape, const char* op);
// [offset, offset + count) inside the buffer.
void check_elements(const char* op, const char* name, int64_t buffer_numel, int64_t offset, int64_t count);
// A strided view (element offset, shape, non-negative strides, at most 12 dims) inside the buffer.
void check_view_elements(const char* op, const char* name, int64_t buffer_numel, int64_t offset,
                         const std::vector<int64_t>& shape, const std::vector<int64_t>& strides);

using Handler = Napi::Value (*)(const Napi::CallbackInfo&);
// Exports `fn` as `name`, translating ArgError (TypeError/RangeError) and C++ exceptions (Error) into JS
// errors prefixed "thinkgrad.<op_prefix><name>: ". A call with more than `max_args` arguments is a TypeError:
// `max_args` is the entry point's length in src/native-entry-points.ts, which tests/native-contract.test.ts
// checks for every export.
void define(Napi::Env env, Napi::Object exports, const char* name, Handler fn, int max_args, const char* op_prefix = "");

}  // namespace tg::binding
