// Flash-attention kernels. The forward gives each block one tile of query rows of one (batch, head) and streams
// key/value tiles through shared memory with the online softmax, writing o and the row log-sum-exp (never the
// Tq x Tk scores); a few query rows (decoding: at most kDecodeRows, as on the CPU) take the decode kernel instead,
// which reads K and V once (float32 views, or the bf16 KV cache) with a block per query row and split of its keys.
// The backward recomputes P = exp(scale q k^T - lse): one kernel per (batch, kv head, key tile) owns dK and dV rows
// and loops over the group's query heads and query tiles, another per (batch, head, query tile) owns dQ rows and
// loops over key tiles, so every output is summed by one thread in a fixed order (deterministic, no atomics).
// Causal tiles wholly above the diagonal, and with left padding (per-row key starts) tiles wholly before a tile's
// first visible key, are never visited; the tiles at the edges mask per element with native/math/attention.h's
// rules, as the CPU does.
//
// Two sets of tiled kernels, by precision:
// - 'highest' (and 'medium' on devices before sm_80): float32 SIMT. Every tile product goes through tile_abt /
//   tile_ab (C += A B^T and C += A B on float shared-memory tiles, a 16 x 16 thread grid, each thread a
//   (rows / 16) x (cols / 16) micro-tile at stride 16).
// - 'medium': bf16 tensor cores (mma_m16n8k16_bf16 of cuda/mma.cuh, float32 accumulation), as the CPU's bf16
//   block products: the operands Q, K, V, dO are rounded to bf16 (nearest even) as they are staged, P and dS as
//   they become A fragments; scores, softmax statistics (max, sum, lse), delta and the accumulators stay float32.
//   Four warps per block, each owning 16 rows (the m of the mma) for its whole loop with those rows' operand as A
//   fragments in registers, FlashAttention-2 style: a row's scores, softmax and output never leave the lanes
//   holding them (row reductions over a quad of lanes). The streamed tiles sit in shared memory as bf16, row-major
//   for the B fragments of A B^T and transposed for those of P B, rows padded so fragment reads are free of bank
//   conflicts. Forward: 64 query rows, 64-key tiles; backward: 64 owned rows, 32-row streamed tiles.
//
// Expected throughput of the 'medium' forward on an H100/H200 (estimate, not measured): per warp and 64-key tile
// at D = 128 the two products are 128 mma (0.5 MFLOP) fed by 32 KB of conflict-free 32-bit fragment reads from
// shared memory, 16 FLOP per byte; at 128 bytes per clock per SM that bounds the SM at ~2048 FLOP per clock, about
// half the bf16 dense peak (~4096 per clock with wgmma, of which mma.sync reaches roughly two thirds), so ~400-500
// TFLOPS before the float32-to-bf16 staging (K and V read as float32 from L2: 64 KB per tile per block), the
// softmax's exp per score and the barriers; expect ~250-350 TFLOPS, with causal tiles above the diagonal skipped.
// The next steps would be 32 rows per warp (B fragments reused twice, 32 FLOP per byte), ldmatrix and
// cp.async double buffering of the K/V tiles.
#include <cstdint>

#include "attention.cuh"
#include "common.cuh"
#include "math/attention.h"
#include "math/bf16.h"
#include "mma.cuh"

namespace tg::cuda {
namespace {

// Batch row b's first real key under left padding (0 without key starts).
__device__ __forceinline__ int64_t key_start_of(const AttentionShape& s, int64_t b) {
  return s.key_start != nullptr ? s.key_start[b] : 0;
}
// The first key query row i of batch row b sees (non-decreasing in i).
__device__ __forceinline__ int64_t key_first(const AttentionShape& s, int64_t b, int64_t i) {
  return math::attention_key_first(i, s.Tq, s.Tk, key_start_of(s, b));
}

constexpr int kSide = 16;  // the thread grid is kSide x kSide: tx = threadIdx.x % kSide runs along tile columns
constexpr int kThreads = kSide * kSide;
// Shared tiles' rows are padded by 4 floats: rows stay 16-byte aligned for float4 reads along k, and the rows a
// warp reads together start 4 banks apart, so each quarter-warp's 16-byte reads hit distinct banks.
constexpr int kPad = 4;

// Tile heights per head size (D padded up to kD), chosen so each kernel's static shared memory stays under 48 KB:
// forward query and key tiles; backward: the rows a block owns and the rows it streams past them.
template <int kD>
struct Tiles;
template <>
struct Tiles<32> {
  static constexpr int kFwdQ = 64, kFwdK = 64, kOwn = 64, kStream = 32;
};
template <>
struct Tiles<64> {
  static constexpr int kFwdQ = 64, kFwdK = 32, kOwn = 32, kStream = 32;
};
template <>
struct Tiles<128> {
  static constexpr int kFwdQ = 32, kFwdK = 32, kOwn = 16, kStream = 16;
};

__device__ __forceinline__ int tx_of() { return static_cast<int>(threadIdx.x) % kSide; }
__device__ __forceinline__ int ty_of() { return static_cast<int>(threadIdx.x) / kSide; }

// Sum and max over the kSide threads of a tile row (adjacent lanes of one warp).
__device__ __forceinline__ float row_sum(float x) {
#pragma unroll
  for (int off = kSide / 2; off > 0; off >>= 1) x += __shfl_xor_sync(0xffffffffu, x, off);
  return x;
}
__device__ __forceinline__ float row_max(float x) {
#pragma unroll
  for (int off = kSide / 2; off > 0; off >>= 1) {
    const float y = __shfl_xor_sync(0xffffffffu, x, off);
    x = y > x ? y : x;
  }
  return x;
}

// dst[r][c] = row row0 + r, column c of a head sequence (rows `st` apart) for r < kRows, c < kD; zero past
// `rows` and past D, so padded rows and columns add nothing to the products. 16-byte loads when `vec4` (the
// caller checked D % 4 == 0 and the alignment of every row).
template <int kRows, int kD>
__device__ __forceinline__ void load_rows(float (*dst)[kD + kPad], const float* __restrict__ base, int64_t st, int64_t row0,
                                          int64_t rows, int D, bool vec4) {
  if (vec4) {
    constexpr int kQuads = kD / 4;
    for (int idx = threadIdx.x; idx < kRows * kQuads; idx += kThreads) {
      const int r = idx / kQuads, c = idx % kQuads * 4;
      float4 x{0.0f, 0.0f, 0.0f, 0.0f};
      if (row0 + r < rows && c < D) x = *reinterpret_cast<const float4*>(base + (row0 + r) * st + c);
      *reinterpret_cast<float4*>(&dst[r][c]) = x;
    }
    return;
  }
  for (int idx = threadIdx.x; idx < kRows * kD; idx += kThreads) {
    const int r = idx / kD, c = idx % kD;
    dst[r][c] = row0 + r < rows && c < D ? base[(row0 + r) * st + c] : 0.0f;
  }
}

// acc[a][b] += sum_k A[ty + 16a][k] * B[tx + 16b][k]: A (kM x kK, row stride kLdA) times B^T, B (kN x kK); both
// read four k at a time (16-byte aligned rows), summed in k order.
template <int kM, int kN, int kK, int kLdA, int kLdB>
__device__ __forceinline__ void tile_abt(float (&acc)[kM / kSide][kN / kSide], const float* A, const float* B) {
  static_assert(kK % 4 == 0 && kLdA % 4 == 0 && kLdB % 4 == 0, "float4 reads along k");
  const int tx = tx_of(), ty = ty_of();
#pragma unroll 2
  for (int k = 0; k < kK; k += 4) {
    float4 a[kM / kSide], b[kN / kSide];
#pragma unroll
    for (int i = 0; i < kM / kSide; ++i) a[i] = *reinterpret_cast<const float4*>(A + (ty + kSide * i) * kLdA + k);
#pragma unroll
    for (int j = 0; j < kN / kSide; ++j) b[j] = *reinterpret_cast<const float4*>(B + (tx + kSide * j) * kLdB + k);
#pragma unroll
    for (int i = 0; i < kM / kSide; ++i)
#pragma unroll
      for (int j = 0; j < kN / kSide; ++j) {
        acc[i][j] += a[i].x * b[j].x;
        acc[i][j] += a[i].y * b[j].y;
        acc[i][j] += a[i].z * b[j].z;
        acc[i][j] += a[i].w * b[j].w;
      }
  }
}

// acc[a][b] += sum_k A[ty + 16a][k] * B[k][tx + 16b]: A (kM x kK, row stride kLdA, read four k at a time) times
// B (kK x kN), summed in k order.
template <int kM, int kN, int kK, int kLdA, int kLdB>
__device__ __forceinline__ void tile_ab(float (&acc)[kM / kSide][kN / kSide], const float* A, const float* B) {
  static_assert(kK % 4 == 0 && kLdA % 4 == 0, "float4 reads along k");
  const int tx = tx_of(), ty = ty_of();
#pragma unroll 2
  for (int k = 0; k < kK; k += 4) {
    float4 a[kM / kSide];
#pragma unroll
    for (int i = 0; i < kM / kSide; ++i) a[i] = *reinterpret_cast<const float4*>(A + (ty + kSide * i) * kLdA + k);
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      float b[kN / kSide];
#pragma unroll
      for (int j = 0; j < kN / kSide; ++j) b[j] = B[(k + kk) * kLdB + tx + kSide * j];
#pragma unroll
      for (int i = 0; i < kM / kSide; ++i) {
        const float ai = kk == 0 ? a[i].x : kk == 1 ? a[i].y : kk == 2 ? a[i].z : a[i].w;
#pragma unroll
        for (int j = 0; j < kN / kSide; ++j) acc[i][j] += ai * b[j];
      }
    }
  }
}

// Writes the rows a block owns: out row row0 + ty + 16a, column tx + 16c, times `mul`, where inside (rows, D).
template <int kRows, int kD>
__device__ __forceinline__ void store_rows(float* __restrict__ base, int64_t st, int64_t row0, int64_t rows, int D,
                                           const float (&acc)[kRows / kSide][kD / kSide], float mul) {
  const int tx = tx_of(), ty = ty_of();
#pragma unroll
  for (int a = 0; a < kRows / kSide; ++a) {
    const int64_t r = row0 + ty + kSide * a;
    if (r >= rows) continue;
#pragma unroll
    for (int c = 0; c < kD / kSide; ++c)
      if (tx + kSide * c < D) base[r * st + tx + kSide * c] = acc[a][c] * mul;
  }
}

template <int kD>
__global__ void __launch_bounds__(kThreads)
    attention_forward_kernel(HeadsOut o, float* __restrict__ lse, HeadsIn q, HeadsIn k, HeadsIn v, AttentionShape s,
                             bool vec4) {
  constexpr int kBQ = Tiles<kD>::kFwdQ, kBK = Tiles<kD>::kFwdK;
  constexpr int kRows = kBQ / kSide, kCols = kBK / kSide, kDs = kD / kSide;
  alignas(16) __shared__ float qs[kBQ][kD + kPad];
  alignas(16) __shared__ float kvs[kBK][kD + kPad];  // the key tile, then the value tile
  alignas(16) __shared__ float ps[kBQ][kBK + kPad];
  const int tx = tx_of(), ty = ty_of();
  // The last query tiles see the most keys under a causal mask: they go first, so short ones fill the tail.
  const int64_t heads = s.B * s.Hq;
  const int64_t tile = (s.Tq + kBQ - 1) / kBQ - 1 - blockIdx.x / heads;
  const int64_t h = blockIdx.x % heads % s.Hq, b = blockIdx.x % heads / s.Hq, hk = h / (s.Hq / s.Hkv);
  const int64_t i0 = tile * kBQ;
  const int D = static_cast<int>(s.D);
  const float* kb = k.data + b * k.sb + hk * k.sh;
  const float* vb = v.data + b * v.sb + hk * v.sh;
  load_rows<kBQ, kD>(qs, q.data + b * q.sb + h * q.sh, q.st, i0, s.Tq, D, vec4);

  float acc[kRows][kDs] = {};
  float m[kRows], l[kRows];
  int64_t first[kRows], limit[kRows];
#pragma unroll
  for (int a = 0; a < kRows; ++a) {
    m[a] = -__builtin_inff();
    l[a] = 0.0f;
    first[a] = key_first(s, b, i0 + ty + kSide * a);
    limit[a] = math::attention_key_limit(i0 + ty + kSide * a, s.Tq, s.Tk, s.causal);
  }
  const int64_t last_row = i0 + kBQ < s.Tq ? i0 + kBQ - 1 : s.Tq - 1;
  const int64_t key_end = math::attention_key_limit(last_row, s.Tq, s.Tk, s.causal);
  for (int64_t j0 = key_first(s, b, i0) / kBK * kBK; j0 < key_end; j0 += kBK) {
    __syncthreads();  // the previous value tile has been read
    load_rows<kBK, kD>(kvs, kb, k.st, j0, s.Tk, D, vec4);
    __syncthreads();
    float sc[kRows][kCols] = {};
    tile_abt<kBQ, kBK, kD, kD + kPad, kD + kPad>(sc, &qs[0][0], &kvs[0][0]);
#pragma unroll
    for (int a = 0; a < kRows; ++a) {
      float tile_max = -__builtin_inff();
#pragma unroll
      for (int c = 0; c < kCols; ++c) {
        const int64_t j = j0 + tx + kSide * c;
        sc[a][c] = j >= first[a] && j < limit[a] ? s.scale * sc[a][c] : -__builtin_inff();
        tile_max = sc[a][c] > tile_max ? sc[a][c] : tile_max;
      }
      float rescale;
      m[a] = math::online_softmax_max(m[a], row_max(tile_max), &rescale);
      float sum = 0.0f;
#pragma unroll
      for (int c = 0; c < kCols; ++c) {
        const float p = math::masked_exp(sc[a][c], m[a]);
        ps[ty + kSide * a][tx + kSide * c] = p;
        sum += p;
      }
      l[a] = l[a] * rescale + row_sum(sum);
#pragma unroll
      for (int c = 0; c < kDs; ++c) acc[a][c] *= rescale;
    }
    __syncthreads();  // P written, the key tile read
    load_rows<kBK, kD>(kvs, vb, v.st, j0, s.Tk, D, vec4);
    __syncthreads();
    tile_ab<kBQ, kD, kBK, kBK + kPad, kD + kPad>(acc, &ps[0][0], &kvs[0][0]);
  }

  float* ob = o.data + b * o.sb + h * o.sh;
#pragma unroll
  for (int a = 0; a < kRows; ++a) {
    const int64_t i = i0 + ty + kSide * a;
    if (i >= s.Tq) continue;
    const float inv = 1.0f / l[a];
#pragma unroll
    for (int c = 0; c < kDs; ++c)
      if (tx + kSide * c < D) ob[i * o.st + tx + kSide * c] = acc[a][c] * inv;
    if (tx == 0) lse[(b * s.Hq + h) * s.Tq + i] = math::attention_lse(m[a], l[a]);
  }
}

// ---- 'medium': the forward on bf16 tensor cores ----

// Four warps, each owning 16 query rows (the m of m16n8k16) for the whole key loop, FlashAttention-2 style: the
// scores of its rows never leave its registers, so the softmax needs no shared memory and no block barrier.
constexpr int kMmaWarps = 4;
constexpr int kMmaThreads = 32 * kMmaWarps;
constexpr int kMmaQ = 16 * kMmaWarps;
constexpr int kMmaK = 64;  // keys per tile
// bf16 tiles' rows are padded by 8 elements (16 bytes): rows stay 16-byte aligned and their stride, cols / 2 + 4
// words (12, 20, 36 or 68), puts the eight rows g of a fragment load in distinct groups of four banks, so its 32
// lanes (row g, column pair t) hit 32 distinct banks.
constexpr int kBf16Pad = 8;

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  return static_cast<uint32_t>(math::bf16_from_float(lo)) | static_cast<uint32_t>(math::bf16_from_float(hi)) << 16;
}
__device__ __forceinline__ uint32_t pair_at(const uint16_t* p) { return *reinterpret_cast<const uint32_t*>(p); }

