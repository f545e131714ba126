// RoPE on the CPU: (b, t) rows in parallel; each row's H heads share one (cos, sin) table row
// (the loop: kernels/loops/rope.h).
#include "ops/rope.h"

#include <algorithm>

#include "core/thread_pool.h"
#include "kernels/vector_kernels.h"

namespace tg {

int64_t rope_forward(float* y, const float* x, const float* cos_table, const float* sin_table,
                     const int32_t* positions, bool positions_per_batch, int64_t B, int64_t T, int64_t H,
                     int64_t D, int64_t P, bool inverse) {
  const int64_t npos = positions_per_batch ? B * T : T;
  for (int64_t i = 0; i < npos; ++i)
    if (positions[i] < 0 || positions[i] >= P) return i;
  const int64_t half = D / 2;
  const float sign = inverse ? -1.0f : 1.0f;
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(H * D, 1));
  const auto rope_row = vector_kernels().rope_row;
  parallel_for(B * T, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t p = positions[positions_per_batch ? r : r % T];
      rope_row(y + r * H * D, x + r * H * D, cos_table + p * half, sin_table + p * half, H, D, sign);
    }
  });
  return -1;
}

}  // namespace tg
