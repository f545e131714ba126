// cuda/sampling.cu compiled by the host compiler against the emulator's headers.
#include "../sampling.cu"
