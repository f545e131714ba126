// CUDA GRPO kernels: selective log-softmax forward/backward straight from float32 or bf16 logits (a block
// per row for large V, a warp per row for small V, 16-byte loads, float32 accumulation) and the policy loss.
// Per-element math comes from native/math/grpo.h, the same functions the CPU kernels call.
#include <climits>

#include "common.cuh"
#include "grpo.cuh"

namespace tg::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kWarpRowMaxV = 1024;  // V at or below this: a warp per row

// Loads VEC consecutive elements (16 bytes) as floats.
template <class T, int VEC>
__device__ __forceinline__ void load_vec(const T* p, float (&z)[VEC]) {
  uint4 raw = __ldg(reinterpret_cast<const uint4*>(p));
  if constexpr (sizeof(T) == 4) {
    z[0] = __uint_as_float(raw.x);
    z[1] = __uint_as_float(raw.y);
    z[2] = __uint_as_float(raw.z);
    z[3] = __uint_as_float(raw.w);
  } else {
    const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
    for (int k = 0; k < VEC / 2; ++k) {
      float2 f = __bfloat1622float2(h[k]);
      z[2 * k] = f.x;
      z[2 * k + 1] = f.y;
    }
  }
}

template <class T, int VEC>
__device__ __forceinline__ void store_vec(T* p, const float (&z)[VEC]) {
  uint4 raw;
  if constexpr (sizeof(T) == 4) {
    raw.x = __float_as_uint(z[0]);
    raw.y = __float_as_uint(z[1]);
    raw.z = __float_as_uint(z[2]);
    raw.w = __float_as_uint(z[3]);
  } else {
    __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
    for (int k = 0; k < VEC / 2; ++k) h[k] = __floats2bfloat162_rn(z[2 * k], z[2 * k + 1]);
  }
  *reinterpret_cast<uint4*>(p) = raw;
}

// Folds K values of z into a thread's running (m, s, t): one rescale per group, one exp per value.
template <int K, bool kEnt>
__device__ __forceinline__ void accumulate(Lse& a, const float (&z)[K]) {
  float mx = z[0];
#pragma unroll
  for (int k = 1; k < K; ++k) mx = z[k] > mx ? z[k] : mx;
  if (mx > a.m) {
    math::lse_rescale(a.s, a.t, a.m, mx);
    a.m = mx;
  }
  const float m = math::lse_shift(a.m);
#pragma unroll
  for (int k = 0; k < K; ++k) {
    float zm = z[k] - m;
    float e = math::fast_exp(zm);
    a.s += e;
    if constexpr (kEnt) a.t += math::entropy_term(e, zm);
  }
}

// Row `row` is handled by `lanes` threads numbered `lane` (a warp or the whole block).
template <class T, bool kVec, bool kEnt>
__device__ __forceinline__ Lse row_partial(const T* x, int64_t v, float inv_t, int lane, int lanes) {
  constexpr int VEC = 16 / sizeof(T);
  Lse a{-__builtin_inff(), 0.0f, 0.0f};
  int64_t body = 0;
  if constexpr (kVec) {
    body = v / VEC * VEC;
    for (int64_t i = static_cast<int64_t>(lane) * VEC; i < body; i += static_cast<int64_t>(lanes) * VEC) {
      float z[VEC];
      load_vec<T, VEC>(x + i, z);
#pragma unroll
      for (int k = 0; k < VEC; ++k) z[k] *= inv_t;
      accumulate<VEC, kEnt>(a, z);
    }
  }
  for (int64_t i = body + lane; i < v; i += lanes) {
    float z[1] = {to_f32(x[i]) * inv_t};
    accumulate<1, kEnt>(a, z);
  }
  return a;
}

template <class T>
__device__ __forceinline__ void finish_row(float* lp, float* lse, float* ent, const T* x, const int32_t* ids,
                                           int64_t row, int64_t v, float inv_t, Lse r, int* status) {
  float l = math::lse_finish(r.m, r.s);
  int32_t id = ids[row];
  bool id_ok = id >= 0 && id < v;
  if (!id_ok) atomicMin(status + 1, static_cast<int>(row));
  float p = id_ok ? to_f32(x[id]) * inv_t - l : __builtin_nanf("");
  lse[row] = l;
  lp[row] = p;
  bool ok = isfinite(l) && isfinite(p);
  if (ent) {
    float h = math::entropy_finish(r.s, r.t);
    ent[row] = h;
    ok = ok && isfinite(h);
  }
  if (!ok && id_ok) atomicMin(status, static_cast<int>(row));
}