// dst[r][c] = bf16 of row row0 + r, column c (zero past `rows` and D), as load_rows.
template <int kRows, int kD>
__device__ __forceinline__ void stage_rows_bf16(uint16_t (*dst)[kD + kBf16Pad], const float* __restrict__ base,
                                                int64_t st, int64_t row0, int64_t rows, int D, bool vec4) {
  if (vec4) {
    constexpr int kQuads = kD / 4;
    for (int idx = threadIdx.x; idx < kRows * kQuads; idx += kMmaThreads) {
      const int r = idx / kQuads, c = idx % kQuads * 4;
      float4 x{0.0f, 0.0f, 0.0f, 0.0f};
      if (row0 + r < rows && c < D) x = *reinterpret_cast<const float4*>(base + (row0 + r) * st + c);
      uint32_t* out = reinterpret_cast<uint32_t*>(&dst[r][c]);
      out[0] = pack_bf16(x.x, x.y);
      out[1] = pack_bf16(x.z, x.w);
    }
    return;
  }
  for (int idx = threadIdx.x; idx < kRows * kD; idx += kMmaThreads) {
    const int r = idx / kD, c = idx % kD;
    dst[r][c] = math::bf16_from_float(row0 + r < rows && c < D ? base[(row0 + r) * st + c] : 0.0f);
  }
}

// dst[c][r] = bf16 of row row0 + r, column c: a tile transposed, so the B fragments of P V, P^T dO, dS^T Q and
// dS K (two rows of one column) are single 32-bit reads. Each lane takes a pair of consecutive rows of a column
// quad, a warp 8, 16 or 32 pairs: the 16-byte global reads fill half sectors whose other halves the next pair's
// lane reads (through L1), and a warp's 32-bit stores land in distinct banks (two ways for 16-row tiles).
template <int kRows, int kD>
__device__ __forceinline__ void stage_cols_bf16(uint16_t (*dst)[kRows + kBf16Pad], const float* __restrict__ base,
                                                int64_t st, int64_t row0, int64_t rows, int D, bool vec4) {
  if (vec4) {
    for (int idx = threadIdx.x; idx < kRows / 2 * (kD / 4); idx += kMmaThreads) {
      const int r = idx % (kRows / 2) * 2, c = idx / (kRows / 2) * 4;
      float4 x0{0.0f, 0.0f, 0.0f, 0.0f}, x1{0.0f, 0.0f, 0.0f, 0.0f};
      if (row0 + r < rows && c < D) x0 = *reinterpret_cast<const float4*>(base + (row0 + r) * st + c);
      if (row0 + r + 1 < rows && c < D) x1 = *reinterpret_cast<const float4*>(base + (row0 + r + 1) * st + c);
      *reinterpret_cast<uint32_t*>(&dst[c][r]) = pack_bf16(x0.x, x1.x);
      *reinterpret_cast<uint32_t*>(&dst[c + 1][r]) = pack_bf16(x0.y, x1.y);
      *reinterpret_cast<uint32_t*>(&dst[c + 2][r]) = pack_bf16(x0.z, x1.z);
      *reinterpret_cast<uint32_t*>(&dst[c + 3][r]) = pack_bf16(x0.w, x1.w);
    }
    return;
  }
  for (int idx = threadIdx.x; idx < kRows * kD; idx += kMmaThreads) {
    const int r = idx % kRows, c = idx / kRows;
    dst[c][r] = math::bf16_from_float(row0 + r < rows && c < D ? base[(row0 + r) * st + c] : 0.0f);
  }
}

