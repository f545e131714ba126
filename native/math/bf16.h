// bfloat16 <-> float32, shared by the CPU kernels and CUDA kernels: round to nearest even, NaN kept (quieted),
// denormals kept (unlike the AVX512-BF16 conversion, which flushes them: the KV cache and tests use these).
#pragma once
#include "math/common.h"

namespace tg::math {

TG_HD uint16_t bf16_from_float(float x) {
  uint32_t u = float_to_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

TG_HD float bf16_to_float(uint16_t h) { return bits_to_float(static_cast<uint32_t>(h) << 16); }

}  // namespace tg::math
