// Index kernels over 4-byte elements (float32 or int32), with the indexed dim viewed as the middle of
// (outer, dim, inner). Each returns -1 on success or the position of the first out-of-range index.
#pragma once
#include <cstdint>

namespace tg {

// out (outer, n_idx, inner) = x[:, idx[j], :] for x (outer, dim, inner).
int64_t index_select(uint32_t* out, const uint32_t* x, int64_t outer, int64_t dim, int64_t inner,
                     const int32_t* idx, int64_t n_idx);
// out (outer, dim, inner)[:, idx[j], :] += src (outer, n_idx, inner)[:, j, :] (float32). Deterministic.
int64_t index_add(float* out, const float* src, int64_t outer, int64_t dim, int64_t inner, const int32_t* idx,
                  int64_t n_idx);
// out (outer, k, inner)[o, j, i] = x (outer, dim, inner)[o, idx[o, j, i], i].
int64_t gather(uint32_t* out, const uint32_t* x, int64_t outer, int64_t dim, int64_t inner, const int32_t* idx,
               int64_t k);
// out (outer, dim, inner)[o, idx[o, j, i], i] += src (outer, k, inner)[o, j, i] (float32). Deterministic.
int64_t scatter_add(float* out, const float* src, int64_t outer, int64_t dim, int64_t inner, const int32_t* idx,
                    int64_t k);

}  // namespace tg
