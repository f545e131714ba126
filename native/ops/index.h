// Index kernels, with the indexed dim viewed as the middle of (outer, dim, inner); selections move elements of
// any dtype as raw bits (uint32_t: float32 or int32, uint16_t: bfloat16), additions are float32. Each returns -1 on success or the position of the first out-of-range index.
#pragma once
#include <cstdint>

namespace tg {

// out (outer, n_idx, inner) = x[:, idx[j], :] for x (outer, dim, inner).
template <class T>
int64_t index_select(T* out, const T* x, int64_t outer, int64_t dim, int64_t inner, const int32_t* idx, int64_t n_idx);
// out (outer, dim, inner)[:, idx[j], :] += src (outer, n_idx, inner)[:, j, :] (float32). Deterministic.
int64_t index_add(float* out, const float* src, int64_t outer, int64_t dim, int64_t inner, const int32_t* idx,
                  int64_t n_idx);
// out (outer, k, inner)[o, j, i] = x (outer, dim, inner)[o, idx[o, j, i], i].
template <class T>
int64_t gather(T* out, const T* x, int64_t outer, int64_t dim, int64_t inner, const int32_t* idx, int64_t k);
// out (outer, dim, inner)[o, idx[o, j, i], i] += src (outer, k, inner)[o, j, i] (float32). Deterministic.
int64_t scatter_add(float* out, const float* src, int64_t outer, int64_t dim, int64_t inner, const int32_t* idx,
                    int64_t k);

}  // namespace tg
