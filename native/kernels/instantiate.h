// The loops/ fragments and their table, compiled in namespace tg::kernels::TG_KERNEL_ISA under the including
// kernels/isa_*.cc's target. Included once by each of those files, after kernels/prelude.h.
#if !defined(TG_KERNEL_ISA) || !defined(TG_KERNEL_NAME)
#error "kernels/instantiate.h is included by kernels/isa_*.cc, which define TG_KERNEL_ISA and TG_KERNEL_NAME"
#endif

namespace tg::kernels::TG_KERNEL_ISA {
namespace {

#include "kernels/loops/adamw.h"
#include "kernels/loops/attention.h"
#include "kernels/loops/elementwise.h"
#include "kernels/loops/grpo.h"
#include "kernels/loops/reduce.h"
#include "kernels/loops/rmsnorm.h"
#include "kernels/loops/rope.h"
#include "kernels/loops/softmax.h"

}  // namespace

constexpr VectorKernels kTable = {
    .name = TG_KERNEL_NAME,
    .swiglu = swiglu,
    .swiglu_grad = swiglu_grad,
    .unary = unary,
    .binary = binary,
    .where = where,
    .bf16_from_f32 = bf16_from_f32,
    .bf16_to_f32 = bf16_to_f32,
    .softmax_rows = softmax_rows,
    .softmax_grad_rows = softmax_grad_rows,
    .row_lse_state = row_lse_state,
    .cross_entropy_grad_row = cross_entropy_grad_row,
    .rmsnorm_rows = rmsnorm_rows,
    .rmsnorm_grad_rows = rmsnorm_grad_rows,
    .rmsnorm_reduce_blocks = rmsnorm_reduce_blocks,
    .rope_row = rope_row,
    .adamw = adamw,
    .row_sum = row_sum,
    .row_max = row_max,
    .row_sum_exp = row_sum_exp,
    .col_accumulate = col_accumulate,
    .attention_softmax_row = attention_softmax_row,
    .attention_grad_row = attention_grad_row,
    .dot = dot,
    .score_rows = score_rows,
    .score_rows_bf16 = score_rows_bf16,
    .weighted_rows = weighted_rows,
    .weighted_rows_bf16 = weighted_rows_bf16,
    .grpo_row_stats = grpo_row_stats,
    .grpo_row_grad = grpo_row_grad,
    .grpo_row_grad_inplace = grpo_row_grad_inplace,
    .grpo_row_grad_ent = grpo_row_grad_ent,
    .grpo_row_grad_ent_inplace = grpo_row_grad_ent_inplace,
    .grpo_finish_rows = grpo_finish_rows,
    .grpo_loss_sequence = grpo_loss_sequence,
};

}  // namespace tg::kernels::TG_KERNEL_ISA
