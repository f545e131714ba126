// bfloat16 KV cache kernels. Stores and loads are a warp per cache row (one (b, h, position)), converting with
// native/math/bf16.h's rounding so the CUDA cache holds the CPU's bits. The decode attention is memory-bound on
// reading the cache once: a block per (b, query row, head) and split of its keys, its warps striding over the keys,
// each warp a dot product per key with lanes over D (32-bit bf16-pair loads, coalesced along the row) and an online
// softmax of its own; the warps' (max, sum, output) merge through shared memory, and the splits' in a second kernel.
// NOTE: the query heads sharing a kv head each read its keys and values (from L2 after the first); a block per
// (b, kv head) holding the group's queries would read them once.
#include <cstdint>

#include "common.cuh"
#include "kv_cache.cuh"
#include "math/attention.h"
#include "math/bf16.h"

namespace tg::cuda {
namespace {

constexpr int kRowThreads = 256;  // stores and loads: 8 rows per block
constexpr int kDecodeThreads = 256;
constexpr int kDecodeWarps = kDecodeThreads / 32;

unsigned row_blocks(int64_t rows) {
  const int64_t blocks = (rows + kRowThreads / 32 - 1) / (kRowThreads / 32);
  return static_cast<unsigned>(blocks < 65536 ? blocks : 65536);
}

// Rows ordered (b, h, t) over T positions per (b, h).
__global__ void __launch_bounds__(kRowThreads)
    kv_cache_store_kernel(Bf16CacheRef cache, int64_t pos, HeadsIn src, int64_t T) {
  const int lane = threadIdx.x % 32;
  const int64_t rows = cache.B * cache.Hkv * T, warps = static_cast<int64_t>(gridDim.x) * (kRowThreads / 32);
  for (int64_t r = blockIdx.x * (kRowThreads / 32) + threadIdx.x / 32; r < rows; r += warps) {
    const int64_t t = r % T, bh = r / T, h = bh % cache.Hkv, b = bh / cache.Hkv;
    const float* s = src.data + b * src.sb + t * src.st + h * src.sh;
    uint16_t* d = cache.data + (bh * cache.L + pos + t) * cache.D;
    for (int64_t c = lane; c < cache.D; c += 32) d[c] = math::bf16_from_float(s[c]);
  }
}

__global__ void __launch_bounds__(kRowThreads) kv_cache_load_kernel(float* __restrict__ dst, Bf16CacheRef cache, int64_t Tk) {
  const int lane = threadIdx.x % 32;
  const int64_t rows = cache.B * cache.Hkv * Tk, warps = static_cast<int64_t>(gridDim.x) * (kRowThreads / 32);
  for (int64_t r = blockIdx.x * (kRowThreads / 32) + threadIdx.x / 32; r < rows; r += warps) {
    const int64_t t = r % Tk, bh = r / Tk;
    const uint16_t* s = cache.data + (bh * cache.L + t) * cache.D;
    float* d = dst + r * cache.D;
    for (int64_t c = lane; c < cache.D; c += 32) d[c] = math::bf16_to_float(s[c]);
  }
}

// Values d and d + 1 of a bf16 row (zero past D): one 32-bit load when rows start at even elements.
__device__ __forceinline__ void load_pair(const uint16_t* row, int64_t d, int64_t D, bool even, float* x0, float* x1) {
  if (even) {
    if (d < D) {
      const uint32_t w = *reinterpret_cast<const uint32_t*>(row + d);
      *x0 = math::bf16_to_float(static_cast<uint16_t>(w & 0xffffu));
      *x1 = math::bf16_to_float(static_cast<uint16_t>(w >> 16));
      return;
    }
    *x0 = *x1 = 0.0f;
    return;
  }
  *x0 = d < D ? math::bf16_to_float(row[d]) : 0.0f;
  *x1 = d + 1 < D ? math::bf16_to_float(row[d + 1]) : 0.0f;
}

// Lane l holds dims 2 (l + 32 c) and 2 (l + 32 c) + 1 for c < kPairs (D <= 64 kPairs). Block x: query row
// (b, i, h) x split; the split covers keys [split * chunk, (split + 1) * chunk) of the row's visible ones. With one
// split the block writes o; otherwise its (max, sum, unnormalized output) go to `partial` for the combine kernel.
template <int kPairs>
__global__ void __launch_bounds__(kDecodeThreads)
    attention_decode_bf16_kernel(HeadsOut o, HeadsIn q, Bf16CacheRef k, Bf16CacheRef v, AttentionBiasRef bias,
                                 AttentionShape s, int64_t splits, int64_t chunk, float* __restrict__ partial) {
  __shared__ float part_o[kDecodeWarps][kPairs * 64];
  __shared__ float part_m[kDecodeWarps], part_l[kDecodeWarps];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t row = blockIdx.x / splits, split = blockIdx.x % splits;
  const int64_t h = row % s.Hq, i = row / s.Hq % s.Tq, b = row / (s.Hq * s.Tq);
  const int64_t hk = h / (s.Hq / s.Hkv), D = s.D;
  const bool even = D % 2 == 0;
  const float* qr = q.data + b * q.sb + i * q.st + h * q.sh;
  float qv[kPairs][2];
#pragma unroll
  for (int c = 0; c < kPairs; ++c) {
    const int64_t d = 2 * (lane + 32 * c);
    qv[c][0] = d < D ? qr[d] : 0.0f;
    qv[c][1] = d + 1 < D ? qr[d + 1] : 0.0f;
  }
  const uint16_t* kb = k.data + (b * k.Hkv + hk) * k.L * D;
  const uint16_t* vb = v.data + (b * v.Hkv + hk) * v.L * D;
  const float* bias_row = bias.data != nullptr ? bias.data + b * bias.sb + i * bias.sq : nullptr;
  const int64_t visible = math::attention_key_limit(i, s.Tq, s.Tk, s.causal);
  const int64_t end = (split + 1) * chunk < visible ? (split + 1) * chunk : visible;

  float m = -__builtin_inff(), l = 0.0f, acc[kPairs][2] = {};
  for (int64_t j = split * chunk + warp; j < end; j += kDecodeWarps) {
    float dot = 0.0f;
#pragma unroll
    for (int c = 0; c < kPairs; ++c) {
      float k0, k1;
      load_pair(kb + j * D, 2 * (lane + 32 * c), D, even, &k0, &k1);
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
      load_pair(vb + j * D, 2 * (lane + 32 * c), D, even, &v0, &v1);
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
  if (splits > 1 && threadIdx.x == 0) {
    out[D] = top;
    out[D + 1] = total;
  }
}

// o row = the splits' partial outputs merged: sum_s o_s exp(m_s - M) / sum_s l_s exp(m_s - M), M the largest m_s.
__global__ void __launch_bounds__(kDecodeThreads)
    attention_decode_combine_kernel(HeadsOut o, const float* __restrict__ partial, AttentionShape s, int64_t splits) {
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

}  // namespace

std::string launch_kv_cache_store(const Bf16CacheRef& cache, int64_t pos, HeadsIn src, int64_t T, cudaStream_t stream) {
  launch(kv_cache_store_kernel, dim3(row_blocks(cache.B * cache.Hkv * T)), dim3(kRowThreads), stream, cache, pos, src, T);
  return launch_error("kv_cache_store_kernel");
}

std::string launch_kv_cache_load(float* dst, const Bf16CacheRef& cache, int64_t Tk, cudaStream_t stream) {
  launch(kv_cache_load_kernel, dim3(row_blocks(cache.B * cache.Hkv * Tk)), dim3(kRowThreads), stream, dst, cache, Tk);
  return launch_error("kv_cache_load_kernel");
}

size_t attention_decode_scratch_bytes(const AttentionShape& s, int multiprocessors) {
  const int64_t splits = decode_splits(s, multiprocessors);
  return splits == 1 ? 0 : static_cast<size_t>(s.B * s.Tq * s.Hq * splits * (s.D + 2)) * sizeof(float);
}

std::string launch_attention_decode_bf16(HeadsOut o, HeadsIn q, const Bf16CacheRef& k, const Bf16CacheRef& v,
                                         const AttentionBiasRef& bias, const AttentionShape& s, int multiprocessors,
                                         float* scratch, cudaStream_t stream) {
  const int64_t rows = s.B * s.Tq * s.Hq, splits = decode_splits(s, multiprocessors);
  if (rows * splits > 0x7fffffff)
    return "attention_decode_bf16: " + std::to_string(rows) + " query rows exceed the grid's 2^31 - 1 blocks";
  // Whole warp strides per split, so every split starts its warps on consecutive keys.
  const int64_t chunk = ((s.Tk + splits - 1) / splits + kDecodeWarps - 1) / kDecodeWarps * kDecodeWarps;
  if (s.D > kDecodeMaxHeadDim)
    return "head dim D = " + std::to_string(s.D) + " exceeds the cuda decode kernel's " + std::to_string(kDecodeMaxHeadDim);
  const auto kernel = s.D <= 64    ? attention_decode_bf16_kernel<1>
                      : s.D <= 128 ? attention_decode_bf16_kernel<2>
                                   : attention_decode_bf16_kernel<4>;
  const dim3 grid(static_cast<unsigned>(rows * splits)), block(kDecodeThreads);
  launch(kernel, grid, block, stream, o, q, k, v, bias, s, splits, chunk, scratch);
  const std::string err = launch_error("attention_decode_bf16_kernel");
  if (!err.empty() || splits == 1) return err;
  launch(attention_decode_combine_kernel, dim3(static_cast<unsigned>(rows)), block, stream, o, scratch, s, splits);
  return launch_error("attention_decode_combine_kernel");
}

}  // namespace tg::cuda