template <class T, bool kVec, bool kEnt>
__global__ void __launch_bounds__(kThreads) selective_forward_block(float* __restrict__ lp, float* __restrict__ lse,
                                                                     float* __restrict__ ent, const T* __restrict__ logits,
                                                                     int64_t ld, const int32_t* __restrict__ ids,
                                                                     int64_t n, int64_t v, float inv_t, int* status) {
  __shared__ Lse shared[32];
  for (int64_t row = blockIdx.x; row < n; row += gridDim.x) {
    const T* x = logits + row * ld;
    Lse r = block_merge(row_partial<T, kVec, kEnt>(x, v, inv_t, threadIdx.x, blockDim.x), shared);
    if (threadIdx.x == 0) finish_row(lp, lse, ent, x, ids, row, v, inv_t, r, status);
  }
}

template <class T, bool kVec, bool kEnt>
__global__ void __launch_bounds__(kThreads) selective_forward_warp(float* __restrict__ lp, float* __restrict__ lse,
                                                                    float* __restrict__ ent, const T* __restrict__ logits,
                                                                    int64_t ld, const int32_t* __restrict__ ids,
                                                                    int64_t n, int64_t v, float inv_t, int* status) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (kThreads / 32);
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * (kThreads / 32) + (threadIdx.x >> 5); row < n; row += warps) {
    const T* x = logits + row * ld;
    Lse r = warp_merge(row_partial<T, kVec, kEnt>(x, v, inv_t, lane, 32));
    if (lane == 0) finish_row(lp, lse, ent, x, ids, row, v, inv_t, r, status);
  }
}

// dx_v = [g 1[v = id] - p_v (g + gh (z_v - lse + H))] / T; in place when out == x.
template <class T, bool kVec>
__device__ __forceinline__ void row_backward(T* out, const T* x, int64_t v, int32_t id, float lse, float g, float gh,
                                             float h, float inv_t, int lane, int lanes) {
  constexpr int VEC = 16 / sizeof(T);
  const float g_over_t = g * inv_t;
  int64_t body = 0;
  if constexpr (kVec) {
    body = v / VEC * VEC;
    for (int64_t i = static_cast<int64_t>(lane) * VEC; i < body; i += static_cast<int64_t>(lanes) * VEC) {
      float z[VEC];
      uint4 raw = *reinterpret_cast<const uint4*>(x + i);  // NOTE: plain load, x may alias out
      T tmp[VEC];
      *reinterpret_cast<uint4*>(tmp) = raw;
#pragma unroll
      for (int k = 0; k < VEC; ++k) {
        float zk = to_f32(tmp[k]) * inv_t;
        float d = gh == 0.0f ? math::selective_grad_noent(zk, lse, g_over_t)
                             : math::selective_grad(zk, lse, g, gh, h, inv_t);
        z[k] = d + (i + k == id ? g_over_t : 0.0f);
      }
      store_vec<T, VEC>(out + i, z);
    }
  }
  for (int64_t i = body + lane; i < v; i += lanes) {
    float zk = to_f32(x[i]) * inv_t;
    float d = gh == 0.0f ? math::selective_grad_noent(zk, lse, g_over_t) : math::selective_grad(zk, lse, g, gh, h, inv_t);
    out[i] = from_f32<T>(d + (i == id ? g_over_t : 0.0f));
  }
}

template <class T, bool kVec, bool kWarp>
__global__ void __launch_bounds__(kThreads) selective_backward(T* dlogits, int64_t ld_out, const T* logits, int64_t ld,
                                                                const int32_t* __restrict__ ids, const float* __restrict__ lse,
                                                                const float* __restrict__ glp, const float* __restrict__ gent,
                                                                const float* __restrict__ ent, int64_t n, int64_t v, float inv_t) {
  const int lane = kWarp ? (threadIdx.x & 31) : threadIdx.x;
  const int lanes = kWarp ? 32 : blockDim.x;
  const int64_t per_block = kWarp ? kThreads / 32 : 1;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * per_block + (kWarp ? (threadIdx.x >> 5) : 0);
  for (int64_t row = first; row < n; row += static_cast<int64_t>(gridDim.x) * per_block) {
    float gh = gent ? gent[row] : 0.0f;
    float h = ent ? ent[row] : 0.0f;
    row_backward<T, kVec>(dlogits + row * ld_out, logits + row * ld, v, ids[row], lse[row], glp[row], gh, h, inv_t,
                          lane, lanes);
  }
}

