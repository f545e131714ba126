// Philox-4x32-10 counter-based RNG (Salmon et al., SC'11): the same (seed, counter) gives the same
// numbers on CPU and GPU, in any thread order. Element i of a fill uses counter base + i/4, lane i%4.
#pragma once
#include "math/common.h"

namespace tg::math {

struct Philox4 {
  uint32_t v[4];
};

TG_HD Philox4 philox4x32(uint64_t counter, uint64_t key) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Uniform in (0, 1]: 24 random bits, never 0 (safe for log).
TG_HD float uint_to_unit(uint32_t u) { return (static_cast<float>(u >> 8) + 1.0f) * (1.0f / 16777216.0f); }

}  // namespace tg::math
