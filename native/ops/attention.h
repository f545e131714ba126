// Scaled-dot-product attention with grouped-query heads and an optional causal mask, float32, forward and
// backward. Tensors are (B, T, H, D) views given by base pointer + strides of B, T, H (D contiguous), so
// (B, T, H, D) and (B, H, T, D) storage both work without copies.
#pragma once
#include <cstdint>

#include "ops/gemm.h"

namespace tg {

struct HeadsView {  // element (b, t, h, d) at data[b*sb + t*st + h*sh + d]
  float* data;
  int64_t sb, st, sh;
};
struct ConstHeadsView {
  const float* data;
  int64_t sb, st, sh;
};

struct AttentionDims {
  int64_t B, Tq, Tk, Hq, Hkv, D;  // Hq % Hkv == 0: query head h reads kv head h / (Hq / Hkv)
  float scale;                    // usually 1 / sqrt(D)
  bool causal;                    // query i attends keys j <= i + (Tk - Tq); requires Tq <= Tk
  MatmulPrecision precision;      // of the block products (the decode path computes in float32 regardless)
  // Left padding: key_start[b] (B values in [0, Tk], causal only) is batch row b's first real key; null for none.
  // Row i then sees keys [attention_key_first, attention_key_limit) (math/attention.h).
  const int32_t* key_start = nullptr;
};

// o (B, Tq, Hq, D) = softmax(scale * q k^T, masked) v (keys before a row's first visible one are skipped, not masked); lse (B, Hq, Tq) contiguous, saved for the backward.
void attention_forward(HeadsView o, float* lse, ConstHeadsView q, ConstHeadsView k, ConstHeadsView v,
                       const AttentionDims& dims);

// With P = exp(scale q k^T - lse) and dS = P * (dO v^T - rowsum(dO * o)):
// dq = scale dS k, dk = scale dS^T q, dv = P^T dO (dk, dv summed over the query heads sharing a kv head).
// Outputs must not overlap each other or the inputs.
void attention_backward(HeadsView dq, HeadsView dk, HeadsView dv, ConstHeadsView d_o, ConstHeadsView q,
                        ConstHeadsView k, ConstHeadsView v, ConstHeadsView o, const float* lse,
                        const AttentionDims& dims);

}  // namespace tg
