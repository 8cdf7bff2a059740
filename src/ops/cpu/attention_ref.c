/* attention_ref.c: the plain-C references of the attention ops (the
 * reference instance's entries): scores, softmax and products in double,
 * one (batch row, head, query) at a time, the dropout mask element by
 * element (lst_dropout_apply_ref); the backward from the textbook
 * expressions with its own softmax (not the forward's log-sum-exp), and the
 * folded cross-attention as the plain one on projected keys and values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ops.h"
#include "cpu.h"

/* P: [Tq, Tk] softmax of (b, h)'s visible scores (0 where masked; a row
 * that sees no key is all 0, *none set); M: [Tq, Tk] the dropout factor
 * (0 or 1/(1-p); 1 without dropout). Returns each row's lse in L. */
static void probs_ref(double *P, double *M, double *L, const float *q, const float *k,
                      const float *bias, const uint8_t *kmask, int causal, int b, int h, int Tq,
                      int Tk, int H, int D, const lst_drop_t *drop) {
    const int C = H * D, off = Tk - Tq;
    const lst_drop_t ex = lst_drop_example(drop, b);
    const float one = 1.0f;
    for (int i = 0; i < Tq; i++) {
        double *p = P + (size_t)i * Tk, mx = -INFINITY;
        for (int j = 0; j < Tk; j++) {
            const int vis = (!causal || j <= i + off) && (!kmask || kmask[(size_t)b * Tk + j]);
            double s = 0;
            for (int d = 0; d < D; d++)
                s += (double)q[((size_t)b * Tq + i) * C + h * D + d] *
                     k[((size_t)b * Tk + j) * C + h * D + d];
            if (bias)
                s += bias[((size_t)h * Tq + i) * Tk + j];
            p[j] = vis ? s : -INFINITY;
            if (vis && s > mx)
                mx = s;
        }
        double sum = 0;
        for (int j = 0; j < Tk; j++)
            sum += p[j] == -INFINITY ? 0 : exp(p[j] - mx);
        for (int j = 0; j < Tk; j++)
            p[j] = p[j] == -INFINITY ? 0 : exp(p[j] - mx) / sum;
        L[i] = sum > 0 ? mx + log(sum) : INFINITY;
        for (int j = 0; j < Tk; j++) {
            float m = one;
            if (lst_drop_active(drop))
                lst_dropout_apply_ref(&m, &one, 1, &ex,
                                      ((uint64_t)h << 40) + ((uint64_t)i << 20) + j);
            M[(size_t)i * Tk + j] = m;
        }
    }
}

void lst_attention_forward_full_ref(float *out, float *probs, float *lse, const float *q,
                                    const float *k, const float *v, const float *bias,
                                    const uint8_t *kmask, int causal, int B, int Tq, int Tk, int H,
                                    int D, const lst_drop_t *drop, float *ws) {
    const int C = H * D;
    double *P = malloc(sizeof(double) * ((size_t)2 * Tq * Tk + Tq)), *M = P + (size_t)Tq * Tk;
    double *L = M + (size_t)Tq * Tk;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const size_t bh = (size_t)b * H + h;
            probs_ref(P, M, L, q, k, bias ? bias : NULL, kmask, causal, b, h, Tq, Tk, H, D, drop);
            for (int i = 0; i < Tq; i++) {
                if (lse)
                    lse[bh * Tq + i] = (float)L[i];
                for (int j = 0; j < Tk; j++)
                    if (probs)
                        probs[(bh * Tq + i) * Tk + j] = (float)P[(size_t)i * Tk + j];
                for (int d = 0; d < D; d++) {
                    double s = 0;
                    for (int j = 0; j < Tk; j++)
                        s += P[(size_t)i * Tk + j] * M[(size_t)i * Tk + j] *
                             v[((size_t)b * Tk + j) * C + h * D + d];
                    out[((size_t)b * Tq + i) * C + h * D + d] = (float)s;
                }
            }
        }
    free(P);
}

/* With O_i = sum_j P_ij M_ij v_j and P = softmax(S):
 *   dv_j += sum_i P_ij M_ij dO_i;  dP_ij = M_ij (dO_i . v_j)
 *   dS_ij = P_ij (dP_ij - sum_l P_il dP_il);  dq_i += sum_j dS_ij k_j
 *   dk_j += sum_i dS_ij q_i;  dbias_hij += sum_b dS_ij */
