// Index kernels: indices are validated before any write, so a bad index leaves the output untouched.
#include "ops/index.h"

#include <cstring>

#include "core/thread_pool.h"

namespace tg {
namespace {

int64_t first_bad(const int32_t* idx, int64_t n, int64_t dim) {
  for (int64_t j = 0; j < n; ++j)
    if (idx[j] < 0 || idx[j] >= dim) return j;
  return -1;
}

}  // namespace

template <class T>
int64_t index_select(T* out, const T* x, int64_t outer, int64_t dim, int64_t inner, const int32_t* idx, int64_t n_idx) {
  if (int64_t bad = first_bad(idx, n_idx, dim); bad >= 0) return bad;
  int64_t rows = outer * n_idx;
  int64_t grain = inner >= 4096 ? 1 : 4096 / (inner + 1) + 1;
  parallel_for(rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t o = r / n_idx, j = r % n_idx;
      std::memcpy(out + r * inner, x + (o * dim + idx[j]) * inner, static_cast<size_t>(inner) * sizeof(T));
    }
  });
  return -1;
}

int64_t index_add(float* out, const float* src, int64_t outer, int64_t dim, int64_t inner, const int32_t* idx,
                  int64_t n_idx) {
  if (int64_t bad = first_bad(idx, n_idx, dim); bad >= 0) return bad;
  // Split over (outer, column blocks): every task owns distinct output columns, rows in index order.
  constexpr int64_t kBlock = 64;
  int64_t col_blocks = (inner + kBlock - 1) / kBlock;
  parallel_for(outer * col_blocks, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      int64_t o = t / col_blocks, c0 = (t % col_blocks) * kBlock;
      int64_t n = inner - c0 < kBlock ? inner - c0 : kBlock;
      for (int64_t j = 0; j < n_idx; ++j) {
        float* dst = out + (o * dim + idx[j]) * inner + c0;
        const float* s = src + (o * n_idx + j) * inner + c0;
        for (int64_t i = 0; i < n; ++i) dst[i] += s[i];
      }
    }
  });
  return -1;
}

template <class T>
int64_t gather(T* out, const T* x, int64_t outer, int64_t dim, int64_t inner, const int32_t* idx, int64_t k) {
  if (int64_t bad = first_bad(idx, outer * k * inner, dim); bad >= 0) return bad;
  parallel_for(outer, 1 + 4096 / (k * inner + 1), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o)
      for (int64_t j = 0; j < k; ++j)
        for (int64_t i = 0; i < inner; ++i) {
          int64_t p = (o * k + j) * inner + i;
          out[p] = x[(o * dim + idx[p]) * inner + i];
        }
  });
  return -1;
}

int64_t scatter_add(float* out, const float* src, int64_t outer, int64_t dim, int64_t inner, const int32_t* idx,
                    int64_t k) {
  if (int64_t bad = first_bad(idx, outer * k * inner, dim); bad >= 0) return bad;
  parallel_for(outer, 1 + 4096 / (k * inner + 1), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o)
      for (int64_t j = 0; j < k; ++j)
        for (int64_t i = 0; i < inner; ++i) {
          int64_t p = (o * k + j) * inner + i;
          out[(o * dim + idx[p]) * inner + i] += src[p];
        }
  });
  return -1;
}

template int64_t index_select(uint32_t*, const uint32_t*, int64_t, int64_t, int64_t, const int32_t*, int64_t);
template int64_t index_select(uint16_t*, const uint16_t*, int64_t, int64_t, int64_t, const int32_t*, int64_t);
template int64_t gather(uint32_t*, const uint32_t*, int64_t, int64_t, int64_t, const int32_t*, int64_t);
template int64_t gather(uint16_t*, const uint16_t*, int64_t, int64_t, int64_t, const int32_t*, int64_t);

}  // namespace tg
