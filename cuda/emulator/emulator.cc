// The CPU emulator's runtime (see cuda_runtime.h): device memory with a guard page, errors, events, and the
// fiber scheduler that runs a block's threads between barriers.
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "cuda_runtime.h"

thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace {

thread_local cudaError_t last_error = cudaSuccess;
thread_local std::string launch_failure;  // why the last kernel failed, for cudaGetErrorString

cudaError_t fail(cudaError_t e) {
  last_error = e;
  return e;
}

// ---- device memory ---------------------------------------------------------------------------------------
struct Allocation {
  void* map;
  size_t map_bytes, bytes;
};
std::map<uintptr_t, Allocation>& allocations() {
  static auto* m = new std::map<uintptr_t, Allocation>();
  return *m;
}
size_t page_bytes() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// Whether [p, p + n) lies inside one live allocation.
bool is_device_range(const void* p, size_t n) {
  auto& m = allocations();
  auto addr = reinterpret_cast<uintptr_t>(p);
  auto it = m.upper_bound(addr);
  if (it == m.begin()) return false;
  --it;
  return addr - it->first <= it->second.bytes && n <= it->second.bytes - (addr - it->first);
}

// ---- fibers --------------------------------------------------------------------------------------------
constexpr size_t kStackBytes = 128 * 1024;
constexpr int kMaxThreads = 1024;

enum class Wait { kNone, kBlock, kWarp };
struct Fiber {
  ucontext_t context;
  void* stack = nullptr;  // kStackBytes usable, a guard page below
  dim3 index;
  int lane = 0, warp = 0;
  Wait wait = Wait::kNone;
  uint64_t wait_generation = 0;
  unsigned shuffle_parity = 0;
  bool done = false;
};

struct Block {
  ~Block();
  std::vector<Fiber> fibers;  // stacks kept across launches
  int threads = 0, live = 0, arrived = 0;
  uint64_t generation = 0;
  std::vector<int> warp_size, warp_live, warp_arrived;
  std::vector<uint64_t> warp_generation;
  // Shuffle slots, double-buffered so one warp barrier per shuffle suffices: a lane writes slot set k % 2 only
  // after every lane passed the barrier of shuffle k - 1, hence after every lane read set k % 2 at k - 2.
  std::vector<std::array<uint64_t, 32>> slots[2];
  // warp_gather's deposits, double-buffered by the same parity as the shuffle slots (one parity step per
  // collective of either kind keeps the argument above).
  std::vector<std::array<std::array<unsigned char, tg::cuda_emulator::kWarpGatherBytes>, 32>> gather_slots[2];
  std::vector<int> order;  // of the current pass
  uint64_t rng = 0x9e3779b97f4a7c15ull;
  ucontext_t scheduler;
  Fiber* current = nullptr;
  const std::function<void()>* body = nullptr;
  std::string error;
};
thread_local Block block_state;

void* new_stack() {
  const size_t guard = page_bytes();
  void* map = mmap(nullptr, kStackBytes + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED) return nullptr;
  mprotect(map, guard, PROT_NONE);
  return static_cast<char*>(map) + guard;
}

Block::~Block() {
  for (Fiber& f : fibers) munmap(static_cast<char*>(f.stack) - page_bytes(), kStackBytes + page_bytes());
}

void report(Block& b, const std::string& message) {
  if (b.error.empty()) b.error = message;
}

void park(Fiber& f, Wait kind, uint64_t generation) {
  f.wait = kind;
  f.wait_generation = generation;
  swapcontext(&f.context, &block_state.scheduler);
}

// The last thread to arrive opens the barrier and runs on; the others resume on the next scheduler pass.
void warp_barrier(Block& b, Fiber& f) {
  if (++b.warp_arrived[f.warp] == b.warp_live[f.warp]) {
    b.warp_arrived[f.warp] = 0;
    ++b.warp_generation[f.warp];
    return;
  }
  park(f, Wait::kWarp, b.warp_generation[f.warp]);
}

void fiber_main() {
  Block& b = block_state;
  Fiber& f = *b.current;
  (*b.body)();
  f.done = true;
  --b.live;
  --b.warp_live[f.warp];
  // An exited thread no longer counts at barriers (as on sm_70+).
  if (b.arrived > 0 && b.arrived == b.live) {
    b.arrived = 0;
    ++b.generation;
  }
  if (b.warp_arrived[f.warp] > 0 && b.warp_arrived[f.warp] == b.warp_live[f.warp]) {
    report(b, "a warp shuffle ran while lane " + std::to_string(f.lane) + " of warp " + std::to_string(f.warp) +
                  " had exited (every lane in the mask must take part)");
    b.warp_arrived[f.warp] = 0;
    ++b.warp_generation[f.warp];
  }
}

// A GPU runs a block's warps (and, since Volta, its lanes) in no fixed order, so each pass between barriers
// resumes the threads in a fresh pseudo-random order (seeded: runs repeat): code that reads another thread's
// write without a barrier in between sees the value unwritten in some passes.
void shuffle_order(Block& b) {
  b.order.resize(b.threads);
  for (int i = 0; i < b.threads; ++i) b.order[i] = i;
  for (int i = b.threads - 1; i > 0; --i) {
    b.rng ^= b.rng << 13;
    b.rng ^= b.rng >> 7;
    b.rng ^= b.rng << 17;
    std::swap(b.order[i], b.order[b.rng % static_cast<uint64_t>(i + 1)]);
  }
}

// Runs one block to completion; false (with b.error) when its threads deadlock.
bool run_block(Block& b) {
  b.live = b.threads;
  b.arrived = 0;
  const int warps = (b.threads + 31) / 32;
  for (int w = 0; w < warps; ++w) {
    b.warp_size[w] = b.warp_live[w] = std::min(32, b.threads - 32 * w);
    b.warp_arrived[w] = 0;
  }
  for (int i = 0; i < b.threads; ++i) {
    Fiber& f = b.fibers[i];
    f.index = dim3(i % blockDim.x, (i / blockDim.x) % blockDim.y, i / (blockDim.x * blockDim.y));
    f.lane = i & 31;
    f.warp = i >> 5;
    f.wait = Wait::kNone;
    f.shuffle_parity = 0;
    f.done = false;
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.stack;
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = &b.scheduler;
    makecontext(&f.context, fiber_main, 0);
  }
  while (b.live > 0) {
    shuffle_order(b);
    bool resumed = false;
    for (int i : b.order) {
      Fiber& f = b.fibers[i];
      if (f.done) continue;
      if (f.wait == Wait::kBlock && f.wait_generation == b.generation) continue;
      if (f.wait == Wait::kWarp && f.wait_generation == b.warp_generation[f.warp]) continue;
      f.wait = Wait::kNone;
      b.current = &f;
      threadIdx = f.index;
      swapcontext(&b.scheduler, &f.context);
      resumed = true;
    }
    if (!resumed) {
      int at_sync = 0, at_shuffle = 0;
      for (int i = 0; i < b.threads; ++i)
        if (!b.fibers[i].done) (b.fibers[i].wait == Wait::kBlock ? at_sync : at_shuffle)++;
      report(b, "deadlock in block (" + std::to_string(blockIdx.x) + ", " + std::to_string(blockIdx.y) + ", " +
                    std::to_string(blockIdx.z) + "): " + std::to_string(at_sync) + " threads wait at __syncthreads, " +
                    std::to_string(at_shuffle) + " at a warp shuffle (a barrier inside divergent code)");
      return false;
    }
  }
  return true;
}

}  // namespace

