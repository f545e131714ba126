// Internal interface between the GEMM driver (gemm.cc) and its per-ISA micro-kernels (gemm_avx512.cc,
// gemm_avx2.cc, gemm_bf16_avx512.cc). Not part of the public API.
#pragma once
#include <cstdint>

namespace tg::gemm_detail {

// Packs op(A)[0:m, 0:k] into ceil(m/MR) panels of MR*k floats, rows past m zero. trans: A is stored k x m.
using PackA = void (*)(bool trans, const float* A, int64_t lda, int64_t m, int64_t k, float* dst);

// A micro-kernel over packed panels of element type T, with the blocking it was tuned for.
template <class T>
struct KernelT;

// Float32: for each of `tiles` consecutive row tiles t, C[MR,NR] at c + t*MR*ldc (row stride ldc) =
// alpha * a_t @ b + beta * C, where a_t = a + t*MR*kc is an MR-wide packed panel (a_t[k*MR + r] = op(A)[r,k])
// and b an NR-wide packed panel (b[k*NR + j] = op(B)[k,j]), both 64-byte aligned, k in [0,kc). beta == 0: C
// is not read. One call runs a whole column of tiles against one B panel, so the loop over them lives in the
// kernel's file, without a call per tile.
template <>
struct KernelT<float> {
  using elem = float;
  const char* name;
  int mr, nr;      // register tile
  int kc, mc, nc;  // cache blocks: kc x nr B panel in L1, mc x kc A block in L2, kc x nc B block in L3
  void (*micro)(int64_t kc, int64_t tiles, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                float beta);
  PackA pack_a;  // nullptr: the driver's generic packing
};

// bfloat16 operands, float32 accumulation: panels hold k rounded up to a multiple of k_align with zeros (kcp);
// row tile t's panel starts at a + t*MR*kcp. B panels hold k in pairs (b[(k/2)*2*NR + 2j + k%2]); A panels the
// same (with MR), or the layout of the kernel's own A packers. The packers convert (round to nearest
// even) while packing `lanes` rows of op(A) (or columns of op(B)) into ceil(lanes/w) w-wide panels of kcp*w
// values, lanes past `lanes` zero: pack_k_contiguous when a lane's k values are contiguous (lane i at
// src + i*ld), pack_lanes_contiguous when each k's lanes are (k row kk at src + kk*ld).
template <>
struct KernelT<uint16_t> {
  using elem = uint16_t;
  const char* name;
  int mr, nr;
  int kc, mc, nc;  // kc even
  void (*micro)(int64_t kc, int64_t tiles, const uint16_t* a, const uint16_t* b, float* c, int64_t ldc,
                float alpha, float beta);
  void (*pack_k_contiguous)(const float* src, int64_t ld, int64_t lanes, int64_t k, int w, uint16_t* dst);
  void (*pack_lanes_contiguous)(const float* src, int64_t ld, int64_t lanes, int64_t k, int w, uint16_t* dst);
  // A's packers (the two above where A panels have B's layout).
  void (*pack_a_k_contiguous)(const float* src, int64_t ld, int64_t lanes, int64_t k, int w, uint16_t* dst);
  void (*pack_a_lanes_contiguous)(const float* src, int64_t ld, int64_t lanes, int64_t k, int w, uint16_t* dst);
  int k_align;
};

using Kernel = KernelT<float>;
using Bf16Kernel = KernelT<uint16_t>;

#if defined(__x86_64__)
const Kernel* avx512_kernel();
const Kernel* avx2_kernel();
const Bf16Kernel* avx512_bf16_kernel();
// nullptr where the CPU has no AMX-BF16 or the OS does not let this process use it. Call only on an AVX-512 CPU.
const Bf16Kernel* amx_bf16_kernel();
#endif

}  // namespace tg::gemm_detail
