/* attention.c: the T5 attention core softmax(q k^T + bias + mask) v, per
 * batch row and head, with SGEMM over strided head slices (no transposed
 * copies). T5 does not scale by 1/sqrt(D).
 *
 * Flash-style memory: the B x H x Tq x Tk probabilities are never kept.
 * Forward saves one log-sum-exp per query row; backward recomputes each
 * (row, head) block of probabilities in a per-thread slice of the caller's
 * workspace from q, k, the bias and the log-sum-exp, and regenerates the
 * dropout mask. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "../ops.h"
#include "cpu.h"
#include "softmax_rows.h"


/* Scores of one (b, h) block: S = q_h k_h^T + bias[h]. S: [Tq, Tk] */
static void scores(float *S, const float *qh, const float *kh, const float *bh, int Tq, int Tk,
                   int D, int C) {
    /* the bias is copied in and the product added to it: one pass over S
     * fewer than zeroing it (what SGEMM does for beta 0) and adding */
    if (bh) memcpy(S, bh, sizeof(float) * (size_t)Tq * Tk);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, D, 1.0f, qh, C, kh, C,
                bh ? 1.0f : 0.0f, S, Tk);
}

/* Per thread: one [Tq, Tk] block and room for its dropped copy or the
 * row scales (forward), the block, its dropped copy and dS (backward). */
size_t lst_cpu_attention_forward_workspace(int B, int Tq, int Tk, int H) {
    return (size_t)LST_MAX_THREADS * 2 * Tq * Tk;
}
size_t lst_cpu_attention_backward_workspace(int B, int Tq, int Tk, int H) {
    return (size_t)LST_MAX_THREADS * 3 * Tq * Tk;
}

/* q: [B,Tq,H*D]  k,v: [B,Tk,H*D]  bias: [H,Tq,Tk]|NULL  kmask: [B,Tk]|NULL
 * out: [B,Tq,H*D]  probs: [B,H,Tq,Tk] or NULL  lse: [B,H,Tq] or NULL */
void lst_cpu_attention_forward(float *out, float *probs, float *lse, const float *q,
                           const float *k, const float *v, const float *bias,
                           const uint8_t *kmask, int causal, int B, int Tq, int Tk, int H,
                           int D, const lst_drop_t *drop, float *ws) {
    const int C = H * D;
    const int off = Tk - Tq; /* query i sits at absolute position i + off */
    const int dropping = lst_drop_active(drop);
    const int nt = (double)B * H * Tq * Tk * D > 2e5 ? lst_threads() : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int bh = 0; bh < B * H; bh++) {
        const int b = bh / H, h = bh % H;
        float *mine = ws ? ws + (size_t)omp_get_thread_num() * 2 * Tq * Tk : NULL;
        float *P = probs ? probs + (size_t)bh * Tq * Tk : mine;
        const uint8_t *km = kmask ? kmask + (size_t)b * Tk : NULL;
        /* Unless the probabilities are asked for, rows stay unnormalised and
         * the output rows are scaled instead: D values a row, not Tk. */
        float *inv = probs ? NULL : mine + (size_t)Tq * Tk;
        scores(P, q + (size_t)b * Tq * C + (size_t)h * D, k + (size_t)b * Tk * C + (size_t)h * D,
               bias ? bias + (size_t)h * Tq * Tk : NULL, Tq, Tk, D, C);
        for (int i = 0; i < Tq; i++) {
            float *s = P + (size_t)i * Tk;
            const int limit = causal ? i + off : Tk - 1;
            const float mx = lst_row_max(s, Tk, limit, km);
            if (mx == -INFINITY) { /* no visible key: zero output */
                memset(s, 0, sizeof(float) * Tk);
                if (lse) lse[(size_t)bh * Tq + i] = INFINITY;
                if (inv) inv[i] = 0.0f;
                continue;
            }
            const double sum = lst_row_exp(s, Tk, mx, limit, km);
            if (inv) inv[i] = (float)(1.0 / sum);
            else lst_row_scale(s, Tk, (float)(1.0 / sum));
            if (lse) lse[(size_t)bh * Tq + i] = mx + (float)log(sum);
        }
        const float *Pv = P;
        if (dropping && inv) {
            lst_cpu_dropout_probs(P, P, Tq, Tk, drop, b, h);
        } else if (dropping) {
            float *Pd = mine + (size_t)Tq * Tk;
            lst_cpu_dropout_probs(Pd, P, Tq, Tk, drop, b, h);
            Pv = Pd;
        }
        float *o = out + (size_t)b * Tq * C + (size_t)h * D;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, D, Tk, 1.0f, Pv, Tk,
                    v + (size_t)b * Tk * C + (size_t)h * D, C, 0.0f, o, C);
        if (inv)
            for (int i = 0; i < Tq; i++) lst_row_scale(o + (size_t)i * C, D, inv[i]);
    }
}

/* Per (b, h), with P recomputed from the scores and lse, M the dropout mask
 * (scaled) and O the forward output:
 *   dv += (P*M)^T dO;  dP = (dO v^T) * M;  Di = rowsum(dO * O)
 *   dS = P * (dP - Di);  dq += dS k;  dk += dS^T q;  dbias[h] += sum_b dS
 * (Di = rowsum(dP * P) because O_i = sum_j P_ij M_ij v_j.) */
