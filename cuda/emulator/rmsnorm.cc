// cuda/rmsnorm.cu compiled by the host compiler against the emulator's headers.
#include "../rmsnorm.cu"
