// The vector loops for the addon's baseline target: x86-64-v3 (AVX2 + FMA) on x86-64 (binding.gyp's -march),
// the compiler's default elsewhere (NEON on arm64).
#include "kernels/prelude.h"

#if defined(__AVX2__)
#define TG_KERNEL_NAME "avx2"
#elif defined(__ARM_NEON)
#define TG_KERNEL_NAME "neon"
#else
#define TG_KERNEL_NAME "generic"
#endif
#define TG_KERNEL_ISA baseline
#include "kernels/instantiate.h"

const tg::VectorKernels* tg::kernels::baseline_table() { return &baseline::kTable; }
