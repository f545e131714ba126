// RoPE kernel: a 2-D block, threadIdx.y over (b, t) rows (grid-stride), threadIdx.x over the row's H x D/2
// pairs, so consecutive threads read consecutive elements of each half and of the (cos, sin) table row.
// The rotation is native/math/rope.h's, as on CPU; each pair is read and written by one thread (in place is safe).
#include <algorithm>
#include <climits>

#include "common.cuh"
#include "math/rope.h"
#include "rope.cuh"

namespace tg::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 20;

__global__ void __launch_bounds__(kThreads) check_positions(const int32_t* positions, int64_t n, int64_t p, int* status) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    if (positions[i] < 0 || positions[i] >= p) atomicMin(status, static_cast<int>(i));
}

__global__ void __launch_bounds__(kThreads)
    rope_kernel(float* y, const float* x, const float* cos_table, const float* sin_table, const int32_t* positions,
                bool per_batch, int64_t rows, int64_t t, int h, int half, float sign, const int* status) {
  if (*status != INT_MAX) return;
  const int pairs = h * half;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; r < rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const int64_t pos = positions[per_batch ? r : r % t];
    const float* c = cos_table + pos * half;
    const float* s = sin_table + pos * half;
    const float* xr = x + r * (2 * static_cast<int64_t>(pairs));
    float* yr = y + r * (2 * static_cast<int64_t>(pairs));
    for (int k = threadIdx.x; k < pairs; k += blockDim.x) {
      const int head = k / half, i = k - head * half;
      const int64_t a = static_cast<int64_t>(head) * 2 * half + i;
      float y1, y2;
      math::rope_rotate(xr[a], xr[a + half], c[i], sign * s[i], y1, y2);
      yr[a] = y1;
      yr[a + half] = y2;
    }
  }
}

}  // namespace

std::string launch_check_positions(const int32_t* positions, int64_t npos, int64_t p, int* status, cudaStream_t stream) {
  if (npos == 0) return {};
  const int64_t blocks = std::clamp<int64_t>((npos + kThreads - 1) / kThreads, 1, kMaxBlocks);
  launch(check_positions, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), stream, positions, npos, p, status);
  return launch_error("check_positions");
}

std::string launch_rope(float* y, const float* x, const float* cos_table, const float* sin_table,
                        const int32_t* positions, bool per_batch, int64_t b, int64_t t, int64_t h, int64_t d,
                        bool inverse, const int* status, cudaStream_t stream) {
  const int64_t rows = b * t, pairs = h * (d / 2);
  if (rows == 0 || pairs == 0) return {};
  unsigned bx = 1;
  while (bx < kThreads && bx < pairs) bx <<= 1;
  const unsigned by = kThreads / bx;
  const int64_t blocks = std::clamp<int64_t>((rows + by - 1) / by, 1, kMaxBlocks);
  launch(rope_kernel, dim3(static_cast<unsigned>(blocks)), dim3(bx, by), stream, y, x, cos_table, sin_table, positions,
         per_batch, rows, t, static_cast<int>(h), static_cast<int>(d / 2), inverse ? -1.0f : 1.0f, status);
  return launch_error("rope_kernel");
}

}  // namespace tg::cuda
