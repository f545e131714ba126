// Caching allocator for tensor storage: 64-byte aligned blocks, freed blocks kept in size-class free
// lists so small ops never reach malloc and large ones skip the page faults of fresh memory.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tg {

struct AllocatorStats {
  size_t live_bytes;     // bytes in blocks handed out and not yet freed (requested sizes)
  size_t live_blocks;
  size_t cached_bytes;   // bytes held in free lists for reuse
  size_t peak_live_bytes;
};

void* alloc_bytes(size_t nbytes);
void free_bytes(void* p, size_t nbytes);
AllocatorStats allocator_stats();
void allocator_empty_cache();
void allocator_reset_peak();

}  // namespace tg
