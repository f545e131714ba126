// Fills run on the thread pool; random fills index Philox by element so the result is independent of
// how the work is split, and transform it with math/random.h, as the CUDA kernels do.
#include "ops/fill.h"

#include "core/thread_pool.h"
#include "math/elementwise.h"
#include "math/random.h"

namespace tg {

void fill_f32(float* out, int64_t n, float value) {
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = value;
  });
}

void fill_i32(int32_t* out, int64_t n, int32_t value) {
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = value;
  });
}

void fill_u16(uint16_t* out, int64_t n, uint16_t bits) {
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = bits;
  });
}

void arange_f32(float* out, int64_t n, double start, double step) {
  for (int64_t i = 0; i < n; ++i) out[i] = math::arange_f32_value(start, step, i);
}

void arange_i32(int32_t* out, int64_t n, int64_t start, int64_t step) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int32_t>(start + step * i);
}

void rand_uniform_f32(float* out, int64_t n, uint64_t seed, uint64_t counter, float low, float high) {
  int64_t blocks = (n + 3) / 4;
  parallel_for(blocks, 1 << 12, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      math::Philox4 r = math::philox4x32(counter + static_cast<uint64_t>(k), seed);
      for (int lane = 0; lane < 4 && k * 4 + lane < n; ++lane) out[k * 4 + lane] = math::uniform_from_bits(r.v[lane], low, high);
    }
  });
}

void rand_normal_f32(float* out, int64_t n, uint64_t seed, uint64_t counter, float mean, float std) {
  int64_t blocks = (n + 3) / 4;
  parallel_for(blocks, 1 << 12, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      float z[4];
      math::normal4_from_bits(math::philox4x32(counter + static_cast<uint64_t>(k), seed), mean, std, z);
      for (int lane = 0; lane < 4 && k * 4 + lane < n; ++lane) out[k * 4 + lane] = z[lane];
    }
  });
}

}  // namespace tg
