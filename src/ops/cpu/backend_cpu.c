/* backend_cpu.c: the CPU backend's two tables (backend.h). The host is the
 * device: buffers are aligned host memory, copies are memcpy, sync has
 * nothing to wait for. The fast instance is what ops.h runs by default; the
 * reference instance has the same buffers and workspace queries (so either
 * runs in the other's planned memory) and the plain-C loops as its ops. */
#include <stdlib.h>
#include <string.h>

#include "../backend.h"
#include "cpu.h"

static void *cpu_alloc(size_t bytes) {
    const size_t n = (bytes + 63) & ~(size_t)63; /* aligned_alloc wants a multiple */
    return aligned_alloc(64, n ? n : 64);
}

static void cpu_free(void *p) { free(p); }

static void cpu_copy(void *dst, const void *src, size_t bytes, lst_copy_kind_t kind) {
    (void)kind; /* one memory */
    if (bytes && dst != src) memmove(dst, src, bytes);
}

static void cpu_sync(void) {}

#define CPU_MEMORY                                                          \
    .alloc = cpu_alloc, .free = cpu_free, .copy = cpu_copy, .sync = cpu_sync, \
    .attention_forward_workspace = lst_cpu_attention_forward_workspace,       \
    .attention_backward_workspace = lst_cpu_attention_backward_workspace,     \
    .cross_fold_workspace = lst_cpu_cross_fold_workspace

const lst_backend_t lst_backend_cpu = {
    .name = "cpu",
    CPU_MEMORY,
    .dropout_apply = lst_cpu_dropout_apply,
    .dropout_rows = lst_cpu_dropout_rows,
    .dropout_probs = lst_cpu_dropout_probs,
    .matmul_forward = lst_cpu_matmul_forward,
    .matmul_backward = lst_cpu_matmul_backward,
    .rmsnorm_forward = lst_cpu_rmsnorm_forward,
    .rmsnorm_backward = lst_cpu_rmsnorm_backward,
    .residual_rmsnorm_forward = lst_cpu_residual_rmsnorm_forward,
    .residual_rmsnorm_backward = lst_cpu_residual_rmsnorm_backward,
    .act_forward = lst_cpu_act_forward,
    .act_backward = lst_cpu_act_backward,
    .gated_forward = lst_cpu_gated_forward,
    .gated_backward = lst_cpu_gated_backward,
    .embedding_forward = lst_cpu_embedding_forward,
    .embedding_backward = lst_cpu_embedding_backward,
    .relbias_forward = lst_cpu_relbias_forward,
    .relbias_backward = lst_cpu_relbias_backward,
    .attention_forward = lst_cpu_attention_forward,
    .attention_backward = lst_cpu_attention_backward,
    .cross_fold_forward = lst_cpu_cross_fold_forward,
    .cross_fold_backward = lst_cpu_cross_fold_backward,
    .xent_forward_backward = lst_cpu_xent_forward_backward,
    .xent_sum = lst_cpu_xent_sum,
    .xent_chunk_inplace = lst_cpu_xent_chunk_inplace,
    .add_inplace = lst_cpu_add_inplace,
    .scale_inplace = lst_cpu_scale_inplace,
    .add_rows = lst_cpu_add_rows,
    .colsum_acc = lst_cpu_colsum_acc,
    .gate_forward = lst_cpu_gate_forward,
    .gate_backward = lst_cpu_gate_backward,
    .argmax_rows = lst_cpu_argmax_rows,
};

const lst_backend_t lst_backend_cpu_ref = {
    .name = "cpu-ref",
    CPU_MEMORY,
    .dropout_apply = lst_dropout_apply_ref,
    .dropout_rows = lst_dropout_rows_ref,
    .dropout_probs = lst_dropout_probs_ref,
    .matmul_forward = lst_matmul_forward_ref,
    .matmul_backward = lst_matmul_backward_ref,
    .rmsnorm_forward = lst_rmsnorm_forward_ref,
    .rmsnorm_backward = lst_rmsnorm_backward_ref,
    .residual_rmsnorm_forward = lst_residual_rmsnorm_forward_ref,
    .residual_rmsnorm_backward = lst_residual_rmsnorm_backward_ref,
    .act_forward = lst_act_forward_ref,
    .act_backward = lst_act_backward_ref,
    .gated_forward = lst_gated_forward_ref,
    .gated_backward = lst_gated_backward_ref,
    .embedding_forward = lst_embedding_forward_ref,
    .embedding_backward = lst_embedding_backward_ref,
    .relbias_forward = lst_relbias_forward_ref,
    .relbias_backward = lst_relbias_backward_ref,
    .attention_forward = lst_attention_forward_full_ref,
    .attention_backward = lst_attention_backward_ref,
    .cross_fold_forward = lst_cross_fold_forward_ref,
    .cross_fold_backward = lst_cross_fold_backward_ref,
    .xent_forward_backward = lst_xent_forward_backward_ref,
    .xent_sum = lst_xent_sum_ref,
    .xent_chunk_inplace = lst_xent_chunk_inplace_ref,
    .add_inplace = lst_add_inplace_ref,
    .scale_inplace = lst_scale_inplace_ref,
    .add_rows = lst_add_rows_ref,
    .colsum_acc = lst_colsum_acc_ref,
    .gate_forward = lst_gate_forward_ref,
    .gate_backward = lst_gate_backward_ref,
    .argmax_rows = lst_argmax_rows_ref,
};
