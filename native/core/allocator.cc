// Caching allocator: requests round up to one of four size classes per power of two (at most 25%
// waste), and a freed block goes to its class's free list. The cache is bounded by a budget, and beyond it by
// the most memory the allocator would have held with the budget alone (see State). Under an address-space
// limit (ulimit -v) it refuses blocks that would leave V8 and malloc too little room.
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

// Blocks of at least this size are mapped from the system and unmapped when returned, so what the cache returns
// leaves the process at once, and such a block is resident only as far as requests have written it, not to its
// size class. NOTE: from glibc's heap, freed chunks below its mmap threshold (which grows to 32 MiB) stay resident
// and fragmented: with the reserve below and heap blocks up to 4 MiB, a LoRA GRPO step of a 0.5B model peaked at
// 4.9 GB of RSS while the allocator held at most 4.0 GB; mapped from 256 KiB up, it peaked at 4.0 GB.
constexpr size_t kMappedBlock = 256 * 1024;
// Blocks of at least this size whose size class the budget returns to the system (a block that churns: had
// and freed every step) are 2 MiB-aligned and asked to be backed by transparent huge pages.
constexpr size_t kHugePageBlock = 4 * kMiB;

// The cache keeps every freed block, yet the allocator never holds more resident memory than the most it would
// have held with a cache bounded by the budget alone. `replay` runs that budget-bounded cache beside the real one,
// on the same requests; `held_mark` is the peak of what it holds. The cached blocks beyond it, the reserve, are
// returned only when the allocator would otherwise pass the mark. So a block larger than the budget that every
// step has and frees (W3's 500 MiB logits gradient) is reused instead of faulted and zeroed again each step, at no
// cost in peak memory: a freed block moves from live to cached without changing what is held. Measured on a
// 2-vCPU Zen 4 VM: W3 fwd+bwd at 2 threads 72 -> 47 ms; the LoRA step's peak RSS 4.4-4.5 -> 4.0 GB.
// Resident bytes: a block below kMappedBlock counts its size class; a mapped one the most bytes asked of it.
struct Replay {
  std::unordered_map<size_t, std::vector<size_t>> cache;  // size class -> resident bytes of each block it holds
  std::unordered_map<void*, size_t> live_resident;         // mapped live blocks -> their resident bytes there
  size_t cache_bytes = 0;                                  // by size class, as the budget counts
  size_t cache_resident = 0, held = 0;
};

struct State {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_lists;
  std::unordered_map<void*, size_t> resident;  // mapped blocks, live or cached -> bytes asked of them so far
  std::unordered_set<size_t> churning_classes;
  Replay replay;
  size_t live_bytes = 0, live_blocks = 0, cached_bytes = 0, peak_live_bytes = 0;
  size_t held = 0, held_mark = 0;  // resident bytes in live and cached blocks; the replay's peak of the same
  AddressSpace address_space = read_address_space_limit();
};

State& state() {
  static State* s = new State();  // NOTE: leaked so frees from finalizers at exit stay valid
  return *s;
}

size_t cache_budget(const State& s) {
  return std::min(kCacheBudgetMax, std::max(kCacheBudgetMin, s.live_bytes / 4));
}

size_t resident_bytes(size_t nbytes, size_t cls) { return cls < kMappedBlock ? cls : nbytes; }