// Max and sum over the quad of lanes (t = 0..3) holding one row of a fragment.
__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// A fragments of rows row0 + r0 .. + 15 (zero past `rows` and D) read straight from global memory, once per
// block: the rows a warp owns for its whole loop.
template <int kD>
__device__ __forceinline__ void a_frags_global(uint32_t (&f)[kD / 16][4], const float* __restrict__ base, int64_t st,
                                               int64_t row0, int64_t rows, int D) {
  const int lane = static_cast<int>(threadIdx.x) % 32, g = lane >> 2, t = lane & 3;
  const float* top = row0 + g < rows ? base + (row0 + g) * st : nullptr;
  const float* bottom = row0 + g + 8 < rows ? base + (row0 + g + 8) * st : nullptr;
  const auto pair = [D](const float* row, int c) {
    return pack_bf16(row != nullptr && c < D ? row[c] : 0.0f, row != nullptr && c + 1 < D ? row[c + 1] : 0.0f);
  };
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk) {
    const int c = 16 * kk + 2 * t;
    f[kk][0] = pair(top, c);
    f[kk][1] = pair(bottom, c);
    f[kk][2] = pair(top, c + 8);
    f[kk][3] = pair(bottom, c + 8);
  }
}

// c[n] += A B^T for the warp's 16 rows: A as fragments over kSteps k steps of 16, B's rows 8n..8n+7 row-major in
// shared memory (row stride kLd), so each B fragment is two 32-bit reads of one row.
template <int kSteps, int kFrags, int kLd>
__device__ __forceinline__ void mma_abt(float (&c)[kFrags][4], const uint32_t (&a)[kSteps][4], const uint16_t (*b)[kLd]) {
  const int lane = static_cast<int>(threadIdx.x) % 32, g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int kk = 0; kk < kSteps; ++kk)
#pragma unroll
    for (int n = 0; n < kFrags; ++n) {
      const uint32_t bf[2] = {pair_at(&b[8 * n + g][16 * kk + 2 * t]), pair_at(&b[8 * n + g][16 * kk + 2 * t + 8])};
      mma_m16n8k16_bf16(c[n], a[kk], bf);
    }
}

// c[n] += P B for the warp's 16 rows: P (16 x 8 kPFrags, float accumulator fragments, rounded to bf16 here) times
// B (8 kPFrags x 8 kFrags) held transposed in shared memory (bt[col][k], row stride kLd). P's accumulator fragments
// of columns 16kk..16kk+15 are exactly the A fragment of k step kk.
template <int kPFrags, int kFrags, int kLd>
__device__ __forceinline__ void mma_pb(float (&c)[kFrags][4], const float (&p)[kPFrags][4], const uint16_t (*bt)[kLd]) {
  const int lane = static_cast<int>(threadIdx.x) % 32, g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int kk = 0; kk < kPFrags / 2; ++kk) {
    const uint32_t pf[4] = {pack_bf16(p[2 * kk][0], p[2 * kk][1]), pack_bf16(p[2 * kk][2], p[2 * kk][3]),
                            pack_bf16(p[2 * kk + 1][0], p[2 * kk + 1][1]),
                            pack_bf16(p[2 * kk + 1][2], p[2 * kk + 1][3])};
#pragma unroll
    for (int n = 0; n < kFrags; ++n) {
      const uint32_t bf[2] = {pair_at(&bt[8 * n + g][16 * kk + 2 * t]), pair_at(&bt[8 * n + g][16 * kk + 2 * t + 8])};
      mma_m16n8k16_bf16(c[n], pf, bf);
    }
  }
}

// The forward at 'medium': S = Q K^T and O += P V on mma_m16n8k16_bf16 with Q, K, V rounded to bf16 as they are
// staged and P rounded as it becomes an A fragment; the scores, softmax statistics and O stay float32. Lane
// (g, t) of warp w holds rows 16w + g and 16w + g + 8 of the block, columns 8n + 2t and 8n + 2t + 1 of every
// 8-wide fragment n.
template <int kD>
__global__ void __launch_bounds__(kMmaThreads)
    attention_forward_mma_kernel(HeadsOut o, float* __restrict__ lse, HeadsIn q, HeadsIn k, HeadsIn v,
                                 AttentionShape s, bool vec4) {
  constexpr int kSteps = kD / 16;      // k steps of Q K^T
  constexpr int kKeyFrags = kMmaK / 8;  // 8-key fragments of S
  constexpr int kDFrags = kD / 8;       // 8-column fragments of O
  alignas(16) __shared__ uint16_t ks[kMmaK][kD + kBf16Pad];
  alignas(16) __shared__ uint16_t vt[kD][kMmaK + kBf16Pad];
  const int lane = static_cast<int>(threadIdx.x) % 32, warp = static_cast<int>(threadIdx.x) / 32;
  const int g = lane >> 2, t = lane & 3, r0 = 16 * warp;
  const int64_t heads = s.B * s.Hq;
  const int64_t tile = (s.Tq + kMmaQ - 1) / kMmaQ - 1 - blockIdx.x / heads;  // the longest causal rows first
  const int64_t h = blockIdx.x % heads % s.Hq, b = blockIdx.x % heads / s.Hq, hk = h / (s.Hq / s.Hkv);
  const int64_t i0 = tile * kMmaQ;
  const int D = static_cast<int>(s.D);
  const float* kb = k.data + b * k.sb + hk * k.sh;
  const float* vb = v.data + b * v.sb + hk * v.sh;

  uint32_t qf[kSteps][4];  // the warp's Q rows as A fragments, for every key tile
  a_frags_global<kD>(qf, q.data + b * q.sb + h * q.sh, q.st, i0 + r0, s.Tq, D);

  float acc[kDFrags][4] = {};
  float m[2] = {-__builtin_inff(), -__builtin_inff()}, l[2] = {0.0f, 0.0f};
  const int64_t first[2] = {key_first(s, b, i0 + r0 + g), key_first(s, b, i0 + r0 + g + 8)};
  const int64_t limit[2] = {math::attention_key_limit(i0 + r0 + g, s.Tq, s.Tk, s.causal),
                            math::attention_key_limit(i0 + r0 + g + 8, s.Tq, s.Tk, s.causal)};
  const int64_t last_row = i0 + kMmaQ < s.Tq ? i0 + kMmaQ - 1 : s.Tq - 1;
  const int64_t key_end = math::attention_key_limit(last_row, s.Tq, s.Tk, s.causal);
  for (int64_t j0 = key_first(s, b, i0) / kMmaK * kMmaK; j0 < key_end; j0 += kMmaK) {
    __syncthreads();  // the previous tiles have been read
    stage_rows_bf16<kMmaK, kD>(ks, kb, k.st, j0, s.Tk, D, vec4);
    stage_cols_bf16<kMmaK, kD>(vt, vb, v.st, j0, s.Tk, D, vec4);
    __syncthreads();
    float sc[kKeyFrags][4] = {};
    mma_abt(sc, qf, ks);
    float tile_max[2] = {-__builtin_inff(), -__builtin_inff()};
#pragma unroll
    for (int n = 0; n < kKeyFrags; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t key = j0 + 8 * n + 2 * t + (e & 1);
        sc[n][e] = key >= first[e >> 1] && key < limit[e >> 1] ? s.scale * sc[n][e] : -__builtin_inff();
        tile_max[e >> 1] = fmaxf(tile_max[e >> 1], sc[n][e]);
      }
    float rescale[2], sum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int r = 0; r < 2; ++r) m[r] = math::online_softmax_max(m[r], quad_max(tile_max[r]), &rescale[r]);
#pragma unroll
    for (int n = 0; n < kKeyFrags; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        sc[n][e] = math::masked_exp(sc[n][e], m[e >> 1]);
        sum[e >> 1] += sc[n][e];
      }
#pragma unroll
    for (int r = 0; r < 2; ++r) l[r] = l[r] * rescale[r] + quad_sum(sum[r]);
#pragma unroll
    for (int n = 0; n < kDFrags; ++n) {
      acc[n][0] *= rescale[0];
      acc[n][1] *= rescale[0];
      acc[n][2] *= rescale[1];
      acc[n][3] *= rescale[1];
    }
    mma_pb(acc, sc, vt);
  }

  float* ob = o.data + b * o.sb + h * o.sh;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t i = i0 + r0 + g + 8 * r;
    if (i >= s.Tq) continue;
    const float inv = 1.0f / l[r];
#pragma unroll
    for (int n = 0; n < kDFrags; ++n)
#pragma unroll
      for (int e = 0; e < 2; ++e)
        if (8 * n + 2 * t + e < D) ob[i * o.st + 8 * n + 2 * t + e] = acc[n][2 * r + e] * inv;
    if (t == 0) lse[(b * s.Hq + h) * s.Tq + i] = math::attention_lse(m[r], l[r]);
  }
}

// ---- 'medium': the backward on bf16 tensor cores ----

// The rows the backward's blocks stream past the 64 they own (16 per warp): 32, which keeps the four bf16 tiles of
// a step (two row-major, two transposed) under 48 KB of static shared memory; 16 for dK and dV at D = 128, whose
// warps already hold K and V fragments and two 16 x 128 accumulators (192 registers) and would spill otherwise.
constexpr int kMmaStream = 32;
template <int kD>
constexpr int kDkdvStream = kD == 128 ? 16 : kMmaStream;

