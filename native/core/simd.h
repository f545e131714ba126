// CPU vector helpers shared by the vector kernels (kernels/loops/), which are compiled once per ISA
// (kernels/vector_kernels.h): the helpers are always inlined, so each set gets its own ISA's version.
#pragma once

#include <cstdint>

#include "math/fast_exp.h"

namespace tg {

// Lanes of the explicit partial reductions in the kernels: 16 floats = one AVX-512 register, so the
// compiler vectorizes the loops without reassociating float math.
constexpr int kSimdLanes = 16;

// Explicit vectors are 8 floats (one AVX2 register, half an AVX-512 one): a 16-float vector type compiles to
// AVX-512 in the AVX-512 set, but in the AVX2 one GCC lowers its compares and selects lane by lane through
// the stack, which made the AVX2 GRPO forward 4x slower than the AVX-512 one on the same Zen 5 core.
typedef float Vec8 __attribute__((vector_size(8 * sizeof(float))));

// max(x[0, n)) (-inf for n == 0; NaNs are not propagated: the softmax family checks them elsewhere).
__attribute__((always_inline)) inline float lanes_max(const float* x, int64_t n) {
  float acc[kSimdLanes];
  for (int j = 0; j < kSimdLanes; ++j) acc[j] = -__builtin_inff();
  int64_t i = 0;
  for (; i + kSimdLanes <= n; i += kSimdLanes)
    for (int j = 0; j < kSimdLanes; ++j) acc[j] = acc[j] > x[i + j] ? acc[j] : x[i + j];
  float m = -__builtin_inff();
  for (int j = 0; j < kSimdLanes; ++j) m = m > acc[j] ? m : acc[j];
  for (; i < n; ++i) m = m > x[i] ? m : x[i];
  return m;
}

// sum(x[0, n)) and dot(a, b) over [0, n), in 2 x kSimdLanes partial sums (then kSimdLanes, then the tail): a
// fixed order. NOTE: two sets of partial sums make two add chains in the AVX-512 set: a 512-bit add takes 4 cycles
// on Intel's FMA ports against 2 for a 256-bit one on its adders, and with one chain the AVX-512 sum ran 1.3-1.4x
// slower than the AVX2 one on an Emerald Rapids core.
__attribute__((always_inline)) inline float lanes_sum(const float* x, int64_t n) {
  float acc[2 * kSimdLanes] = {};
  int64_t i = 0;
  for (; i + 2 * kSimdLanes <= n; i += 2 * kSimdLanes)
    for (int j = 0; j < 2 * kSimdLanes; ++j) acc[j] += x[i + j];
  for (; i + kSimdLanes <= n; i += kSimdLanes)
    for (int j = 0; j < kSimdLanes; ++j) acc[j] += x[i + j];
  float s = 0.0f;
  for (int j = 0; j < kSimdLanes; ++j) s += acc[j] + acc[j + kSimdLanes];
  for (; i < n; ++i) s += x[i];
  return s;
}

__attribute__((always_inline)) inline float lanes_dot(const float* a, const float* b, int64_t n) {
  float acc[2 * kSimdLanes] = {};
  int64_t i = 0;
  for (; i + 2 * kSimdLanes <= n; i += 2 * kSimdLanes)
    for (int j = 0; j < 2 * kSimdLanes; ++j) acc[j] += a[i + j] * b[i + j];
  for (; i + kSimdLanes <= n; i += kSimdLanes)
    for (int j = 0; j < kSimdLanes; ++j) acc[j] += a[i + j] * b[i + j];
  float s = 0.0f;
  for (int j = 0; j < kSimdLanes; ++j) s += acc[j] + acc[j + kSimdLanes];
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// sum(exp(x - shift)) over [0, n), in the same lane order.
__attribute__((always_inline)) inline float lanes_sum_exp(const float* x, int64_t n, float shift) {
  float acc[kSimdLanes] = {};
  int64_t i = 0;
  for (; i + kSimdLanes <= n; i += kSimdLanes)
    for (int j = 0; j < kSimdLanes; ++j) acc[j] += math::fast_exp(x[i + j] - shift);
  float s = 0.0f;
  for (int j = 0; j < kSimdLanes; ++j) s += acc[j];
  for (; i < n; ++i) s += math::fast_exp(x[i] - shift);
  return s;
}

// y = exp(x - shift) over [0, n), returning sum(y) in lanes_sum_exp's lane order; y may be x.
__attribute__((always_inline)) inline float lanes_store_exp(float* y, const float* x, int64_t n, float shift) {
  float acc[kSimdLanes] = {};
  int64_t i = 0;
  for (; i + kSimdLanes <= n; i += kSimdLanes)
    for (int j = 0; j < kSimdLanes; ++j) {
      const float e = math::fast_exp(x[i + j] - shift);
      y[i + j] = e;
      acc[j] += e;
    }
  float s = 0.0f;
  for (int j = 0; j < kSimdLanes; ++j) s += acc[j];
  for (; i < n; ++i) {
    y[i] = math::fast_exp(x[i] - shift);
    s += y[i];
  }
  return s;
}

// Spin-wait hint for short busy loops.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace tg
