// Chooses the vector kernel set (kernels/vector_kernels.h): THINKGRAD_SIMD at first use if this CPU runs the
// set it names (an unknown or unusable name falls back to the best, and src/native.ts warns), else the best.
#include <atomic>
#include <cstdlib>
#include <stdexcept>

#include "kernels/vector_kernels.h"

namespace tg {
namespace {

bool cpu_runs_avx512_set() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

const VectorKernels* best_set() {
  const VectorKernels* avx512 = kernels::avx512_table();
  return avx512 != nullptr && cpu_runs_avx512_set() ? avx512 : kernels::baseline_table();
}

// The set called `name` if this CPU and build run it, else nullptr; *known says whether the name exists.
const VectorKernels* set_by_name(const std::string& name, bool* known) {
  *known = true;
  if (name == "auto") return best_set();
  if (name == kernels::baseline_table()->name) return kernels::baseline_table();
  if (name == "avx512") return best_set() == kernels::avx512_table() ? kernels::avx512_table() : nullptr;
  *known = name == "avx2" || name == "neon" || name == "generic";
  return nullptr;
}

const VectorKernels* initial_set() {
  if (const char* env = std::getenv("THINKGRAD_SIMD")) {
    bool known = false;
    if (const VectorKernels* k = set_by_name(env, &known)) return k;
  }
  return best_set();
}

std::atomic<const VectorKernels*> g_active{nullptr};

}  // namespace

const VectorKernels& vector_kernels() {
  const VectorKernels* k = g_active.load(std::memory_order_acquire);
  if (k == nullptr) {
    k = initial_set();
    g_active.store(k, std::memory_order_release);
  }
  return *k;
}

void set_vector_kernels(const std::string& name) {
  bool known = false;
  const VectorKernels* k = set_by_name(name, &known);
  if (!known) {
    const std::string sets = std::string(kernels::baseline_table()->name) + (kernels::avx512_table() ? ", avx512" : "");
    throw std::invalid_argument("unknown kernel set '" + name + "' (expected " + sets + " or auto)");
  }
  if (k == nullptr) throw std::invalid_argument("kernel set '" + name + "' is not supported on this CPU/build");
  g_active.store(k, std::memory_order_release);
}

}  // namespace tg