// dK and dV rows [j0, j0 + 64) of one (b, kv head) at 'medium', as attention_dkdv_kernel: warp w owns keys
// j0 + 16w.. with their K and V rows as A fragments; per query tile S^T = K Q^T and dP^T = V dO^T, then
// dV += P^T dO and dK += dS^T Q with P^T and dS^T rounded to bf16 as they become A fragments.
template <int kD>
__global__ void __launch_bounds__(kMmaThreads)
    attention_dkdv_mma_kernel(HeadsOut dk, HeadsOut dv, HeadsIn d_o, HeadsIn q, HeadsIn k, HeadsIn v,
                              const float* __restrict__ lse, const float* __restrict__ delta, AttentionShape s,
                              bool vec4) {
  constexpr int kStream = kDkdvStream<kD>, kSteps = kD / 16, kQFrags = kStream / 8, kDFrags = kD / 8;
  alignas(16) __shared__ uint16_t qs[kStream][kD + kBf16Pad];
  alignas(16) __shared__ uint16_t dos[kStream][kD + kBf16Pad];
  alignas(16) __shared__ uint16_t qt[kD][kStream + kBf16Pad];
  alignas(16) __shared__ uint16_t dot[kD][kStream + kBf16Pad];
  __shared__ float lse_s[kStream], delta_s[kStream];
  const int lane = static_cast<int>(threadIdx.x) % 32, warp = static_cast<int>(threadIdx.x) / 32;
  const int g = lane >> 2, t = lane & 3;
  const int64_t heads = s.B * s.Hkv;
  const int64_t j0 = blockIdx.x / heads * kMmaK;  // the first key tiles, seen by the most queries, go first
  const int64_t hk = blockIdx.x % heads % s.Hkv, b = blockIdx.x % heads / s.Hkv;
  const int64_t group = s.Hq / s.Hkv, jw = j0 + 16 * warp;
  const int D = static_cast<int>(s.D);
  uint32_t kf[kSteps][4], vf[kSteps][4];
  a_frags_global<kD>(kf, k.data + b * k.sb + hk * k.sh, k.st, jw, s.Tk, D);
  a_frags_global<kD>(vf, v.data + b * v.sb + hk * v.sh, v.st, jw, s.Tk, D);

  float dk_acc[kDFrags][4] = {}, dv_acc[kDFrags][4] = {};
  // The query rows that can see this block's keys, as in attention_dkdv_kernel (causal and left padding).
  const int64_t key_start = key_start_of(s, b);
  const int64_t first_row = math::attention_query_first(j0, s.Tq, s.Tk, s.causal);
  const int64_t last_key = j0 + kMmaK < s.Tk ? j0 + kMmaK - 1 : s.Tk - 1;
  const int64_t row_end = math::attention_query_end(last_key, s.Tq, s.Tk, key_start);
  for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
    const float* qb = q.data + b * q.sb + h * q.sh;
    const float* gb = d_o.data + b * d_o.sb + h * d_o.sh;
    const float* lse_row = lse + (b * s.Hq + h) * s.Tq;
    const float* delta_row = delta + (b * s.Hq + h) * s.Tq;
    for (int64_t i0 = first_row / kStream * kStream; i0 < row_end; i0 += kStream) {
      __syncthreads();  // the previous query tile has been read
      stage_rows_bf16<kStream, kD>(qs, qb, q.st, i0, s.Tq, D, vec4);
      stage_rows_bf16<kStream, kD>(dos, gb, d_o.st, i0, s.Tq, D, vec4);
      stage_cols_bf16<kStream, kD>(qt, qb, q.st, i0, s.Tq, D, vec4);
      stage_cols_bf16<kStream, kD>(dot, gb, d_o.st, i0, s.Tq, D, vec4);
      if (threadIdx.x < kStream) {
        const bool in = i0 + threadIdx.x < s.Tq;
        lse_s[threadIdx.x] = in ? lse_row[i0 + threadIdx.x] : 0.0f;
        delta_s[threadIdx.x] = in ? delta_row[i0 + threadIdx.x] : 0.0f;
      }
      __syncthreads();
      float pt[kQFrags][4] = {}, dst[kQFrags][4] = {};
      mma_abt(pt, kf, qs);
      mma_abt(dst, vf, dos);
#pragma unroll
      for (int n = 0; n < kQFrags; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int c = 8 * n + 2 * t + (e & 1);
          const int64_t j = jw + g + 8 * (e >> 1), i = i0 + c;
          const bool seen = i < s.Tq && j < math::attention_key_limit(i, s.Tq, s.Tk, s.causal) &&
                            j >= math::attention_key_first(i, s.Tq, s.Tk, key_start);
          const float p = seen ? math::fast_exp(s.scale * pt[n][e] - lse_s[c]) : 0.0f;
          dst[n][e] = p * (dst[n][e] - delta_s[c]);
          pt[n][e] = p;
        }
      mma_pb(dv_acc, pt, dot);
      mma_pb(dk_acc, dst, qt);
    }
  }
  float* dkb = dk.data + b * dk.sb + hk * dk.sh;
  float* dvb = dv.data + b * dv.sb + hk * dv.sh;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t j = jw + g + 8 * r;
    if (j >= s.Tk) continue;
#pragma unroll
    for (int n = 0; n < kDFrags; ++n)
#pragma unroll
      for (int e = 0; e < 2; ++e)
        if (8 * n + 2 * t + e < D) {
          dkb[j * dk.st + 8 * n + 2 * t + e] = s.scale * dk_acc[n][2 * r + e];
          dvb[j * dv.st + 8 * n + 2 * t + e] = dv_acc[n][2 * r + e];
        }
  }
}

// dQ rows [i0, i0 + 64) of one (b, head) at 'medium', as attention_dq_kernel: warp w owns query rows i0 + 16w..
// with their Q and dO rows as A fragments; per key tile S = Q K^T and dP = dO V^T, then dQ += dS K with dS rounded
// to bf16 as it becomes an A fragment.
template <int kD>
__global__ void __launch_bounds__(kMmaThreads)
    attention_dq_mma_kernel(HeadsOut dq, HeadsIn d_o, HeadsIn q, HeadsIn k, HeadsIn v, const float* __restrict__ lse,
                            const float* __restrict__ delta, AttentionShape s, bool vec4) {
  constexpr int kSteps = kD / 16, kKeyFrags = kMmaStream / 8, kDFrags = kD / 8;
  alignas(16) __shared__ uint16_t ks[kMmaStream][kD + kBf16Pad];
  alignas(16) __shared__ uint16_t vs[kMmaStream][kD + kBf16Pad];
  alignas(16) __shared__ uint16_t kt[kD][kMmaStream + kBf16Pad];
  const int lane = static_cast<int>(threadIdx.x) % 32, warp = static_cast<int>(threadIdx.x) / 32;
  const int g = lane >> 2, t = lane & 3;
  const int64_t heads = s.B * s.Hq;
  const int64_t tile = (s.Tq + kMmaQ - 1) / kMmaQ - 1 - blockIdx.x / heads;  // the longest causal rows first
  const int64_t h = blockIdx.x % heads % s.Hq, b = blockIdx.x % heads / s.Hq, hk = h / (s.Hq / s.Hkv);
  const int64_t i0 = tile * kMmaQ, iw = i0 + 16 * warp;
  const int D = static_cast<int>(s.D);
  uint32_t qf[kSteps][4], gf[kSteps][4];
  a_frags_global<kD>(qf, q.data + b * q.sb + h * q.sh, q.st, iw, s.Tq, D);
  a_frags_global<kD>(gf, d_o.data + b * d_o.sb + h * d_o.sh, d_o.st, iw, s.Tq, D);
  float lse_r[2], delta_r[2];
  int64_t first[2], limit[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t i = iw + g + 8 * r;
    const bool in = i < s.Tq;
    lse_r[r] = in ? lse[(b * s.Hq + h) * s.Tq + i] : 0.0f;
    delta_r[r] = in ? delta[(b * s.Hq + h) * s.Tq + i] : 0.0f;
    first[r] = key_first(s, b, i);
    limit[r] = in ? math::attention_key_limit(i, s.Tq, s.Tk, s.causal) : 0;
  }
  const float* kb = k.data + b * k.sb + hk * k.sh;
  const float* vb = v.data + b * v.sb + hk * v.sh;

  float dq_acc[kDFrags][4] = {};
  const int64_t last_row = i0 + kMmaQ < s.Tq ? i0 + kMmaQ - 1 : s.Tq - 1;
  const int64_t key_end = math::attention_key_limit(last_row, s.Tq, s.Tk, s.causal);
  for (int64_t j0 = key_first(s, b, i0) / kMmaStream * kMmaStream; j0 < key_end; j0 += kMmaStream) {
    __syncthreads();  // the previous key tile has been read
    stage_rows_bf16<kMmaStream, kD>(ks, kb, k.st, j0, s.Tk, D, vec4);
    stage_rows_bf16<kMmaStream, kD>(vs, vb, v.st, j0, s.Tk, D, vec4);
    stage_cols_bf16<kMmaStream, kD>(kt, kb, k.st, j0, s.Tk, D, vec4);
    __syncthreads();
    float sc[kKeyFrags][4] = {}, dp[kKeyFrags][4] = {};
    mma_abt(sc, qf, ks);
    mma_abt(dp, gf, vs);
#pragma unroll
    for (int n = 0; n < kKeyFrags; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = e >> 1;
        const int64_t j = j0 + 8 * n + 2 * t + (e & 1);
        const float p = j >= first[r] && j < limit[r] ? math::fast_exp(s.scale * sc[n][e] - lse_r[r]) : 0.0f;
        sc[n][e] = p * (dp[n][e] - delta_r[r]);
      }
    mma_pb(dq_acc, sc, kt);
  }
  float* dqb = dq.data + b * dq.sb + h * dq.sh;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t i = iw + g + 8 * r;
    if (i >= s.Tq) continue;
#pragma unroll
    for (int n = 0; n < kDFrags; ++n)
#pragma unroll
      for (int e = 0; e < 2; ++e)
        if (8 * n + 2 * t + e < D) dqb[i * dq.st + 8 * n + 2 * t + e] = s.scale * dq_acc[n][2 * r + e];
  }
}

// delta[(b*Hq + h)*Tq + i] = rowsum(dO * O) of query row i: a warp per row.
__global__ void __launch_bounds__(256)
    attention_row_dot_kernel(float* __restrict__ delta, HeadsIn d_o, HeadsIn o, AttentionShape s) {
  const int lane = threadIdx.x % 32;
  const int64_t rows = s.B * s.Hq * s.Tq, warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; r < rows; r += warps) {
    const int64_t i = r % s.Tq, h = r / s.Tq % s.Hq, b = r / (s.Tq * s.Hq);
    const float* g = d_o.data + b * d_o.sb + i * d_o.st + h * d_o.sh;
    const float* y = o.data + b * o.sb + i * o.st + h * o.sh;
    float acc = 0.0f;
    for (int64_t d = lane; d < s.D; d += 32) acc += g[d] * y[d];
    acc = warp_sum(acc);
    if (lane == 0) delta[r] = acc;
  }
}

