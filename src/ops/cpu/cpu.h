/* cpu.h: the CPU backend's own declarations, internal to src/ops/cpu: its
 * thread bound, the fast entry points of its table (lst_cpu_<op>, what the
 * ops.h function of the same name reaches through lst_backend_cpu) and the
 * plain-C references of its second instance (lst_backend_cpu_ref). The
 * references are loops in the definition's order, mostly in double, that
 * may allocate: for tests, never on a step's path. */
#ifndef LST_CPU_H
#define LST_CPU_H

#include "../backend.h"
#include "../ops.h"

/* The most threads an op splits its work over: the workspace queries size
 * per-thread scratch for this many, so a later omp_set_num_threads (up to
 * it) cannot outgrow a planned workspace. */
#define LST_MAX_THREADS 16

size_t lst_cpu_attention_forward_workspace(int B, int Tq, int Tk, int H);
size_t lst_cpu_attention_backward_workspace(int B, int Tq, int Tk, int H);
size_t lst_cpu_cross_fold_workspace(int B, int T, int Ts, int H, int dm);

/* ---- fast ---- */
void lst_cpu_dropout_apply(float *out, const float *x, int64_t N, const lst_drop_t *d,
                           uint64_t first);
void lst_cpu_dropout_rows(float *out, const float *x, int64_t N, const lst_drop_t *d);
void lst_cpu_dropout_probs(float *out, const float *x, int Tq, int Tk, const lst_drop_t *d, int b,
                           int h);
void lst_cpu_matmul_forward(float *out, const float *x, const float *W, const float *b, int N,
                            int IC, int OC);
void lst_cpu_matmul_backward(float *dx, float *dW, float *db, const float *dout, const float *x,
                             const float *W, int N, int IC, int OC);
void lst_cpu_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C,
                             float eps);
void lst_cpu_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x,
                              const float *w, const float *rstd, int N, int C);
void lst_cpu_residual_rmsnorm_forward(float *res, float *norm, float *rstd, const float *x,
                                      const float *y, const float *w, int N, int C, float eps,
                                      const lst_drop_t *drop);
void lst_cpu_residual_rmsnorm_backward(float *dres, float *dy, float *dw, const float *dnorm,
                                       const float *res, const float *w, const float *rstd, int N,
                                       int C, const lst_drop_t *drop);
void lst_cpu_act_forward(float *out, const float *x, int64_t N, lst_op_act_t act);
void lst_cpu_act_backward(float *dx, const float *dout, const float *x, int64_t N,
                          lst_op_act_t act);
void lst_cpu_gated_forward(float *out, const float *g, const float *l, int64_t N, lst_op_act_t act);
void lst_cpu_gated_backward(float *dg, float *dl, const float *dout, const float *g, const float *l,
                            int64_t N, lst_op_act_t act);
void lst_cpu_embedding_forward(float *out, const int32_t *ids, const float *table, int N, int C);
void lst_cpu_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int C);
void lst_cpu_relbias_forward(float *bias, const float *table, int H, int Tq, int Tk, int q_off,
                             int k_off, int bidirectional, int num_buckets, int max_distance);
void lst_cpu_relbias_backward(float *dtable, const float *dbias, int H, int Tq, int Tk,
                              int bidirectional, int num_buckets, int max_distance);
void lst_cpu_attention_forward(float *out, float *probs, float *lse, const float *q, const float *k,
                               const float *v, const float *bias, const uint8_t *kmask, int causal,
                               int B, int Tq, int Tk, int H, int D, const lst_drop_t *drop,
                               float *ws);
void lst_cpu_attention_backward(float *dq, float *dk, float *dv, float *dbias, const float *dout,
                                const float *out, const float *lse, const float *q, const float *k,
                                const float *v, const float *bias, const uint8_t *kmask, int causal,
                                int B, int Tq, int Tk, int H, int D, const lst_drop_t *drop,
                                float *ws);
void lst_cpu_cross_fold_forward(float *out, float *lse, const float *q, const float *enc,
                                const float *Wk, const float *Wv, const uint8_t *kmask, int B,
                                int T, int Ts, int H, int D, int dm, const lst_drop_t *drop,
                                float *ws);
void lst_cpu_cross_fold_backward(float *dq, float *denc, float *dWk, float *dWv, const float *dout,
                                 const float *q, const float *enc, const float *Wk, const float *Wv,
                                 const float *lse, const uint8_t *kmask, int B, int T, int Ts,
                                 int H, int D, int dm, const lst_drop_t *drop, float *ws);
double lst_cpu_xent_forward_backward(float *dlogits, const float *logits, const int32_t *labels,
                                     int N, int V, float dloss);
double lst_cpu_xent_sum(float *dlogits, const float *logits, const int32_t *labels, int N, int V,
                        float grad_scale);
