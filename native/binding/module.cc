// Addon entry point: registers every binding family listed in registry.h.
#include "binding/registry.h"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
#define TG_REGISTER_FAMILY(name) tg::binding::register_##name(env, exports);
  TG_BINDING_FAMILIES(TG_REGISTER_FAMILY)
#undef TG_REGISTER_FAMILY
  return exports;
}

}  // namespace

NODE_API_MODULE(thinkgrad_native, init)
