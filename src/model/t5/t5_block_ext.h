/* t5_block_ext.h: what the fine-tuning methods add to one T5 block, held
 * by the block (lst_t5_block_t.ext) and empty (all NULL, 0) in a plain one:
 * the side network's blocks, a frozen backbone, full fine-tuning. Each
 * method's member is filled by its own file through its part
 * (t5_hooks.h): bitfit.c, lora.c, adapter.c. The block computes with it
 * only through the hooks of t5_hooks.h. */
#ifndef LST_T5_BLOCK_EXT_H
#define LST_T5_BLOCK_EXT_H

#include "t5_tensors.h"

/* The linears of a block: what lst_t5_lin_fwd / lst_t5_lin_bwd name. */
typedef enum {
    LST_LIN_Q, LST_LIN_K, LST_LIN_V, LST_LIN_O,     /* self-attention: q, k, v [I, d], o [d, I] */
    LST_LIN_CQ, LST_LIN_CK, LST_LIN_CV, LST_LIN_CO, /* cross-attention (decoder only) */
    LST_LIN_WI, LST_LIN_WI1, LST_LIN_WO,            /* FFN: wi (wi_0) [F, d], wi_1 [F, d], wo [d, F] */
    LST_N_LIN
} lst_t5_lin_t;

/* Sub-layers, indexed by lst_t5_sub_t (self 0, cross 1, FFN 2). */
#define LST_N_SUB 3

/* The first dropout site of a block free for a method (t5.c's own sites
 * are 0..5); a method's sites follow it. */
#define LST_T5_SITE_METHOD 6

/* BitFit (bitfit.c): a bias on every linear and every block layer norm. */
typedef struct {
    float *lin[LST_N_LIN];  /* [out] of the linear, added inside its product */
    float *norm[LST_N_SUB]; /* [d], added to the norm's output */
} lst_bitfit_block_t;

/* LoRA (lora.c): y += scale * drop(x) A^T B^T beside a linear. */
typedef struct {
    float *A[LST_N_LIN], *B[LST_N_LIN]; /* A [r, in], B [out, r]; q and v of each attention */
    int r;
    float scale, p; /* alpha / r, the dropout on x */
} lst_lora_block_t;

/* Houlsby adapters (adapter.c) after a sub-layer's output. */
typedef struct {
    float *w[LST_N_SUB][4]; /* down W [A, d], b [A]; up W [d, A], b [d] (self, FFN) */
    int dim;                /* A (0: none) */
} lst_adapter_block_t;

typedef struct {
    lst_bitfit_block_t bitfit;
    lst_lora_block_t lora;
    lst_adapter_block_t adapter;
} lst_t5_block_ext_t;

/* What the methods of one block save in its forward for its backward (the
 * decoding step points them at its scratch). */
typedef struct {
    float *lin[LST_N_LIN];    /* per linear (LoRA: u = scale * drop(x) A^T [rows, r]) */
    float *sub[LST_N_SUB][3]; /* per sub-layer output (adapter: input [N, d], hidden [N, A] x 2) */
    float *xs;                /* shared scratch [B * max(T, Ts), max(d, I)] (LoRA) */
} lst_t5_ext_acts_t;

#endif
