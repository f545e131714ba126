// RoPE CPU loop: (b, t) rows in parallel; each row's H heads share one (cos, sin) table row, and the
// pair loop is contiguous in i so it vectorizes. In place is safe: each pair is read before it is written.
#include "ops/rope.h"

#include <algorithm>

#include "core/simd.h"
#include "core/thread_pool.h"
#include "math/rope.h"

namespace tg {
namespace {

// One (b, t) row: H heads of D. sign = -1 rotates by -theta.
TG_CLONES void rope_row(float* y, const float* x, const float* c, const float* s, int64_t H, int64_t D,
                        float sign) {
  const int64_t half = D / 2;
  for (int64_t h = 0; h < H; ++h) {
    const float* xh = x + h * D;
    float* yh = y + h * D;
    for (int64_t i = 0; i < half; ++i) {
      float y1, y2;
      math::rope_rotate(xh[i], xh[i + half], c[i], sign * s[i], y1, y2);
      yh[i] = y1;
      yh[i + half] = y2;
    }
  }
}

}  // namespace

int64_t rope_forward(float* y, const float* x, const float* cos_table, const float* sin_table,
                     const int32_t* positions, bool positions_per_batch, int64_t B, int64_t T, int64_t H,
                     int64_t D, int64_t P, bool inverse) {
  const int64_t npos = positions_per_batch ? B * T : T;
  for (int64_t i = 0; i < npos; ++i)
    if (positions[i] < 0 || positions[i] >= P) return i;
  const int64_t half = D / 2;
  const float sign = inverse ? -1.0f : 1.0f;
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(H * D, 1));
  parallel_for(B * T, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t p = positions[positions_per_batch ? r : r % T];
      rope_row(y + r * H * D, x + r * H * D, cos_table + p * half, sin_table + p * half, H, D, sign);
    }
  });
  return -1;
}

}  // namespace tg
