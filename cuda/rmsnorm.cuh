// Host-side launchers of the RMSNorm kernels (cuda/rmsnorm.cu), the CPU addon's rmsnorm_forward /
// rmsnorm_backward (native/ops/rmsnorm.h) on contiguous float32 rows. Shapes were validated by the binding.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace tg::cuda {

// y (rows, cols) = x * rstd * w, rstd (rows) saved for the backward; y may be x.
std::string launch_rmsnorm_forward(float* y, float* rstd, const float* x, const float* w, int64_t rows, int64_t cols,
                                   float eps, cudaStream_t stream);

// Device scratch (bytes) the backward needs for this shape (0 when none).
size_t rmsnorm_backward_scratch_bytes(int64_t rows, int64_t cols);
// dx (rows, cols) and dw (cols, overwritten: summed over rows in a fixed order); dx may be dy.
std::string launch_rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                                    const float* rstd, int64_t rows, int64_t cols, void* scratch, cudaStream_t stream);

}  // namespace tg::cuda
