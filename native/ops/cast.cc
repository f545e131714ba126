// float32 <-> bfloat16 over contiguous runs, in parallel chunks (the loops: kernels/loops/elementwise.h).
#include "ops/cast.h"

#include "core/thread_pool.h"
#include "kernels/vector_kernels.h"

namespace tg {
namespace {

constexpr int64_t kGrain = 1 << 15;

}  // namespace

void bf16_from_f32(uint16_t* out, const float* x, int64_t n) {
  const auto run = vector_kernels().bf16_from_f32;
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { run(out + b, x + b, e - b); });
}

void bf16_to_f32(float* out, const uint16_t* x, int64_t n) {
  const auto run = vector_kernels().bf16_to_f32;
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) { run(out + b, x + b, e - b); });
}

}  // namespace tg
