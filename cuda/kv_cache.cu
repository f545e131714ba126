// bfloat16 KV cache kernels: stores and loads are a warp per cache row (one (b, h, position)), converting with
// native/math/bf16.h's rounding so the CUDA cache holds the CPU's bits. The decode attention over the cache is
// attention.cu's decode kernel reading bf16 rows.
#include <cstdint>

#include "common.cuh"
#include "kv_cache.cuh"
#include "math/bf16.h"

namespace tg::cuda {
namespace {

constexpr int kRowThreads = 256;  // stores and loads: 8 rows per block

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

}  // namespace

std::string launch_kv_cache_store(const Bf16CacheRef& cache, int64_t pos, HeadsIn src, int64_t T, cudaStream_t stream) {
  launch(kv_cache_store_kernel, dim3(row_blocks(cache.B * cache.Hkv * T)), dim3(kRowThreads), stream, cache, pos, src, T);
  return launch_error("kv_cache_store_kernel");
}

std::string launch_kv_cache_load(float* dst, const Bf16CacheRef& cache, int64_t Tk, cudaStream_t stream) {
  launch(kv_cache_load_kernel, dim3(row_blocks(cache.B * cache.Hkv * Tk)), dim3(kRowThreads), stream, dst, cache, Tk);
  return launch_error("kv_cache_load_kernel");
}

std::string launch_attention_decode_bf16(HeadsOut o, HeadsIn q, const Bf16CacheRef& k, const Bf16CacheRef& v,
                                         const AttentionBiasRef& bias, const AttentionShape& s, int multiprocessors,
                                         float* scratch, cudaStream_t stream) {
  const auto rows = [&](const Bf16CacheRef& c) { return KVRows<uint16_t>{c.data, c.Hkv * c.L * c.D, c.D, c.L * c.D}; };
  return launch_attention_decode(o, nullptr, q, rows(k), rows(v), bias, s, multiprocessors, scratch, stream);
}

}  // namespace tg::cuda
