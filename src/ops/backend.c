/* backend.c: the functions of ops.h, each one indirect call through the
 * active backend's table (backend.h); a CUDA backend is another table. */
#include "backend.h"

#include <math.h>

const lst_backend_t *lst_backend_active = &lst_backend_cpu;

void lst_backend_set(const lst_backend_t *be) { lst_backend_active = be ? be : &lst_backend_cpu; }

size_t lst_attention_forward_workspace(int B, int Tq, int Tk, int H) {
    return lst_backend_active->attention_forward_workspace(B, Tq, Tk, H);
}
size_t lst_attention_backward_workspace(int B, int Tq, int Tk, int H) {
    return lst_backend_active->attention_backward_workspace(B, Tq, Tk, H);
}
size_t lst_cross_fold_workspace(int B, int T, int Ts, int H, int dm) {
    return lst_backend_active->cross_fold_workspace(B, T, Ts, H, dm);
}

void lst_param_read(float *host, const float *src, size_t n) {
    lst_backend_active->copy(host, src, sizeof(float) * n, LST_COPY_D2H);
}

void lst_gate_values(const float *alpha, float T, float *g, float *one_minus_g) {
    float a;
    lst_param_read(&a, alpha, 1);
    lst_gate_from_value(a, T, g, one_minus_g);
}

void lst_dropout_apply(float *out, const float *x, int64_t N, const lst_drop_t *d, uint64_t first) {
    lst_backend_active->dropout_apply(out, x, N, d, first);
}

void lst_dropout_rows(float *out, const float *x, int64_t N, const lst_drop_t *d) {
    lst_backend_active->dropout_rows(out, x, N, d);
}

void lst_dropout_probs(float *out, const float *x, int Tq, int Tk, const lst_drop_t *d, int b,
                       int h) {
    lst_backend_active->dropout_probs(out, x, Tq, Tk, d, b, h);
}

void lst_matmul_forward(float *out, const float *x, const float *W, const float *b, int N, int IC,
                        int OC) {
    lst_backend_active->matmul_forward(out, x, W, b, N, IC, OC);
}

void lst_matmul_backward(float *dx, float *dW, float *db, const float *dout, const float *x,
                         const float *W, int N, int IC, int OC) {
    lst_backend_active->matmul_backward(dx, dW, db, dout, x, W, N, IC, OC);
}

void lst_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C,
                         float eps) {
    lst_backend_active->rmsnorm_forward(out, rstd, x, w, N, C, eps);
}

void lst_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                          const float *rstd, int N, int C) {
    lst_backend_active->rmsnorm_backward(dx, dw, dout, x, w, rstd, N, C);
}

void lst_residual_rmsnorm_forward(float *res, float *norm, float *rstd, const float *x,
                                  const float *y, const float *w, int N, int C, float eps,
                                  const lst_drop_t *drop) {
    lst_backend_active->residual_rmsnorm_forward(res, norm, rstd, x, y, w, N, C, eps, drop);
}

void lst_residual_rmsnorm_backward(float *dres, float *dy, float *dw, const float *dnorm,
                                   const float *res, const float *w, const float *rstd, int N,
                                   int C, const lst_drop_t *drop) {
    lst_backend_active->residual_rmsnorm_backward(dres, dy, dw, dnorm, res, w, rstd, N, C, drop);
}

void lst_act_forward(float *out, const float *x, int64_t N, lst_op_act_t act) {
    lst_backend_active->act_forward(out, x, N, act);
}

void lst_act_backward(float *dx, const float *dout, const float *x, int64_t N, lst_op_act_t act) {
    lst_backend_active->act_backward(dx, dout, x, N, act);
}

void lst_gated_forward(float *out, const float *g, const float *l, int64_t N, lst_op_act_t act) {
    lst_backend_active->gated_forward(out, g, l, N, act);
}

void lst_gated_backward(float *dg, float *dl, const float *dout, const float *g, const float *l,
                        int64_t N, lst_op_act_t act) {
    lst_backend_active->gated_backward(dg, dl, dout, g, l, N, act);
}

void lst_embedding_forward(float *out, const int32_t *ids, const float *table, int N, int C) {
    lst_backend_active->embedding_forward(out, ids, table, N, C);
}

void lst_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int C) {
    lst_backend_active->embedding_backward(dtable, dout, ids, N, C);
}

