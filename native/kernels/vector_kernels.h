// The CPU engine's vector loops (elementwise, casts, softmax, RMSNorm, cross-entropy, RoPE, AdamW, reductions,
// attention rows, GRPO rows), compiled once per instruction set and chosen at run time, as ATen's CPU
// kernels are: kernels/isa_avx512.cc builds them for x86-64-v4 (AVX-512), kernels/isa_baseline.cc for the
// addon's baseline (x86-64-v3 = AVX2 + FMA on x86-64). The best set this CPU runs is used unless
// THINKGRAD_SIMD (avx512 | avx2 | auto) or set_vector_kernels() names another, so every set is tested and
// benchmarked on any machine that can run it. The GEMM has its own switch (ops/gemm.h, THINKGRAD_GEMM).
// Each entry holds a whole loop (a row range, a row, or a run of elements), so the indirect call is noise.
#pragma once
#include <cstdint>
#include <string>

#include "math/adamw.h"
#include "math/softmax.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"

namespace tg {

// GRPO: rows whose statistics are finished together, and the per-sequence masked sums of loss_sequence.
constexpr int64_t kGrpoFinishRows = 64;
constexpr int kGrpoLossSums = 6;

struct VectorKernels {
  const char* name;

  // Elementwise over n contiguous elements (a/b steps are 1, or 0 for a broadcast scalar). swiglu and
  // swiglu_grad may run in place; the others take distinct outputs.
  void (*swiglu)(float* h, const float* gate, const float* up, int64_t n);
  void (*swiglu_grad)(float* dgate, float* dup, const float* dh, const float* gate, const float* up, int64_t n);
  void (*unary)(UnaryOp op, float* out, const float* x, int64_t n, float p0, float p1);
  void (*binary)(BinaryOp op, float* out, const float* a, int64_t a_step, const float* b, int64_t b_step, int64_t n);
  void (*where)(float* out, const float* cond, const float* a, const float* b, int64_t n);
  void (*bf16_from_f32)(uint16_t* out, const float* x, int64_t n);
  void (*bf16_to_f32)(float* out, const uint16_t* x, int64_t n);

  // Softmax family: rows [r0, r1) of a (rows, cols) matrix; row_lse_state is one row's online max and sum.
  void (*softmax_rows)(float* y, const float* x, int64_t r0, int64_t r1, int64_t cols, bool log);
  void (*softmax_grad_rows)(float* dx, const float* dy, const float* y, int64_t r0, int64_t r1, int64_t cols,
                            bool log);
  math::LseState (*row_lse_state)(const float* x, int64_t n);
  // One row of cross-entropy's dlogits: g * softmax(x) - g * onehot(t); t < 0 zeroes the row.
  void (*cross_entropy_grad_row)(float* d, const float* x, float lse, float g, int64_t t, int64_t V);

  // RMSNorm: rows [r0, r1) forward; backward rows also write their block's dw partial (part[cols]);
  // reduce_blocks sums the partials of columns [c0, c1) in block order.
  void (*rmsnorm_rows)(float* y, float* rstd, const float* x, const float* w, int64_t r0, int64_t r1, int64_t cols,
                       float eps);
  void (*rmsnorm_grad_rows)(float* dx, float* part, const float* dy, const float* x, const float* w,
                            const float* rstd, int64_t r0, int64_t r1, int64_t cols);
  void (*rmsnorm_reduce_blocks)(float* dw, const float* part, int64_t blocks, int64_t c0, int64_t c1, int64_t cols);

  // RoPE of one (b, t) row of H heads of D; sign -1 rotates backward.
  void (*rope_row)(float* y, const float* x, const float* cos, const float* sin, int64_t H, int64_t D, float sign);
  void (*adamw)(float* p, const float* g, float* m, float* v, int64_t n, const math::AdamWParams* params);

  // Row reductions (row_max: min when !want_max; NaN anywhere gives NaN) and one row into a column reduction.
  float (*row_sum)(const float* x, int64_t n);
  float (*row_max)(const float* x, int64_t n, bool want_max);
  float (*row_sum_exp)(const float* x, int64_t n, float shift);
  void (*col_accumulate)(ReduceOp op, float* out, const float* row, int64_t n);

  // Attention rows: masked softmax of scores in place (returns the lse), its backward, a dot product, and the
  // decode path's scores and weighted sums over K/V rows ld apart, in float32 or bf16 (widened on load).
  float (*attention_softmax_row)(float* s, int64_t first, int64_t n, int64_t width);
  void (*attention_grad_row)(float* s, float* dp, int64_t first, int64_t n, int64_t width, float lse, float di);
  float (*dot)(const float* a, const float* b, int64_t n);
  // score_rows also prefetches row j of `next` (rows ldn apart) as it reads K row j: the V rows read next.
  void (*score_rows)(float* s, const float* q, const float* k, int64_t ldk, int64_t n, int64_t D, float scale,
                     const float* next, int64_t ldn);
  void (*score_rows_bf16)(float* s, const float* q, const uint16_t* k, int64_t ldk, int64_t n, int64_t D,
                          float scale, const uint16_t* next, int64_t ldn);
  void (*weighted_rows)(float* o, const float* p, const float* v, int64_t ldv, int64_t n, int64_t D);
  void (*weighted_rows_bf16)(float* o, const float* p, const uint16_t* v, int64_t ldv, int64_t n, int64_t D);

  // GRPO rows (math/grpo.h): a row's (m, s, t) summary of z = x / T; the selective log-softmax gradient of a
  // row (in place when out == x is wanted, with the entropy term when gh != 0); lse, lp and entropy of up to
  // kGrpoFinishRows rows (returns the first non-finite one or -1); one sequence's loss gradient and sums.
  void (*grpo_row_stats)(const float* x, int64_t v, float inv_t, bool want_t, float* m, float* s, float* t);
  void (*grpo_row_grad)(float* out, const float* x, int64_t v, float inv_t, float lse, float g_over_t);
  void (*grpo_row_grad_inplace)(float* x, int64_t v, float inv_t, float lse, float g_over_t);
  void (*grpo_row_grad_ent)(float* out, const float* x, int64_t v, float inv_t, float lse, float g, float gh,
                            float h);
  void (*grpo_row_grad_ent_inplace)(float* x, int64_t v, float inv_t, float lse, float g, float gh, float h);
  int64_t (*grpo_finish_rows)(float* lp, float* lse, float* entropy, const float* m, const float* s, const float* t,
                              const float* chosen, int64_t count, float inv_t);
  void (*grpo_loss_sequence)(float* dlp, float* sums, const float* p, const float* o, const float* ref,
                             const float* adv, const float* m, int64_t l, bool sequence_is, float seq_log_ratio,
                             float c, float eps_low, float eps_high, float beta);
};

// The set in use (THINKGRAD_SIMD's at first use, else the best this CPU runs).
const VectorKernels& vector_kernels();

// Selects a set by name ("auto" = the best this CPU runs); throws std::invalid_argument for an unknown name or
// a set this CPU or build lacks, and the set in use stays.
void set_vector_kernels(const std::string& name);

namespace kernels {
// Per-ISA tables (kernels/isa_*.cc); nullptr where a build has no such set.
const VectorKernels* avx512_table();
const VectorKernels* baseline_table();
}  // namespace kernels

}  // namespace tg
