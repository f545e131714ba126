// Host-side launchers of the CUDA GEMM kernels (cuda/gemm.cu): batched row-major C = alpha * op(A) @ op(B) + beta * C
// with per-batch element offsets, as the CPU's sgemm_batched (native/ops/gemm.h). Arguments were validated by
// the binding; each launcher returns "" or an error message.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace tg::cuda {

struct GemmArgs {
  bool trans_a, trans_b;
  int64_t M, N, K, batch;
  float alpha, beta;  // beta == 0: C is not read (it may hold NaN)
  const float* a;     // op(A) of batch b starts at a + a_offsets[b], rows lda apart in storage
  int64_t lda;
  const float* b;
  int64_t ldb;
  float* c;  // contiguous (batch, M, N)
  const int64_t* a_offsets;  // device arrays of `batch` element offsets
  const int64_t* b_offsets;
  // bfloat16 operands (raw bits; same layout, leading dims and offsets), read instead of a / b when set: the own
  // kernels widen them as they load (cuBLASLt takes float32 operands only).
  const uint16_t* a16 = nullptr;
  const uint16_t* b16 = nullptr;
};

// float32 products on CUDA cores: 128x128 block tiles, 8x8 outputs per thread.
std::string launch_gemm_simt_f32(const GemmArgs& g, cudaStream_t stream);
// bf16 tensor cores (mma.sync m16n8k16), float32 accumulation: operands rounded to bf16 (nearest even) as they
// are staged into shared memory; 128x128x32 block tiles, 8 warps of 64x32.
std::string launch_gemm_mma_bf16(const GemmArgs& g, cudaStream_t stream);

}  // namespace tg::cuda