// dK and dV rows [j0, j0 + kOwn) of one (b, kv head): over the group's query heads and the query tiles that see
// the key tile, P^T = exp(scale K Q^T - lse) and dS^T = P^T * (V dO^T - delta); dV += P^T dO, dK += scale dS^T Q.
template <int kD>
__global__ void __launch_bounds__(kThreads)
    attention_dkdv_kernel(HeadsOut dk, HeadsOut dv, HeadsIn d_o, HeadsIn q, HeadsIn k, HeadsIn v,
                          const float* __restrict__ lse, const float* __restrict__ delta, AttentionShape s, bool vec4) {
  constexpr int kOwn = Tiles<kD>::kOwn, kStream = Tiles<kD>::kStream;
  constexpr int kRows = kOwn / kSide, kCols = kStream / kSide, kDs = kD / kSide;
  alignas(16) __shared__ float ks[kOwn][kD + kPad];
  alignas(16) __shared__ float vs[kOwn][kD + kPad];
  alignas(16) __shared__ float qs[kStream][kD + kPad];
  alignas(16) __shared__ float dos[kStream][kD + kPad];
  alignas(16) __shared__ float ps[kOwn][kStream + kPad];  // P^T, then dS^T
  __shared__ float lse_s[kStream], delta_s[kStream];
  const int tx = tx_of(), ty = ty_of();
  const int64_t heads = s.B * s.Hkv;
  const int64_t j0 = blockIdx.x / heads * kOwn;  // the first key tiles, seen by the most queries, go first
  const int64_t hk = blockIdx.x % heads % s.Hkv, b = blockIdx.x % heads / s.Hkv;
  const int64_t group = s.Hq / s.Hkv;
  const int D = static_cast<int>(s.D);
  load_rows<kOwn, kD>(ks, k.data + b * k.sb + hk * k.sh, k.st, j0, s.Tk, D, vec4);
  load_rows<kOwn, kD>(vs, v.data + b * v.sb + hk * v.sh, v.st, j0, s.Tk, D, vec4);

  float dk_acc[kRows][kDs] = {}, dv_acc[kRows][kDs] = {};
  // Under the causal mask query row i sees key j0 from i = j0 - (Tk - Tq) on: earlier query tiles are skipped; a
  // tile of padding keys is seen only by the padding rows at its slots, and later query tiles are skipped too.
  const int64_t key_start = key_start_of(s, b);
  const int64_t first_row = math::attention_query_first(j0, s.Tq, s.Tk, s.causal);
  const int64_t last_key = j0 + kOwn < s.Tk ? j0 + kOwn - 1 : s.Tk - 1;
  const int64_t row_end = math::attention_query_end(last_key, s.Tq, s.Tk, key_start);
  for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
    const float* qb = q.data + b * q.sb + h * q.sh;
    const float* gb = d_o.data + b * d_o.sb + h * d_o.sh;
    const float* lse_row = lse + (b * s.Hq + h) * s.Tq;
    const float* delta_row = delta + (b * s.Hq + h) * s.Tq;
    for (int64_t i0 = first_row / kStream * kStream; i0 < row_end; i0 += kStream) {
      __syncthreads();  // the previous query tile has been read
      load_rows<kStream, kD>(qs, qb, q.st, i0, s.Tq, D, vec4);
      load_rows<kStream, kD>(dos, gb, d_o.st, i0, s.Tq, D, vec4);
      if (threadIdx.x < kStream) {
        const bool in = i0 + threadIdx.x < s.Tq;
        lse_s[threadIdx.x] = in ? lse_row[i0 + threadIdx.x] : 0.0f;
        delta_s[threadIdx.x] = in ? delta_row[i0 + threadIdx.x] : 0.0f;
      }
      __syncthreads();
      float st[kRows][kCols] = {}, dpt[kRows][kCols] = {};
      tile_abt<kOwn, kStream, kD, kD + kPad, kD + kPad>(st, &ks[0][0], &qs[0][0]);
      tile_abt<kOwn, kStream, kD, kD + kPad, kD + kPad>(dpt, &vs[0][0], &dos[0][0]);
      float ds[kRows][kCols];
#pragma unroll
      for (int a = 0; a < kRows; ++a)
#pragma unroll
        for (int c = 0; c < kCols; ++c) {
          const int64_t j = j0 + ty + kSide * a, i = i0 + tx + kSide * c;
          const bool seen = i < s.Tq && j < math::attention_key_limit(i, s.Tq, s.Tk, s.causal) &&
                            j >= math::attention_key_first(i, s.Tq, s.Tk, key_start);
          const float p = seen ? math::fast_exp(s.scale * st[a][c] - lse_s[tx + kSide * c]) : 0.0f;
          ds[a][c] = p * (dpt[a][c] - delta_s[tx + kSide * c]);
          ps[ty + kSide * a][tx + kSide * c] = p;
        }
      __syncthreads();
      tile_ab<kOwn, kD, kStream, kStream + kPad, kD + kPad>(dv_acc, &ps[0][0], &dos[0][0]);
      __syncthreads();
#pragma unroll
      for (int a = 0; a < kRows; ++a)
#pragma unroll
        for (int c = 0; c < kCols; ++c) ps[ty + kSide * a][tx + kSide * c] = ds[a][c];
      __syncthreads();
      tile_ab<kOwn, kD, kStream, kStream + kPad, kD + kPad>(dk_acc, &ps[0][0], &qs[0][0]);
    }
  }
  store_rows<kOwn, kD>(dk.data + b * dk.sb + hk * dk.sh, dk.st, j0, s.Tk, D, dk_acc, s.scale);
  store_rows<kOwn, kD>(dv.data + b * dv.sb + hk * dv.sh, dv.st, j0, s.Tk, D, dv_acc, 1.0f);
}

// dQ rows [i0, i0 + kOwn) of one (b, head): over the key tiles the rows see, dS = P * (dO V^T - delta) and
// dQ += scale dS K.
template <int kD>
__global__ void __launch_bounds__(kThreads)
    attention_dq_kernel(HeadsOut dq, HeadsIn d_o, HeadsIn q, HeadsIn k, HeadsIn v, const float* __restrict__ lse,
                        const float* __restrict__ delta, AttentionShape s, bool vec4) {
  constexpr int kOwn = Tiles<kD>::kOwn, kStream = Tiles<kD>::kStream;
  constexpr int kRows = kOwn / kSide, kCols = kStream / kSide, kDs = kD / kSide;
  alignas(16) __shared__ float qs[kOwn][kD + kPad];
  alignas(16) __shared__ float dos[kOwn][kD + kPad];
  alignas(16) __shared__ float ks[kStream][kD + kPad];
  alignas(16) __shared__ float vs[kStream][kD + kPad];
  alignas(16) __shared__ float dss[kOwn][kStream + kPad];
  __shared__ float lse_s[kOwn], delta_s[kOwn];
  const int tx = tx_of(), ty = ty_of();
  const int64_t heads = s.B * s.Hq;
  const int64_t tile = (s.Tq + kOwn - 1) / kOwn - 1 - blockIdx.x / heads;  // the longest causal rows first
  const int64_t h = blockIdx.x % heads % s.Hq, b = blockIdx.x % heads / s.Hq, hk = h / (s.Hq / s.Hkv);
  const int64_t i0 = tile * kOwn;
  const int D = static_cast<int>(s.D);
  load_rows<kOwn, kD>(qs, q.data + b * q.sb + h * q.sh, q.st, i0, s.Tq, D, vec4);
  load_rows<kOwn, kD>(dos, d_o.data + b * d_o.sb + h * d_o.sh, d_o.st, i0, s.Tq, D, vec4);
  if (threadIdx.x < kOwn) {
    const bool in = i0 + threadIdx.x < s.Tq;
    lse_s[threadIdx.x] = in ? lse[(b * s.Hq + h) * s.Tq + i0 + threadIdx.x] : 0.0f;
    delta_s[threadIdx.x] = in ? delta[(b * s.Hq + h) * s.Tq + i0 + threadIdx.x] : 0.0f;
  }
  const float* kb = k.data + b * k.sb + hk * k.sh;
  const float* vb = v.data + b * v.sb + hk * v.sh;

  float dq_acc[kRows][kDs] = {};
  int64_t first[kRows], limit[kRows];
#pragma unroll
  for (int a = 0; a < kRows; ++a) {
    const int64_t i = i0 + ty + kSide * a;
    first[a] = key_first(s, b, i);
    limit[a] = i < s.Tq ? math::attention_key_limit(i, s.Tq, s.Tk, s.causal) : 0;
  }
  const int64_t last_row = i0 + kOwn < s.Tq ? i0 + kOwn - 1 : s.Tq - 1;
  const int64_t key_end = math::attention_key_limit(last_row, s.Tq, s.Tk, s.causal);
  for (int64_t j0 = key_first(s, b, i0) / kStream * kStream; j0 < key_end; j0 += kStream) {
    __syncthreads();  // the previous key tile has been read
    load_rows<kStream, kD>(ks, kb, k.st, j0, s.Tk, D, vec4);
    load_rows<kStream, kD>(vs, vb, v.st, j0, s.Tk, D, vec4);
    __syncthreads();
    float sc[kRows][kCols] = {}, dp[kRows][kCols] = {};
    tile_abt<kOwn, kStream, kD, kD + kPad, kD + kPad>(sc, &qs[0][0], &ks[0][0]);
    tile_abt<kOwn, kStream, kD, kD + kPad, kD + kPad>(dp, &dos[0][0], &vs[0][0]);
#pragma unroll
    for (int a = 0; a < kRows; ++a)
#pragma unroll
      for (int c = 0; c < kCols; ++c) {
        const int r = ty + kSide * a;
        const int64_t j = j0 + tx + kSide * c;
        const float p = j >= first[a] && j < limit[a] ? math::fast_exp(s.scale * sc[a][c] - lse_s[r]) : 0.0f;
        dss[r][tx + kSide * c] = p * (dp[a][c] - delta_s[r]);
      }
    __syncthreads();
    tile_ab<kOwn, kD, kStream, kStream + kPad, kD + kPad>(dq_acc, &dss[0][0], &ks[0][0]);
  }
  store_rows<kOwn, kD>(dq.data + b * dq.sb + h * dq.sh, dq.st, i0, s.Tq, D, dq_acc, s.scale);
}

