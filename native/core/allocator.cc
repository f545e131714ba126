// Caching allocator: requests round up to one of four size classes per power of two (at most 25%
// waste); a freed block goes to its class's free list unless the cache would exceed its budget.
#include "core/allocator.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace tg {
namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kCacheBudget = size_t(2) << 30;

size_t size_class(size_t nbytes) {
  if (nbytes <= 256) return (nbytes + 63) & ~size_t(63);
  size_t top = size_t(1) << (63 - __builtin_clzll(nbytes - 1));  // largest power of two < nbytes
  size_t step = top / 4;
  return (nbytes + step - 1) / step * step;
}

struct State {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_lists;
  size_t live_bytes = 0, live_blocks = 0, cached_bytes = 0, peak_live_bytes = 0;
};

State& state() {
  static State* s = new State();  // NOTE: leaked so frees from finalizers at exit stay valid
  return *s;
}

}  // namespace

void* alloc_bytes(size_t nbytes) {
  State& s = state();
  size_t cls = size_class(nbytes == 0 ? 1 : nbytes);
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.live_bytes += nbytes;
    s.live_blocks += 1;
    if (s.live_bytes > s.peak_live_bytes) s.peak_live_bytes = s.live_bytes;
    auto it = s.free_lists.find(cls);
    if (it != s.free_lists.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      s.cached_bytes -= cls;
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlignment, cls);
  if (p == nullptr) {
    allocator_empty_cache();
    p = std::aligned_alloc(kAlignment, cls);
  }
  if (p == nullptr) {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.live_bytes -= nbytes;
    s.live_blocks -= 1;
    throw std::bad_alloc();
  }
  return p;
}

void free_bytes(void* p, size_t nbytes) {
  if (p == nullptr) return;
  State& s = state();
  size_t cls = size_class(nbytes == 0 ? 1 : nbytes);
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.live_bytes -= nbytes;
    s.live_blocks -= 1;
    if (s.cached_bytes + cls <= kCacheBudget) {
      s.free_lists[cls].push_back(p);
      s.cached_bytes += cls;
      return;
    }
  }
  std::free(p);
}

AllocatorStats allocator_stats() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return {s.live_bytes, s.live_blocks, s.cached_bytes, s.peak_live_bytes};
}

void allocator_empty_cache() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  for (auto& [cls, list] : s.free_lists)
    for (void* p : list) std::free(p);
  s.free_lists.clear();
  s.cached_bytes = 0;
}

void allocator_reset_peak() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.peak_live_bytes = s.live_bytes;
}

}  // namespace tg
