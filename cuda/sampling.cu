// Token sampling on the device: one block per logits row, only the sampled id and two log-probs leave it.
//
// Design. Top-k and top-p need the head of the distribution in sorted order; a V-sort per step (V = 151,936 for
// Qwen) would dominate a decode step, so the kernel never sorts. It searches thresholds instead, on the order key
// of the logits (math::sampling_key: an unsigned integer ordered as the floats, so a threshold is exact and ties
// are exact ties), with block reductions over the row:
//   1. max and first argmax (a 64-bit key: value key above the complemented index), NaN/+inf check;
//   2. S = sum exp(z), z = (x - max) / T;
//   3. top-k: the k-th largest key, i.e. the smallest key t with fewer than k keys above it;
//   4. top-p: the smallest key t in [top-k's key, max's key] whose mass above it, sum of exp(z) over keys > t, is
//      < topP * (mass left by top-k): the tokens kept are those with key >= t, so tokens tied with the last kept
//      one stay, as in src/generate/sampling.ts. Both are one search (threshold_search): each pass reads the row
//      once and weighs 15 thresholds splitting the interval left into 16, so 2^32 keys take 8 passes;
//   5. min-p: exp(z) >= minP (the most likely token has exp(0) = 1);
//   6. the inverse CDF in token order: each thread owns a contiguous chunk of the row, the chunks' kept masses are
//      scanned across the block (Hillis-Steele in shared memory), and the thread whose chunk holds u * S_kept
//      walks it; S itself is summed the same way, so with nothing removed S_kept is S bit for bit and the
//      sampling log-prob equals the policy log-prob.
// Each pass reads the row once (from L2 after the first: a 600 KB row per block): about 20 passes with top-k and
// top-p both on, every reduction in a fixed order (no atomics): the result depends on the inputs and V only.
// NOTE: float32 throughout, so a uniform within ~1e-5 of a CDF boundary, or a top-p/min-p decision within float32
// rounding of its threshold, may pick another token than the CPU's float64 path (tests/sampling.test.ts states how
// close they are).
#include <climits>

#include "common.cuh"
#include "math/fast_exp.h"
#include "math/sampling.h"
#include "sampling.cuh"

namespace tg::cuda {
namespace {

constexpr int kMaxThreads = 512;
constexpr int kCuts = 15;  // thresholds weighed per pass of threshold_search

struct SampleConfig {
  int64_t v, ld;
  float inv_t;         // sampling: 1 / T
  float policy_inv_t;  // policy log-probs: 1 / T, or 1 when T = 0
  int64_t top_k;       // in (0, v) or 0 (off)
  bool use_top_p;
  float top_p, min_p;
  bool greedy;
};

struct Sum {
  template <class T>
  __device__ T operator()(T a, T b) const { return a + b; }
};
struct Max {
  template <class T>
  __device__ T operator()(T a, T b) const { return a > b ? a : b; }
};
struct Min {
  template <class T>
  __device__ T operator()(T a, T b) const { return a < b ? a : b; }
};

// Block-wide reduction with a commutative op (every lane of a butterfly computes the same value); every thread
// gets the result. blockDim.x is a multiple of 32; `shared` holds 32 entries.
template <class T, class Op>
__device__ __forceinline__ T block_reduce(T x, T identity, Op op, T* shared) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) x = op(x, __shfl_xor_sync(0xffffffffu, x, off));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  if (lane == 0) shared[warp] = x;
  __syncthreads();
  if (warp == 0) {
    T y = lane < warps ? shared[lane] : identity;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) y = op(y, __shfl_xor_sync(0xffffffffu, y, off));
    if (lane == 0) shared[0] = y;
  }
  __syncthreads();
  T r = shared[0];
  __syncthreads();
  return r;
}

// Exclusive prefix of each thread's `own` in thread order, and the total (Hillis-Steele over `scan`, blockDim.x
// floats of shared memory): a fixed association, so equal inputs give equal bits.
__device__ __forceinline__ float block_scan(float own, float* scan, float& total) {
  const int t = threadIdx.x;
  scan[t] = own;
  __syncthreads();
  for (int off = 1; off < static_cast<int>(blockDim.x); off <<= 1) {
    const float v = t >= off ? scan[t - off] + scan[t] : scan[t];
    __syncthreads();
    scan[t] = v;
    __syncthreads();
  }
  total = scan[blockDim.x - 1];
  const float exclusive = t > 0 ? scan[t - 1] : 0.0f;
  __syncthreads();
  return exclusive;
}

__device__ __forceinline__ float weight(float x, float m, float inv_t) {
  return math::fast_exp(math::sampling_tempered(x - m, inv_t));
}

