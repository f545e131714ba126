// Element types of tensor storage. The numeric codes are part of the JS contract (src/backend/codes.ts; the CUDA
// addon's DevDType uses the same codes).
#pragma once
#include <cstddef>
#include <cstdint>

namespace tg {

enum class DType : int32_t { Float32 = 0, Int32 = 1, BFloat16 = 2 };
constexpr int kDTypeCount = 3;

constexpr size_t dtype_size(DType d) { return d == DType::BFloat16 ? 2 : 4; }
constexpr const char* dtype_name(DType d) {
  return d == DType::Float32 ? "float32" : d == DType::Int32 ? "int32" : "bfloat16";
}

}  // namespace tg
