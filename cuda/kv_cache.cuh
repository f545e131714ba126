// Host-side launchers of the bfloat16 KV cache kernels (cuda/kv_cache.cu): stores that round float32 keys and
// values into a dense (B, Hkv, L, D) bf16 cache, loads that widen them back, and the decode attention that reads
// the cache directly. Same contracts as native/ops/kv_cache.h; arguments were validated by the binding. Each
// returns "" or an error message.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "attention.cuh"

namespace tg::cuda {

struct Bf16CacheRef {
  uint16_t* data;  // (B, Hkv, L, D) bf16, dense
  int64_t B, Hkv, L, D;
};

// cache[b, h, pos + t, :] = bf16(src (B, T, Hkv, D) view at (b, t, h)) for t < T.
std::string launch_kv_cache_store(const Bf16CacheRef& cache, int64_t pos, HeadsIn src, int64_t T, cudaStream_t stream);

// dst (B, Hkv, Tk, D) contiguous float32 = cache[:, :, :Tk, :].
std::string launch_kv_cache_load(float* dst, const Bf16CacheRef& cache, int64_t Tk, cudaStream_t stream);

// o (B, Tq, Hq, D) = softmax(scale q k^T [causal] + bias) v over the first s.Tk cached positions of k and v, by
// launch_attention_decode; scratch of attention_decode_scratch_bytes.
std::string launch_attention_decode_bf16(HeadsOut o, HeadsIn q, const Bf16CacheRef& k, const Bf16CacheRef& v,
                                         const AttentionBiasRef& bias, const AttentionShape& s, int multiprocessors,
                                         float* scratch, cudaStream_t stream);

}  // namespace tg::cuda
