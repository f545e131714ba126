// Host-side launchers of the index kernels (cuda/index.cu): the CPU addon's indexSelect / indexAdd / gather /
// scatterAdd (native/ops/index.h) on device buffers, the indexed dim viewed as the middle of (outer, dim, inner).
// Indices are int32. A bad index is found by launch_check_indices before the op's kernel, which then writes
// nothing (as on CPU, a bad index leaves the output untouched); the caller reads the status back.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace tg::cuda {

// *status (device, INT_MAX on entry) becomes the first position j < n with idx[j] outside [0, dim), if any.
std::string launch_check_indices(const int32_t* idx, int64_t n, int64_t dim, int* status, cudaStream_t stream);

// Each does nothing when *status != INT_MAX. The copies move elements of element_bytes 4 (float32, int32) or 2
// (bfloat16) as raw bits.
// out (outer, n_idx, inner) = x[:, idx[j], :] for x (outer, dim, inner).
std::string launch_index_select(void* out, const void* x, int element_bytes, int64_t outer, int64_t dim, int64_t inner,
                                const int32_t* idx, int64_t n_idx, const int* status, cudaStream_t stream);
// out (outer, k, inner)[o, j, i] = x (outer, dim, inner)[o, idx[o, j, i], i].
std::string launch_gather(void* out, const void* x, int element_bytes, int64_t outer, int64_t dim, int64_t inner,
                          const int32_t* idx, int64_t k, const int* status, cudaStream_t stream);
// out (outer, dim, inner)[:, idx[j], :] += src (outer, n_idx, inner)[:, j, :].
std::string launch_index_add(float* out, const float* src, int64_t outer, int64_t dim, int64_t inner, const int32_t* idx,
                             int64_t n_idx, const int* status, cudaStream_t stream);
// out (outer, dim, inner)[o, idx[o, j, i], i] += src (outer, k, inner)[o, j, i].
std::string launch_scatter_add(float* out, const float* src, int64_t outer, int64_t dim, int64_t inner,
                               const int32_t* idx, int64_t k, const int* status, cudaStream_t stream);

}  // namespace tg::cuda
