// Host-side launchers of the RoPE kernels (cuda/rope.cu), the CPU addon's rope_forward (native/ops/rope.h) on
// device buffers. Shapes were validated by the binding.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace tg::cuda {

// *status (device, INT_MAX on entry) becomes the first i < npos with positions[i] outside [0, P); the rotation
// kernel then writes nothing (as on CPU).
std::string launch_check_positions(const int32_t* positions, int64_t npos, int64_t p, int* status, cudaStream_t stream);
// y, x (B, T, H, D) contiguous; cos, sin (P, D/2); positions (B*T) when per_batch else (T). inverse rotates by
// -theta (the backward). y may be x.
std::string launch_rope(float* y, const float* x, const float* cos_table, const float* sin_table,
                        const int32_t* positions, bool per_batch, int64_t b, int64_t t, int64_t h, int64_t d,
                        bool inverse, const int* status, cudaStream_t stream);

}  // namespace tg::cuda
