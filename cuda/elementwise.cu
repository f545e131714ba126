// CUDA elementwise family: constant, range and Philox fills, unary/binary/where over strided broadcast views,
// strided copy/cast (float32, int32, bfloat16) and SwiGLU. Per-element math comes from native/math/elementwise.h
// and native/math/random.h, the functions the CPU loops call.
// Two paths per op, picked on the host after coalescing dims: a flat one (every operand contiguous or a
// broadcast scalar) with 16-byte loads and stores when the pointers allow, and a strided one that maps each
// output index to operand offsets with precomputed multiply-shift divisions (no hardware division per element).
// Grid-stride loops over at most kMaxBlocks blocks; 32-bit indices when the element count allows.
#include <algorithm>
#include <climits>
#include <type_traits>

#include "common.cuh"
#include "elementwise.cuh"
#include "math/bf16.h"
#include "math/elementwise.h"
#include "math/random.h"

namespace tg::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kVec = 4;
// ~8 resident blocks of 256 threads per SM: 8192 blocks cover 132 SMs several times over; beyond that the
// grid-stride loop takes the rest.
constexpr int64_t kMaxBlocks = 8192;

int blocks_for(int64_t work) {
  return static_cast<int>(std::min<int64_t>(std::max<int64_t>((work + kThreads - 1) / kThreads, 1), kMaxBlocks));
}

// Four consecutive elements, loaded or stored as one access (16 bytes for 4-byte types).
template <class T>
struct alignas(kVec * sizeof(T)) Pack {
  T v[kVec];
};

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// n / d for n < 2^32 by multiply-high and shift (Granlund-Montgomery, as PyTorch's IntDivider).
struct FastDiv {
  uint32_t magic = 0;
  int shift = 0;
  FastDiv() = default;
  explicit FastDiv(uint32_t divisor) {
    while (shift < 32 && (uint64_t{1} << shift) < divisor) ++shift;
    magic = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << shift) - divisor)) / divisor + 1);
  }
  __device__ __forceinline__ uint32_t div(uint32_t n) const {
    const uint64_t hi = (static_cast<uint64_t>(n) * magic) >> 32;
    return static_cast<uint32_t>((hi + n) >> shift);
  }
};

// A coalesced layout for the device: shape, its divisors and N operands' strides.
template <int N>
struct StridedMap {
  int ndim;
  int64_t shape[kMaxDims];
  FastDiv div[kMaxDims];
  int64_t strides[N][kMaxDims];
};

template <int N>
StridedMap<N> make_map(const StridedLayout<N>& layout, bool fast_div) {
  StridedMap<N> m{};
  m.ndim = layout.ndim;
  for (int d = 0; d < layout.ndim; ++d) {
    m.shape[d] = layout.shape[d];
    if (fast_div) m.div[d] = FastDiv(static_cast<uint32_t>(layout.shape[d]));
    for (int k = 0; k < N; ++k) m.strides[k][d] = layout.strides[k][d];
  }
  return m;
}

// Offsets of each operand at row-major position i: dims from the innermost out, dim 0 takes what is left.
template <int N, class Index>
__device__ __forceinline__ void offsets_of(const StridedMap<N>& m, Index i, int64_t (&off)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) off[k] = 0;
  for (int d = m.ndim - 1; d > 0; --d) {
    Index q;
    if constexpr (sizeof(Index) == 4) q = m.div[d].div(i);
    else q = i / m.shape[d];
    const int64_t r = static_cast<int64_t>(i) - static_cast<int64_t>(q) * m.shape[d];
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += r * m.strides[k][d];
    i = q;
  }
#pragma unroll
  for (int k = 0; k < N; ++k) off[k] += static_cast<int64_t>(i) * m.strides[k][0];
}

// ---- fills ----------------------------------------------------------------------------------------------

template <class T>
__global__ void __launch_bounds__(kThreads) fill_kernel(T* out, int64_t n, T value, bool vec) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t body = vec ? n / kVec * kVec : 0;
  Pack<T> pack;