int grid_for(int64_t rows) {
  int64_t g = rows < 1 ? 1 : rows;
  return static_cast<int>(g > 65535 * 16 ? 65535 * 16 : g);
}

template <class T>
std::string forward_t(float* lp, float* lse, float* ent, const T* logits, int64_t ld, const int32_t* ids, int64_t n,
                      int64_t v, float inv_t, int* status, cudaStream_t st) {
  constexpr int VEC = 16 / sizeof(T);
  const bool vec = (reinterpret_cast<uintptr_t>(logits) % 16 == 0) && ld % VEC == 0 && v >= VEC;
  const bool warp = v <= kWarpRowMaxV;
  const int grid = warp ? grid_for((n + kThreads / 32 - 1) / (kThreads / 32)) : grid_for(n);
#define TG_FWD(KERNEL, VECB, ENT) launch(KERNEL<T, VECB, ENT>, grid, kThreads, st, lp, lse, ent, logits, ld, ids, n, v, inv_t, status)
  if (warp) {
    if (vec) { if (ent) TG_FWD(selective_forward_warp, true, true); else TG_FWD(selective_forward_warp, true, false); }
    else { if (ent) TG_FWD(selective_forward_warp, false, true); else TG_FWD(selective_forward_warp, false, false); }
  } else {
    if (vec) { if (ent) TG_FWD(selective_forward_block, true, true); else TG_FWD(selective_forward_block, true, false); }
    else { if (ent) TG_FWD(selective_forward_block, false, true); else TG_FWD(selective_forward_block, false, false); }
  }
#undef TG_FWD
  return launch_error("selective_forward");
}

template <class T>
std::string backward_t(T* d, int64_t ld_out, const T* x, int64_t ld, const int32_t* ids, const float* lse,
                       const float* glp, const float* gent, const float* ent, int64_t n, int64_t v, float inv_t,
                       cudaStream_t st) {
  constexpr int VEC = 16 / sizeof(T);
  const bool vec = reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(d) % 16 == 0 &&
                   ld % VEC == 0 && ld_out % VEC == 0 && v >= VEC;
  const bool warp = v <= kWarpRowMaxV;
  const int grid = warp ? grid_for((n + kThreads / 32 - 1) / (kThreads / 32)) : grid_for(n);
#define TG_BWD(VECB, WARPB) \
  launch(selective_backward<T, VECB, WARPB>, grid, kThreads, st, d, ld_out, x, ld, ids, lse, glp, gent, ent, n, v, inv_t)
  if (warp) { if (vec) TG_BWD(true, true); else TG_BWD(false, true); }
  else { if (vec) TG_BWD(true, false); else TG_BWD(false, false); }
#undef TG_BWD
  return launch_error("selective_backward");
}

// ---- policy loss: a block per sequence ------------------------------------------------------------------
constexpr int kPartials = 8;  // per sequence: weighted loss, low, high, region, kl, entropy, ratio, tokens

__global__ void loss_seq_stats(float* seq_tokens, float* seq_lr, const float* lp, const float* old_lp,
                               const float* mask, int64_t l) {
  __shared__ float sh[32];
  const int64_t s = blockIdx.x;
  float tok = 0, lr = 0;
  for (int64_t t = threadIdx.x; t < l; t += blockDim.x) {
    float m = mask[s * l + t];
    tok += m;
    if (old_lp) lr += m * (lp[s * l + t] - old_lp[s * l + t]);
  }
  tok = block_sum(tok, sh);
  lr = block_sum(lr, sh);
  if (threadIdx.x == 0) {
    seq_tokens[s] = tok;
    seq_lr[s] = lr;
  }
}

