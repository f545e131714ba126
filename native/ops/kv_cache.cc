// bfloat16 KV cache stores and loads (the decode attention over it is in attention.cc, beside the float32 one).
#include "ops/kv_cache.h"

#include "core/thread_pool.h"
#include "math/bf16.h"

namespace tg {

void kv_cache_store(const Bf16Cache& cache, int64_t pos, ConstHeadsView src, int64_t T) {
  const int64_t D = cache.D;
  parallel_for(cache.B * cache.Hkv * T, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t t = r % T, h = (r / T) % cache.Hkv, b = r / (T * cache.Hkv);
      const float* s = src.data + b * src.sb + t * src.st + h * src.sh;
      uint16_t* d = cache.data + ((b * cache.Hkv + h) * cache.L + pos + t) * D;
      for (int64_t c = 0; c < D; ++c) d[c] = math::bf16_from_float(s[c]);
    }
  });
}

void kv_cache_load(float* dst, const Bf16Cache& cache, int64_t Tk) {
  const int64_t D = cache.D;
  parallel_for(cache.B * cache.Hkv, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint16_t* s = cache.data + r * cache.L * D;
      float* d = dst + r * Tk * D;
      for (int64_t i = 0; i < Tk * D; ++i) d[i] = math::bf16_to_float(s[i]);
    }
  });
}

}  // namespace tg
