// Rotary position embedding (Hugging Face Llama rotate_half convention) on contiguous (B, T, H, D) float32.
#pragma once
#include <cstdint>

namespace tg {

// y (B, T, H, D) = rope(x (B, T, H, D)) with pair (i, i + D/2) rotated by the angle whose cos/sin are
// cos_table[p, i], sin_table[p, i] (tables (P, D/2)), p = positions[b*T + t] when positions_per_batch,
// else positions[t]. inverse = rotate by -theta (the backward: dx = R(theta)^T dy). y may equal x.
// Returns -1, or the index of the first position outside [0, P) (nothing is written then).
int64_t rope_forward(float* y, const float* x, const float* cos_table, const float* sin_table,
                     const int32_t* positions, bool positions_per_batch, int64_t B, int64_t T, int64_t H,
                     int64_t D, int64_t P, bool inverse);

}  // namespace tg
