// Host-side launchers of the CUDA elementwise family (cuda/elementwise.cu): fills, random fills, unary, binary,
// where, strided copy/cast and SwiGLU. Each returns "" or an error message; buffers, views and op codes were
// validated by the binding (cuda/binding_elementwise.cc). Outputs are contiguous, except copy's strided dst.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "core/strided.h"
#include "ops/elementwise.h"

namespace tg::cuda {

// out[0, n) = value, for 4-byte (float32, int32) and 2-byte (bfloat16) elements given as their bits.
std::string launch_fill32(uint32_t* out, int64_t n, uint32_t bits, cudaStream_t stream);
std::string launch_fill16(uint16_t* out, int64_t n, uint16_t bits, cudaStream_t stream);
// out[i] = start + step * i, as the CPU computes it (double for float32, int64 for int32).
std::string launch_arange_f32(float* out, int64_t n, double start, double step, cudaStream_t stream);
std::string launch_arange_i32(int32_t* out, int64_t n, int64_t start, int64_t step, cudaStream_t stream);
// kind 0: uniform [a, b); kind 1: normal(a, b). Element i from Philox block counter + i / 4, lane i % 4.
std::string launch_random_fill(float* out, int64_t n, int kind, uint64_t seed, uint64_t counter, float a, float b,
                               cudaStream_t stream);

// The layouts are the binding's (shape and per-operand strides, operand order as in ops/elementwise.h), not yet
// coalesced; out is contiguous with layout.numel() elements.
std::string launch_unary(UnaryOp op, float* out, const float* x, StridedLayout<1> layout, float p0, float p1,
                         cudaStream_t stream);
std::string launch_binary(BinaryOp op, float* out, const float* a, const float* b, StridedLayout<2> layout,
                          cudaStream_t stream);
std::string launch_where(float* out, const float* cond, const float* a, const float* b, StridedLayout<3> layout,
                         cudaStream_t stream);
// dst[view] = src[view]; dtypes by the CUDA addon's codes (0 float32, 1 int32, 2 bfloat16): float -> int32
// truncates toward zero (saturating, NaN -> 0), float -> bfloat16 rounds to nearest even. Operands: 0 dst, 1 src.
std::string launch_copy(void* dst, int dst_dtype, const void* src, int src_dtype, StridedLayout<2> layout,
                        cudaStream_t stream);

// Contiguous SwiGLU over n elements; h may be gate or up, dgate may be gate and dup may be up (in place).
std::string launch_swiglu_forward(float* h, const float* gate, const float* up, int64_t n, cudaStream_t stream);
std::string launch_swiglu_backward(float* dgate, float* dup, const float* dh, const float* gate, const float* up,
                                   int64_t n, cudaStream_t stream);

}  // namespace tg::cuda
