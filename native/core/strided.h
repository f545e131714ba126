// N-d strided iteration for elementwise kernels: dims that are size 1 are dropped and adjacent dims that
// are contiguous for every operand are merged, so most calls reduce to one flat loop.
#pragma once
#include <array>
#include <cstdint>

namespace tg {

constexpr int kMaxDims = 12;

template <int NumOperands>
struct StridedLayout {
  int ndim = 0;
  std::array<int64_t, kMaxDims> shape{};
  std::array<std::array<int64_t, kMaxDims>, NumOperands> strides{};

  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= shape[d];
    return n;
  }

  // Drops size-1 dims and merges dim d into d+1 when stride[d] == stride[d+1] * shape[d+1] for all operands.
  void coalesce() {
    int out = 0;
    for (int d = 0; d < ndim; ++d) {
      if (shape[d] == 1) continue;
      if (out > 0) {
        bool mergeable = true;
        for (int k = 0; k < NumOperands; ++k)
          if (strides[k][out - 1] != strides[k][d] * shape[d]) mergeable = false;
        if (mergeable) {
          shape[out - 1] *= shape[d];
          for (int k = 0; k < NumOperands; ++k) strides[k][out - 1] = strides[k][d];
          continue;
        }
      }
      shape[out] = shape[d];
      for (int k = 0; k < NumOperands; ++k) strides[k][out] = strides[k][d];
      ++out;
    }
    ndim = out;
  }

  // Element offsets of each operand at linear (row-major) position `index` of the outer dims [0, ndim-1).
  void outer_offsets(int64_t index, int64_t* offsets) const {
    for (int k = 0; k < NumOperands; ++k) offsets[k] = 0;
    for (int d = ndim - 2; d >= 0; --d) {
      int64_t i = index % shape[d];
      index /= shape[d];
      for (int k = 0; k < NumOperands; ++k) offsets[k] += i * strides[k][d];
    }
  }
};

}  // namespace tg
