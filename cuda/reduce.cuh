// Host-side launchers of the reductions (cuda/reduce.cu): the CPU addon's reduce_rows / reduce_cols
// (native/ops/reduce.h) on device buffers, with the same op codes, output dtypes and NaN/tie rules.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "ops/reduce.h"

namespace tg::cuda {

// Device scratch (bytes) launch_reduce_rows / launch_reduce_cols need for this shape (0 when none).
size_t reduce_rows_scratch_bytes(ReduceOp op, int64_t rows, int64_t cols);
size_t reduce_cols_scratch_bytes(int64_t rows, int64_t cols);

// out (rows): float, or int32 for Argmax/Argmin; x contiguous (rows, cols).
std::string launch_reduce_rows(ReduceOp op, void* out, const float* x, int64_t rows, int64_t cols, void* scratch,
                               cudaStream_t stream);
// out (cols): Sum, Mean, Max, Min over the rows of x.
std::string launch_reduce_cols(ReduceOp op, float* out, const float* x, int64_t rows, int64_t cols, void* scratch,
                               cudaStream_t stream);

}  // namespace tg::cuda