#pragma unroll
  for (int j = 0; j < kVec; ++j) pack.v[j] = value;
  for (int64_t i = first * kVec; i < body; i += step * kVec) *reinterpret_cast<Pack<T>*>(out + i) = pack;
  for (int64_t i = body + first; i < n; i += step) out[i] = value;
}

template <class T>
std::string fill(T* out, int64_t n, T value, cudaStream_t stream) {
  if (n == 0) return {};
  const bool vec = aligned(out, sizeof(Pack<T>));
  launch(fill_kernel<T>, blocks_for(vec ? (n + kVec - 1) / kVec : n), kThreads, stream, out, n, value, vec);
  return launch_error("fill");
}

__global__ void __launch_bounds__(kThreads) arange_f32_kernel(float* out, int64_t n, double start, double step_value) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    out[i] = math::arange_f32_value(start, step_value, i);
}

__global__ void __launch_bounds__(kThreads) arange_i32_kernel(int32_t* out, int64_t n, int64_t start, int64_t step_value) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    out[i] = static_cast<int32_t>(start + step_value * i);
}

// A thread per Philox block of four elements; out is a buffer's start (16-byte aligned).
template <bool kNormal>
__global__ void __launch_bounds__(kThreads) random_fill_kernel(float* out, int64_t n, uint64_t seed, uint64_t counter,
                                                               float a, float b) {
  const int64_t blocks = (n + kVec - 1) / kVec;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < blocks; k += step) {
    const math::Philox4 r = math::philox4x32(counter + static_cast<uint64_t>(k), seed);
    Pack<float> z;
    if constexpr (kNormal) {
      math::normal4_from_bits(r, a, b, z.v);
    } else {
#pragma unroll
      for (int lane = 0; lane < kVec; ++lane) z.v[lane] = math::uniform_from_bits(r.v[lane], a, b);
    }
    if (k * kVec + kVec <= n) {
      *reinterpret_cast<Pack<float>*>(out + k * kVec) = z;
    } else {
      for (int lane = 0; k * kVec + lane < n; ++lane) out[k * kVec + lane] = z.v[lane];
    }
  }
}

// ---- unary, binary, where, SwiGLU forward: out (contiguous) = f(inputs) -----------------------------------

template <int N>
struct Inputs {
  const float* p[N];
  bool broadcast[N];  // a single element for every output (stride 0 on the flat path)
};

// NOTE: plain loads, not __ldg: an output may be one of the inputs (in place), which the read-only cache
// must not hold.
template <int N, class F>
__global__ void __launch_bounds__(kThreads) map_flat(float* out, Inputs<N> in, int64_t n, bool vec, F f) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  float scalar[N];
#pragma unroll
  for (int k = 0; k < N; ++k) scalar[k] = in.broadcast[k] ? in.p[k][0] : 0.0f;
  const int64_t body = vec ? n / kVec * kVec : 0;
  for (int64_t i = first * kVec; i < body; i += step * kVec) {
    Pack<float> x[N];
#pragma unroll
    for (int k = 0; k < N; ++k) {
      if (in.broadcast[k]) {
#pragma unroll
        for (int j = 0; j < kVec; ++j) x[k].v[j] = scalar[k];
      } else {
        x[k] = *reinterpret_cast<const Pack<float>*>(in.p[k] + i);
      }
    }
    Pack<float> y;
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
      float args[N];
#pragma unroll
      for (int k = 0; k < N; ++k) args[k] = x[k].v[j];
      y.v[j] = f(args);
    }
    *reinterpret_cast<Pack<float>*>(out + i) = y;
  }
  for (int64_t i = body + first; i < n; i += step) {
    float args[N];
#pragma unroll
    for (int k = 0; k < N; ++k) args[k] = in.broadcast[k] ? scalar[k] : in.p[k][i];
    out[i] = f(args);
  }
}

template <int N, class F, class Index>
__global__ void __launch_bounds__(kThreads) map_strided(float* out, Inputs<N> in, StridedMap<N> map, Index n, F f) {
  const Index step = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[N];
    offsets_of(map, i, off);
    float args[N];
#pragma unroll
    for (int k = 0; k < N; ++k) args[k] = in.p[k][off[k]];
    out[i] = f(args);
  }
}

