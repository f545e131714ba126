// Addon entry point: registers every binding family listed in registry.h.
#include <exception>
#include <string>

#include "binding/registry.h"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  // NOTE: node-addon-api passes on only a Napi::Error from init; any other exception would terminate.
  try {
#define TG_REGISTER_FAMILY(name) tg::binding::register_##name(env, exports);
    TG_BINDING_FAMILIES(TG_REGISTER_FAMILY)
#undef TG_REGISTER_FAMILY
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("thinkgrad: the native engine failed to start: ") + e.what());
  }
  return exports;
}

}  // namespace

NODE_API_MODULE(thinkgrad_native, init)