namespace tg::cuda_emulator {

void sync_block() {
  Block& b = block_state;
  Fiber& f = *b.current;
  if (++b.arrived == b.live) {
    b.arrived = 0;
    ++b.generation;
    return;
  }
  park(f, Wait::kBlock, b.generation);
}

uint64_t shuffle_xor(unsigned mask, uint64_t bits, int lane_mask) {
  Block& b = block_state;
  Fiber& f = *b.current;
  const int size = b.warp_size[f.warp];
  const unsigned members = size == 32 ? 0xffffffffu : (1u << size) - 1u;
  if (mask != members)
    report(b, "__shfl_xor_sync mask " + std::to_string(mask) + " differs from the warp's " + std::to_string(size) +
                  " lanes (the emulator supports full-warp shuffles only)");
  auto& slots = b.slots[f.shuffle_parity][f.warp];
  slots[f.lane] = bits;
  warp_barrier(b, f);
  const int source = f.lane ^ lane_mask;
  f.shuffle_parity ^= 1u;
  return source < size ? slots[source] : bits;
}

void warp_gather(unsigned mask, const void* mine, size_t bytes, void* all) {
  Block& b = block_state;
  Fiber& f = *b.current;
  const int size = b.warp_size[f.warp];
  if (mask != 0xffffffffu || size != 32)
    report(b, "a warp-collective matrix instruction ran with mask " + std::to_string(mask) + " in a warp of " +
                  std::to_string(size) + " lanes (it needs all 32)");
  if (bytes > kWarpGatherBytes) report(b, "warp_gather of " + std::to_string(bytes) + " bytes per lane");
  bytes = std::min(bytes, kWarpGatherBytes);
  auto& slots = b.gather_slots[f.shuffle_parity][f.warp];
  std::memcpy(slots[f.lane].data(), mine, bytes);
  warp_barrier(b, f);
  f.shuffle_parity ^= 1u;
  for (int lane = 0; lane < 32; ++lane)
    std::memcpy(static_cast<unsigned char*>(all) + lane * bytes, lane < size ? slots[lane].data() : slots[f.lane].data(), bytes);
}

cudaError_t run_grid(dim3 grid, dim3 block, const std::function<void()>& body) {
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  if (threads == 0 || threads > kMaxThreads || block.z > 64 || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
      grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535)
    return fail(cudaErrorInvalidConfiguration);
  Block& b = block_state;
  if (b.body) {
    launch_failure = "unspecified launch failure: the emulator does not run kernels launched from kernels";
    return fail(cudaErrorLaunchFailure);
  }
  b.threads = static_cast<int>(threads);
  while (b.fibers.size() < threads) {
    b.fibers.emplace_back();
    if (!(b.fibers.back().stack = new_stack())) {
      b.fibers.pop_back();
      return fail(cudaErrorMemoryAllocation);
    }
  }
  const size_t warps = (threads + 31) / 32;
  b.warp_size.resize(warps);
  b.warp_live.resize(warps);
  b.warp_arrived.resize(warps);
  b.warp_generation.resize(warps);
  b.slots[0].resize(warps);
  b.slots[1].resize(warps);
  b.gather_slots[0].resize(warps);
  b.gather_slots[1].resize(warps);
  b.body = &body;
  b.error.clear();
  blockDim = block;
  gridDim = grid;
  for (unsigned z = 0; z < grid.z && b.error.empty(); ++z)
    for (unsigned y = 0; y < grid.y && b.error.empty(); ++y)
      for (unsigned x = 0; x < grid.x && b.error.empty(); ++x) {
        blockIdx = dim3(x, y, z);
        run_block(b);
      }
  b.body = nullptr;
  if (!b.error.empty()) {
    launch_failure = "unspecified launch failure: the emulator found " + b.error;
    return fail(cudaErrorLaunchFailure);
  }
  return cudaSuccess;
}

}  // namespace tg::cuda_emulator