template <int N, class F>
std::string run_map(const char* name, float* out, Inputs<N> in, StridedLayout<N> layout, F f, cudaStream_t stream) {
  layout.coalesce();
  const int64_t n = layout.numel();
  if (n == 0) return {};
  bool flat = layout.ndim <= 1;
  for (int k = 0; k < N && flat; ++k) flat = layout.ndim == 0 || layout.strides[k][0] <= 1;
  if (flat) {
    bool vec = aligned(out, sizeof(Pack<float>));
    for (int k = 0; k < N; ++k) {
      in.broadcast[k] = layout.ndim == 0 || layout.strides[k][0] == 0;
      vec = vec && (in.broadcast[k] || aligned(in.p[k], sizeof(Pack<float>)));
    }
    launch(map_flat<N, F>, blocks_for(vec ? (n + kVec - 1) / kVec : n), kThreads, stream, out, in, n, vec, f);
  } else if (n <= INT_MAX) {
    launch(map_strided<N, F, uint32_t>, blocks_for(n), kThreads, stream, out, in, make_map(layout, true),
           static_cast<uint32_t>(n), f);
  } else {
    launch(map_strided<N, F, int64_t>, blocks_for(n), kThreads, stream, out, in, make_map(layout, false), n, f);
  }
  return launch_error(name);
}

template <UnaryOp OP>
struct UnaryFn {
  float p0, p1;
  __device__ __forceinline__ float operator()(const float (&x)[1]) const { return math::unary_apply<OP>(x[0], p0, p1); }
};
template <BinaryOp OP>
struct BinaryFn {
  __device__ __forceinline__ float operator()(const float (&x)[2]) const { return math::binary_apply<OP>(x[0], x[1]); }
};
struct WhereFn {
  __device__ __forceinline__ float operator()(const float (&x)[3]) const { return x[0] != 0.0f ? x[1] : x[2]; }
};
struct SwigluFn {
  __device__ __forceinline__ float operator()(const float (&x)[2]) const { return math::swiglu(x[0], x[1]); }
};

// Calls fn(std::integral_constant<E, E(C)>) for the runtime code `op`: one kernel instantiation per op.
template <class E, int C = 0, class Fn>
std::string dispatch_op(E op, Fn&& fn) {
  if constexpr (C == static_cast<int>(E::Count)) {
    return "unknown op code " + std::to_string(static_cast<int>(op));
  } else {
    if (static_cast<int>(op) == C) return fn(std::integral_constant<E, static_cast<E>(C)>{});
    return dispatch_op<E, C + 1>(op, fn);
  }
}

__global__ void __launch_bounds__(kThreads) swiglu_backward_kernel(float* dgate, float* dup, const float* dh,
                                                                   const float* gate, const float* up, int64_t n,
                                                                   bool vec) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t body = vec ? n / kVec * kVec : 0;
  for (int64_t i = first * kVec; i < body; i += step * kVec) {
    const Pack<float> d = *reinterpret_cast<const Pack<float>*>(dh + i);
    const Pack<float> g = *reinterpret_cast<const Pack<float>*>(gate + i);
    const Pack<float> u = *reinterpret_cast<const Pack<float>*>(up + i);
    Pack<float> dg, du;
#pragma unroll
    for (int j = 0; j < kVec; ++j) math::swiglu_grad(d.v[j], g.v[j], u.v[j], dg.v[j], du.v[j]);
    *reinterpret_cast<Pack<float>*>(dgate + i) = dg;
    *reinterpret_cast<Pack<float>*>(dup + i) = du;
  }
  for (int64_t i = body + first; i < n; i += step) {
    float dg, du;
    math::swiglu_grad(dh[i], gate[i], up[i], dg, du);
    dgate[i] = dg;
    dup[i] = du;
  }
}

// ---- copy/cast --------------------------------------------------------------------------------------------

// Element storage per dtype code (0 float32, 1 int32, 2 bfloat16 bits).
template <int K> struct Storage;
template <> struct Storage<0> { using type = float; };
template <> struct Storage<1> { using type = int32_t; };
template <> struct Storage<2> { using type = uint16_t; };

