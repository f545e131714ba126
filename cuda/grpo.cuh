// Host-side launchers of the CUDA GRPO kernels (cuda/grpo.cu). Each returns "" or an error message; shapes
// and ids were validated by the binding. Logits are float32 or bf16 (row stride ld, in elements).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace tg::cuda {

// "" on success, otherwise "what: cudaErrorName (message)". Errors are returned, never fatal.
inline std::string cuda_error_string(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return {};
  return std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
}

// status (device, 2 ints): [0] = first row with a non-finite lse/lp/entropy, [1] = first row whose id is
// outside [0, V); INT32_MAX when none. The caller resets it.
std::string launch_selective_forward(float* lp, float* lse, float* entropy, const void* logits, bool bf16, int64_t ld,
                                     const int32_t* ids, int64_t n, int64_t v, float temperature, int* status,
                                     cudaStream_t stream);

// dlogits (same dtype as logits, row stride ld_out) may be the logits themselves (in place).
std::string launch_selective_backward(void* dlogits, int64_t ld_out, const void* logits, int64_t ld, bool bf16,
                                      const int32_t* ids, const float* lse, const float* glp, const float* gent,
                                      const float* entropy, int64_t n, int64_t v, float temperature,
                                      cudaStream_t stream);

struct LossArgs {
  const float *lp, *old_lp, *ref_lp, *adv, *mask, *entropy;  // old/ref/entropy may be null
  float* dlp;                                                   // may be null
  bool adv_per_token, sequence_is;
  int loss_type;
  float eps_low, eps_high, beta, normalizer;
  int64_t b, l, max_len;
};
// out (device, 9 doubles): loss, clipLow, clipHigh, clipRegion, kl, entropy, ratio, tokens, divisor.
// scratch (device): at least loss_scratch_bytes(b) bytes.
size_t loss_scratch_bytes(int64_t b);
std::string launch_grpo_loss(double* out, void* scratch, const LossArgs& a, cudaStream_t stream);

// rewards (N, R) (NaN = not scored), weights (R) -> total (N) = sum_r w_r rewards[:, r] and adv (N) per
// math::group_advantage over groups of `group`; stats (device, 3 doubles): batch mean, batch std, zero-std groups.
std::string launch_group_advantages(float* adv, float* total, double* stats, const float* rewards, const float* weights,
                                    int64_t n, int64_t r, int64_t group, int scale, cudaStream_t stream);

}  // namespace tg::cuda
