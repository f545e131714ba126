// Element types of tensor storage. The numeric codes are part of the JS contract (src/native.ts asserts
// the same table).
#pragma once
#include <cstddef>
#include <cstdint>

namespace tg {

enum class DType : int32_t { Float32 = 0, Int32 = 1 };
constexpr int kDTypeCount = 2;

constexpr size_t dtype_size(DType d) { return d == DType::Float32 ? 4 : 4; }
constexpr const char* dtype_name(DType d) { return d == DType::Float32 ? "float32" : "int32"; }

}  // namespace tg