// Between different dtypes through float32, as the CPU: int32 -> float rounds to nearest, float -> int32
// truncates (math::float_to_i32), float -> bfloat16 rounds to nearest even (math::bf16_from_float).
template <int DK, int SK>
__device__ __forceinline__ typename Storage<DK>::type convert(typename Storage<SK>::type v) {
  if constexpr (DK == SK) {
    return v;
  } else {
    float f;
    if constexpr (SK == 0) f = v;
    else if constexpr (SK == 1) f = static_cast<float>(v);
    else f = math::bf16_to_float(v);
    if constexpr (DK == 0) return f;
    else if constexpr (DK == 1) return math::float_to_i32(f);
    else return math::bf16_from_float(f);
  }
}

template <int DK, int SK>
__global__ void __launch_bounds__(kThreads) convert_flat(typename Storage<DK>::type* dst,
                                                         const typename Storage<SK>::type* src, int64_t n, bool vec) {
  using D = typename Storage<DK>::type;
  using S = typename Storage<SK>::type;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t body = vec ? n / kVec * kVec : 0;
  for (int64_t i = first * kVec; i < body; i += step * kVec) {
    const Pack<S> s = *reinterpret_cast<const Pack<S>*>(src + i);
    Pack<D> d;
#pragma unroll
    for (int j = 0; j < kVec; ++j) d.v[j] = convert<DK, SK>(s.v[j]);
    *reinterpret_cast<Pack<D>*>(dst + i) = d;
  }
  for (int64_t i = body + first; i < n; i += step) dst[i] = convert<DK, SK>(src[i]);
}

template <int DK, int SK, class Index>
__global__ void __launch_bounds__(kThreads) convert_strided(typename Storage<DK>::type* dst,
                                                            const typename Storage<SK>::type* src, StridedMap<2> map,
                                                            Index n) {
  const Index step = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[2];
    offsets_of(map, i, off);
    dst[off[0]] = convert<DK, SK>(src[off[1]]);
  }
}

template <int DK, int SK>
std::string copy_as(void* dst_ptr, const void* src_ptr, StridedLayout<2> layout, cudaStream_t stream) {
  using D = typename Storage<DK>::type;
  using S = typename Storage<SK>::type;
  D* dst = static_cast<D*>(dst_ptr);
  const S* src = static_cast<const S*>(src_ptr);
  const int64_t n = layout.numel();
  const bool flat = layout.ndim == 0 || (layout.ndim == 1 && layout.strides[0][0] == 1 && layout.strides[1][0] == 1);
  if (flat && DK == SK) {
    TG_CUDA_TRY(cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * sizeof(D), cudaMemcpyDeviceToDevice, stream));
    return {};
  }
  if (flat) {
    const bool vec = aligned(dst, sizeof(Pack<D>)) && aligned(src, sizeof(Pack<S>));
    launch(convert_flat<DK, SK>, blocks_for(vec ? (n + kVec - 1) / kVec : n), kThreads, stream, dst, src, n, vec);
  } else if (n <= INT_MAX) {
    launch(convert_strided<DK, SK, uint32_t>, blocks_for(n), kThreads, stream, dst, src, make_map(layout, true),
           static_cast<uint32_t>(n));
  } else {
    launch(convert_strided<DK, SK, int64_t>, blocks_for(n), kThreads, stream, dst, src, make_map(layout, false), n);
  }
  return launch_error("copy");
}

template <int DK>
std::string copy_to(void* dst, const void* src, int src_dtype, StridedLayout<2> layout, cudaStream_t stream) {
  switch (src_dtype) {
    case 0: return copy_as<DK, 0>(dst, src, layout, stream);
    case 1: return copy_as<DK, 1>(dst, src, layout, stream);
    case 2: return copy_as<DK, 2>(dst, src, layout, stream);
    default: return "copy: unknown src dtype code " + std::to_string(src_dtype);
  }
}

}  // namespace