// ---- runtime API ----------------------------------------------------------------------------------------
struct CUevent_st {
  std::chrono::steady_clock::time_point time;
  bool recorded = false;
};

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return launch_failure.empty() ? "unspecified launch failure" : launch_failure.c_str();
  }
  return "unknown error";
}
cudaError_t cudaGetLastError() {
  cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return last_error; }

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
// The emulated device's memory: the host's physical memory, or THINKGRAD_CUDA_EMULATOR_MEMORY bytes (read at every
// allocation, so a test can make the device small and see out-of-memory handled as on a GPU).
size_t device_memory_bytes() {
  const char* limit = std::getenv("THINKGRAD_CUDA_EMULATOR_MEMORY");
  if (limit && *limit) return static_cast<size_t>(std::strtoull(limit, nullptr, 10));
  return static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * page_bytes();
}
size_t allocated_bytes() {
  size_t total = 0;
  for (const auto& [start, a] : allocations()) total += a.bytes;
  return total;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return fail(cudaErrorInvalidValue);
  *prop = {};
  std::snprintf(prop->name, sizeof prop->name, "thinkgrad CUDA emulator (host CPU)");
  prop->totalGlobalMem = device_memory_bytes();
  prop->multiProcessorCount = 1;
  prop->maxThreadsPerBlock = kMaxThreads;
  prop->warpSize = 32;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* version) {
  *version = 0;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* version) {
  *version = 0;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (bytes > device_memory_bytes() || allocated_bytes() > device_memory_bytes() - bytes) return fail(cudaErrorMemoryAllocation);
  const size_t page = page_bytes(), body = (bytes + 15) / 16 * 16, data = (body + page - 1) / page * page;
  void* map = mmap(nullptr, data + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) return fail(cudaErrorMemoryAllocation);
  mprotect(static_cast<char*>(map) + data, page, PROT_NONE);
  char* start = static_cast<char*>(map) + data - body;
  std::memset(start, 0xff, body);
  allocations().emplace(reinterpret_cast<uintptr_t>(start), Allocation{map, data + page, bytes});
  *ptr = start;
  return cudaSuccess;
}
cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  auto it = allocations().find(reinterpret_cast<uintptr_t>(ptr));
  if (it == allocations().end()) return fail(cudaErrorInvalidValue);
  munmap(it->second.map, it->second.map_bytes);
  allocations().erase(it);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (last_error != cudaSuccess) return last_error;
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return fail(cudaErrorInvalidValue);
  if ((dst_device && !is_device_range(dst, bytes)) || (src_device && !is_device_range(src, bytes)) ||
      (kind == cudaMemcpyHostToDevice && is_device_range(src, 1)) || (kind == cudaMemcpyDeviceToHost && is_device_range(dst, 1)))
    return fail(cudaErrorInvalidValue);
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaDeviceSynchronize() { return last_error; }

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  *event = new CUevent_st();
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t) {
  if (!event) return fail(cudaErrorInvalidResourceHandle);
  event->time = std::chrono::steady_clock::now();
  event->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) { return event ? last_error : fail(cudaErrorInvalidResourceHandle); }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!start || !end || !start->recorded || !end->recorded) return fail(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(end->time - start->time).count();
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}
