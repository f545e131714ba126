// cuda/index.cu compiled by the host compiler against the emulator's headers.
#include "../index.cu"
