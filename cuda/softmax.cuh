// Host-side launchers of the softmax-family kernels (cuda/softmax.cu): softmax / log-softmax forward and
// backward, cross-entropy forward and backward, on contiguous float32 rows; the CPU addon's semantics
// (native/ops/softmax.h, native/ops/cross_entropy.h). Shapes were validated by the binding.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace tg::cuda {

// y (rows, cols) = softmax or log_softmax of x over each row; y may be x.
std::string launch_softmax_forward(float* y, const float* x, int64_t rows, int64_t cols, bool log, cudaStream_t stream);
// dx from dy and the forward's output y; dx may be dy.
std::string launch_softmax_backward(float* dx, const float* dy, const float* y, int64_t rows, int64_t cols, bool log,
                                    cudaStream_t stream);

// status (device, 2 ints, INT_MAX on entry): [0] the first row whose lse or loss is not finite (forward only),
// [1] the first row whose target is outside [0, V) and not ignore_index. A bad target stops the op's kernel
// before it writes anything, as on CPU.
std::string launch_cross_entropy_forward(float* loss, float* lse, const float* logits, const int32_t* targets,
                                         int64_t n, int64_t v, int64_t ignore_index, int* status, cudaStream_t stream);
// dlogits may be logits (in place).
std::string launch_cross_entropy_backward(float* dlogits, const float* g, const float* logits, const float* lse,
                                          const int32_t* targets, int64_t n, int64_t v, int64_t ignore_index,
                                          int* status, cudaStream_t stream);

}  // namespace tg::cuda
