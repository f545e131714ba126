// Caching allocator: requests round up to one of four size classes per power of two (at most 25%
// waste); a freed block goes to its class's free list unless the cache would exceed its budget. Under an
// address-space limit (ulimit -v) it refuses blocks that would leave V8 and malloc too little room.
#include "core/allocator.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#endif

namespace tg {
namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kMiB = size_t(1) << 20;
// The cache holds at most a quarter of the live bytes, within [256 MiB, 2 GiB]: enough for a step's churn of
// small and mid-sized blocks, while a large model's freed activations (touched, so resident) go back to the
// system instead of adding up to 2 GiB to the process's memory (measured: a LoRA step of a 0.5B model peaked at
// 4.6 GB of RSS with a flat 2 GiB budget over 3.6 GB of live tensors).
constexpr size_t kCacheBudgetMin = 256 * kMiB;
constexpr size_t kCacheBudgetMax = size_t(2) << 30;
// The process's address-space size is read again after this many bytes of fresh blocks.
constexpr size_t kAddressSpaceRecheck = 16 * kMiB;

size_t size_class(size_t nbytes) {
  if (nbytes <= 256) return (nbytes + 63) & ~size_t(63);
  size_t top = size_t(1) << (63 - __builtin_clzll(nbytes - 1));  // largest power of two < nbytes
  size_t step = top / 4;
  return (nbytes + step - 1) / step * step;
}

// NOTE: at an address-space limit the first allocation to fail is as likely to be V8's (growing its heap
// during a GC that native pressure started) or malloc's inside V8 (capturing the JS error's stack trace)
// as ours, and either kills the process: "FATAL ERROR: ... JavaScript heap out of memory" or "terminate
// called after throwing an instance of 'std::bad_alloc'". So tensor blocks may use the limit only up to
// a headroom: a quarter of it, at most 1 GiB.
struct AddressSpace {
  size_t limit = 0;        // RLIMIT_AS in bytes; 0 when unlimited (or unknown)
  size_t headroom = 0;
  size_t size_read = 0;    // the process's size when last read
  size_t fresh_since = 0;  // bytes of fresh blocks since then
};

size_t process_size() {
#if defined(__linux__)
  unsigned long pages = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%lu", &pages) != 1) pages = 0;
    std::fclose(f);
  }
  return static_cast<size_t>(pages) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
#else
  return 0;
#endif
}

AddressSpace read_address_space_limit() {
  AddressSpace a;
#if defined(__linux__)
  rlimit r{};
  if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY) {
    a.size_read = process_size();
    if (a.size_read == 0) return a;  // no /proc: the limit cannot be watched
    a.limit = static_cast<size_t>(r.rlim_cur);
    a.headroom = std::min<size_t>(a.limit / 4, 1024 * kMiB);
  }
#endif
  return a;
}

struct State {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_lists;
  std::unordered_set<size_t> churning_classes;  // large size classes the budget has returned to the system
  size_t live_bytes = 0, live_blocks = 0, cached_bytes = 0, peak_live_bytes = 0;
  AddressSpace address_space = read_address_space_limit();
};

State& state() {
  static State* s = new State();  // NOTE: leaked so frees from finalizers at exit stay valid
  return *s;
}

// Runs under the state's mutex: counts a block handed out.
void count_live(State& s, size_t nbytes) {
  s.live_bytes += nbytes;
  s.live_blocks += 1;
  if (s.live_bytes > s.peak_live_bytes) s.peak_live_bytes = s.live_bytes;
}

// Runs under the state's mutex: whether a fresh block of `bytes` keeps the headroom under the limit.
// The estimate only grows between readings (frees are not subtracted), so it errs towards a fresh reading.
bool fits_address_space(State& s, size_t bytes) {
  AddressSpace& a = s.address_space;
  if (a.limit == 0) return true;
  auto fits = [&] { return a.size_read + a.fresh_since + bytes + a.headroom <= a.limit; };
  if (a.fresh_since + bytes > kAddressSpaceRecheck || !fits()) {
    a.size_read = process_size();
    a.fresh_since = 0;
  }
  if (!fits()) return false;
  a.fresh_since += bytes;
  return true;
}

std::string mib(size_t bytes) { return std::to_string((bytes + kMiB / 2) / kMiB) + " MiB"; }

