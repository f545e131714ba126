// The CUDA runtime and execution model on the host CPU, for running cuda/*.cu and cuda/binding.cc unchanged
// where no GPU exists (CI, most development machines): g++ compiles them against this header instead of the
// toolkit's. Every thread of a block is a fiber; __syncthreads and warp shuffles are barriers between them, so
// reductions, shared memory, index arithmetic and launch bounds run as written; between barriers the threads
// run one after another in a pseudo-random order. Multiply-adds are contracted into fmas (binding.gyp: -mfma), as
// nvcc does by default, but GCC may pair other operations than nvcc; speed differs from a GPU.
//
// Device memory is host memory that ends at a guard page (an overrun of more than 15 bytes faults) and starts
// filled with 0xff bytes (NaN for float and bf16), so unwritten outputs show.
#pragma once
#include <math.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>
#include <tuple>
#include <utility>

#define THINKGRAD_CUDA_EMULATOR 1

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
// One instance per kernel instantiation and host thread: a block's fibers share it, blocks run one at a time.
#define __shared__ static thread_local

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(8) uint2 {
  unsigned x, y;
};
struct uint4 {
  unsigned x, y, z, w;
};
struct float2 {
  float x, y;
};
struct alignas(16) float4 {
  float x, y, z, w;
};

// The running fiber's coordinates; the scheduler sets them before resuming a fiber.
extern thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;

enum cudaError_t : int {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchFailure = 719,
};
enum cudaMemcpyKind : int {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
struct CUstream_st;
using cudaStream_t = CUstream_st*;
struct CUevent_st;
using cudaEvent_t = CUevent_st*;

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  int major, minor;
  int multiProcessorCount;
  int l2CacheSize;
  int maxThreadsPerBlock;
  int warpSize;
};

const char* cudaGetErrorName(cudaError_t e);
const char* cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaRuntimeGetVersion(int* version);
cudaError_t cudaDriverGetVersion(int* version);
cudaError_t cudaMalloc(void** ptr, size_t bytes);
template <class T>
cudaError_t cudaMalloc(T** ptr, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);
cudaError_t cudaEventDestroy(cudaEvent_t event);

// ---- device-side intrinsics ----------------------------------------------------------------------------
namespace tg::cuda_emulator {
void sync_block();
// Exchanges 8 bytes with lane (this lane ^ lane_mask) of the warp; every lane of the warp must take part.
uint64_t shuffle_xor(unsigned mask, uint64_t bits, int lane_mask);
// The data exchange of warp-collective matrix instructions (mma.sync, see cuda/mma.cuh): every lane of the warp
// deposits `bytes` (at most kWarpGatherBytes) from `mine` and, after a warp barrier, receives all 32 lanes'
// deposits in `all` (lane-major, `bytes` apart). Every lane of the warp must take part.
constexpr size_t kWarpGatherBytes = 64;
void warp_gather(unsigned mask, const void* mine, size_t bytes, void* all);
// Runs `body` once per thread of every block of the grid; returns the launch's error (also kept for
// cudaGetLastError, as a GPU reports a failed kernel).
cudaError_t run_grid(dim3 grid, dim3 block, const std::function<void()>& body);

template <class... Params, class... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t, Args... args) {
  std::tuple<Params...> params(args...);
  run_grid(grid, block, [&] { std::apply(kernel, params); });
}
}  // namespace tg::cuda_emulator

inline void __syncthreads() { tg::cuda_emulator::sync_block(); }

template <class T>
inline T __shfl_xor_sync(unsigned mask, T value, int lane_mask) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "__shfl_xor_sync: 8-byte trivially copyable values");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = tg::cuda_emulator::shuffle_xor(mask, bits, lane_mask);
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}

template <class T>
inline T __ldg(const T* p) {
  return *p;
}
// Fibers never preempt each other, so a plain read-modify-write is atomic.
inline int atomicMin(int* address, int value) {
  int old = *address;
  if (value < old) *address = value;
  return old;
}
inline float atomicAdd(float* address, float value) {
  float old = *address;
  *address = old + value;
  return old;
}
inline double atomicAdd(double* address, double value) {
  double old = *address;
  *address = old + value;
  return old;
}
inline int atomicAdd(int* address, int value) {
  int old = *address;
  *address = old + value;
  return old;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
