// cuBLASLt for the GEMM, loaded at run time (dlopen, never linked: machines without cuBLAS build and run the
// addon on its own kernels). The few types, enums and functions used are declared in cublaslt.cc from the
// documented cuBLASLt API.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "gemm.cuh"

namespace tg::cuda {

// Workspace handed to cublasLtMatmul (split-K and stream-K algorithms need one).
constexpr size_t kCublasLtWorkspaceBytes = size_t(32) << 20;

// Loads cuBLASLt once (THINKGRAD_CUBLASLT_PATH if set, then libcublasLt.so.13, .so.12, .so) and creates its
// handle; "" when it can run, else why not.
const std::string& cublaslt_unavailable_reason();

// The batched GEMM of `g` through cublasLtMatmul, batch b's operands at g.a + b * a_stride and g.b + b * b_stride
// (g.a_offsets and g.b_offsets are not read). `fast_bf16`: CUBLAS_COMPUTE_32F_FAST_16BF, else CUBLAS_COMPUTE_32F.
// Sets *ran = false (and returns "") when cuBLASLt offers no algorithm for the shape: the caller runs its own
// kernel. Plans (descriptors and the heuristic's algorithm) are cached by shape, strides and alignment.
std::string cublaslt_gemm(const GemmArgs& g, int64_t a_stride, int64_t b_stride, bool fast_bf16, void* workspace,
                          size_t workspace_bytes, cudaStream_t stream, bool* ran);

}  // namespace tg::cuda
