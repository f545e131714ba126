// Internal interface between the GEMM driver (gemm.cc) and its per-ISA micro-kernels (gemm_avx512.cc,
// gemm_avx2.cc). Not part of the public API.
#pragma once
#include <cstdint>

namespace tg::gemm_detail {

// Full tile: C[MR,NR] (row stride ldc) = alpha * a @ b + beta * C, where a is an MR-wide packed panel
// (a[k*MR + r] = op(A)[r,k]) and b an NR-wide packed panel (b[k*NR + j] = op(B)[k,j]), both 64-byte
// aligned, k in [0,kc). beta == 0: C is not read.
using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                             float beta);

// Packs op(A)[0:m, 0:k] into ceil(m/MR) panels of MR*k floats, rows past m zero. trans: A is stored k x m.
using PackA = void (*)(bool trans, const float* A, int64_t lda, int64_t m, int64_t k, float* dst);

struct Kernel {
  const char* name;
  int mr, nr;      // register tile
  int kc, mc, nc;  // cache blocks: kc x nr B panel in L1, mc x kc A block in L2, kc x nc B block in L3
  MicroKernel micro;
  PackA pack_a;  // nullptr: the driver's generic packing
};

#if defined(__x86_64__)
const Kernel* avx512_kernel();
const Kernel* avx2_kernel();
#endif

}  // namespace tg::gemm_detail