// Under the state's mutex: the resident bytes of block p of class cls, live or cached.
size_t block_resident(const State& s, void* p, size_t cls) {
  auto r = s.resident.find(p);
  return r == s.resident.end() ? cls : r->second;
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

// Under the state's mutex: a fresh block from the system, or null.
// NOTE: a fresh block is faulted in page by page on first touch, and on a VM each 4 KiB fault costs far more
// than its zeroing: W3's 500 MiB gradient, when the cache could not keep it, took ~240 ms of faults per training
// step, more than the kernels themselves. With huge pages (where THP is "madvise" or "always") there are 512x
// fewer faults. But the first huge pages a process touches can cost far more than 4 KiB ones where the kernel
// compacts memory to make them (THP defrag "madvise": 1 GiB took 3.3 s instead of 0.43 s on this VM, then 65 ms),
// so a block only gets them once its size class has churned, never a model's weights loaded once.
void* system_block(State& s, size_t cls) {
  if (!fits_address_space(s, cls)) return nullptr;
#if defined(__linux__)
  if (cls >= kMappedBlock) {
    const bool huge = s.churning_classes.count(cls) != 0;
    const size_t slack = huge ? 2 * kMiB : 0;
    void* m = mmap(nullptr, cls + slack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return nullptr;
    if (!huge) return m;
    const uintptr_t start = reinterpret_cast<uintptr_t>(m);
    const uintptr_t aligned = (start + slack - 1) & ~(slack - 1);
    if (aligned > start) munmap(m, aligned - start);
    if (start + slack > aligned) munmap(reinterpret_cast<void*>(aligned + cls), start + slack - aligned);
    madvise(reinterpret_cast<void*>(aligned), cls, MADV_HUGEPAGE);  // advice only: where THP is off the block is used as it is
    return reinterpret_cast<void*>(aligned);
  }
#endif
  return std::aligned_alloc(kAlignment, cls);
}

void system_release(void* p, size_t cls) {
#if defined(__linux__)
  if (cls >= kMappedBlock) {
    munmap(p, cls);
    return;
  }
#endif
  std::free(p);
}

// Under the state's mutex: returns one cached block of class `cls` to the system.
void release_cached(State& s, size_t cls) {
  std::vector<void*>& list = s.free_lists[cls];
  void* p = list.back();
  list.pop_back();
  s.cached_bytes -= cls;
  s.held -= block_resident(s, p, cls);
  s.resident.erase(p);
  system_release(p, cls);
}

// Under the state's mutex: returns cached blocks, the reserve's largest first, until the allocator holds at most
// `limit` resident bytes or caches nothing.
void trim_cache(State& s, size_t limit) {
  while (s.held > limit && s.cached_bytes > 0) {
    size_t reserve_class = 0, any_class = 0;
    for (const auto& [cls, list] : s.free_lists) {
      if (list.empty()) continue;
      auto r = s.replay.cache.find(cls);
      const size_t replayed = r == s.replay.cache.end() ? 0 : r->second.size();
      if (list.size() > replayed) reserve_class = std::max(reserve_class, cls);
      any_class = std::max(any_class, cls);
    }
    release_cached(s, reserve_class != 0 ? reserve_class : any_class);
  }
}

void empty_cache_locked(State& s) {
  for (auto& [cls, list] : s.free_lists)
    while (!list.empty()) release_cached(s, cls);
  s.free_lists.clear();
  s.replay.held -= s.replay.cache_resident;
  s.replay.cache.clear();
  s.replay.cache_bytes = s.replay.cache_resident = 0;
  s.held_mark = std::max(s.held, s.replay.held);
}

// Under the state's mutex: what the budget-bounded cache does with a request in class `cls`: the
// resident bytes the block has there, and how much that adds to what it holds. Applied by replay_alloc.
struct ReplayedAlloc {
  bool from_cache;
  size_t resident, added;
};

// `want`: the resident bytes the request needs.
ReplayedAlloc replay_alloc_plan(const State& s, size_t want, size_t cls) {
  auto it = s.replay.cache.find(cls);
  if (it == s.replay.cache.end() || it->second.empty()) return {false, want, want};
  const size_t had = it->second.back();
  return {true, std::max(had, want), std::max(had, want) - had};
}

void replay_alloc(State& s, size_t cls, const ReplayedAlloc& plan) {
  if (plan.from_cache) {
    std::vector<size_t>& list = s.replay.cache[cls];
    s.replay.cache_resident -= list.back();
    list.pop_back();
    s.replay.cache_bytes -= cls;
  }
  s.replay.held += plan.added;
  s.held_mark = std::max(s.held_mark, s.replay.held);
}

}  // namespace

AllocationError::AllocationError(size_t requested, const std::string& message)
    : requested_(requested), message_(message) {}

void* alloc_bytes(size_t nbytes) {
  State& s = state();
  const size_t cls = size_class(nbytes == 0 ? 1 : nbytes);
  const size_t want = resident_bytes(nbytes, cls);
  std::lock_guard<std::mutex> lock(s.mutex);
  ReplayedAlloc replayed = replay_alloc_plan(s, want, cls);
  const size_t mark = std::max(s.held_mark, s.replay.held + replayed.added);
  void* p = nullptr;
  size_t had = 0;  // resident bytes the block brings
  auto it = s.free_lists.find(cls);
  if (it != s.free_lists.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    s.cached_bytes -= cls;
    had = block_resident(s, p, cls);
  } else {
    trim_cache(s, mark > want ? mark - want : 0);
    p = system_block(s, cls);
    if (p == nullptr && s.cached_bytes > 0) {
      empty_cache_locked(s);
      replayed = replay_alloc_plan(s, want, cls);
      p = system_block(s, cls);
    }
  }
  if (p != nullptr && cls >= kMappedBlock) {
    try {
      s.resident.try_emplace(p, had);
      s.replay.live_resident.try_emplace(p, 0);
    } catch (const std::bad_alloc&) {
      s.held -= had;
      s.resident.erase(p);
      system_release(p, cls);
      p = nullptr;
    }
  }
  if (p == nullptr) {
    AllocatorStats held{s.live_bytes, s.live_blocks, s.cached_bytes, s.peak_live_bytes};
    bool limited = !fits_address_space(s, cls);
    throw AllocationError(nbytes, allocation_message(nbytes, held, limited ? &s.address_space : nullptr));
  }
  const size_t now = std::max(had, want);
  s.held += now - had;
  if (cls >= kMappedBlock) {
    s.resident[p] = now;
    s.replay.live_resident[p] = replayed.resident;
  }
  replay_alloc(s, cls, replayed);
  trim_cache(s, s.held_mark);
  s.live_bytes += nbytes;
  s.live_blocks += 1;
  s.peak_live_bytes = std::max(s.peak_live_bytes, s.live_bytes);
  return p;
}

void free_bytes(void* p, size_t nbytes) {
  if (p == nullptr) return;
  State& s = state();
  const size_t cls = size_class(nbytes == 0 ? 1 : nbytes);
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.live_bytes -= nbytes;
    s.live_blocks -= 1;
    size_t replayed = cls;
    if (cls >= kMappedBlock) {
      auto r = s.replay.live_resident.find(p);
      replayed = r->second;
      s.replay.live_resident.erase(r);
    }
    bool replay_keeps = s.replay.cache_bytes + cls <= cache_budget(s);
    if (replay_keeps) {
      try {
        s.replay.cache[cls].push_back(replayed);
        s.replay.cache_bytes += cls;
        s.replay.cache_resident += replayed;
      } catch (const std::bad_alloc&) {
        replay_keeps = false;
      }
    }
    if (!replay_keeps) {
      s.replay.held -= replayed;
      if (cls >= kHugePageBlock) {
        try {
          s.churning_classes.insert(cls);
        } catch (const std::bad_alloc&) {
          // The set could not grow: the class's next blocks keep 4 KiB pages.
        }
      }
    }
    try {
      s.free_lists[cls].push_back(p);
      s.cached_bytes += cls;
      return;
    } catch (const std::bad_alloc&) {
      // No memory for the free list's growth: the block goes back to the system instead.
    }
    s.held -= block_resident(s, p, cls);
    s.resident.erase(p);
  }
  system_release(p, cls);
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