std::string head_dim_error(int64_t D) {
  return "head dim D = " + std::to_string(D) + " exceeds the cuda attention kernels' " +
         std::to_string(kAttentionMaxHeadDim);
}

// ---- decode: a few query rows over K and V read once ----

constexpr int kDecodeThreads = 256;
constexpr int kDecodeWarps = kDecodeThreads / 32;

// Values d and d + 1 of a K or V row (zero past D), as floats: one 8-byte (float) or 4-byte (bf16) load when
// `paired` (D even and every row aligned to a pair).
__device__ __forceinline__ void load_pair(const float* row, int64_t d, int64_t D, bool paired, float* x0, float* x1) {
  if (paired && d < D) {
    const float2 w = *reinterpret_cast<const float2*>(row + d);
    *x0 = w.x;
    *x1 = w.y;
    return;
  }
  *x0 = d < D ? row[d] : 0.0f;
  *x1 = d + 1 < D ? row[d + 1] : 0.0f;
}
__device__ __forceinline__ void load_pair(const uint16_t* row, int64_t d, int64_t D, bool paired, float* x0, float* x1) {
  if (paired && d < D) {
    const uint32_t w = *reinterpret_cast<const uint32_t*>(row + d);
    *x0 = math::bf16_to_float(static_cast<uint16_t>(w & 0xffffu));
    *x1 = math::bf16_to_float(static_cast<uint16_t>(w >> 16));
    return;
  }
  *x0 = d < D ? math::bf16_to_float(row[d]) : 0.0f;
  *x1 = d + 1 < D ? math::bf16_to_float(row[d + 1]) : 0.0f;
}

// A block per query row (b, i, h) and split of its keys: warps stride over keys [split * chunk, (split + 1) * chunk)
// of the row's visible ones, a dot product per key with lanes over D (lane l holds dims 2 (l + 32 c) and
// 2 (l + 32 c) + 1, c < kPairs: coalesced along the row) and an online softmax per warp; the warps' (max, sum,
// output) merge through shared memory. With one split the block writes o (and lse); otherwise its (max, sum,
// unnormalized output) go to `partial` for attention_decode_combine_kernel.
template <int kPairs, class T>
__global__ void __launch_bounds__(kDecodeThreads)
    attention_decode_kernel(HeadsOut o, float* __restrict__ lse, HeadsIn q, KVRows<T> k, KVRows<T> v,
                            AttentionBiasRef bias, AttentionShape s, bool paired, int64_t splits, int64_t chunk,
                            float* __restrict__ partial) {
  __shared__ float part_o[kDecodeWarps][kPairs * 64];
  __shared__ float part_m[kDecodeWarps], part_l[kDecodeWarps];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t row = blockIdx.x / splits, split = blockIdx.x % splits;
  const int64_t h = row % s.Hq, i = row / s.Hq % s.Tq, b = row / (s.Hq * s.Tq);
  const int64_t hk = h / (s.Hq / s.Hkv), D = s.D;
  const float* qr = q.data + b * q.sb + i * q.st + h * q.sh;
  float qv[kPairs][2];
#pragma unroll
  for (int c = 0; c < kPairs; ++c) {
    const int64_t d = 2 * (lane + 32 * c);
    qv[c][0] = d < D ? qr[d] : 0.0f;
    qv[c][1] = d + 1 < D ? qr[d + 1] : 0.0f;
  }
  const T* kb = k.data + b * k.sb + hk * k.sh;
  const T* vb = v.data + b * v.sb + hk * v.sh;
  const float* bias_row = bias.data != nullptr ? bias.data + b * bias.sb + i * bias.sq : nullptr;
  // The row's keys [first, visible) are split in chunks from first: padding keys are never read.
  const int64_t first = key_first(s, b, i), visible = math::attention_key_limit(i, s.Tq, s.Tk, s.causal);
  const int64_t end = first + (split + 1) * chunk < visible ? first + (split + 1) * chunk : visible;

  float m = -__builtin_inff(), l = 0.0f, acc[kPairs][2] = {};
  for (int64_t j = first + split * chunk + warp; j < end; j += kDecodeWarps) {
    float dot = 0.0f;
#pragma unroll
    for (int c = 0; c < kPairs; ++c) {
      float k0, k1;
      load_pair(kb + j * k.st, 2 * (lane + 32 * c), D, paired, &k0, &k1);
      dot += qv[c][0] * k0 + qv[c][1] * k1;
    }
    const float score = s.scale * warp_sum(dot) + (bias_row != nullptr ? bias_row[j * bias.sk] : 0.0f);
    float rescale;
    m = math::online_softmax_max(m, score, &rescale);
    const float p = math::masked_exp(score, m);
    l = l * rescale + p;
#pragma unroll
    for (int c = 0; c < kPairs; ++c) {
      float v0, v1;
      load_pair(vb + j * v.st, 2 * (lane + 32 * c), D, paired, &v0, &v1);
      acc[c][0] = acc[c][0] * rescale + p * v0;
      acc[c][1] = acc[c][1] * rescale + p * v1;
    }
  }

  if (lane == 0) {
    part_m[warp] = m;
    part_l[warp] = l;
  }
#pragma unroll
  for (int c = 0; c < kPairs; ++c) {
    part_o[warp][2 * (lane + 32 * c)] = acc[c][0];
    part_o[warp][2 * (lane + 32 * c) + 1] = acc[c][1];
  }
  __syncthreads();
  float top = -__builtin_inff();
  for (int w = 0; w < kDecodeWarps; ++w) top = part_m[w] > top ? part_m[w] : top;
  float weight[kDecodeWarps], total = 0.0f;
  for (int w = 0; w < kDecodeWarps; ++w) {
    weight[w] = math::masked_exp(part_m[w], top);
    total += part_l[w] * weight[w];
  }
  // One split normalizes here; a split's partial stays relative to its own max (none when it saw no key).
  const float mul = splits == 1 ? 1.0f / total : 1.0f;
  float* out = splits == 1 ? o.data + b * o.sb + i * o.st + h * o.sh : partial + (row * splits + split) * (D + 2);
  for (int64_t d = threadIdx.x; d < D; d += kDecodeThreads) {
    float sum = 0.0f;
    for (int w = 0; w < kDecodeWarps; ++w) sum += part_o[w][d] * weight[w];
    out[d] = sum * mul;
  }
  if (threadIdx.x != 0) return;
  if (splits > 1) {
    out[D] = top;
    out[D + 1] = total;
  } else if (lse != nullptr) {
    lse[(b * s.Hq + h) * s.Tq + i] = math::attention_lse(top, total);
  }
}

// o row (and lse) from the splits' partials: sum_s o_s exp(m_s - M) / sum_s l_s exp(m_s - M), M the largest m_s.
__global__ void __launch_bounds__(kDecodeThreads)
    attention_decode_combine_kernel(HeadsOut o, float* __restrict__ lse, const float* __restrict__ partial,
                                    AttentionShape s, int64_t splits) {
  const int64_t row = blockIdx.x, h = row % s.Hq, i = row / s.Hq % s.Tq, b = row / (s.Hq * s.Tq), D = s.D;
  const float* parts = partial + row * splits * (D + 2);
  float top = -__builtin_inff();
  for (int64_t p = 0; p < splits; ++p) top = parts[p * (D + 2) + D] > top ? parts[p * (D + 2) + D] : top;
  float total = 0.0f;
  for (int64_t p = 0; p < splits; ++p) total += parts[p * (D + 2) + D + 1] * math::masked_exp(parts[p * (D + 2) + D], top);
  const float inv = 1.0f / total;
  float* orow = o.data + b * o.sb + i * o.st + h * o.sh;
  for (int64_t d = threadIdx.x; d < D; d += kDecodeThreads) {
    float sum = 0.0f;
    for (int64_t p = 0; p < splits; ++p) sum += parts[p * (D + 2) + d] * math::masked_exp(parts[p * (D + 2) + D], top);
    orow[d] = sum * inv;
  }
  if (threadIdx.x == 0 && lse != nullptr) lse[(b * s.Hq + h) * s.Tq + i] = math::attention_lse(top, total);
}

// Splits of each row's keys: enough blocks for two per multiprocessor (one block per query row leaves most of a
// large GPU idle while a few rows stream a long cache), each split at least kMinSplitKeys keys.
constexpr int64_t kMinSplitKeys = 64;
int64_t decode_splits(const AttentionShape& s, int multiprocessors) {
  const int64_t rows = s.B * s.Tq * s.Hq;
  const int64_t wanted = (2 * static_cast<int64_t>(multiprocessors) + rows - 1) / rows;
  const int64_t most = (s.Tk + kMinSplitKeys - 1) / kMinSplitKeys;
  return wanted < 1 ? 1 : wanted < most ? wanted : most;
}

template <class T>
bool pair_aligned(const KVRows<T>& r) {
  return reinterpret_cast<uintptr_t>(r.data) % (2 * sizeof(T)) == 0 && r.sb % 2 == 0 && r.st % 2 == 0 && r.sh % 2 == 0;
}

