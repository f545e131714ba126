// cuda/rope.cu compiled by the host compiler against the emulator's headers.
#include "../rope.cu"