void lst_attention_backward_ref(float *dq, float *dk, float *dv, float *dbias, const float *dout,
                                const float *out, const float *lse, const float *q, const float *k,
                                const float *v, const float *bias, const uint8_t *kmask, int causal,
                                int B, int Tq, int Tk, int H, int D, const lst_drop_t *drop,
                                float *ws) {
    const int C = H * D;
    const size_t S = (size_t)Tq * Tk;
    double *P = malloc(sizeof(double) * (3 * S + Tq)), *M = P + S, *dS = M + S, *L = dS + S;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            probs_ref(P, M, L, q, k, bias, kmask, causal, b, h, Tq, Tk, H, D, drop);
            const float *dO = dout + (size_t)b * Tq * C + h * D;
            const float *qh = q + (size_t)b * Tq * C + h * D, *kh = k + (size_t)b * Tk * C + h * D;
            const float *vh = v + (size_t)b * Tk * C + h * D;
            for (int i = 0; i < Tq; i++) {
                double di = 0;
                for (int j = 0; j < Tk; j++) {
                    double dp = 0;
                    for (int d = 0; d < D; d++)
                        dp += (double)dO[(size_t)i * C + d] * vh[(size_t)j * C + d];
                    dS[(size_t)i * Tk + j] = dp * M[(size_t)i * Tk + j];
                    di += P[(size_t)i * Tk + j] * dS[(size_t)i * Tk + j];
                }
                for (int j = 0; j < Tk; j++)
                    dS[(size_t)i * Tk + j] = P[(size_t)i * Tk + j] * (dS[(size_t)i * Tk + j] - di);
            }
            for (int d = 0; d < D; d++) {
                for (int i = 0; dq && i < Tq; i++) {
                    double s = 0;
                    for (int j = 0; j < Tk; j++)
                        s += dS[(size_t)i * Tk + j] * kh[(size_t)j * C + d];
                    dq[((size_t)b * Tq + i) * C + h * D + d] += (float)s;
                }
                for (int j = 0; j < Tk; j++) {
                    double sk = 0, sv = 0;
                    for (int i = 0; i < Tq; i++) {
                        sk += dS[(size_t)i * Tk + j] * qh[(size_t)i * C + d];
                        sv += P[(size_t)i * Tk + j] * M[(size_t)i * Tk + j] * dO[(size_t)i * C + d];
                    }
                    if (dk)
                        dk[((size_t)b * Tk + j) * C + h * D + d] += (float)sk;
                    if (dv)
                        dv[((size_t)b * Tk + j) * C + h * D + d] += (float)sv;
                }
            }
            for (size_t e = 0; dbias && e < S; e++)
                dbias[(size_t)h * S + e] += (float)dS[e];
        }
    free(P);
}

/* The folded cross-attention is attention on K = enc Wk^T, V = enc Wv^T. */
void lst_cross_fold_forward_ref(float *out, float *lse, const float *q, const float *enc,
                                const float *Wk, const float *Wv, const uint8_t *kmask, int B,
                                int T, int Ts, int H, int D, int dm, const lst_drop_t *drop,
                                float *ws) {
    const size_t n = (size_t)B * Ts * H * D;
    float *K = malloc(sizeof(float) * 2 * n), *V = K + n;
    lst_matmul_forward_ref(K, enc, Wk, NULL, B * Ts, dm, H * D);
    lst_matmul_forward_ref(V, enc, Wv, NULL, B * Ts, dm, H * D);
    lst_attention_forward_full_ref(out, NULL, lse, q, K, V, NULL, kmask, 0, B, T, Ts, H, D, drop,
                                   NULL);
    free(K);
}

void lst_cross_fold_backward_ref(float *dq, float *denc, float *dWk, float *dWv, const float *dout,
                                 const float *q, const float *enc, const float *Wk, const float *Wv,
                                 const float *lse, const uint8_t *kmask, int B, int T, int Ts,
                                 int H, int D, int dm, const lst_drop_t *drop, float *ws) {
    const size_t n = (size_t)B * Ts * H * D;
    float *K = malloc(sizeof(float) * 4 * n), *V = K + n, *dK = V + n, *dV = dK + n;
    memset(dK, 0, sizeof(float) * 2 * n);
    lst_matmul_forward_ref(K, enc, Wk, NULL, B * Ts, dm, H * D);
    lst_matmul_forward_ref(V, enc, Wv, NULL, B * Ts, dm, H * D);
    lst_attention_backward_ref(dq, dK, dV, NULL, dout, NULL, lse, q, K, V, NULL, kmask, 0, B, T, Ts,
                               H, D, drop, NULL);
    lst_matmul_backward_ref(denc, dWk, NULL, dK, enc, Wk, B * Ts, dm, H * D);
    lst_matmul_backward_ref(denc, dWv, NULL, dV, enc, Wv, B * Ts, dm, H * D);
    free(K);
}