template <class T>
std::string decode_for(HeadsOut o, float* lse, HeadsIn q, KVRows<T> k, KVRows<T> v, const AttentionBiasRef& bias,
                       const AttentionShape& s, int multiprocessors, float* scratch, cudaStream_t stream) {
  const int64_t rows = s.B * s.Tq * s.Hq, splits = decode_splits(s, multiprocessors);
  if (rows * splits > 0x7fffffff)
    return "attention_decode: " + std::to_string(rows) + " query rows exceed the grid's 2^31 - 1 blocks";
  if (s.D > kAttentionMaxHeadDim) return head_dim_error(s.D);
  // Whole warp strides per split, so every split starts its warps on consecutive keys.
  const int64_t chunk = ((s.Tk + splits - 1) / splits + kDecodeWarps - 1) / kDecodeWarps * kDecodeWarps;
  const bool paired = s.D % 2 == 0 && pair_aligned(k) && pair_aligned(v);
  const auto kernel = s.D <= 64    ? attention_decode_kernel<1, T>
                      : s.D <= 128 ? attention_decode_kernel<2, T>
                                   : attention_decode_kernel<4, T>;
  const dim3 grid(static_cast<unsigned>(rows * splits)), block(kDecodeThreads);
  launch(kernel, grid, block, stream, o, lse, q, k, v, bias, s, paired, splits, chunk, scratch);
  const std::string err = launch_error("attention_decode_kernel");
  if (!err.empty() || splits == 1) return err;
  launch(attention_decode_combine_kernel, dim3(static_cast<unsigned>(rows)), block, stream, o, lse, scratch, s, splits);
  return launch_error("attention_decode_combine_kernel");
}

// ---- head sizes beyond the tiles: the backward by rows ----

// dQ of query row (b, i, h): warps stride over the keys the row sees; per key P = exp(scale q.k - lse) and
// dS = P (dO.v - delta) from warp-wide dot products, dq += dS k with lanes over D as in the decode kernel; the
// warps' partial sums are added in warp order.
template <int kPairs>
__global__ void __launch_bounds__(kDecodeThreads)
    attention_dq_rows_kernel(HeadsOut dq, HeadsIn d_o, HeadsIn q, HeadsIn k, HeadsIn v, const float* __restrict__ lse,
                             const float* __restrict__ delta, AttentionShape s, bool paired) {
  __shared__ float part[kDecodeWarps][kPairs * 64];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t row = blockIdx.x, h = row % s.Hq, i = row / s.Hq % s.Tq, b = row / (s.Hq * s.Tq);
  const int64_t hk = h / (s.Hq / s.Hkv), D = s.D, stat = (b * s.Hq + h) * s.Tq + i;
  float qv[kPairs][2], gv[kPairs][2], acc[kPairs][2] = {};
#pragma unroll
  for (int c = 0; c < kPairs; ++c) {
    load_pair(q.data + b * q.sb + i * q.st + h * q.sh, 2 * (lane + 32 * c), D, false, &qv[c][0], &qv[c][1]);
    load_pair(d_o.data + b * d_o.sb + i * d_o.st + h * d_o.sh, 2 * (lane + 32 * c), D, false, &gv[c][0], &gv[c][1]);
  }
  const float* kb = k.data + b * k.sb + hk * k.sh;
  const float* vb = v.data + b * v.sb + hk * v.sh;
  const int64_t n = math::attention_key_limit(i, s.Tq, s.Tk, s.causal);
  for (int64_t j = key_first(s, b, i) + warp; j < n; j += kDecodeWarps) {
    float kv[kPairs][2], qk = 0.0f, gv_dot = 0.0f;
#pragma unroll
    for (int c = 0; c < kPairs; ++c) {
      float v0, v1;
      load_pair(kb + j * k.st, 2 * (lane + 32 * c), D, paired, &kv[c][0], &kv[c][1]);
      load_pair(vb + j * v.st, 2 * (lane + 32 * c), D, paired, &v0, &v1);
      qk += qv[c][0] * kv[c][0] + qv[c][1] * kv[c][1];
      gv_dot += gv[c][0] * v0 + gv[c][1] * v1;
    }
    const float p = math::fast_exp(s.scale * warp_sum(qk) - lse[stat]);
    const float ds = p * (warp_sum(gv_dot) - delta[stat]);
#pragma unroll
    for (int c = 0; c < kPairs; ++c) {
      acc[c][0] += ds * kv[c][0];
      acc[c][1] += ds * kv[c][1];
    }
  }
#pragma unroll
  for (int c = 0; c < kPairs; ++c) {
    part[warp][2 * (lane + 32 * c)] = acc[c][0];
    part[warp][2 * (lane + 32 * c) + 1] = acc[c][1];
  }
  __syncthreads();
  float* out = dq.data + b * dq.sb + i * dq.st + h * dq.sh;
  for (int64_t d = threadIdx.x; d < D; d += kDecodeThreads) {
    float sum = 0.0f;
    for (int w = 0; w < kDecodeWarps; ++w) sum += part[w][d];
    out[d] = s.scale * sum;
  }
}

// dK and dV of key row (b, j, kv head): warps stride over the (query head of the group, query row) pairs that see
// the key; dk += scale dS q, dv += P dO; the warps' partial sums are added in warp order.
template <int kPairs>
__global__ void __launch_bounds__(kDecodeThreads)
    attention_dkdv_rows_kernel(HeadsOut dk, HeadsOut dv, HeadsIn d_o, HeadsIn q, HeadsIn k, HeadsIn v,
                               const float* __restrict__ lse, const float* __restrict__ delta, AttentionShape s,
                               bool paired) {
  __shared__ float part_k[kDecodeWarps][kPairs * 64], part_v[kDecodeWarps][kPairs * 64];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t row = blockIdx.x, hk = row % s.Hkv, j = row / s.Hkv % s.Tk, b = row / (s.Hkv * s.Tk), D = s.D;
  float kv[kPairs][2], vv[kPairs][2], acc_k[kPairs][2] = {}, acc_v[kPairs][2] = {};
#pragma unroll
  for (int c = 0; c < kPairs; ++c) {
    load_pair(k.data + b * k.sb + j * k.st + hk * k.sh, 2 * (lane + 32 * c), D, false, &kv[c][0], &kv[c][1]);
    load_pair(v.data + b * v.sb + j * v.st + hk * v.sh, 2 * (lane + 32 * c), D, false, &vv[c][0], &vv[c][1]);
  }
  const int64_t group = s.Hq / s.Hkv;
  // The query rows that see key j: from its slot's row on, only that row when j is a padding key.
  const int64_t first_row = math::attention_query_first(j, s.Tq, s.Tk, s.causal);
  const int64_t row_end = math::attention_query_end(j, s.Tq, s.Tk, key_start_of(s, b));
  const int64_t rows = row_end > first_row ? row_end - first_row : 0;
  for (int64_t t = warp; t < group * rows; t += kDecodeWarps) {
    const int64_t h = hk * group + t / rows, i = first_row + t % rows, stat = (b * s.Hq + h) * s.Tq + i;
    const float* qr = q.data + b * q.sb + i * q.st + h * q.sh;
    const float* gr = d_o.data + b * d_o.sb + i * d_o.st + h * d_o.sh;
    float qv[kPairs][2], gv[kPairs][2], qk = 0.0f, gv_dot = 0.0f;
#pragma unroll
    for (int c = 0; c < kPairs; ++c) {
      load_pair(qr, 2 * (lane + 32 * c), D, paired, &qv[c][0], &qv[c][1]);
      load_pair(gr, 2 * (lane + 32 * c), D, paired, &gv[c][0], &gv[c][1]);
      qk += qv[c][0] * kv[c][0] + qv[c][1] * kv[c][1];
      gv_dot += gv[c][0] * vv[c][0] + gv[c][1] * vv[c][1];
    }
    const float p = math::fast_exp(s.scale * warp_sum(qk) - lse[stat]);
    const float ds = p * (warp_sum(gv_dot) - delta[stat]);
#pragma unroll
    for (int c = 0; c < kPairs; ++c) {
      acc_k[c][0] += ds * qv[c][0];
      acc_k[c][1] += ds * qv[c][1];
      acc_v[c][0] += p * gv[c][0];
      acc_v[c][1] += p * gv[c][1];
    }
  }
#pragma unroll
  for (int c = 0; c < kPairs; ++c) {
    part_k[warp][2 * (lane + 32 * c)] = acc_k[c][0];
    part_k[warp][2 * (lane + 32 * c) + 1] = acc_k[c][1];
    part_v[warp][2 * (lane + 32 * c)] = acc_v[c][0];
    part_v[warp][2 * (lane + 32 * c) + 1] = acc_v[c][1];
  }
  __syncthreads();
  float* ok = dk.data + b * dk.sb + j * dk.st + hk * dk.sh;
  float* ov = dv.data + b * dv.sb + j * dv.st + hk * dv.sh;
  for (int64_t d = threadIdx.x; d < D; d += kDecodeThreads) {
    float sum_k = 0.0f, sum_v = 0.0f;
    for (int w = 0; w < kDecodeWarps; ++w) {
      sum_k += part_k[w][d];
      sum_v += part_v[w][d];
    }
    ok[d] = s.scale * sum_k;
    ov[d] = sum_v;
  }
}

std::string backward_by_rows(HeadsOut dq, HeadsOut dk, HeadsOut dv, HeadsIn d_o, HeadsIn q, HeadsIn k, HeadsIn v,
                             const float* lse, const float* delta, const AttentionShape& s, cudaStream_t stream) {
  const int64_t q_rows = s.B * s.Tq * s.Hq, k_rows = s.B * s.Tk * s.Hkv;
  if (q_rows > 0x7fffffff || k_rows > 0x7fffffff)
    return "attention_backward: " + std::to_string(q_rows > k_rows ? q_rows : k_rows) +
           " rows exceed the grid's 2^31 - 1 blocks";
  const auto aligned = [](const HeadsIn& t) {
    return reinterpret_cast<uintptr_t>(t.data) % 8 == 0 && t.sb % 2 == 0 && t.st % 2 == 0 && t.sh % 2 == 0;
  };
  const bool paired = s.D % 2 == 0 && aligned(q) && aligned(k) && aligned(v) && aligned(d_o);
  // Beyond the tiles D > 128: four pairs per lane.
  const dim3 block(kDecodeThreads);
  launch(attention_dkdv_rows_kernel<4>, dim3(static_cast<unsigned>(k_rows)), block, stream, dk, dv, d_o, q, k, v, lse,
         delta, s, paired);
  const std::string err = launch_error("attention_dkdv_rows_kernel");
  if (!err.empty()) return err;
  launch(attention_dq_rows_kernel<4>, dim3(static_cast<unsigned>(q_rows)), block, stream, dq, d_o, q, k, v, lse, delta,
         s, paired);
  return launch_error("attention_dq_rows_kernel");
}

