// The tensor-core instruction of the medium-precision GEMM: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32,
// D (16x8, float) = A (16x16, bf16) * B (16x16 x 8, bf16) + C, as a warp-collective on per-lane fragments.
// Under nvcc it is the PTX instruction; on the CPU emulator the warp's lanes gather each other's fragments and
// every lane computes its part of D from the fragment layouts of the PTX ISA, so the GEMM kernel runs unchanged
// and a wrong fragment layout shows as a wrong product in the emulated tests.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace tg::cuda {

// Per lane (groupID g = lane >> 2, thread-in-group t = lane % 4; each 32-bit register holds two bf16, the lower
// index in the low half):
//   a[0] = A[g][2t, 2t+1]      a[1] = A[g+8][2t, 2t+1]      a[2] = A[g][2t+8, 2t+9]      a[3] = A[g+8][2t+8, 2t+9]
//   b[0] = B[2t, 2t+1][g]      b[1] = B[2t+8, 2t+9][g]
//   acc[0..1] = D[g][2t, 2t+1] acc[2..3] = D[g+8][2t, 2t+1]   (C on entry, D on return)
// Every lane of the warp must call it together (it is .aligned).
__device__ __forceinline__ void mma_m16n8k16_bf16(float (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]);

#ifdef THINKGRAD_CUDA_EMULATOR

namespace mma_detail {
struct LaneFragments {
  uint32_t a[4], b[2];
};
inline float bf16_half(uint32_t pair, int k) { return __uint_as_float((k & 1 ? pair >> 16 : pair & 0xffffu) << 16); }
// A[row][k] and B[k][col] of the warp's 16x16 and 16x8 operands, found in the lane and register the layout puts them.
inline float a_at(const LaneFragments* lanes, int row, int k) {
  return bf16_half(lanes[(row % 8) * 4 + (k % 8) / 2].a[(row >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0)], k);
}
inline float b_at(const LaneFragments* lanes, int k, int col) {
  return bf16_half(lanes[col * 4 + (k % 8) / 2].b[k >= 8 ? 1 : 0], k);
}
}  // namespace mma_detail

__device__ __forceinline__ void mma_m16n8k16_bf16(float (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  using namespace mma_detail;
  const LaneFragments mine{{a[0], a[1], a[2], a[3]}, {b[0], b[1]}};
  LaneFragments lanes[32];
  tg::cuda_emulator::warp_gather(0xffffffffu, &mine, sizeof mine, lanes);
  const int lane = static_cast<int>(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)) & 31;
  const int g = lane >> 2, t = lane & 3;
  // bf16 x bf16 products are exact in float; the tensor core sums them without intermediate rounding, which the
  // double sum stands in for.
  for (int i = 0; i < 4; ++i) {
    const int row = g + (i >= 2 ? 8 : 0), col = 2 * t + (i & 1);
    double sum = 0;
    for (int k = 0; k < 16; ++k) sum += static_cast<double>(a_at(lanes, row, k)) * b_at(lanes, k, col);
    acc[i] = static_cast<float>(acc[i] + sum);
  }
}

#else

__device__ __forceinline__ void mma_m16n8k16_bf16(float (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  // bf16 mma needs sm_80; the binding never launches the mma kernels on older devices (tensor_cores_bf16()).
  __trap();
#else
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

#endif

}  // namespace tg::cuda
