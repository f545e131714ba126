// A tiny addon compiled for the plain x86-64 baseline: it reports which x86-64-v3 features the CPU (and the
// OS, for the AVX register state) lacks, so src/native.ts can refuse to load the v3-compiled engine with one
// clear line instead of letting it die of an illegal instruction. The C Node-API keeps it free of C++ runtime code.
#include <node_api.h>

#include <cpuid.h>
#include <cstdint>
#include <cstring>

namespace {

struct feature {
  const char* name;
  bool present;
};

uint64_t read_xcr0() {
  uint32_t lo = 0, hi = 0;
  // NOTE: raw bytes for xgetbv, so the probe builds without -mxsave (which would allow xsave code elsewhere).
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

// The CPU's brand string (cpuid 0x80000002..4), e.g. "Intel(R) Xeon(R) Platinum 8480+"; empty when absent.
void brand_string(char out[49]) {
  std::memset(out, 0, 49);
  unsigned int max_ext = __get_cpuid_max(0x80000000u, nullptr);
  if (max_ext < 0x80000004u) return;
  unsigned int regs[12];
  for (unsigned int i = 0; i < 3; ++i)
    __cpuid(0x80000002u + i, regs[4 * i], regs[4 * i + 1], regs[4 * i + 2], regs[4 * i + 3]);
  std::memcpy(out, regs, 48);
}

napi_value throw_status(napi_env env) {
  napi_throw_error(env, nullptr, "thinkgrad cpu probe: a Node-API call failed");
  return nullptr;
}

// x86_64_v3() -> { model: string, missing: string[] }: `missing` lists the x86-64-v3 features not usable here.
napi_value x86_64_v3(napi_env env, napi_callback_info) {
  unsigned int a = 0, b = 0, c = 0, d = 0;
  unsigned int ecx1 = 0, ebx7 = 0, ecx_ext = 0;
  if (__get_cpuid(1, &a, &b, &c, &d)) ecx1 = c;
  if (__get_cpuid_max(0, nullptr) >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    ebx7 = b;
  }
  if (__get_cpuid(0x80000001u, &a, &b, &c, &d)) ecx_ext = c;
  auto bit = [](unsigned int reg, int n) { return (reg >> n & 1u) != 0; };
  const bool osxsave = bit(ecx1, 27);
  // The OS must save the XMM and YMM registers (XCR0 bits 1 and 2), else AVX instructions fault.
  const bool ymm_state = osxsave && (read_xcr0() & 0x6) == 0x6;
  const feature features[] = {
      {"avx", bit(ecx1, 28) && ymm_state},
      {"avx2", bit(ebx7, 5) && ymm_state},
      {"fma", bit(ecx1, 12) && ymm_state},
      {"f16c", bit(ecx1, 29) && ymm_state},
      {"bmi1", bit(ebx7, 3)},
      {"bmi2", bit(ebx7, 8)},
      {"lzcnt", bit(ecx_ext, 5)},
      {"movbe", bit(ecx1, 22)},
      {"xsave", osxsave},
  };

  napi_value result, missing, model;
  if (napi_create_object(env, &result) != napi_ok || napi_create_array(env, &missing) != napi_ok) return throw_status(env);
  uint32_t count = 0;
  for (const feature& f : features) {
    if (f.present) continue;
    napi_value name;
    if (napi_create_string_utf8(env, f.name, NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_set_element(env, missing, count++, name) != napi_ok)
      return throw_status(env);
  }
  char brand[49];
  brand_string(brand);
  if (napi_create_string_utf8(env, brand, NAPI_AUTO_LENGTH, &model) != napi_ok ||
      napi_set_named_property(env, result, "model", model) != napi_ok ||
      napi_set_named_property(env, result, "missing", missing) != napi_ok)
    return throw_status(env);
  return result;
}

napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "x86_64_v3", NAPI_AUTO_LENGTH, x86_64_v3, nullptr, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "x86_64_v3", fn) != napi_ok)
    return throw_status(env);
  return exports;
}

}  // namespace

NAPI_MODULE(thinkgrad_cpu_probe, init)
