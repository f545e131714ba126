// Filling contiguous storage: constants, ranges, and seeded random numbers (Philox).
#pragma once
#include <cstdint>

namespace tg {

void fill_f32(float* out, int64_t n, float value);
void fill_i32(int32_t* out, int64_t n, int32_t value);
// bfloat16 storage: the value's bits
void fill_u16(uint16_t* out, int64_t n, uint16_t bits);
void arange_f32(float* out, int64_t n, double start, double step);
void arange_i32(int32_t* out, int64_t n, int64_t start, int64_t step);
// uniform in [low, high)
void rand_uniform_f32(float* out, int64_t n, uint64_t seed, uint64_t counter, float low, float high);
// normal(mean, std) by Box-Muller on Philox uniforms
void rand_normal_f32(float* out, int64_t n, uint64_t seed, uint64_t counter, float mean, float std);

}  // namespace tg