__global__ void loss_tokens(float* partial, const float* seq_tokens, const float* seq_lr, LossArgs a) {
  __shared__ float shf[32];
  __shared__ double shd[32];
  const int64_t s = blockIdx.x, l = a.l;
  // D needs every sequence's token count; B is small, so each block sums them (double).
  double total = 0;
  for (int64_t k = threadIdx.x; k < a.b; k += blockDim.x) total += seq_tokens[k];
  total = block_sum(total, shd);
  const float divisor = math::grpo_divisor(a.loss_type, static_cast<float>(a.b), static_cast<float>(total),
                                           static_cast<float>(a.max_len > 0 ? a.max_len : l), a.normalizer);
  const float tokens = seq_tokens[s];
  const float inv_tokens = 1.0f / (tokens > 1.0f ? tokens : 1.0f);
  const float seq_log_ratio = seq_lr[s] * inv_tokens;
  const float cw = math::grpo_seq_weight(a.loss_type, tokens);
  const float c = cw / divisor;
  const float beta = a.ref_lp ? a.beta : 0.0f;
  float acc[kPartials - 1] = {};
  float dseq = 0;
  for (int64_t t = threadIdx.x; t < l; t += blockDim.x) {
    const int64_t k = s * l + t;
    const float m = a.mask[k], p = a.lp[k];
    const float adv = a.adv_per_token ? a.adv[k] : a.adv[s];
    const float log_ratio = a.sequence_is ? seq_log_ratio : (a.old_lp ? p - a.old_lp[k] : 0.0f);
    math::GrpoToken tok = math::grpo_token(log_ratio, p, a.ref_lp ? a.ref_lp[k] : 0.0f, adv, a.eps_low, a.eps_high, beta);
    const float w = c * m;
    acc[0] += m * tok.loss;
    acc[1] += m * tok.low;
    acc[2] += m * tok.high;
    acc[3] += m * (tok.low + tok.high);
    acc[4] += m * tok.kl;
    acc[5] += a.entropy ? m * a.entropy[k] : 0.0f;
    acc[6] += m * tok.ratio;
    if (a.dlp) {
      if (a.sequence_is) {
        dseq += w * tok.dsurr;
        a.dlp[k] = w * beta * tok.dkl;
      } else {
        a.dlp[k] = w * (tok.dsurr + beta * tok.dkl);
      }
    }
  }
#pragma unroll
  for (int j = 0; j < kPartials - 1; ++j) acc[j] = block_sum(acc[j], shf);
  if (a.dlp && a.sequence_is) {
    dseq = block_sum(dseq, shf);
    for (int64_t t = threadIdx.x; t < l; t += blockDim.x) a.dlp[s * l + t] += a.mask[s * l + t] * inv_tokens * dseq;
  }
  if (threadIdx.x == 0) {
    partial[s * kPartials + 0] = acc[0] * cw;
    for (int j = 1; j < kPartials - 1; ++j) partial[s * kPartials + j] = acc[j];
    partial[s * kPartials + 7] = tokens;
  }
}

__global__ void loss_final(double* out, const float* partial, LossArgs a) {
  __shared__ double sh[32];
  double sums[kPartials];
#pragma unroll
  for (int j = 0; j < kPartials; ++j) {
    double x = 0;
    for (int64_t s = threadIdx.x; s < a.b; s += blockDim.x) x += partial[s * kPartials + j];
    sums[j] = block_sum(x, sh);
  }
  if (threadIdx.x == 0) {
    const double total = sums[7];
    const double divisor = math::grpo_divisor(a.loss_type, static_cast<float>(a.b), static_cast<float>(total),
                                              static_cast<float>(a.max_len > 0 ? a.max_len : a.l), a.normalizer);
    const double inv = total > 0 ? 1.0 / total : 0.0;
    out[0] = sums[0] / divisor;
    for (int j = 1; j < 7; ++j) out[j] = sums[j] * inv;
    out[7] = total;
    out[8] = divisor;
  }
}

