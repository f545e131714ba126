// The CUDA GEMM kernels behind cuda/gemm.cuh. Both compute 128x128 output tiles per block of 256 threads, read
// op(A) and op(B) in place (transposes, leading dimensions, per-batch offsets), stage k-slices through
// double-buffered shared memory with the next slice's global loads in flight during the current slice's math,
// and zero-fill outside M, N, K so tails need no special path. Global loads are coalesced 16-byte vectors along
// whichever dimension is contiguous in storage (scalar where unaligned or at an edge); the blocks of a batch run
// along gridDim.y (looping past 65535).
#include <climits>

#include "common.cuh"
#include "gemm.cuh"
#include "math/bf16.h"
#include "mma.cuh"

namespace tg::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kTile = 128;  // block tile in M and N

// An operand as the kernels see it: P(r, k) for r < rows (M for A, N for B) and k < depth (K), i.e. op(A)(r, k)
// and op(B)(k, r). Stored k-contiguous (P(r, k) at x[r * ld + k]: A untransposed, B transposed) or r-contiguous
// (x[k * ld + r]). `vector`: 4 elements along the contiguous dim starting at a multiple of 4 are one aligned
// 16-byte load (ld a multiple of 4, x 16-byte aligned), or for bfloat16 elements (x16 set instead of x) one
// aligned 8-byte load widened to float32.
struct Panel {
  const float* x;
  const uint16_t* x16;
  int64_t ld;
  bool k_contiguous, vector;
  int64_t rows, depth;
};

// The operand of one batch: float32 x + offset, or bfloat16 x16 + offset when x16 is set.
__device__ __forceinline__ Panel make_panel(const float* x, const uint16_t* x16, int64_t offset, int64_t ld,
                                            bool k_contiguous, int64_t rows, int64_t depth) {
  if (x16 != nullptr) {
    const uint16_t* p = x16 + offset;
    return {nullptr, p, ld, k_contiguous, ld % 4 == 0 && reinterpret_cast<uintptr_t>(p) % 8 == 0, rows, depth};
  }
  const float* p = x + offset;
  return {p, nullptr, ld, k_contiguous, ld % 4 == 0 && reinterpret_cast<uintptr_t>(p) % 16 == 0, rows, depth};
}

__device__ __forceinline__ float panel_at(const Panel& p, int64_t r, int64_t k) {
  if (r >= p.rows || k >= p.depth) return 0.0f;
  const int64_t at = p.k_contiguous ? r * p.ld + k : k * p.ld + r;
  return p.x16 != nullptr ? math::bf16_to_float(__ldg(p.x16 + at)) : __ldg(p.x + at);
}

// Group g of 4 elements of a kRows x kK slice, numbered so that consecutive threads read consecutive 16 bytes:
// (r, k..k+3) when k-contiguous, (r..r+3, k) otherwise.
template <int kRows, int kK>
__device__ __forceinline__ void group_coords(int g, bool k_contiguous, int& r, int& k) {
  const int e = 4 * g;
  if (k_contiguous) {
    r = e / kK;
    k = e % kK;
  } else {
    r = e % kRows;
    k = e / kRows;
  }
}

// This thread's groups (g = threadIdx.x + i * kThreads) of the slice at (r0, k0) into v[4 i .. 4 i + 3], zero
// outside the operand: one 16-byte load per group that lies inside and is aligned, else 4 scalar loads.
template <int kRows, int kK, int kValues>
__device__ __forceinline__ void fetch_slice(float (&v)[kValues], const Panel& p, int64_t r0, int64_t k0) {
#pragma unroll
  for (int i = 0; i < kValues / 4; ++i) {
    int r, k;
    group_coords<kRows, kK>(threadIdx.x + i * kThreads, p.k_contiguous, r, k);
    const int64_t gr = r0 + r, gk = k0 + k;
    const bool inside = p.k_contiguous ? gr < p.rows && gk + 3 < p.depth : gk < p.depth && gr + 3 < p.rows;
    const int64_t at = p.k_contiguous ? gr * p.ld + gk : gk * p.ld + gr;
    if (p.vector && inside && p.x16 != nullptr) {  // 4 bfloat16 elements: the upper halves of 4 float32s
      const uint2 q = __ldg(reinterpret_cast<const uint2*>(p.x16 + at));
      v[4 * i] = math::bits_to_float(q.x << 16);
      v[4 * i + 1] = math::bits_to_float(q.x & 0xffff0000u);
      v[4 * i + 2] = math::bits_to_float(q.y << 16);
      v[4 * i + 3] = math::bits_to_float(q.y & 0xffff0000u);
    } else if (p.vector && inside) {
      const float4 q = __ldg(reinterpret_cast<const float4*>(p.x + at));
      v[4 * i] = q.x;
      v[4 * i + 1] = q.y;
      v[4 * i + 2] = q.z;
      v[4 * i + 3] = q.w;
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j) v[4 * i + j] = p.k_contiguous ? panel_at(p, gr, gk + j) : panel_at(p, gr + j, gk);
    }
  }
}

