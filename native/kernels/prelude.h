// Everything the loops/ fragments use, included by each kernels/isa_*.cc BEFORE its target pragma: code from
// these headers that is not inlined (a std:: helper, say) is then compiled for the baseline, never AVX-512,
// so the linker cannot pick an AVX-512 copy of it for a baseline caller. The fragments themselves include
// nothing. (tests/native-contract.test.ts checks the built addon for AVX-512 code outside the AVX-512 set.)
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/prefetch.h"
#include "core/simd.h"
#include "kernels/vector_kernels.h"
#include "math/activations.h"
#include "math/adamw.h"
#include "math/bf16.h"
#include "math/elementwise.h"
#include "math/fast_exp.h"
#include "math/grpo.h"
#include "math/rmsnorm.h"
#include "math/rope.h"
#include "math/softmax.h"

// GCC on x86-64 builds the AVX-512 set; elsewhere (clang, other CPUs) only the baseline one exists.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TG_HAVE_AVX512_KERNELS 1
#endif
