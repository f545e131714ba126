// cuda/reduce.cu compiled by the host compiler against the emulator's headers.
#include "../reduce.cu"