bool aligned4(const HeadsIn& t) {
  return reinterpret_cast<uintptr_t>(t.data) % 16 == 0 && t.sb % 4 == 0 && t.st % 4 == 0 && t.sh % 4 == 0;
}

// Blocks of a launch over (tiles x heads), which the kernels decompose from a 1-D grid index.
std::string grid_of(int64_t tiles, int64_t heads, const char* kernel, unsigned* grid) {
  const int64_t blocks = tiles * heads;
  if (blocks > 0x7fffffff) return std::string(kernel) + ": " + std::to_string(blocks) + " blocks exceed the grid's 2^31 - 1";
  *grid = static_cast<unsigned>(blocks);
  return {};
}

template <int kD>
std::string forward_mma_for(HeadsOut o, float* lse, HeadsIn q, HeadsIn k, HeadsIn v, const AttentionShape& s, bool vec4,
                            cudaStream_t stream) {
  unsigned grid = 0;
  const std::string err = grid_of((s.Tq + kMmaQ - 1) / kMmaQ, s.B * s.Hq, "attention_forward", &grid);
  if (!err.empty()) return err;
  launch(attention_forward_mma_kernel<kD>, dim3(grid), dim3(kMmaThreads), stream, o, lse, q, k, v, s, vec4);
  return launch_error("attention_forward_mma_kernel");
}

template <int kD>
std::string forward_for(HeadsOut o, float* lse, HeadsIn q, HeadsIn k, HeadsIn v, const AttentionShape& s, bool vec4,
                        cudaStream_t stream) {
  unsigned grid = 0;
  const std::string err = grid_of((s.Tq + Tiles<kD>::kFwdQ - 1) / Tiles<kD>::kFwdQ, s.B * s.Hq, "attention_forward", &grid);
  if (!err.empty()) return err;
  launch(attention_forward_kernel<kD>, dim3(grid), dim3(kThreads), stream, o, lse, q, k, v, s, vec4);
  return launch_error("attention_forward_kernel");
}

template <int kD>
std::string backward_mma_for(HeadsOut dq, HeadsOut dk, HeadsOut dv, HeadsIn d_o, HeadsIn q, HeadsIn k, HeadsIn v,
                             const float* lse, const float* delta, const AttentionShape& s, bool vec4,
                             cudaStream_t stream) {
  unsigned grid = 0;
  std::string err = grid_of((s.Tk + kMmaK - 1) / kMmaK, s.B * s.Hkv, "attention_backward", &grid);
  if (!err.empty()) return err;
  launch(attention_dkdv_mma_kernel<kD>, dim3(grid), dim3(kMmaThreads), stream, dk, dv, d_o, q, k, v, lse, delta, s,
         vec4);
  err = launch_error("attention_dkdv_mma_kernel");
  if (!err.empty()) return err;
  err = grid_of((s.Tq + kMmaQ - 1) / kMmaQ, s.B * s.Hq, "attention_backward", &grid);
  if (!err.empty()) return err;
  launch(attention_dq_mma_kernel<kD>, dim3(grid), dim3(kMmaThreads), stream, dq, d_o, q, k, v, lse, delta, s, vec4);
  return launch_error("attention_dq_mma_kernel");
}

template <int kD>
std::string backward_for(HeadsOut dq, HeadsOut dk, HeadsOut dv, HeadsIn d_o, HeadsIn q, HeadsIn k, HeadsIn v,
                         const float* lse, const float* delta, const AttentionShape& s, bool vec4, cudaStream_t stream) {
  constexpr int kOwn = Tiles<kD>::kOwn;
  unsigned grid = 0;
  std::string err = grid_of((s.Tk + kOwn - 1) / kOwn, s.B * s.Hkv, "attention_backward", &grid);
  if (!err.empty()) return err;
  launch(attention_dkdv_kernel<kD>, dim3(grid), dim3(kThreads), stream, dk, dv, d_o, q, k, v, lse, delta, s, vec4);
  err = launch_error("attention_dkdv_kernel");
  if (!err.empty()) return err;
  err = grid_of((s.Tq + kOwn - 1) / kOwn, s.B * s.Hq, "attention_backward", &grid);
  if (!err.empty()) return err;
  launch(attention_dq_kernel<kD>, dim3(grid), dim3(kThreads), stream, dq, d_o, q, k, v, lse, delta, s, vec4);
  return launch_error("attention_dq_kernel");
}

}  // namespace

size_t attention_decode_scratch_bytes(const AttentionShape& s, int multiprocessors) {
  const int64_t splits = decode_splits(s, multiprocessors);
  return splits == 1 ? 0 : static_cast<size_t>(s.B * s.Tq * s.Hq * splits * (s.D + 2)) * sizeof(float);
}

std::string launch_attention_decode(HeadsOut o, float* lse, HeadsIn q, KVRows<float> k, KVRows<float> v,
                                    const AttentionBiasRef& bias, const AttentionShape& s, int multiprocessors,
                                    float* scratch, cudaStream_t stream) {
  return decode_for(o, lse, q, k, v, bias, s, multiprocessors, scratch, stream);
}
std::string launch_attention_decode(HeadsOut o, float* lse, HeadsIn q, KVRows<uint16_t> k, KVRows<uint16_t> v,
                                    const AttentionBiasRef& bias, const AttentionShape& s, int multiprocessors,
                                    float* scratch, cudaStream_t stream) {
  return decode_for(o, lse, q, k, v, bias, s, multiprocessors, scratch, stream);
}

size_t attention_forward_scratch_bytes(const AttentionShape& s, int multiprocessors) {
  return s.Tq <= kDecodeRows || s.D > kTiledMaxHeadDim ? attention_decode_scratch_bytes(s, multiprocessors) : 0;
}

std::string launch_attention_forward(HeadsOut o, float* lse, HeadsIn q, HeadsIn k, HeadsIn v, const AttentionShape& s,
                                     bool bf16, int multiprocessors, float* scratch, cudaStream_t stream) {
  if (s.D > kAttentionMaxHeadDim) return head_dim_error(s.D);
  if (s.Tq <= kDecodeRows || s.D > kTiledMaxHeadDim)
    return decode_for(o, lse, q, KVRows<float>{k.data, k.sb, k.st, k.sh}, KVRows<float>{v.data, v.sb, v.st, v.sh},
                      AttentionBiasRef{nullptr, 0, 0, 0}, s, multiprocessors, scratch, stream);
  const bool vec4 = s.D % 4 == 0 && aligned4(q) && aligned4(k) && aligned4(v);
  if (bf16) {
    if (s.D <= 32) return forward_mma_for<32>(o, lse, q, k, v, s, vec4, stream);
    if (s.D <= 64) return forward_mma_for<64>(o, lse, q, k, v, s, vec4, stream);
    return forward_mma_for<128>(o, lse, q, k, v, s, vec4, stream);
  }
  if (s.D <= 32) return forward_for<32>(o, lse, q, k, v, s, vec4, stream);
  if (s.D <= 64) return forward_for<64>(o, lse, q, k, v, s, vec4, stream);
  return forward_for<128>(o, lse, q, k, v, s, vec4, stream);
}

size_t attention_backward_scratch_bytes(const AttentionShape& s) {
  return static_cast<size_t>(s.B * s.Hq * s.Tq) * sizeof(float);
}

std::string launch_attention_backward(HeadsOut dq, HeadsOut dk, HeadsOut dv, HeadsIn d_o, HeadsIn q, HeadsIn k,
                                      HeadsIn v, HeadsIn o, const float* lse, float* scratch, const AttentionShape& s,
                                      bool bf16, cudaStream_t stream) {
  if (s.D > kAttentionMaxHeadDim) return head_dim_error(s.D);
  const int64_t rows = s.B * s.Hq * s.Tq;
  const int64_t blocks = (rows + 7) / 8;
  launch(attention_row_dot_kernel, dim3(static_cast<unsigned>(blocks < 65536 ? blocks : 65536)), dim3(256), stream,
         scratch, d_o, o, s);
  const std::string err = launch_error("attention_row_dot_kernel");
  if (!err.empty()) return err;
  if (s.D > kTiledMaxHeadDim) return backward_by_rows(dq, dk, dv, d_o, q, k, v, lse, scratch, s, stream);
  const bool vec4 = s.D % 4 == 0 && aligned4(q) && aligned4(k) && aligned4(v) && aligned4(d_o);
  if (bf16) {
    if (s.D <= 32) return backward_mma_for<32>(dq, dk, dv, d_o, q, k, v, lse, scratch, s, vec4, stream);
    if (s.D <= 64) return backward_mma_for<64>(dq, dk, dv, d_o, q, k, v, lse, scratch, s, vec4, stream);
    return backward_mma_for<128>(dq, dk, dv, d_o, q, k, v, lse, scratch, s, vec4, stream);
  }
  if (s.D <= 32) return backward_for<32>(dq, dk, dv, d_o, q, k, v, lse, scratch, s, vec4, stream);
  if (s.D <= 64) return backward_for<64>(dq, dk, dv, d_o, q, k, v, lse, scratch, s, vec4, stream);
  return backward_for<128>(dq, dk, dv, d_o, q, k, v, lse, scratch, s, vec4, stream);
}

}  // namespace tg::cuda
