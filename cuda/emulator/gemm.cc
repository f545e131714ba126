// cuda/gemm.cu compiled by the host compiler against the emulator's headers; its mma.sync runs as cuda/mma.cuh
// emulates it.
#include "../gemm.cu"