// Block-wide sums of kCuts values at once (one shared-memory round instead of kCuts): butterflies within each warp,
// then thread j adds column j over the warps in order. `shared` holds 33 * kCuts entries.
template <class T>
__device__ __forceinline__ void block_sums(T (&acc)[kCuts], T* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
#pragma unroll
  for (int j = 0; j < kCuts; j++) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) acc[j] += __shfl_xor_sync(0xffffffffu, acc[j], off);
  }
  if (lane == 0) {
#pragma unroll
    for (int j = 0; j < kCuts; j++) shared[warp * kCuts + j] = acc[j];
  }
  __syncthreads();
  if (threadIdx.x < kCuts) {
    T sum = T(0);
    for (int w = 0; w < warps; w++) sum += shared[w * kCuts + threadIdx.x];
    shared[32 * kCuts + threadIdx.x] = sum;
  }
  __syncthreads();
#pragma unroll
  for (int j = 0; j < kCuts; j++) acc[j] = shared[32 * kCuts + j];
  __syncthreads();
}

// The smallest key t in [lo, hi] whose weight above it (the sum of w over tokens with key > t) is < target, where hi
// qualifies. w is 1 per token (kCount: top-k, counted exactly in integers) or exp(z) (top-p; tokens below low_key
// are left out, as they lie below every threshold tried). Each pass weighs 15 thresholds cutting [lo, hi] into 16
// and keeps the piece where the weight above first drops below target.
template <bool kCount, class Acc>
__device__ unsigned threshold_search(const float* x, int64_t V, float m, float inv_t, unsigned low_key, unsigned lo,
                                     unsigned hi, Acc target, Acc* shared) {
  const int64_t t = threadIdx.x, nt = blockDim.x;
  while (lo < hi) {
    const unsigned long long span = static_cast<unsigned long long>(hi) - lo;
    unsigned cut[kCuts];
#pragma unroll
    for (int j = 0; j < kCuts; j++) cut[j] = lo + static_cast<unsigned>(span * (j + 1) / (kCuts + 1));
    Acc acc[kCuts];
#pragma unroll
    for (int j = 0; j < kCuts; j++) acc[j] = Acc(0);
    for (int64_t i = t; i < V; i += nt) {
      const unsigned key = math::sampling_key(x[i]);
      if (key < low_key) continue;
      const Acc w = kCount ? Acc(1) : static_cast<Acc>(weight(x[i], m, inv_t));
#pragma unroll
      for (int j = 0; j < kCuts; j++) acc[j] += key > cut[j] ? w : Acc(0);
    }
    block_sums(acc, shared);
    // The first threshold below target (the weights fall as thresholds rise); unrolled, so nothing is indexed at run
    // time and the arrays stay in registers.
    unsigned new_lo = cut[kCuts - 1] + 1, new_hi = hi;
    bool found = false;
#pragma unroll
    for (int j = 0; j < kCuts; j++) {
      if (!found && acc[j] < target) {
        found = true;
        new_hi = cut[j];
        new_lo = j > 0 ? cut[j - 1] + 1 : lo;
      }
    }
    lo = new_lo;
    hi = new_hi;
  }
  return lo;
}

