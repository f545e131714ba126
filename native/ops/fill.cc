// Fills run on the thread pool; random fills index Philox by element so the result is independent of
// how the work is split.
#include "ops/fill.h"

#include <cmath>

#include "core/thread_pool.h"
#include "math/fast_exp.h"
#include "math/philox.h"

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

void arange_f32(float* out, int64_t n, double start, double step) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(start + step * static_cast<double>(i));
}

void arange_i32(int32_t* out, int64_t n, int64_t start, int64_t step) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<int32_t>(start + step * i);
}

void rand_uniform_f32(float* out, int64_t n, uint64_t seed, uint64_t counter, float low, float high) {
  int64_t blocks = (n + 3) / 4;
  parallel_for(blocks, 1 << 12, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      math::Philox4 r = math::philox4x32(counter + static_cast<uint64_t>(k), seed);
      for (int lane = 0; lane < 4 && k * 4 + lane < n; ++lane) {
        float u = math::uint_to_unit(r.v[lane]) - 1.0f / 16777216.0f;  // [0, 1)
        out[k * 4 + lane] = low + (high - low) * u;
      }
    }
  });
}

void rand_normal_f32(float* out, int64_t n, uint64_t seed, uint64_t counter, float mean, float std) {
  int64_t blocks = (n + 3) / 4;
  parallel_for(blocks, 1 << 12, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      math::Philox4 r = math::philox4x32(counter + static_cast<uint64_t>(k), seed);
      float z[4];
      for (int pair = 0; pair < 2; ++pair) {
        float u1 = math::uint_to_unit(r.v[2 * pair]);
        float u2 = math::uint_to_unit(r.v[2 * pair + 1]);
        float radius = std::sqrt(-2.0f * std::log(u1));
        float angle = 6.283185307179586f * u2;
        z[2 * pair] = radius * std::cos(angle);
        z[2 * pair + 1] = radius * std::sin(angle);
      }
      for (int lane = 0; lane < 4 && k * 4 + lane < n; ++lane) out[k * 4 + lane] = mean + std * z[lane];
    }
  });
}

}  // namespace tg
