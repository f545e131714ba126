// The list of binding families; module.cc calls register_<family>(env, exports) for each. Adding a
// family is one line here plus its file.
#pragma once
#include <napi.h>

#define TG_BINDING_FAMILIES(X) \
  X(memory)                    \
  X(grpo)                      \
  X(elementwise)               \
  X(reduce)                    \
  X(index)                     \
  X(matmul)                    \
  X(fused)                     \
  X(sampling)

namespace tg::binding {
#define TG_DECLARE_FAMILY(name) void register_##name(Napi::Env env, Napi::Object exports);
TG_BINDING_FAMILIES(TG_DECLARE_FAMILY)
#undef TG_DECLARE_FAMILY
}  // namespace tg::binding