__global__ void __launch_bounds__(kMaxThreads) sample_rows_kernel(int32_t* ids, float* logprobs, float* policy_logprobs,
                                                                  const float* logits, const float* uniforms,
                                                                  SampleConfig c) {
  __shared__ float f_sh[32];
  __shared__ unsigned long long k_sh[32];
  __shared__ long long i_sh[32];
  __shared__ unsigned u_sh[32];
  __shared__ float scan[kMaxThreads];
  __shared__ float f_cuts[33 * kCuts];
  __shared__ long long i_cuts[33 * kCuts];
  const int64_t row = blockIdx.x;
  const float* x = logits + row * c.ld;
  const int64_t t = threadIdx.x, nt = blockDim.x, V = c.v;
  // This thread's contiguous chunk, for the scans in token order.
  const int64_t chunk = (V + nt - 1) / nt;
  const int64_t c_begin = t * chunk < V ? t * chunk : V, c_end = c_begin + chunk < V ? c_begin + chunk : V;

  // 1. max and its first index; NaN / +inf
  unsigned long long best = 0;
  unsigned bad = 0;
  for (int64_t i = t; i < V; i += nt) {
    const float v = x[i];
    bad |= math::sampling_bad_logit(v) ? 1u : 0u;
    const unsigned long long k =
        (static_cast<unsigned long long>(math::sampling_key(v)) << 32) | (0xffffffffull - static_cast<unsigned long long>(i));
    best = k > best ? k : best;
  }
  best = block_reduce(best, 0ull, Max(), k_sh);
  bad = block_reduce(bad, 0u, Max(), u_sh);
  const int64_t arg = static_cast<int64_t>(0xffffffffull - (best & 0xffffffffull));
  const float m = x[arg];
  if (bad || m == -__builtin_inff()) {
    if (t == 0) {
      ids[row] = -1;
      logprobs[row] = policy_logprobs[row] = __builtin_nanf("");
    }
    return;
  }
  const unsigned max_key = math::sampling_key(m);

  // 2. S, summed per chunk and scanned, as S_kept is below
  const float inv_t = c.greedy ? c.policy_inv_t : c.inv_t;
  float own = 0.0f;
  for (int64_t i = c_begin; i < c_end; i++) own += weight(x[i], m, inv_t);
  float total = 0.0f;
  block_scan(own, scan, total);
  if (c.greedy) {
    if (t == 0) {
      ids[row] = static_cast<int32_t>(arg);
      logprobs[row] = 0.0f;
      policy_logprobs[row] = math::sampling_logprob(0.0f, math::fast_log(total));
    }
    return;
  }

  // 3. top-k: the smallest key with fewer than k keys above it, i.e. the k-th largest
  unsigned low_key = 0;
  if (c.top_k > 0) low_key = threshold_search<true>(x, V, m, inv_t, 0u, 0u, max_key, static_cast<long long>(c.top_k), i_cuts);

  // 4. top-p: the smallest key in [low_key, max_key] with mass above it < topP * (mass top-k left)
  if (c.use_top_p) {
    float kept_mass = total;
    if (c.top_k > 0) {
      float s = 0.0f;
      for (int64_t i = t; i < V; i += nt) s += math::sampling_key(x[i]) >= low_key ? weight(x[i], m, inv_t) : 0.0f;
      kept_mass = block_reduce(s, 0.0f, Sum(), f_sh);
    }
    low_key = threshold_search<false>(x, V, m, inv_t, low_key, low_key, max_key, c.top_p * kept_mass, f_cuts);
  }

  // 5-6. min-p, then the inverse CDF over the kept tokens in token order
  own = 0.0f;
  long long last = -1;
  for (int64_t i = c_begin; i < c_end; i++) {
    const float e = weight(x[i], m, inv_t);
    if (math::sampling_key(x[i]) >= low_key && e >= c.min_p && e > 0.0f) {
      own += e;
      last = i;
    }
  }
  float kept = 0.0f;
  const float before = block_scan(own, scan, kept);
  const float target = uniforms[row] * kept;
  long long pick = LLONG_MAX;
  float acc = 0.0f;
  for (int64_t i = c_begin; i < c_end; i++) {
    const float e = weight(x[i], m, inv_t);
    if (math::sampling_key(x[i]) >= low_key && e >= c.min_p && e > 0.0f) {
      acc += e;
      if (target < before + acc) {
        pick = i;
        break;
      }
    }
  }
  pick = block_reduce(pick, LLONG_MAX, Min(), i_sh);
  // u within rounding of 1: the last kept token
  if (pick == LLONG_MAX) pick = block_reduce(last, -1ll, Max(), i_sh);
  if (t == 0) {
    const float z = math::sampling_tempered(x[pick] - m, inv_t);
    ids[row] = static_cast<int32_t>(pick);
    logprobs[row] = math::sampling_logprob(z, math::fast_log(kept));
    policy_logprobs[row] = math::sampling_logprob(z, math::fast_log(total));
  }
}

}  // namespace

std::string launch_sample_rows(int32_t* ids, float* logprobs, float* policy_logprobs, const float* logits, int64_t rows,
                               int64_t v, int64_t ld, const float* uniforms, const SamplingParams& params,
                               cudaStream_t stream) {
  SampleConfig c{};
  c.v = v;
  c.ld = ld;
  c.greedy = params.greedy;
  c.inv_t = params.greedy ? 1.0f : static_cast<float>(1.0 / params.temperature);
  c.policy_inv_t = static_cast<float>(math::sampling_policy_inv_temperature(params.temperature));
  c.top_k = params.top_k > 0 && params.top_k < v ? params.top_k : 0;
  c.use_top_p = params.top_p < 1;
  c.top_p = static_cast<float>(params.top_p);
  c.min_p = static_cast<float>(params.min_p);
  // Small rows: fewer threads, so a chunk of the scan is not mostly empty.
  const int threads = v >= 8 * kMaxThreads ? kMaxThreads : 128;
  launch(sample_rows_kernel, dim3(static_cast<unsigned>(rows)), dim3(threads), stream, ids, logprobs, policy_logprobs,
         logits, uniforms, c);
  return launch_error("sample_rows");
}

}  // namespace tg::cuda