__device__ __forceinline__ float scaled(float acc, const float* c, float alpha, float beta) {
  return beta == 0.0f ? alpha * acc : alpha * acc + beta * *c;
}

// out[0..min(4, valid)) = alpha * v + beta * out, as one float4 when `vector` and all 4 are valid.
__device__ __forceinline__ void store4(float* out, const float* v, int64_t valid, bool vector, float alpha, float beta) {
  if (vector && valid >= 4) {
    float4 r{alpha * v[0], alpha * v[1], alpha * v[2], alpha * v[3]};
    if (beta != 0.0f) {
      const float4 old = *reinterpret_cast<const float4*>(out);
      r.x += beta * old.x;
      r.y += beta * old.y;
      r.z += beta * old.z;
      r.w += beta * old.w;
    }
    *reinterpret_cast<float4*>(out) = r;
    return;
  }
  for (int j = 0; j < 4 && j < valid; ++j) out[j] = scaled(v[j], out + j, alpha, beta);
}

// ---- float32 on CUDA cores ---------------------------------------------------------------------------------
constexpr int kSimtK = 8;
constexpr int kSimtLoads = kTile * kSimtK / kThreads;  // per thread and operand
// Shared rows of 128 + 4 floats: the k-contiguous staging writes (8 k by 4 rows per warp) hit 32 banks, and
// rows stay 16-byte aligned for the float4 reads.
constexpr int kSimtStride = kTile + 4;

// Thread (ty, tx) of a 16 x 16 grid owns rows {4ty..4ty+3, 64+4ty..64+4ty+3} and the same columns of tx: its
// shared reads are float4s, conflict-free across a warp.
__global__ void __launch_bounds__(kThreads) gemm_simt_f32(GemmArgs g, int64_t tiles_n) {
  __shared__ float4 a_tiles[2][kSimtK * kSimtStride / 4];  // [k][m]
  __shared__ float4 b_tiles[2][kSimtK * kSimtStride / 4];  // [k][n]
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t m0 = blockIdx.x / tiles_n * kTile, n0 = blockIdx.x % tiles_n * kTile;
  const int64_t k_tiles = (g.K + kSimtK - 1) / kSimtK;
  const bool vector_c = g.N % 4 == 0;  // C rows start 16-byte aligned
  for (int64_t z = blockIdx.y; z < g.batch; z += gridDim.y) {
    float* c = g.c + z * g.M * g.N;
    const Panel pa = make_panel(g.a, g.a16, g.a_offsets[z], g.lda, !g.trans_a, g.M, g.K);
    const Panel pb = make_panel(g.b, g.b16, g.b_offsets[z], g.ldb, g.trans_b, g.N, g.K);
    float a_next[kSimtLoads], b_next[kSimtLoads];
    auto fetch = [&](int64_t k0) {
      fetch_slice<kTile, kSimtK>(a_next, pa, m0, k0);
      fetch_slice<kTile, kSimtK>(b_next, pb, n0, k0);
    };
    // Shared tiles are [k][r]: an r-contiguous group is one float4 store, a k-contiguous one 4 scalar stores.
    auto stage_panel = [&](float* tile, const float (&v)[kSimtLoads], bool k_contiguous) {
#pragma unroll
      for (int i = 0; i < kSimtLoads / 4; ++i) {
        int r, k;
        group_coords<kTile, kSimtK>(tid + i * kThreads, k_contiguous, r, k);
        if (k_contiguous) {
#pragma unroll
          for (int j = 0; j < 4; ++j) tile[(k + j) * kSimtStride + r] = v[4 * i + j];
        } else {
          *reinterpret_cast<float4*>(tile + k * kSimtStride + r) = float4{v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3]};
        }
      }
    };
    auto stage = [&](int buf) {
      stage_panel(reinterpret_cast<float*>(a_tiles[buf]), a_next, pa.k_contiguous);
      stage_panel(reinterpret_cast<float*>(b_tiles[buf]), b_next, pb.k_contiguous);
    };
    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;
    if (k_tiles > 0) {
      fetch(0);
      stage(0);
    }
    __syncthreads();
    for (int64_t kt = 0; kt < k_tiles; ++kt) {
      const int buf = static_cast<int>(kt & 1);
      if (kt + 1 < k_tiles) fetch((kt + 1) * kSimtK);
      const float4* as = a_tiles[buf];
      const float4* bs = b_tiles[buf];
#pragma unroll
      for (int k = 0; k < kSimtK; ++k) {
        const float4 a0 = as[k * kSimtStride / 4 + ty], a1 = as[k * kSimtStride / 4 + 16 + ty];
        const float4 b0 = bs[k * kSimtStride / 4 + tx], b1 = bs[k * kSimtStride / 4 + 16 + tx];
        const float ra[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
        const float rb[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int j = 0; j < 8; ++j) acc[i][j] += ra[i] * rb[j];
      }
      if (kt + 1 < k_tiles) stage(buf ^ 1);
      __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int64_t m = m0 + (i < 4 ? 4 * ty + i : 64 + 4 * ty + i - 4);
      if (m >= g.M) continue;
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int64_t n = n0 + half * 64 + 4 * tx;
        store4(c + m * g.N + n, &acc[i][half * 4], g.N - n, vector_c, g.alpha, g.beta);
      }
    }
  }
}

