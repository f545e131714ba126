// Host-side launchers of the CUDA attention kernels (cuda/attention.cu): the flash-attention forward and backward
// over (B, T, H, D) strided views with D contiguous, grouped-query heads and the causal alignment of
// native/math/attention.h. Same contracts as native/ops/attention.h; views and dims were validated by the binding.
// Each returns "" or an error message.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace tg::cuda {

// Element (b, t, h, d) at data[b*sb + t*st + h*sh + d].
struct HeadsIn {
  const float* data;
  int64_t sb, st, sh;
};
struct HeadsOut {
  float* data;
  int64_t sb, st, sh;
};

struct AttentionShape {
  int64_t B, Tq, Tk, Hq, Hkv, D;  // Hq % Hkv == 0
  float scale;
  bool causal;  // requires Tq <= Tk
  // Left padding (causal only): key_start[b], a device array of B values in [0, Tk], batch row b's first real key;
  // nullptr for none. Rows see keys [attention_key_first, attention_key_limit) (native/math/attention.h).
  const int32_t* key_start;
};

// The largest head size the tiled kernels hold in shared memory (their tiles are sized for D padded to 32, 64 or
// 128). Larger heads, up to kAttentionMaxHeadDim, run by rows: the forward on the decode kernel, the backward on
// row kernels (a block per query row for dQ, per key row for dK and dV), slower but the same results.
constexpr int64_t kTiledMaxHeadDim = 128;
// The largest head size of every cuda attention kernel: the row kernels keep D / 32 values per lane in registers.
constexpr int64_t kAttentionMaxHeadDim = 256;

// Keys or values of element type T (float, or bf16 bits as uint16_t): (b, t, h, d) at data[b*sb + t*st + h*sh + d].
template <class T>
struct KVRows {
  const T* data;
  int64_t sb, st, sh;
};

// Additive bias (B, Tq, Tk) at data[b*sb + i*sq + j*sk], or data == nullptr for none.
struct AttentionBiasRef {
  const float* data;
  int64_t sb, sq, sk;
};

// The decode kernel: a few query rows streaming K and V once, each row's keys split across blocks when the rows
// alone would leave multiprocessors idle. attentionForward takes it at or below kDecodeRows queries (as the CPU
// does) and for heads beyond kTiledMaxHeadDim, attentionDecodeBf16 always.
constexpr int64_t kDecodeRows = 4;
// Device scratch of the decode kernel on a GPU of `multiprocessors` (0 when its rows fill the GPU unsplit).
size_t attention_decode_scratch_bytes(const AttentionShape& s, int multiprocessors);
// o (B, Tq, Hq, D) = softmax(scale q k^T [causal] + bias) v over the first s.Tk rows of k and v; lse (B, Hq, Tq)
// contiguous when not null.
std::string launch_attention_decode(HeadsOut o, float* lse, HeadsIn q, KVRows<float> k, KVRows<float> v,
                                    const AttentionBiasRef& bias, const AttentionShape& s, int multiprocessors,
                                    float* scratch, cudaStream_t stream);
std::string launch_attention_decode(HeadsOut o, float* lse, HeadsIn q, KVRows<uint16_t> k, KVRows<uint16_t> v,
                                    const AttentionBiasRef& bias, const AttentionShape& s, int multiprocessors,
                                    float* scratch, cudaStream_t stream);

// Device scratch of launch_attention_forward (the decode kernel's, where it takes the decode kernel).
size_t attention_forward_scratch_bytes(const AttentionShape& s, int multiprocessors);
// o (B, Tq, Hq, D) = softmax(scale q k^T, masked) v and lse (B, Hq, Tq) contiguous. With `bf16` ('medium' on a
// device with bf16 tensor cores) the tiled kernel's products take bf16-rounded operands (Q, K, V and P) with
// float32 accumulation; the decode kernel computes in float32 regardless, as the CPU's does.
std::string launch_attention_forward(HeadsOut o, float* lse, HeadsIn q, HeadsIn k, HeadsIn v, const AttentionShape& s,
                                     bool bf16, int multiprocessors, float* scratch, cudaStream_t stream);

// Device scratch the backward needs: rowsum(dO * O) per query row.
size_t attention_backward_scratch_bytes(const AttentionShape& s);
// dq, dk, dv (outputs, overwritten) from d_o, q, k, v, o and the forward's lse; scratch of
// attention_backward_scratch_bytes. Deterministic: every output element is summed by one thread in a fixed order.
// With `bf16` the tiled kernels' products take bf16-rounded operands (Q, K, V, dO, P and dS) with float32
// accumulation; heads beyond kTiledMaxHeadDim compute in float32.
std::string launch_attention_backward(HeadsOut dq, HeadsOut dk, HeadsOut dv, HeadsIn d_o, HeadsIn q, HeadsIn k,
                                      HeadsIn v, HeadsIn o, const float* lse, float* scratch, const AttentionShape& s,
                                      bool bf16, cudaStream_t stream);

}  // namespace tg::cuda