double lst_cpu_xent_chunk_inplace(float *z, const int32_t *labels, int N, int V, float grad_scale);
void lst_cpu_add_inplace(float *y, const float *x, int64_t N);
void lst_cpu_scale_inplace(float *y, float s, int64_t N);
void lst_cpu_add_rows(float *y, const float *b, int N, int C);
void lst_cpu_colsum_acc(float *db, const float *dy, int N, int C);
void lst_cpu_gate_forward(float *out, const float *a, const float *b, const float *alpha, float T,
                          int64_t N);
void lst_cpu_gate_backward(float *da, float *db, float *dalpha, const float *dout, const float *a,
                           const float *b, const float *alpha, float T, int64_t N);
void lst_cpu_argmax_rows(int32_t *idx, const float *x, int N, int V);

/* ---- references (besides lst_dropout_apply_ref, lst_matmul_forward_ref,
 * lst_matmul_backward_ref and lst_attention_forward_ref of ops.h) ---- */
void lst_dropout_rows_ref(float *out, const float *x, int64_t N, const lst_drop_t *d);
void lst_dropout_probs_ref(float *out, const float *x, int Tq, int Tk, const lst_drop_t *d, int b,
                           int h);
void lst_rmsnorm_forward_ref(float *out, float *rstd, const float *x, const float *w, int N, int C,
                             float eps);
void lst_rmsnorm_backward_ref(float *dx, float *dw, const float *dout, const float *x,
                              const float *w, const float *rstd, int N, int C);
void lst_residual_rmsnorm_forward_ref(float *res, float *norm, float *rstd, const float *x,
                                      const float *y, const float *w, int N, int C, float eps,
                                      const lst_drop_t *drop);
void lst_residual_rmsnorm_backward_ref(float *dres, float *dy, float *dw, const float *dnorm,
                                       const float *res, const float *w, const float *rstd, int N,
                                       int C, const lst_drop_t *drop);
void lst_act_forward_ref(float *out, const float *x, int64_t N, lst_op_act_t act);
void lst_act_backward_ref(float *dx, const float *dout, const float *x, int64_t N,
                          lst_op_act_t act);
void lst_gated_forward_ref(float *out, const float *g, const float *l, int64_t N, lst_op_act_t act);
void lst_gated_backward_ref(float *dg, float *dl, const float *dout, const float *g, const float *l,
                            int64_t N, lst_op_act_t act);
void lst_embedding_forward_ref(float *out, const int32_t *ids, const float *table, int N, int C);
void lst_embedding_backward_ref(float *dtable, const float *dout, const int32_t *ids, int N, int C);
void lst_relbias_forward_ref(float *bias, const float *table, int H, int Tq, int Tk, int q_off,
                             int k_off, int bidirectional, int num_buckets, int max_distance);
void lst_relbias_backward_ref(float *dtable, const float *dbias, int H, int Tq, int Tk,
                              int bidirectional, int num_buckets, int max_distance);
void lst_attention_forward_full_ref(float *out, float *probs, float *lse, const float *q,
                                    const float *k, const float *v, const float *bias,
                                    const uint8_t *kmask, int causal, int B, int Tq, int Tk, int H,
                                    int D, const lst_drop_t *drop, float *ws);
void lst_attention_backward_ref(float *dq, float *dk, float *dv, float *dbias, const float *dout,
                                const float *out, const float *lse, const float *q, const float *k,
                                const float *v, const float *bias, const uint8_t *kmask, int causal,
                                int B, int Tq, int Tk, int H, int D, const lst_drop_t *drop,
                                float *ws);
void lst_cross_fold_forward_ref(float *out, float *lse, const float *q, const float *enc,
                                const float *Wk, const float *Wv, const uint8_t *kmask, int B,
                                int T, int Ts, int H, int D, int dm, const lst_drop_t *drop,
                                float *ws);
void lst_cross_fold_backward_ref(float *dq, float *denc, float *dWk, float *dWv, const float *dout,
                                 const float *q, const float *enc, const float *Wk, const float *Wv,
                                 const float *lse, const uint8_t *kmask, int B, int T, int Ts,
                                 int H, int D, int dm, const lst_drop_t *drop, float *ws);
double lst_xent_forward_backward_ref(float *dlogits, const float *logits, const int32_t *labels,
                                     int N, int V, float dloss);
double lst_xent_sum_ref(float *dlogits, const float *logits, const int32_t *labels, int N, int V,
                        float grad_scale);
double lst_xent_chunk_inplace_ref(float *z, const int32_t *labels, int N, int V, float grad_scale);
void lst_add_inplace_ref(float *y, const float *x, int64_t N);
void lst_scale_inplace_ref(float *y, float s, int64_t N);
void lst_add_rows_ref(float *y, const float *b, int N, int C);
void lst_colsum_acc_ref(float *db, const float *dy, int N, int C);
void lst_gate_forward_ref(float *out, const float *a, const float *b, const float *alpha, float T,
                          int64_t N);
void lst_gate_backward_ref(float *da, float *db, float *dalpha, const float *dout, const float *a,
                           const float *b, const float *alpha, float T, int64_t N);
void lst_argmax_rows_ref(int32_t *idx, const float *x, int N, int V);

#endif