// ---- group advantages: one block (N = prompts x G completions is small) -----------------------------------
__global__ void group_advantages_kernel(float* adv, float* total, double* stats, const float* rewards,
                                        const float* weights, int64_t n, int64_t r, int64_t group, int scale) {
  __shared__ double sh[32];
  double part = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    double sum = 0;
    for (int64_t j = 0; j < r; ++j) {
      const float x = rewards[i * r + j];
      if (!isnan(x)) sum += static_cast<double>(weights[j]) * x;  // torch.nansum
    }
    total[i] = static_cast<float>(sum);
    part += total[i];
  }
  // block_sum's barriers also publish every thread's totals to the block.
  const double sum_all = block_sum(part, sh);
  const double mean = n > 0 ? sum_all / static_cast<double>(n) : 0.0;
  double dev = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) dev += (total[i] - mean) * (total[i] - mean);
  const double dev_all = block_sum(dev, sh);
  const double batch_std = n > 1 ? sqrt(dev_all / static_cast<double>(n - 1)) : 0.0;
  double zero = 0;
  for (int64_t g0 = static_cast<int64_t>(threadIdx.x) * group; g0 < n; g0 += static_cast<int64_t>(blockDim.x) * group) {
    double group_mean = 0;
    for (int64_t i = g0; i < g0 + group; ++i) group_mean += total[i];
    group_mean /= static_cast<double>(group);
    double var = 0;
    for (int64_t i = g0; i < g0 + group; ++i) var += (total[i] - group_mean) * (total[i] - group_mean);
    const double group_std = group > 1 ? sqrt(var / static_cast<double>(group - 1)) : 0.0;
    if (math::is_zero_std(group_std)) zero += 1;
    for (int64_t i = g0; i < g0 + group; ++i)
      adv[i] = static_cast<float>(math::group_advantage(total[i], group_mean, group_std, batch_std, scale));
  }
  zero = block_sum(zero, sh);
  if (threadIdx.x == 0) {
    stats[0] = mean;
    stats[1] = batch_std;
    stats[2] = zero;
  }
}

}  // namespace

std::string launch_group_advantages(float* adv, float* total, double* stats, const float* rewards, const float* weights,
                                    int64_t n, int64_t r, int64_t group, int scale, cudaStream_t stream) {
  launch(group_advantages_kernel, 1, kThreads, stream, adv, total, stats, rewards, weights, n, r, group, scale);
  return launch_error("group_advantages");
}

std::string launch_selective_forward(float* lp, float* lse, float* entropy, const void* logits, bool bf16, int64_t ld,
                                     const int32_t* ids, int64_t n, int64_t v, float temperature, int* status,
                                     cudaStream_t stream) {
  if (n == 0) return {};
  const float inv_t = 1.0f / temperature;
  if (bf16)
    return forward_t(lp, lse, entropy, static_cast<const __nv_bfloat16*>(logits), ld, ids, n, v, inv_t, status, stream);
  return forward_t(lp, lse, entropy, static_cast<const float*>(logits), ld, ids, n, v, inv_t, status, stream);
}

std::string launch_selective_backward(void* dlogits, int64_t ld_out, const void* logits, int64_t ld, bool bf16,
                                      const int32_t* ids, const float* lse, const float* glp, const float* gent,
                                      const float* entropy, int64_t n, int64_t v, float temperature,
                                      cudaStream_t stream) {
  if (n == 0) return {};
  const float inv_t = 1.0f / temperature;
  if (bf16)
    return backward_t(static_cast<__nv_bfloat16*>(dlogits), ld_out, static_cast<const __nv_bfloat16*>(logits), ld, ids,
                      lse, glp, gent, entropy, n, v, inv_t, stream);
  return backward_t(static_cast<float*>(dlogits), ld_out, static_cast<const float*>(logits), ld, ids, lse, glp, gent,
                    entropy, n, v, inv_t, stream);
}

size_t loss_scratch_bytes(int64_t b) { return static_cast<size_t>(b) * (2 + kPartials) * sizeof(float) + 256; }

std::string launch_grpo_loss(double* out, void* scratch, const LossArgs& a, cudaStream_t stream) {
  float* seq_tokens = static_cast<float*>(scratch);
  float* seq_lr = seq_tokens + a.b;
  float* partial = seq_lr + a.b;
  if (a.b > 0) {
    launch(loss_seq_stats, static_cast<unsigned>(a.b), kThreads, stream, seq_tokens, seq_lr, a.lp, a.old_lp, a.mask, a.l);
    TG_CUDA_TRY(cudaGetLastError());
    launch(loss_tokens, static_cast<unsigned>(a.b), kThreads, stream, partial, seq_tokens, seq_lr, a);
    TG_CUDA_TRY(cudaGetLastError());
  }
  launch(loss_final, 1, kThreads, stream, out, partial, a);
  return launch_error("grpo_loss");
}

}  // namespace tg::cuda
