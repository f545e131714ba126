// Host-side launchers of the CUDA AdamW kernels (cuda/adamw.cu): one tensor, or many tensors in one launch over
// a table of fixed-size chunks (as PyTorch's multi_tensor_apply). Buffers and hyperparameters were validated by
// the binding; each returns "" or an error message.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "math/adamw.h"

namespace tg::cuda {

// In place over n contiguous elements of param, m, v (grad read), as math::adamw_update.
std::string launch_adamw(float* param, const float* grad, float* m, float* v, int64_t n, const math::AdamWParams& a,
                         cudaStream_t stream);

// Elements per chunk of the multi-tensor step: a block updates one chunk.
constexpr int64_t kAdamWChunk = 1 << 16;
// One chunk: up to kAdamWChunk elements of one tensor, its pointers already at the chunk's start.
struct AdamWChunk {
  float* param;
  const float* grad;
  float* m;
  float* v;
  int64_t n;
};
// chunks: a device array of `count` chunks (the binding uploads the table to device scratch).
std::string launch_adamw_chunks(const AdamWChunk* chunks, int64_t count, const math::AdamWParams& a, cudaStream_t stream);

}  // namespace tg::cuda