// ---- bf16 tensor cores -------------------------------------------------------------------------------------
constexpr int kMmaK = 32;
constexpr int kMmaLoads = kTile * kMmaK / kThreads;  // per thread and operand
// Shared tiles hold bf16 rows of 32 k plus 8 of padding (80 bytes): the fragment reads of 8 rows x 4 k-pairs
// per warp land in 32 distinct banks.
constexpr int kMmaStride = kMmaK + 8;

// Warp w computes rows 64 (w / 4) .. +64 and columns 32 (w % 4) .. +32 of the block tile: 4 x 4 mma tiles of
// 16 x 8 per 16-wide k step. Both tiles are stored k-contiguous ([m][k] and [n][k]) so that every fragment
// register is one aligned 32-bit read of two consecutive k.
__global__ void __launch_bounds__(kThreads) gemm_mma_bf16(GemmArgs g, int64_t tiles_n) {
  __shared__ uint32_t a_tiles[2][kTile * kMmaStride / 2];
  __shared__ uint32_t b_tiles[2][kTile * kMmaStride / 2];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int group = lane >> 2, pair = lane & 3;
  const int warp_m = (warp >> 2) * 64, warp_n = (warp & 3) * 32;
  const int64_t m0 = blockIdx.x / tiles_n * kTile, n0 = blockIdx.x % tiles_n * kTile;
  const int64_t k_tiles = (g.K + kMmaK - 1) / kMmaK;
  for (int64_t z = blockIdx.y; z < g.batch; z += gridDim.y) {
    float* c = g.c + z * g.M * g.N;
    const Panel pa = make_panel(g.a, g.a16, g.a_offsets[z], g.lda, !g.trans_a, g.M, g.K);
    const Panel pb = make_panel(g.b, g.b16, g.b_offsets[z], g.ldb, g.trans_b, g.N, g.K);
    float a_next[kMmaLoads], b_next[kMmaLoads];
    auto fetch = [&](int64_t k0) {
      fetch_slice<kTile, kMmaK>(a_next, pa, m0, k0);
      fetch_slice<kTile, kMmaK>(b_next, pb, n0, k0);
    };
    // Rounds to bf16 (nearest even, as the CPU's math::bf16_from_float) on the way into the [r][k] shared tiles:
    // a k-contiguous group is two 32-bit stores of bf16 pairs, an r-contiguous one 4 scalar stores.
    auto stage_panel = [&](uint32_t* tile, const float (&v)[kMmaLoads], bool k_contiguous) {
      uint16_t* tile16 = reinterpret_cast<uint16_t*>(tile);
#pragma unroll
      for (int i = 0; i < kMmaLoads / 4; ++i) {
        int r, k;
        group_coords<kTile, kMmaK>(tid + i * kThreads, k_contiguous, r, k);
        uint16_t h[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) h[j] = math::bf16_from_float(v[4 * i + j]);
        if (k_contiguous) {
          uint32_t* pair = tile + (r * kMmaStride + k) / 2;
          pair[0] = h[0] | static_cast<uint32_t>(h[1]) << 16;
          pair[1] = h[2] | static_cast<uint32_t>(h[3]) << 16;
        } else {
#pragma unroll
          for (int j = 0; j < 4; ++j) tile16[(r + j) * kMmaStride + k] = h[j];
        }
      }
    };
    auto stage = [&](int buf) {
      stage_panel(a_tiles[buf], a_next, pa.k_contiguous);
      stage_panel(b_tiles[buf], b_next, pb.k_contiguous);
    };
    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int r = 0; r < 4; ++r) acc[i][j][r] = 0.0f;
    if (k_tiles > 0) {
      fetch(0);
      stage(0);
    }
    __syncthreads();
    for (int64_t kt = 0; kt < k_tiles; ++kt) {
      const int buf = static_cast<int>(kt & 1);
      if (kt + 1 < k_tiles) fetch((kt + 1) * kMmaK);
      const uint32_t* as = a_tiles[buf];
      const uint32_t* bs = b_tiles[buf];
#pragma unroll
      for (int ks = 0; ks < kMmaK; ks += 16) {
        // 32-bit word of (row, k) is (row * kMmaStride + k) / 2
        uint32_t af[4][4], bf[4][2];
#pragma unroll
        for (int mi = 0; mi < 4; ++mi) {
          const int r = warp_m + mi * 16 + group;
          af[mi][0] = as[(r * kMmaStride + ks + 2 * pair) / 2];
          af[mi][1] = as[((r + 8) * kMmaStride + ks + 2 * pair) / 2];
          af[mi][2] = as[(r * kMmaStride + ks + 8 + 2 * pair) / 2];
          af[mi][3] = as[((r + 8) * kMmaStride + ks + 8 + 2 * pair) / 2];
        }
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) {
          const int n = warp_n + ni * 8 + group;
          bf[ni][0] = bs[(n * kMmaStride + ks + 2 * pair) / 2];
          bf[ni][1] = bs[(n * kMmaStride + ks + 8 + 2 * pair) / 2];
        }
#pragma unroll
        for (int mi = 0; mi < 4; ++mi)
#pragma unroll
          for (int ni = 0; ni < 4; ++ni) mma_m16n8k16_bf16(acc[mi][ni], af[mi], bf[ni]);
      }
      if (kt + 1 < k_tiles) stage(buf ^ 1);
      __syncthreads();
    }
    // Each lane holds D[group (+8)][2 pair, 2 pair + 1] of every mma tile: column pairs, one float2 where C's
    // rows are 8-byte aligned.
    const bool vector_c = g.N % 2 == 0;
