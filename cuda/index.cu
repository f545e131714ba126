// Index kernels: a 2-D block walks rows of the (outer, k, inner) side (threadIdx.y, grid-stride) and the
// elements of each row (threadIdx.x, coalesced); whole rows of indexSelect move as 16-byte vectors where the
// row size and alignment allow.
// NOTE: indexAdd / scatterAdd accumulate with float atomicAdd, so the order of the additions into one output
// element (a repeated index) varies from run to run and the low bits of such sums with it. The CPU adds in
// index order. A deterministic device version (sorting the indices, then segment sums) costs a sort per call
// for the embedding backward; not worth it until a run needs bitwise reproducible gradients.
#include <algorithm>
#include <climits>

#include "common.cuh"
#include "index.cuh"

namespace tg::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 20;

__global__ void __launch_bounds__(kThreads) check_indices(const int32_t* idx, int64_t n, int64_t dim, int* status) {
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < n;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int32_t v = idx[j];
    if (v < 0 || v >= dim) atomicMin(status, static_cast<int>(j));
  }
}

// big (outer, dim, inner) and small (outer, k, inner) in units of T. kPerElement: idx has one entry per element
// of small (gather/scatter), else one per row j (indexSelect/indexAdd). kAdd: big += small, else small = big.
template <class T, bool kPerElement, bool kAdd>
__global__ void __launch_bounds__(kThreads) index_rows(T* big, T* small, int64_t outer, int64_t dim, int64_t inner,
                                                      const int32_t* idx, int64_t k, const int* status) {
  if (*status != INT_MAX) return;
  const int64_t rows = outer * k;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; r < rows;
       r += static_cast<int64_t>(gridDim.x) * blockDim.y) {
    const int64_t o = r / k;
    const int64_t row_base = o * dim;
    const int64_t t_row = kPerElement ? 0 : idx[r - o * k];
    for (int64_t i = threadIdx.x; i < inner; i += blockDim.x) {
      const int64_t p = r * inner + i;
      const int64_t b = (row_base + (kPerElement ? idx[p] : t_row)) * inner + i;
      if constexpr (kAdd) atomicAdd(&big[b], small[p]);
      else small[p] = big[b];
    }
  }
}

template <class T, bool kPerElement, bool kAdd>
std::string run(void* big, const void* small, int64_t outer, int64_t dim, int64_t inner, const int32_t* idx, int64_t k,
                const int* status, cudaStream_t stream) {
  const int64_t rows = outer * k;
  if (rows == 0 || inner == 0) return {};
  // Threads across a row: the row's length rounded up to a power of two, at most the block.
  unsigned bx = 1;
  while (bx < kThreads && bx < inner) bx <<= 1;
  const unsigned by = kThreads / bx;
  const int64_t blocks = std::clamp<int64_t>((rows + by - 1) / by, 1, kMaxBlocks);
  launch(index_rows<T, kPerElement, kAdd>, dim3(static_cast<unsigned>(blocks)), dim3(bx, by), stream,
         static_cast<T*>(big), const_cast<T*>(static_cast<const T*>(small)), outer, dim, inner, idx, k, status);
  return launch_error("index_rows");
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

std::string launch_check_indices(const int32_t* idx, int64_t n, int64_t dim, int* status, cudaStream_t stream) {
  if (n == 0) return {};
  const int64_t blocks = std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, kMaxBlocks);
  launch(check_indices, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), stream, idx, n, dim, status);
  return launch_error("check_indices");
}

// The copies read big (x) and write small (out): run() takes big first, so x goes there, const-cast back.
std::string launch_index_select(void* out, const void* x, int element_bytes, int64_t outer, int64_t dim, int64_t inner,
                                const int32_t* idx, int64_t n_idx, const int* status, cudaStream_t stream) {
  void* big = const_cast<void*>(x);
  const int64_t per_vector = 16 / element_bytes;
  if (inner % per_vector == 0 && aligned16(x) && aligned16(out))
    return run<uint4, false, false>(big, out, outer, dim, inner / per_vector, idx, n_idx, status, stream);
  if (element_bytes == 2) return run<uint16_t, false, false>(big, out, outer, dim, inner, idx, n_idx, status, stream);
  return run<uint32_t, false, false>(big, out, outer, dim, inner, idx, n_idx, status, stream);
}

std::string launch_gather(void* out, const void* x, int element_bytes, int64_t outer, int64_t dim, int64_t inner,
                          const int32_t* idx, int64_t k, const int* status, cudaStream_t stream) {
  void* big = const_cast<void*>(x);
  if (element_bytes == 2) return run<uint16_t, true, false>(big, out, outer, dim, inner, idx, k, status, stream);
  return run<uint32_t, true, false>(big, out, outer, dim, inner, idx, k, status, stream);
}

std::string launch_index_add(float* out, const float* src, int64_t outer, int64_t dim, int64_t inner, const int32_t* idx,
                             int64_t n_idx, const int* status, cudaStream_t stream) {
  return run<float, false, true>(out, src, outer, dim, inner, idx, n_idx, status, stream);
}

std::string launch_scatter_add(float* out, const float* src, int64_t outer, int64_t dim, int64_t inner,
                               const int32_t* idx, int64_t k, const int* status, cudaStream_t stream) {
  return run<float, true, true>(out, src, outer, dim, inner, idx, k, status, stream);
}

}  // namespace tg::cuda