void lst_cpu_attention_backward(float *dq, float *dk, float *dv, float *dbias, const float *dout,
                            const float *out, const float *lse, const float *q, const float *k,
                            const float *v, const float *bias, const uint8_t *kmask, int causal,
                            int B, int Tq, int Tk, int H, int D, const lst_drop_t *drop,
                            float *ws) {
    const int C = H * D;
    const int off = Tk - Tq;
    const int dropping = lst_drop_active(drop);
    /* threads own heads: dbias[h] and the head's columns of dq, dk, dv */
    const int nt = (double)B * H * Tq * Tk * D > 2e5 ? (H < lst_threads() ? H : lst_threads()) : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int h = 0; h < H; h++)
        for (int b = 0; b < B; b++) {
            const size_t bh = (size_t)b * H + h;
            float *P = ws + (size_t)omp_get_thread_num() * 3 * Tq * Tk;
            float *Pd = P + (size_t)Tq * Tk, *dS = Pd + (size_t)Tq * Tk;
            const float *qh = q + (size_t)b * Tq * C + (size_t)h * D;
            const float *kh = k + (size_t)b * Tk * C + (size_t)h * D;
            const float *vh = v + (size_t)b * Tk * C + (size_t)h * D;
            const float *doh = dout + (size_t)b * Tq * C + (size_t)h * D;
            const float *oh = out + (size_t)b * Tq * C + (size_t)h * D;
            const uint8_t *km = kmask ? kmask + (size_t)b * Tk : NULL;
            scores(P, qh, kh, bias ? bias + (size_t)h * Tq * Tk : NULL, Tq, Tk, D, C);
            for (int i = 0; i < Tq; i++) {
                float *s = P + (size_t)i * Tk;
                const float l = lse[bh * Tq + i];
                const int limit = causal ? i + off : Tk - 1;
                if (l == INFINITY) memset(s, 0, sizeof(float) * Tk); /* a row that saw no key */
                else lst_row_exp(s, Tk, l, limit, km);
            }
            if (dropping) lst_cpu_dropout_probs(Pd, P, Tq, Tk, drop, b, h);
            if (dv)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, D, Tq, 1.0f,
                            dropping ? Pd : P, Tk, doh, C, 1.0f,
                            dv + (size_t)b * Tk * C + (size_t)h * D, C);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, D, 1.0f, doh, C, vh, C,
                        0.0f, dS, Tk);
            if (dropping) /* the same mask, read off Pd instead of drawn again */
                lst_row_dropped_grad(dS, Pd, (int64_t)Tq * Tk, 1.0f / (1.0f - drop->p));
            for (int i = 0; i < Tq; i++) {
                double di = 0;
                for (int d = 0; d < D; d++) di += (double)doh[(size_t)i * C + d] * oh[(size_t)i * C + d];
                lst_row_dsoftmax(dS + (size_t)i * Tk, P + (size_t)i * Tk, Tk, (float)di);
            }
            if (dbias) lst_cpu_add_inplace(dbias + (size_t)h * Tq * Tk, dS, (int64_t)Tq * Tk);
            if (dq)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, D, Tk, 1.0f, dS, Tk, kh,
                            C, 1.0f, dq + (size_t)b * Tq * C + (size_t)h * D, C);
            if (dk)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, D, Tq, 1.0f, dS, Tk, qh,
                            C, 1.0f, dk + (size_t)b * Tk * C + (size_t)h * D, C);
        }
}

/* Plain loops in double: the reference for the SGEMM path. */
void lst_attention_forward_ref(float *out, float *probs, const float *q,
                               const float *k, const float *v,
                               const float *bias, const uint8_t *kmask,
                               int causal, int B, int Tq, int Tk, int H, int D) {
    const int C = H * D;
    const int off = Tk - Tq;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < Tq; i++) {
                float *P = probs + (((size_t)b * H + h) * Tq + i) * Tk;
                double mx = -INFINITY;
                for (int j = 0; j < Tk; j++) {
                    int vis = (!causal || j <= i + off) && (!kmask || kmask[(size_t)b * Tk + j]);
                    double s = 0;
                    for (int d = 0; d < D; d++)
                        s += (double)q[((size_t)b * Tq + i) * C + h * D + d] *
                             k[((size_t)b * Tk + j) * C + h * D + d];
                    if (bias) s += bias[((size_t)h * Tq + i) * Tk + j];
                    P[j] = vis ? (float)s : -INFINITY;
                    if (vis && s > mx) mx = s;
                }
                double sum = 0;
                for (int j = 0; j < Tk; j++) {
                    double e = P[j] == -INFINITY ? 0 : exp(P[j] - mx);
                    P[j] = (float)e;
                    sum += e;
                }
                for (int j = 0; j < Tk; j++) P[j] = sum > 0 ? (float)(P[j] / sum) : 0;
                for (int d = 0; d < D; d++) {
                    double s = 0;
                    for (int j = 0; j < Tk; j++)
                        s += (double)P[j] * v[((size_t)b * Tk + j) * C + h * D + d];
                    out[((size_t)b * Tq + i) * C + h * D + d] = (float)s;
                }
            }
}
