// The vector loops for x86-64-v4 (AVX-512F/BW/DQ/VL), the set GCC's target_clones("arch=x86-64-v4") built.
#include "kernels/prelude.h"

#if defined(TG_HAVE_AVX512_KERNELS)
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4")
#define TG_KERNEL_ISA avx512
#define TG_KERNEL_NAME "avx512"
#include "kernels/instantiate.h"
#pragma GCC pop_options

const tg::VectorKernels* tg::kernels::avx512_table() { return &avx512::kTable; }
#else
const tg::VectorKernels* tg::kernels::avx512_table() { return nullptr; }
#endif