std::string launch_fill32(uint32_t* out, int64_t n, uint32_t bits, cudaStream_t stream) { return fill(out, n, bits, stream); }
std::string launch_fill16(uint16_t* out, int64_t n, uint16_t bits, cudaStream_t stream) { return fill(out, n, bits, stream); }

std::string launch_arange_f32(float* out, int64_t n, double start, double step, cudaStream_t stream) {
  if (n == 0) return {};
  launch(arange_f32_kernel, blocks_for(n), kThreads, stream, out, n, start, step);
  return launch_error("arange");
}

std::string launch_arange_i32(int32_t* out, int64_t n, int64_t start, int64_t step, cudaStream_t stream) {
  if (n == 0) return {};
  launch(arange_i32_kernel, blocks_for(n), kThreads, stream, out, n, start, step);
  return launch_error("arange");
}

std::string launch_random_fill(float* out, int64_t n, int kind, uint64_t seed, uint64_t counter, float a, float b,
                               cudaStream_t stream) {
  if (n == 0) return {};
  const int blocks = blocks_for((n + kVec - 1) / kVec);
  if (kind == 1) launch(random_fill_kernel<true>, blocks, kThreads, stream, out, n, seed, counter, a, b);
  else launch(random_fill_kernel<false>, blocks, kThreads, stream, out, n, seed, counter, a, b);
  return launch_error("randomFill");
}

std::string launch_unary(UnaryOp op, float* out, const float* x, StridedLayout<1> layout, float p0, float p1,
                         cudaStream_t stream) {
  return dispatch_op(op, [&](auto code) {
    return run_map<1>("unary", out, Inputs<1>{{x}, {false}}, layout, UnaryFn<decltype(code)::value>{p0, p1}, stream);
  });
}

std::string launch_binary(BinaryOp op, float* out, const float* a, const float* b, StridedLayout<2> layout,
                          cudaStream_t stream) {
  return dispatch_op(op, [&](auto code) {
    return run_map<2>("binary", out, Inputs<2>{{a, b}, {false, false}}, layout, BinaryFn<decltype(code)::value>{}, stream);
  });
}

std::string launch_where(float* out, const float* cond, const float* a, const float* b, StridedLayout<3> layout,
                         cudaStream_t stream) {
  return run_map<3>("where", out, Inputs<3>{{cond, a, b}, {false, false, false}}, layout, WhereFn{}, stream);
}

std::string launch_copy(void* dst, int dst_dtype, const void* src, int src_dtype, StridedLayout<2> layout,
                        cudaStream_t stream) {
  layout.coalesce();
  if (layout.numel() == 0) return {};
  switch (dst_dtype) {
    case 0: return copy_to<0>(dst, src, src_dtype, layout, stream);
    case 1: return copy_to<1>(dst, src, src_dtype, layout, stream);
    case 2: return copy_to<2>(dst, src, src_dtype, layout, stream);
    default: return "copy: unknown dst dtype code " + std::to_string(dst_dtype);
  }
}

std::string launch_swiglu_forward(float* h, const float* gate, const float* up, int64_t n, cudaStream_t stream) {
  StridedLayout<2> flat;
  flat.ndim = 1;
  flat.shape[0] = n;
  flat.strides[0][0] = flat.strides[1][0] = 1;
  return run_map<2>("swigluForward", h, Inputs<2>{{gate, up}, {false, false}}, flat, SwigluFn{}, stream);
}

std::string launch_swiglu_backward(float* dgate, float* dup, const float* dh, const float* gate, const float* up,
                                   int64_t n, cudaStream_t stream) {
  if (n == 0) return {};
  bool vec = true;
  for (const void* p : {static_cast<const void*>(dgate), static_cast<const void*>(dup), static_cast<const void*>(dh),
                        static_cast<const void*>(gate), static_cast<const void*>(up)})
    vec = vec && aligned(p, sizeof(Pack<float>));
  launch(swiglu_backward_kernel, blocks_for(vec ? (n + kVec - 1) / kVec : n), kThreads, stream, dgate, dup, dh, gate, up, n, vec);
  return launch_error("swigluBackward");
}

}  // namespace tg::cuda
