/* backend.h: the table a backend fills in, after ggml's backend interface.
 *
 * How the model reaches the ops: it calls the functions of ops.h, which
 * are thin wrappers in src/ops/backend.c, each one indirect call through
 * the active backend's table (lst_backend_active; set once at start-up with
 * lst_backend_set, default: the CPU backend's fast instance). A wrapper is
 * a load and a tail jump, nothing measurable against the smallest op (a
 * gate mix over a few thousand floats); nothing else changes for a caller.
 *
 * A backend is one table: its buffers (alloc, free, copy between the host
 * and it or within it, sync), the workspace queries, and an entry for every
 * op of ops.h, forward and backward, with the same arguments and contract
 * (pointers are the backend's buffers; ops.h says which arguments are host
 * values: the dropout site, the returned losses, argmax's indices). Adding
 * one (CUDA) is a new folder src/ops/<name>/ with a file that defines its
 * lst_backend_t, and a call to lst_backend_set; tests/test_backend_ops.c
 * then runs the same case table on it against the CPU reference.
 *
 * The CPU backend has two instances (src/ops/cpu/backend_cpu.c): the fast
 * one (SIMD, SGEMM, OpenMP threads), and the reference, the plain-C loops
 * every fast path is tested against (the *_ref functions). */
#ifndef LST_BACKEND_H
#define LST_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "ops.h"

typedef enum {
    LST_COPY_H2D = 0, /* host -> backend */
    LST_COPY_D2H,     /* backend -> host */
    LST_COPY_D2D,     /* within the backend */
} lst_copy_kind_t;

typedef struct lst_backend {
    const char *name; /* "cpu", "cpu-ref" */
    /* ---- buffers ---- */
    void *(*alloc)(size_t bytes); /* NULL on failure; 64-byte aligned */
    void (*free)(void *p);
    void (*copy)(void *dst, const void *src, size_t bytes, lst_copy_kind_t kind);
    void (*sync)(void); /* waits for every op issued so far */
    /* ---- workspace queries (floats) ---- */
    size_t (*attention_forward_workspace)(int B, int Tq, int Tk, int H);
    size_t (*attention_backward_workspace)(int B, int Tq, int Tk, int H);
    size_t (*cross_fold_workspace)(int B, int T, int Ts, int H, int dm);
    /* ---- ops: the arguments of the ops.h function of the same name ---- */
    void (*dropout_apply)(float *out, const float *x, int64_t N, const lst_drop_t *d,
                          uint64_t first);
    void (*dropout_rows)(float *out, const float *x, int64_t N, const lst_drop_t *d);
    void (*dropout_probs)(float *out, const float *x, int Tq, int Tk, const lst_drop_t *d, int b,
                          int h);
    void (*matmul_forward)(float *out, const float *x, const float *W, const float *b, int N,
                           int IC, int OC);
    void (*matmul_backward)(float *dx, float *dW, float *db, const float *dout, const float *x,
                            const float *W, int N, int IC, int OC);
    void (*rmsnorm_forward)(float *out, float *rstd, const float *x, const float *w, int N, int C,
                            float eps);
    void (*rmsnorm_backward)(float *dx, float *dw, const float *dout, const float *x,
                             const float *w, const float *rstd, int N, int C);
    void (*residual_rmsnorm_forward)(float *res, float *norm, float *rstd, const float *x,
                                     const float *y, const float *w, int N, int C, float eps,
                                     const lst_drop_t *drop);
    void (*residual_rmsnorm_backward)(float *dres, float *dy, float *dw, const float *dnorm,
                                      const float *res, const float *w, const float *rstd, int N,
                                      int C, const lst_drop_t *drop);
    void (*act_forward)(float *out, const float *x, int64_t N, lst_op_act_t act);
    void (*act_backward)(float *dx, const float *dout, const float *x, int64_t N,
                         lst_op_act_t act);
    void (*gated_forward)(float *out, const float *g, const float *l, int64_t N,
                          lst_op_act_t act);
    void (*gated_backward)(float *dg, float *dl, const float *dout, const float *g,
                           const float *l, int64_t N, lst_op_act_t act);
    void (*embedding_forward)(float *out, const int32_t *ids, const float *table, int N, int C);
    void (*embedding_backward)(float *dtable, const float *dout, const int32_t *ids, int N, int C);
    void (*relbias_forward)(float *bias, const float *table, int H, int Tq, int Tk, int q_off,
                            int k_off, int bidirectional, int num_buckets, int max_distance);
    void (*relbias_backward)(float *dtable, const float *dbias, int H, int Tq, int Tk,
                             int bidirectional, int num_buckets, int max_distance);
    void (*attention_forward)(float *out, float *probs, float *lse, const float *q,
                              const float *k, const float *v, const float *bias,
                              const uint8_t *kmask, int causal, int B, int Tq, int Tk, int H,
                              int D, const lst_drop_t *drop, float *ws);
    void (*attention_backward)(float *dq, float *dk, float *dv, float *dbias, const float *dout,
                               const float *out, const float *lse, const float *q,
                               const float *k, const float *v, const float *bias,
                               const uint8_t *kmask, int causal, int B, int Tq, int Tk, int H,
                               int D, const lst_drop_t *drop, float *ws);
    void (*cross_fold_forward)(float *out, float *lse, const float *q, const float *enc,
                               const float *Wk, const float *Wv, const uint8_t *kmask, int B,
                               int T, int Ts, int H, int D, int dm, const lst_drop_t *drop,
                               float *ws);
    void (*cross_fold_backward)(float *dq, float *denc, float *dWk, float *dWv, const float *dout,
                                const float *q, const float *enc, const float *Wk,
                                const float *Wv, const float *lse, const uint8_t *kmask, int B,
                                int T, int Ts, int H, int D, int dm, const lst_drop_t *drop,
                                float *ws);
    double (*xent_forward_backward)(float *dlogits, const float *logits, const int32_t *labels,
                                    int N, int V, float dloss);
    double (*xent_sum)(float *dlogits, const float *logits, const int32_t *labels, int N, int V,
                       float grad_scale);
    double (*xent_chunk_inplace)(float *z, const int32_t *labels, int N, int V, float grad_scale);
    void (*add_inplace)(float *y, const float *x, int64_t N);
    void (*scale_inplace)(float *y, float s, int64_t N);
    void (*add_rows)(float *y, const float *b, int N, int C);
    void (*colsum_acc)(float *db, const float *dy, int N, int C);
    void (*gate_forward)(float *out, const float *a, const float *b, const float *alpha, float T,
                         int64_t N);
    void (*gate_backward)(float *da, float *db, float *dalpha, const float *dout, const float *a,
                          const float *b, const float *alpha, float T, int64_t N);
    void (*argmax_rows)(int32_t *idx, const float *x, int N, int V);
} lst_backend_t;

/* The CPU backend's instances (src/ops/cpu/backend_cpu.c). */
extern const lst_backend_t lst_backend_cpu;     /* fast: the default */
extern const lst_backend_t lst_backend_cpu_ref; /* plain C: the reference */

/* The backend ops.h's functions run on. Not thread-safe to change while
 * ops run: set it once, before any. */
extern const lst_backend_t *lst_backend_active;
static inline const lst_backend_t *lst_backend(void) { return lst_backend_active; }
void lst_backend_set(const lst_backend_t *be); /* NULL: the CPU backend */

#endif