#pragma unroll
    for (int mi = 0; mi < 4; ++mi)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int64_t m = m0 + warp_m + mi * 16 + group + half * 8;
        if (m >= g.M) continue;
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) {
          const int64_t n = n0 + warp_n + ni * 8 + 2 * pair;
          float* out = c + m * g.N + n;
          const float v0 = acc[mi][ni][2 * half], v1 = acc[mi][ni][2 * half + 1];
          if (vector_c && n + 1 < g.N) {
            float2 r{g.alpha * v0, g.alpha * v1};
            if (g.beta != 0.0f) {
              const float2 old = *reinterpret_cast<const float2*>(out);
              r.x += g.beta * old.x;
              r.y += g.beta * old.y;
            }
            *reinterpret_cast<float2*>(out) = r;
          } else {
            if (n < g.N) out[0] = scaled(v0, out, g.alpha, g.beta);
            if (n + 1 < g.N) out[1] = scaled(v1, out + 1, g.alpha, g.beta);
          }
        }
      }
  }
}

// Blocks: output tiles along x (N-tiles fastest, so neighbouring blocks share A rows), batches along y.
template <class Kernel>
std::string launch_tiles(Kernel kernel, const char* name, const GemmArgs& g, cudaStream_t stream) {
  if (g.M == 0 || g.N == 0 || g.batch == 0) return {};
  const int64_t tiles_m = (g.M + kTile - 1) / kTile, tiles_n = (g.N + kTile - 1) / kTile;
  if (tiles_m * tiles_n > INT_MAX) return std::string(name) + ": " + std::to_string(g.M) + "x" + std::to_string(g.N) + " needs more than 2^31 - 1 tiles";
  const dim3 grid(static_cast<unsigned>(tiles_m * tiles_n), static_cast<unsigned>(g.batch < 65535 ? g.batch : 65535));
  launch(kernel, grid, dim3(kThreads), stream, g, tiles_n);
  return launch_error(name);
}

}  // namespace

std::string launch_gemm_simt_f32(const GemmArgs& g, cudaStream_t stream) {
  return launch_tiles(gemm_simt_f32, "gemm_simt_f32", g, stream);
}

std::string launch_gemm_mma_bf16(const GemmArgs& g, cudaStream_t stream) {
  return launch_tiles(gemm_mma_bf16, "gemm_mma_bf16", g, stream);
}

}  // namespace tg::cuda
