// TG_CLONES marks a hot loop function for run-time CPU dispatch: GCC emits an AVX-512 (x86-64-v4)
// clone next to the baseline (x86-64-v3) one and pick at load time. Elsewhere (clang, other CPUs) it
// expands to nothing and the baseline code runs.
// NOTE: put it on non-template functions that hold the loop itself; a lambda that calls it is not cloned.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TG_CLONES __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define TG_CLONES
#endif
