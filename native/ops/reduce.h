// Reductions of contiguous float32 data: over the last dim of (R, C) ("rows") or over the first dim of
// (R, C) ("cols"). Other axes are moved to one of these two forms by the TS layer.
#pragma once
#include <cstdint>

namespace tg {

enum class ReduceOp : int32_t { Sum, Mean, Max, Min, LogSumExp, Argmax, Argmin, Count };

// out (R) for Sum/Mean/Max/Min/LogSumExp as float; Argmax/Argmin write int32 (first index of the extreme;
// NaN counts as the extreme, like PyTorch).
void reduce_rows(ReduceOp op, void* out, const float* x, int64_t rows, int64_t cols);
// out (C): Sum, Mean, Max, Min over the R rows.
void reduce_cols(ReduceOp op, float* out, const float* x, int64_t rows, int64_t cols);

}  // namespace tg
