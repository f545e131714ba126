// cuda/kv_cache.cu compiled by the host compiler against the emulator's headers (node-gyp builds .cc files).
#include "../kv_cache.cu"
