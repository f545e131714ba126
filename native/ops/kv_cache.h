// A bfloat16 KV cache for decoding: K and V stored as bf16 (half the bytes the memory-bound decode attention
// streams each step), written from float32 projections and read by a decode attention that converts on load.
// Layout: dense (B, Hkv, L, D) bf16, L the cache's capacity.
#pragma once
#include <cstdint>

#include "ops/attention.h"

namespace tg {

struct Bf16Cache {
  uint16_t* data;
  int64_t B, Hkv, L, D;
};

// cache[b, h, pos + t, :] = bf16(src (B, T, Hkv, D) view at (b, t, h)) for t < T.
void kv_cache_store(const Bf16Cache& cache, int64_t pos, ConstHeadsView src, int64_t T);

// dst (B, Hkv, Tk, D) contiguous float32 = cache[:, :, :Tk, :].
void kv_cache_load(float* dst, const Bf16Cache& cache, int64_t Tk);

// Additive attention bias (B, Tq, Tk) at data[b*sb + i*sq + j*sk] (0 keeps a key, a large negative value
// drops it), or data == nullptr for none.
struct AttentionBias {
  const float* data;
  int64_t sb, sq, sk;
};

// o (B, Tq, Hq, D) = softmax(scale q k^T [causal] + bias) v over the first dims.Tk cached keys, reading K and V
// from the bf16 caches. A streaming kernel for a few query rows per (b, head): no backward.
void attention_decode_bf16(HeadsView o, ConstHeadsView q, const Bf16Cache& k, const Bf16Cache& v,
                           const AttentionBias& bias, const AttentionDims& dims);

}  // namespace tg
