// Software prefetch of K/V rows for the attention decode path (ops/attention.cc, kernels/loops/attention.h).
#pragma once
#include <cstdint>

namespace tg {

// NOTE: decoding streams the whole KV cache once per step (larger than L3 for long caches) as short per-head
// streams, which are bound by DRAM latency rather than bandwidth: prefetching K/V rows 4 KiB ahead (and a
// stream's first rows before it starts) keeps enough lines in flight (2 KiB -> 4 KiB: 454 -> 295 us per layer
// for a bf16 cache of 64 x 4 heads x 80 positions; 548 -> 485 us in float32). The rows go to L2 (prefetcht1),
// not only to L1 as Intel cores take the non-temporal hint: there the V rows fetched during the K pass were
// gone again before the V pass, and the whole decode ran at a third of the speed (Xeon, Emerald Rapids, float32
// cache of 4 layers x 64 x 4 heads x 80 positions, 1 thread: 8.4 -> 2.4 ms; 2 threads 2.4 -> 1.3 ms; 48 layers,
// larger than L3: 103 -> 55 ms). A prefetch past the end of a buffer never faults.
constexpr int64_t kPrefetchAheadBytes = 4096;

// Rows of D values of type T that make kPrefetchAheadBytes (at least 4).
template <class T>
__attribute__((always_inline)) inline int64_t prefetch_ahead_rows(int64_t D) {
  const int64_t rows = kPrefetchAheadBytes / (D * static_cast<int64_t>(sizeof(T)));
  return rows > 4 ? rows : 4;
}

template <class T>
__attribute__((always_inline)) inline void prefetch_rows(const T* r, int rows, int64_t ld, int64_t D) {
  for (int i = 0; i < rows; ++i)
    for (int64_t c = 0; c < D; c += 64 / static_cast<int64_t>(sizeof(T))) __builtin_prefetch(r + i * ld + c, 0, 2);
}

}  // namespace tg
