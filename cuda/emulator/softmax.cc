// cuda/softmax.cu compiled by the host compiler against the emulator's headers.
#include "../softmax.cu"
