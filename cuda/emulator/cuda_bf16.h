// bfloat16 types and conversions of the CUDA toolkit's cuda_bf16.h, for the CPU emulator (see cuda_runtime.h).
// Round to nearest even, NaN quieted: the same functions the CPU kernels use (native/math/bf16.h).
#pragma once
#include "cuda_runtime.h"
#include "math/bf16.h"

struct __nv_bfloat16 {
  uint16_t bits;
};
struct __nv_bfloat162 {
  __nv_bfloat16 x, y;
};

inline float __bfloat162float(__nv_bfloat16 h) { return tg::math::bf16_to_float(h.bits); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return {tg::math::bf16_from_float(f)}; }
inline float2 __bfloat1622float2(__nv_bfloat162 h) { return {__bfloat162float(h.x), __bfloat162float(h.y)}; }
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { return {__float2bfloat16_rn(a), __float2bfloat16_rn(b)}; }
