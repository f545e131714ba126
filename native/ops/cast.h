// Contiguous float32 <-> bfloat16 conversions on the thread pool (host uploads and downloads, GEMM operands).
#pragma once
#include <cstdint>

namespace tg {

// out[i] = x[i] rounded to nearest even (math/bf16.h: NaN kept, denormals kept).
void bf16_from_f32(uint16_t* out, const float* x, int64_t n);
void bf16_to_f32(float* out, const uint16_t* x, int64_t n);

}  // namespace tg
