/* attention.c: the T5 attention core softmax(q k^T + bias + mask) v, per
 * batch row and head, with SGEMM over strided head slices (no transposed
 * copies). T5 does not scale by 1/sqrt(D). Probabilities are kept for
 * backward here; a recomputing variant can replace this without changing
 * the signature of the callers' data. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "../ops.h"

/* Softmax of one row of scores in place; invisible keys get exactly 0. */
static void softmax_row(float *s, const float *brow, const uint8_t *km,
                        int Tk, int limit) {
    float mx = -INFINITY;
    for (int j = 0; j < Tk; j++) {
        int vis = j <= limit && (!km || km[j]);
        if (!vis) continue;
        if (brow) s[j] += brow[j];
        if (s[j] > mx) mx = s[j];
    }
    if (mx == -INFINITY) {
        memset(s, 0, sizeof(float) * Tk);
        return;
    }
    double sum = 0;
    for (int j = 0; j < Tk; j++) {
        int vis = j <= limit && (!km || km[j]);
        float e = vis ? expf(s[j] - mx) : 0.0f;
        s[j] = e;
        sum += e;
    }
    float inv = (float)(1.0 / sum);
    for (int j = 0; j < Tk; j++) s[j] *= inv;
}

/* q: [B,Tq,H*D]  k,v: [B,Tk,H*D]  bias: [H,Tq,Tk]|NULL  kmask: [B,Tk]|NULL
 * out: [B,Tq,H*D]  probs: [B,H,Tq,Tk] */
void lst_attention_forward(float *out, float *probs, const float *q,
                           const float *k, const float *v, const float *bias,
                           const uint8_t *kmask, int causal, int B, int Tq,
                           int Tk, int H, int D, const lst_drop_t *drop,
                           float *scratch) {
    const int C = H * D;
    const int off = Tk - Tq; /* query i sits at absolute position i + off */
    const int dropping = lst_drop_active(drop);
    const int nt = (double)B * H * Tq * Tk * D > 2e5 ? lst_threads() : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int bh = 0; bh < B * H; bh++) {
            const int b = bh / H, h = bh % H;
            float *mine = scratch ? scratch + (size_t)omp_get_thread_num() * Tq * Tk : NULL;
            float *P = probs + ((size_t)b * H + h) * Tq * Tk;
            const float *qh = q + (size_t)b * Tq * C + (size_t)h * D;
            const float *kh = k + (size_t)b * Tk * C + (size_t)h * D;
            const float *vh = v + (size_t)b * Tk * C + (size_t)h * D;
            float *oh = out + (size_t)b * Tq * C + (size_t)h * D;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, D, 1.0f,
                        qh, C, kh, C, 0.0f, P, Tk);
            for (int i = 0; i < Tq; i++)
                softmax_row(P + (size_t)i * Tk,
                            bias ? bias + ((size_t)h * Tq + i) * Tk : NULL,
                            kmask ? kmask + (size_t)b * Tk : NULL, Tk,
                            causal ? i + off : Tk - 1);
            const float *Pv = P;
            if (dropping) {
                lst_dropout_apply(mine, P, (int64_t)Tq * Tk, drop,
                                  ((uint64_t)b * H + h) * Tq * Tk);
                Pv = mine;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, D, Tk,
                        1.0f, Pv, Tk, vh, C, 0.0f, oh, C);
        }
}

/* With dropout mask M (scaled): Pd = P * M.
 * dv += Pd^T dout;  dP = (dout v^T) * M;  dS = P * (dP - rowsum(dP * P))
 * dq += dS k   dk += dS^T q   dbias[h] += sum_b dS */
void lst_attention_backward(float *dq, float *dk, float *dv, float *dbias,
                            const float *dout, const float *probs,
                            const float *q, const float *k, const float *v,
                            int B, int Tq, int Tk, int H, int D,
                            const lst_drop_t *drop, float *scratch) {
    const int C = H * D;
    const int dropping = lst_drop_active(drop);
    /* threads own heads: dbias[h] and the head's columns of dq, dk, dv */
    const int nt = (double)B * H * Tq * Tk * D > 2e5 ? (H < lst_threads() ? H : lst_threads()) : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int h = 0; h < H; h++)
        for (int b = 0; b < B; b++) {
            float *mine = scratch + (size_t)omp_get_thread_num() * 2 * Tq * Tk;
            const float *P = probs + ((size_t)b * H + h) * Tq * Tk;
            const float *qh = q + (size_t)b * Tq * C + (size_t)h * D;
            const float *kh = k + (size_t)b * Tk * C + (size_t)h * D;
            const float *vh = v + (size_t)b * Tk * C + (size_t)h * D;
            const float *doh = dout + (size_t)b * Tq * C + (size_t)h * D;
            float *dS = mine, *Pd = mine + (size_t)Tq * Tk;
            const uint64_t first = ((uint64_t)b * H + h) * Tq * Tk;
            if (dropping) lst_dropout_apply(Pd, P, (int64_t)Tq * Tk, drop, first);
            if (dv)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, D, Tq,
                            1.0f, dropping ? Pd : P, Tk, doh, C, 1.0f,
                            dv + (size_t)b * Tk * C + (size_t)h * D, C);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, D, 1.0f,
                        doh, C, vh, C, 0.0f, dS, Tk);
            if (dropping) lst_dropout_apply(dS, dS, (int64_t)Tq * Tk, drop, first);
            for (int i = 0; i < Tq; i++) {
                float *row = dS + (size_t)i * Tk;
                const float *pr = P + (size_t)i * Tk;
                double dot = 0;
                for (int j = 0; j < Tk; j++) dot += (double)row[j] * pr[j];
                for (int j = 0; j < Tk; j++) row[j] = pr[j] * (row[j] - (float)dot);
            }
            if (dbias) lst_add_inplace(dbias + (size_t)h * Tq * Tk, dS, (int64_t)Tq * Tk);
            if (dq)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, D, Tk,
                            1.0f, dS, Tk, kh, C, 1.0f,
                            dq + (size_t)b * Tq * C + (size_t)h * D, C);
            if (dk)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Tk, D, Tq,
                            1.0f, dS, Tk, qh, C, 1.0f,
                            dk + (size_t)b * Tk * C + (size_t)h * D, C);
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
