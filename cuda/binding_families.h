// The CUDA addon's binding families (binding_<family>.cc); binding.cc registers each after the storage entry
// points. Adding a family is one line here plus its file (and its line in CMakeLists.txt and the emulator's
// binding.gyp).
#pragma once
#include <napi.h>

#define TG_CUDA_BINDING_FAMILIES(X) \
  X(grpo)                           \
  X(elementwise)                    \
  X(reduce)                         \
  X(index)                          \
  X(layers)                         \
  X(matmul)                         \
  X(attention)                      \
  X(sampling)

namespace tg::cuda_binding {
#define TG_DECLARE_FAMILY(name) void register_##name(Napi::Env env, Napi::Object exports);
TG_CUDA_BINDING_FAMILIES(TG_DECLARE_FAMILY)
#undef TG_DECLARE_FAMILY
}  // namespace tg::cuda_binding
