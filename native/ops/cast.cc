// Branch-free per-element loops (math/bf16.h) that the compiler vectorizes, cloned for AVX-512.
#include "ops/cast.h"

#include "core/simd.h"
#include "core/thread_pool.h"
#include "math/bf16.h"

namespace tg {
namespace {

constexpr int64_t kGrain = 1 << 15;

TG_CLONES void from_f32_run(uint16_t* __restrict out, const float* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = math::bf16_from_float(x[i]);
}

TG_CLONES void to_f32_run(float* __restrict out, const uint16_t* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = math::bf16_to_float(x[i]);
}

}  // namespace

void bf16_from_f32(uint16_t* out, const float* x, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { from_f32_run(out + b, x + b, e - b); });
}

void bf16_to_f32(float* out, const uint16_t* x, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { to_f32_run(out + b, x + b, e - b); });
}

}  // namespace tg