void lst_relbias_forward(float *bias, const float *table, int H, int Tq, int Tk, int q_off,
                         int k_off, int bidirectional, int num_buckets, int max_distance) {
    lst_backend_active->relbias_forward(bias, table, H, Tq, Tk, q_off, k_off, bidirectional,
                                        num_buckets, max_distance);
}

void lst_relbias_backward(float *dtable, const float *dbias, int H, int Tq, int Tk,
                          int bidirectional, int num_buckets, int max_distance) {
    lst_backend_active->relbias_backward(dtable, dbias, H, Tq, Tk, bidirectional, num_buckets,
                                         max_distance);
}

void lst_attention_forward(float *out, float *probs, float *lse, const float *q, const float *k,
                           const float *v, const float *bias, const uint8_t *kmask, int causal,
                           int B, int Tq, int Tk, int H, int D, const lst_drop_t *drop, float *ws) {
    lst_backend_active->attention_forward(out, probs, lse, q, k, v, bias, kmask, causal, B, Tq, Tk,
                                          H, D, drop, ws);
}

void lst_attention_backward(float *dq, float *dk, float *dv, float *dbias, const float *dout,
                            const float *out, const float *lse, const float *q, const float *k,
                            const float *v, const float *bias, const uint8_t *kmask, int causal,
                            int B, int Tq, int Tk, int H, int D, const lst_drop_t *drop,
                            float *ws) {
    lst_backend_active->attention_backward(dq, dk, dv, dbias, dout, out, lse, q, k, v, bias, kmask,
                                           causal, B, Tq, Tk, H, D, drop, ws);
}

void lst_cross_fold_forward(float *out, float *lse, const float *q, const float *enc,
                            const float *Wk, const float *Wv, const uint8_t *kmask, int B, int T,
                            int Ts, int H, int D, int dm, const lst_drop_t *drop, float *ws) {
    lst_backend_active->cross_fold_forward(out, lse, q, enc, Wk, Wv, kmask, B, T, Ts, H, D, dm,
                                           drop, ws);
}

void lst_cross_fold_backward(float *dq, float *denc, float *dWk, float *dWv, const float *dout,
                             const float *q, const float *enc, const float *Wk, const float *Wv,
                             const float *lse, const uint8_t *kmask, int B, int T, int Ts, int H,
                             int D, int dm, const lst_drop_t *drop, float *ws) {
    lst_backend_active->cross_fold_backward(dq, denc, dWk, dWv, dout, q, enc, Wk, Wv, lse, kmask, B,
                                            T, Ts, H, D, dm, drop, ws);
}

double lst_xent_forward_backward(float *dlogits, const float *logits, const int32_t *labels, int N,
                                 int V, float dloss) {
    return lst_backend_active->xent_forward_backward(dlogits, logits, labels, N, V, dloss);
}

double lst_xent_sum(float *dlogits, const float *logits, const int32_t *labels, int N, int V,
                    float grad_scale) {
    return lst_backend_active->xent_sum(dlogits, logits, labels, N, V, grad_scale);
}

double lst_xent_chunk_inplace(float *z, const int32_t *labels, int N, int V, float grad_scale) {
    return lst_backend_active->xent_chunk_inplace(z, labels, N, V, grad_scale);
}

void lst_add_inplace(float *y, const float *x, int64_t N) {
    lst_backend_active->add_inplace(y, x, N);
}

void lst_scale_inplace(float *y, float s, int64_t N) { lst_backend_active->scale_inplace(y, s, N); }

void lst_add_rows(float *y, const float *b, int N, int C) {
    lst_backend_active->add_rows(y, b, N, C);
}

void lst_colsum_acc(float *db, const float *dy, int N, int C) {
    lst_backend_active->colsum_acc(db, dy, N, C);
}

void lst_gate_forward(float *out, const float *a, const float *b, const float *alpha, float T,
                      int64_t N) {
    lst_backend_active->gate_forward(out, a, b, alpha, T, N);
}

void lst_gate_backward(float *da, float *db, float *dalpha, const float *dout, const float *a,
                       const float *b, const float *alpha, float T, int64_t N) {
    lst_backend_active->gate_backward(da, db, dalpha, dout, a, b, alpha, T, N);
}

void lst_argmax_rows(int32_t *idx, const float *x, int N, int V) {
    lst_backend_active->argmax_rows(idx, x, N, V);
}
