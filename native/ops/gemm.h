// Single-precision GEMM (row-major): packed, cache-blocked, register-blocked micro-kernels chosen at run
// time (AVX-512, AVX2/FMA, portable scalar), threaded on the engine's pool.
#pragma once
#include <cstdint>

namespace tg {

// Precision of float32 GEMMs with M, N > 8 (the packed path), as in PyTorch's
// set_float32_matmul_precision: Highest computes in float32; Medium lets operands be rounded to bfloat16
// (products and sums stay float32): AMX tiles where the CPU has them (Intel's Sapphire Rapids and later), the
// AVX512-BF16 kernel where it doubles the multiply-add rate (AMD's Zen 4 and Zen 5), the same as Highest elsewhere
// (Intel's VDPBF16PS runs at half the float32 kernel's rate). Every GEMM entry point takes it per call, so callers
// with different precisions never affect each other; the process default (set_matmul_precision) is only what
// bindings use when the caller names none.
enum class MatmulPrecision { Highest, Medium };

// C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C. op(A) = A (M x K, row stride lda) or, with
// trans_a, A^T where A is stored K x M with row stride lda. Same for B. beta == 0 means C is not read
// (may hold NaN garbage).
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc,
           MatmulPrecision precision);

// Batched: for b in [0,batch): the same with A + a_offsets[b], B + b_offsets[b], C + c_offsets[b]
// (element offsets). Parallelizes across the batch when single GEMMs are small, within each GEMM otherwise.
void sgemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, const int64_t* a_offsets,
                   const float* B, int64_t ldb, const int64_t* b_offsets, float beta,
                   float* C, int64_t ldc, const int64_t* c_offsets, int64_t batch, MatmulPrecision precision);

// A matrix operand of float32 elements, or of bfloat16 elements (raw bits) when `bf16`.
struct MatrixOperand {
  const void* data;
  bool bf16;
};

// sgemm_batched with A and B of float32 or bfloat16: bfloat16 operands are widened to float32 a cache block at a
// time right before packing (products and sums float32, as for float32 operands); the unpacked paths (one row or
// column, few rows) widen the whole operand first.
void gemm_batched(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, MatrixOperand A, int64_t lda,
                  const int64_t* a_offsets, MatrixOperand B, int64_t ldb, const int64_t* b_offsets, float beta, float* C,
                  int64_t ldc, const int64_t* c_offsets, int64_t batch, MatmulPrecision precision);

// Name of the float32 micro-kernel in use: "avx512", "avx2" or "scalar". Chosen once from the CPU's features,
// overridable with THINKGRAD_GEMM=avx512|avx512-bf16|avx2|scalar (a path the CPU lacks falls back to the best one);
// avx512-bf16 is the AVX-512 kernel with the bf16 one at medium precision even where that is the slower.
const char* sgemm_kernel_name();

// "highest" or "medium" -> MatmulPrecision; throws std::invalid_argument on another name (`op` names the caller).
MatmulPrecision parse_matmul_precision(const char* name, const char* op);
const char* matmul_precision_name(MatmulPrecision precision);

// The process default precision (PyTorch's set_float32_matmul_precision): what a binding uses when its caller
// names no precision. Throws std::invalid_argument on an unknown name.
void set_matmul_precision(const char* name);
MatmulPrecision default_matmul_precision();

// Name of the kernel a packed float32 GEMM runs at `precision`: sgemm_kernel_name(), or "amx-bf16" / "avx512-bf16"
// at Medium where one of those runs (see MatmulPrecision).
const char* matmul_kernel_name(MatmulPrecision precision);

// Pre-packed op(B) for many products with the same B (weights while generating): pack_b writes a header
// (kernel, K, N) and the panels for the kernel of `precision` into dst (packed_b_floats(K, N, precision)
// floats, 64-byte aligned); sgemm_packed_b computes C[M,N] = op(A) @ B from them and throws
// std::invalid_argument when they were packed for another shape or kernel than `precision` runs on.
int64_t packed_b_floats(int64_t K, int64_t N, MatmulPrecision precision);
void pack_b(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, float* dst, MatmulPrecision precision);
void sgemm_packed_b(bool trans_a, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* packed,
                    float* C, int64_t ldc, MatmulPrecision precision);

// Forces a kernel ("avx512", "avx512-bf16", "avx2", "scalar", or "auto" for the CPU's best), for tests of every
// dispatch branch. Throws std::invalid_argument on an unknown name or one this CPU/build cannot run.
void sgemm_force_kernel(const char* name);
// How many times sgemm_force_kernel has run: the kernel names (matmul_kernel_name) change only when it does.
uint64_t sgemm_kernel_epoch();

}  // namespace tg
