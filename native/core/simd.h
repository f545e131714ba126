// CPU vector helpers shared by the kernels. TG_CLONES marks a hot loop function for run-time CPU dispatch:
// GCC emits an AVX-512 (x86-64-v4) clone next to the baseline (x86-64-v3) one and picks at load time.
// Elsewhere (clang, other CPUs) it expands to nothing and the baseline code runs.
// NOTE: put it on non-template functions that hold the loop itself; a lambda that calls it is not cloned.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TG_CLONES __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define TG_CLONES
#endif

#include <cstdint>

namespace tg {

// Lanes of the explicit partial reductions in the kernels: 16 floats = one AVX-512 register, so the
// compiler vectorizes the loops without reassociating float math.
constexpr int kSimdLanes = 16;

// max(x[0, n)) (-inf for n == 0; NaNs are not propagated: the softmax family checks them elsewhere).
// Inlined into each caller, so a TG_CLONES caller gets the AVX-512 version.
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

// Spin-wait hint for short busy loops.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace tg
