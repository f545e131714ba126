// CPU vector helpers shared by the vector kernels (kernels/loops/), which are compiled once per ISA
// (kernels/vector_kernels.h): the helpers are always inlined, so each set gets its own ISA's version.
#pragma once

#include <cstdint>
#include <cstring>

#include "math/fast_exp.h"

namespace tg {

// Lanes of the explicit partial reductions in the kernels: 16 floats = one AVX-512 register, so the
// compiler vectorizes the loops without reassociating float math.
constexpr int kSimdLanes = 16;

// Explicit vectors are 8 floats (one AVX2 register, half an AVX-512 one): a 16-float vector type compiles to
// AVX-512 in the AVX-512 set, but in the AVX2 one GCC lowers its compares and selects lane by lane through
// the stack, which made the AVX2 GRPO forward 4x slower than the AVX-512 one on the same Zen 5 core.
typedef float Vec8 __attribute__((vector_size(8 * sizeof(float))));

// Lanes permuted by constant indices: clang and GCC >= 12 spell it __builtin_shufflevector, older GCC
// __builtin_shuffle with an index vector.
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define TG_PERMUTE(a, ...) __builtin_shufflevector(a, a, __VA_ARGS__)
#else
typedef int32_t VecI8 __attribute__((vector_size(8 * sizeof(int32_t))));
#define TG_PERMUTE(a, ...) __builtin_shuffle(a, VecI8{__VA_ARGS__})
#endif

// Lane 0 of `a` folded with op (an associative vector op) as a tree of vector halves: lane j with j + 4, then
// j + 2, then j + 1.
template <class Op>
__attribute__((always_inline)) inline float fold_lanes8(Vec8 a, Op op) {
  a = op(a, TG_PERMUTE(a, 4, 5, 6, 7, 0, 1, 2, 3));
  a = op(a, TG_PERMUTE(a, 2, 3, 0, 1, 6, 7, 4, 5));
  a = op(a, TG_PERMUTE(a, 1, 0, 3, 2, 5, 4, 7, 6));
  return a[0];
}

// max(x[0, n)) (-inf for n == 0; NaNs are passed over: the softmax family checks them elsewhere). Exact in any
// order. NOTE: four 8-float chains, each step one vmaxps (a > m ? a : m), then a tree of vector halves: with 16 lanes
// (two chains in either set) and a 16-step scalar fold, the max was latency-bound and short rows paid for the fold.
// 1 thread, Emerald Rapids, AVX2 / AVX-512: softmax 256 x 1024 182 -> 143 / 153 -> 123 us, attention softmax rows of
// 128 276 -> 161 / 250 -> 130 us, GRPO row stats 64 x 32000 930 -> 810 / 745 -> 600 us. GCC 12 leaves a max carried
// across iterations over float arrays scalar; on vector types it vectorizes.
__attribute__((always_inline)) inline float lanes_max(const float* x, int64_t n) {
  Vec8 m0 = Vec8{} - __builtin_inff(), m1 = m0, m2 = m0, m3 = m0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    Vec8 a0, a1, a2, a3;
    std::memcpy(&a0, x + i, sizeof a0);
    std::memcpy(&a1, x + i + 8, sizeof a1);
    std::memcpy(&a2, x + i + 16, sizeof a2);
    std::memcpy(&a3, x + i + 24, sizeof a3);
    m0 = a0 > m0 ? a0 : m0;
    m1 = a1 > m1 ? a1 : m1;
    m2 = a2 > m2 ? a2 : m2;
    m3 = a3 > m3 ? a3 : m3;
  }
  for (; i + 8 <= n; i += 8) {
    Vec8 a;
    std::memcpy(&a, x + i, sizeof a);
    m0 = a > m0 ? a : m0;
  }
  const auto larger = [](Vec8 p, Vec8 q) { return q > p ? q : p; };
  float m = fold_lanes8(larger(larger(m0, m1), larger(m2, m3)), larger);
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// acc[0] + ... + acc[15] as a tree of vector halves (lane j with j + 8, then + 4, + 2, + 1): four dependent adds
// where a scalar fold took sixteen, which cost short rows more than their loop (a 64-float dot or a 128-key
// attention row).
__attribute__((always_inline)) inline float fold_sum16(const float* acc) {
  Vec8 a, b;
  std::memcpy(&a, acc, sizeof a);
  std::memcpy(&b, acc + 8, sizeof b);
  return fold_lanes8(a + b, [](Vec8 p, Vec8 q) { return p + q; });
}

// sum(x[0, n)) and dot(a, b) over [0, n), in 2 x kSimdLanes partial sums (then kSimdLanes, then fold_sum16, then
// the tail): a fixed order. NOTE: two sets of partial sums make two add chains in the AVX-512 set: a 512-bit add
// takes 4 cycles on Intel's FMA ports against 2 for a 256-bit one on its adders, and with one chain the AVX-512 sum
// ran 1.3-1.4x slower than the AVX2 one on an Emerald Rapids core.
__attribute__((always_inline)) inline float lanes_sum(const float* x, int64_t n) {
  float acc[2 * kSimdLanes] = {};
  int64_t i = 0;
  for (; i + 2 * kSimdLanes <= n; i += 2 * kSimdLanes)
    for (int j = 0; j < 2 * kSimdLanes; ++j) acc[j] += x[i + j];
  for (; i + kSimdLanes <= n; i += kSimdLanes)
    for (int j = 0; j < kSimdLanes; ++j) acc[j] += x[i + j];
  for (int j = 0; j < kSimdLanes; ++j) acc[j] += acc[j + kSimdLanes];
  float s = fold_sum16(acc);
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
  for (int j = 0; j < kSimdLanes; ++j) acc[j] += acc[j + kSimdLanes];
  float s = fold_sum16(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// sum(exp(x - shift)) over [0, n), in kSimdLanes partial sums, fold_sum16, then the tail.
__attribute__((always_inline)) inline float lanes_sum_exp(const float* x, int64_t n, float shift) {
  float acc[kSimdLanes] = {};
  int64_t i = 0;
  for (; i + kSimdLanes <= n; i += kSimdLanes)
    for (int j = 0; j < kSimdLanes; ++j) acc[j] += math::fast_exp(x[i + j] - shift);
  float s = fold_sum16(acc);
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
  float s = fold_sum16(acc);
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
