// Caching allocator for tensor storage: 64-byte aligned blocks, freed blocks kept in size-class free
// lists so small ops never reach malloc and large ones skip the page faults of fresh memory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <new>
#include <string>

namespace tg {

struct AllocatorStats {
  size_t live_bytes;     // bytes in blocks handed out and not yet freed (requested sizes)
  size_t live_blocks;
  size_t cached_bytes;   // bytes held in free lists for reuse
  size_t peak_live_bytes;
};

// A request refused even after the cache was emptied (by the system, or by the address-space headroom);
// what() names the bytes asked for and what the allocator held at the time.
class AllocationError : public std::bad_alloc {
 public:
  AllocationError(size_t requested, const std::string& message);
  const char* what() const noexcept override { return message_.c_str(); }
  size_t requested() const noexcept { return requested_; }

 private:
  size_t requested_;
  std::string message_;
};

// Throws AllocationError when the memory cannot be had.
void* alloc_bytes(size_t nbytes);
void free_bytes(void* p, size_t nbytes);
AllocatorStats allocator_stats();
void allocator_empty_cache();
void allocator_reset_peak();

}  // namespace tg