std::string allocation_message(size_t requested, const AllocatorStats& held, const AddressSpace* limited) {
  std::string why = limited ? " within the address-space limit (ulimit -v) of " + mib(limited->limit) +
                                  " while leaving " + mib(limited->headroom) + " to V8 and malloc"
                            : "";
  return "cannot allocate " + std::to_string(requested) + " bytes (" + mib(requested) + ")" + why +
         "; live tensors hold " + std::to_string(held.live_bytes) + " bytes (" + mib(held.live_bytes) + ") in " +
         std::to_string(held.live_blocks) + " buffers; dispose tensors or use tidy()";
}

// Blocks of at least this size whose size class the cache budget has sent back to the system before (a block
// that churns: allocated and freed every step) are 2 MiB-aligned and asked to be backed by transparent huge pages.
constexpr size_t kHugePageBlock = 4 * kMiB;

// Under the state's mutex: a fresh block from the system, or null.
// NOTE: a fresh block is faulted in page by page on first touch, and on a VM each 4 KiB fault costs far more
// than its zeroing: a block too large for the cache (W3's 500 MiB gradient at V = 32000) took ~240 ms of faults
// per training step, more than the kernels themselves. With huge pages (where THP is "madvise" or "always")
// there are 512x fewer faults: W3 fwd+bwd went from 350 to 151 ms at 1 thread and from 350-660 to 80-85 ms at 2
// (two threads faulting contend). But the first huge pages a process touches can cost far more than 4 KiB ones
// where the kernel compacts memory to make them (THP defrag "madvise": 1 GiB took 3.3 s instead of 0.43 s on
// this VM, then 65 ms), so a block only gets them once its size class has churned, never a model's weights
// loaded once. The alignment costs at most 2 MiB of address space per such block, not memory.
void* system_block(State& s, size_t cls) {
  if (!fits_address_space(s, cls)) return nullptr;
#if defined(__linux__)
  if (cls >= kHugePageBlock && s.churning_classes.count(cls) != 0) {
    void* p = nullptr;
    if (posix_memalign(&p, 2 * kMiB, cls) != 0) return nullptr;
    madvise(p, cls, MADV_HUGEPAGE);  // advice only: where THP is off the block is used as it is
    return p;
  }
#endif
  return std::aligned_alloc(kAlignment, cls);
}

void empty_cache_locked(State& s) {
  for (auto& [cls, list] : s.free_lists)
    for (void* p : list) std::free(p);
  s.free_lists.clear();
  s.cached_bytes = 0;
}

}  // namespace

AllocationError::AllocationError(size_t requested, const std::string& message)
    : requested_(requested), message_(message) {}

void* alloc_bytes(size_t nbytes) {
  State& s = state();
  size_t cls = size_class(nbytes == 0 ? 1 : nbytes);
  std::lock_guard<std::mutex> lock(s.mutex);
  void* p = nullptr;
  auto it = s.free_lists.find(cls);
  if (it != s.free_lists.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    s.cached_bytes -= cls;
  } else {
    p = system_block(s, cls);
    if (p == nullptr && s.cached_bytes > 0) {
      empty_cache_locked(s);
      p = system_block(s, cls);
    }
  }
  if (p == nullptr) {
    AllocatorStats held{s.live_bytes, s.live_blocks, s.cached_bytes, s.peak_live_bytes};
    bool limited = !fits_address_space(s, cls);
    throw AllocationError(nbytes, allocation_message(nbytes, held, limited ? &s.address_space : nullptr));
  }
  count_live(s, nbytes);
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
    const size_t budget = std::min(kCacheBudgetMax, std::max(kCacheBudgetMin, s.live_bytes / 4));
    if (s.cached_bytes + cls <= budget) {
      try {
        s.free_lists[cls].push_back(p);
        s.cached_bytes += cls;
        return;
      } catch (const std::bad_alloc&) {
        // No memory for the free list's growth: the block goes back to the system instead.
      }
    }
    if (cls >= kHugePageBlock) {
      try {
        s.churning_classes.insert(cls);
      } catch (const std::bad_alloc&) {
        // The set could not grow: the class's next blocks keep 4 KiB pages.
      }
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
  empty_cache_locked(s);
}

void allocator_reset_peak() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.peak_live_bytes = s.live_bytes;
}

}  // namespace tg
