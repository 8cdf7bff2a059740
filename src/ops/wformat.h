/* wformat.h: the storage formats of a frozen weight matrix, one table row
 * each (after ggml's type traits): how many bytes a [M, K] weight takes,
 * how it is packed from and unpacked to the Hugging Face float32 [out, in]
 * layout, the product y = x W^T (+ b) that reads it, and how that product
 * rounds its input (so that another kernel reading the same weights, such
 * as the folded cross-attention, can compute the same numbers). A frozen
 * backbone's block linears are stored in one of these; adding a format is
 * one row in src/ops/cpu/wformat.c plus its kernel file. */
#ifndef LST_WFORMAT_H
#define LST_WFORMAT_H

#include <stddef.h>

typedef enum {
    LST_WF_F32 = 0, /* Hugging Face float32 [M, K], read by SGEMM (nothing packed) */
    LST_WF_F32P,    /* float32 in 64-column panels, packed in place (matmul_f32p.c) */
    LST_WF_BF16,    /* bf16 pairs in 64-column panels, float32 sums (matmul_bf16.c) */
    LST_WF_INT8,    /* int8 per-row absmax, int8 activations, integer sums (matmul_q8.c) */
    LST_WF_Q4,      /* 4-bit NF4, a float32 absmax per 32 inputs, float32 sums (matmul_q4.c) */
    LST_WF_COUNT
} lst_wformat_t;

typedef struct {
    const char *name;  /* "f32", "f32-panels", "bf16", "int8", "q4" */
    /* packs into the float32 weight's own storage (the same bytes): the
     * weight can no longer be read as float32, so the ones another kernel
     * reads that way stay unpacked */
    int in_place;
    size_t (*bytes)(int M, int K);                              /* storage of [M, K] */
    void (*pack)(void *dst, const float *W, int M, int K);      /* W: [M, K] */
    void (*unpack)(float *W, const void *src, int M, int K);    /* exact, or the rounded values */
    /* y: [N, M] = x: [N, K] @ W^T (+ b: [M] or NULL); ws: workspace(K, M)
     * bytes (NULL when 0), planned by the caller: any N, one call at a time */
    void (*matmul)(float *y, const float *x, const void *W, const float *b, int N, int K, int M,
                   void *ws);
    size_t (*workspace)(int K, int M);
    /* y: [rows, K] <- x as the product rounds it; NULL: x used as it is */
    void (*round_input)(float *y, const float *x, size_t rows, int K);
    int (*native)(void); /* 1: this CPU runs the fast kernel (else a plain-C path, or for
                            formats that only exist for speed, packing is skipped) */
    int speed_only;      /* same numbers as F32 up to summation order: not worth a
                            plain-C path, stay F32 where not native */
    /* what a user calls it (--backbone-dtype, run.json's backbone_dtype);
     * NULL: not a choice of its own (a speed-only form of another row) */
    const char *dtype;
    /* the format a frozen backbone of this dtype is stored in: itself, or a
     * speed-only row computing the same numbers (float32 -> its panels) */
    lst_wformat_t frozen;
} lst_wformat_traits_t;

const lst_wformat_traits_t *lst_wformat(lst_wformat_t f);

/* The format of a user's dtype name ("fp32", "bf16", "int8", "q4"): 0, or -1 when no
 * row has that name. */
int lst_wformat_parse(const char *dtype, lst_wformat_t *out);
/* The dtype names, comma-separated ("fp32, bf16, int8, q4"), for messages. */
const char *lst_wformat_dtypes(void);
/* A user's dtype name of format f (a speed-only row: the dtype it stands for). */
const char *lst_wformat_dtype(lst_wformat_t f);

#endif
