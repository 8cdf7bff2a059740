/* cross_fold.c: decoder cross-attention with the key and value projections
 * folded into the few queries instead of applied to every encoder position.
 *
 * The plain path projects the encoder output E_b [Ts, dm] to keys and values
 * (2 Ts dm I multiply-adds per example, per decoder layer) and then attends.
 * With T decoder positions and T << Ts, the same products re-associate:
 *
 *   S_bh = q_bh K_bh^T = (q_bh Wk_h) E_b^T      Wk_h: rows h*D..h*D+D-1 of Wk
 *   O_bh = P_bh V_bh   = (P_bh E_b) Wv_h^T
 *
 * about H T dm (2 D + 2 Ts) multiply-adds per example: 14x less at T5-small
 * shapes (T 3, Ts 128), and no [B, Ts, I] key or value buffer. The numbers
 * are the plain path's up to float rounding; probabilities, masks and the
 * dropout element order ([B, H, T, Ts]) are the same.
 *
 * Layout: X1 [H][B*T][dm] (per head, what one SGEMM with the head's weight
 * rows reads or writes) and X2 [B][H*T][dm] (per example, what one SGEMM with
 * E_b reads or writes); rows are copied between the two.
 *
 * Backward, per (b, h), with QW = q Wk_h, P the probabilities (recomputed
 * from lse), Pd = dropout(P), PE = Pd E_b and dO the output's gradient:
 *   dPE = dO Wv_h          dWv_h += dO^T PE
 *   dPd = dPE E_b^T        dE_b  += Pd^T dPE
 *   dS  = P * (dP - rowsum(dP * P)),  dP = dPd * mask / (1 - p)
 *   dQW = dS E_b           dE_b  += dS^T QW
 *   dq  += dQW Wk_h^T      dWk_h += q^T dQW */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "../ops.h"
#include "cpu.h"
#include "softmax_rows.h"

lst_cross_cost_t lst_cross_fold_cost(int Ts, int H, int D, int dm) {
    const lst_cross_cost_t c = {2.0 * Ts * dm * H * D, 2.0 * H * Ts * D,
                                (double)H * dm * (2.0 * D + 2.0 * Ts)};
    return c;
}

int lst_cross_fold_pays(int T, int Ts, int H, int D, int dm) {
    const lst_cross_cost_t c = lst_cross_fold_cost(Ts, H, D, dm);
    /* at least twice cheaper (its products are small, so less efficient),
     * and one [B, H, T, dm] buffer no larger than one [B, Ts, H D] key
     * buffer (the workspace is four of them, against the two it replaces) */
    return 2.0 * T * c.folded < c.project + T * c.plain && (double)H * T * dm <= (double)Ts * H * D;
}

size_t lst_cpu_cross_fold_workspace(int B, int T, int Ts, int H, int dm) {
    return 4 * (size_t)B * H * T * dm + (size_t)LST_MAX_THREADS * 3 * H * T * Ts;
}

/* dst[g][a*R + r] = src[a][g*R + r] for rows of dm floats: [A][G*R] <-> [G][A*R] */
static void swap_rows(float *dst, const float *src, int A, int G, int R, int dm) {
#pragma omp for schedule(static)
    for (int a = 0; a < A; a++)
        for (int g = 0; g < G; g++)
            memcpy(dst + ((size_t)g * A * R + (size_t)a * R) * dm,
                   src + ((size_t)a * G * R + (size_t)g * R) * dm, sizeof(float) * (size_t)R * dm);
}

void lst_cpu_cross_fold_forward(float *out, float *lse, const float *q, const float *enc,
                            const float *Wk, const float *Wv, const uint8_t *kmask, int B, int T,
                            int Ts, int H, int D, int dm, const lst_drop_t *drop, float *ws) {
    const int C = H * D, BT = B * T, HT = H * T;
    float *X1 = ws, *X2 = ws + (size_t)B * H * T * dm;
    float *S_all = X2 + (size_t)B * H * T * dm;
    const int dropping = lst_drop_active(drop);
    const int nt = lst_threads();
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        /* X1[h] = q_h Wk_h: [B*T, D] x [D, dm] */
#pragma omp for schedule(static)
        for (int h = 0; h < H; h++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, BT, dm, D, 1.0f, q + h * D, C,
                        Wk + (size_t)h * D * dm, dm, 0.0f, X1 + (size_t)h * BT * dm, dm);
        swap_rows(X2, X1, H, B, T, dm); /* -> X2[b][h*T + t] */
#pragma omp for schedule(dynamic)
        for (int b = 0; b < B; b++) {
            float *S = S_all + (size_t)omp_get_thread_num() * HT * Ts;
            float *xb = X2 + (size_t)b * HT * dm;
            const float *Eb = enc + (size_t)b * Ts * dm;
            const uint8_t *km = kmask ? kmask + (size_t)b * Ts : NULL;
            /* S = X2_b E_b^T: [H*T, dm] x [dm, Ts] */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, HT, Ts, dm, 1.0f, xb, dm, Eb, dm,
                        0.0f, S, Ts);
            for (int i = 0; i < HT; i++) {
                float *s = S + (size_t)i * Ts;
                const float mx = lst_row_max(s, Ts, Ts - 1, km);
                float *l = lse ? lse + ((size_t)b * H + i / T) * T + i % T : NULL; /* [B, H, T] */
                if (mx == -INFINITY) { /* no visible key: zero output */
                    memset(s, 0, sizeof(float) * Ts);
                    if (l) *l = INFINITY;
                    continue;
                }
                const double sum = lst_row_exp(s, Ts, mx, Ts - 1, km);
                lst_row_scale(s, Ts, (float)(1.0 / sum));
                if (l) *l = mx + (float)log(sum);
            }
            if (dropping) /* rows h T .. h T + T - 1 are head h's */
                for (int h = 0; h < H; h++)
                    lst_cpu_dropout_probs(S + (size_t)h * T * Ts, S + (size_t)h * T * Ts, T, Ts, drop,
                                      b, h);
            /* X2_b = P E_b: [H*T, Ts] x [Ts, dm] */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, HT, dm, Ts, 1.0f, S, Ts, Eb, dm,
                        0.0f, xb, dm);
        }
        swap_rows(X1, X2, B, H, T, dm); /* -> X1[h][b*T + t] */
        /* out_h = X1[h] Wv_h^T: [B*T, dm] x [dm, D] */
#pragma omp for schedule(static)
        for (int h = 0; h < H; h++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, BT, D, dm, 1.0f,
                        X1 + (size_t)h * BT * dm, dm, Wv + (size_t)h * D * dm, dm, 0.0f, out + h * D,
                        C);
    }
}

void lst_cpu_cross_fold_backward(float *dq, float *denc, float *dWk, float *dWv, const float *dout,
                             const float *q, const float *enc, const float *Wk, const float *Wv,
                             const float *lse, const uint8_t *kmask, int B, int T, int Ts, int H,
                             int D, int dm, const lst_drop_t *drop, float *ws) {
    const int C = H * D, BT = B * T, HT = H * T;
    const size_t X = (size_t)B * H * T * dm;
    float *Q1 = ws, *Q2 = Q1 + X, *G1 = Q2 + X, *G2 = G1 + X, *thr = G2 + X;
    /* once QW and dPE have moved to the X2 layout (Q2, G2), Q1 and G1 are
     * free: PE goes to G1 per example and then to Q1 per head; dQW replaces
     * dPE in G2 and then goes to Q2 per head */
    float *PE2 = G1, *PE1 = Q1, *dQW2 = G2, *dQW1 = Q2;
    const int dropping = lst_drop_active(drop);
    const float keep_scale = dropping ? 1.0f / (1.0f - drop->p) : 1.0f;
    const int nt = lst_threads();
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        /* Q1[h] = q_h Wk_h, G1[h] = dO_h Wv_h: [B*T, D] x [D, dm] */
#pragma omp for schedule(static)
        for (int h = 0; h < H; h++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, BT, dm, D, 1.0f, q + h * D, C,
                        Wk + (size_t)h * D * dm, dm, 0.0f, Q1 + (size_t)h * BT * dm, dm);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, BT, dm, D, 1.0f, dout + h * D,
                        C, Wv + (size_t)h * D * dm, dm, 0.0f, G1 + (size_t)h * BT * dm, dm);
        }
        swap_rows(Q2, Q1, H, B, T, dm);
        swap_rows(G2, G1, H, B, T, dm);
#pragma omp for schedule(dynamic)
        for (int b = 0; b < B; b++) {
            float *P = thr + (size_t)omp_get_thread_num() * 3 * HT * Ts;
            float *Pd = P + (size_t)HT * Ts, *dS = Pd + (size_t)HT * Ts;
            const float *Eb = enc + (size_t)b * Ts * dm;
            float *dEb = denc + (size_t)b * Ts * dm;
            const float *qw = Q2 + (size_t)b * HT * dm;
            float *g = G2 + (size_t)b * HT * dm, *pe = PE2 + (size_t)b * HT * dm;
            const uint8_t *km = kmask ? kmask + (size_t)b * Ts : NULL;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, HT, Ts, dm, 1.0f, qw, dm, Eb, dm,
                        0.0f, P, Ts);
            for (int i = 0; i < HT; i++) {
                float *s = P + (size_t)i * Ts;
                const float l = lse[((size_t)b * H + i / T) * T + i % T];
                if (l == INFINITY) memset(s, 0, sizeof(float) * Ts); /* saw no key */
                else lst_row_exp(s, Ts, l, Ts - 1, km);
            }
            const float *Pv = P;
            if (dropping) {
                for (int h = 0; h < H; h++)
                    lst_cpu_dropout_probs(Pd + (size_t)h * T * Ts, P + (size_t)h * T * Ts, T, Ts, drop,
                                      b, h);
                Pv = Pd;
            }
            /* PE = Pd E_b; dPd = dPE E_b^T; dE_b += Pd^T dPE */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, HT, dm, Ts, 1.0f, Pv, Ts, Eb, dm,
                        0.0f, pe, dm);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, HT, Ts, dm, 1.0f, g, dm, Eb, dm,
                        0.0f, dS, Ts);
            if (denc)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Ts, dm, HT, 1.0f, Pv, Ts, g,
                            dm, 1.0f, dEb, dm);
            if (dropping) /* the mask read off Pd */
                lst_row_dropped_grad(dS, Pd, (int64_t)HT * Ts, keep_scale);
            for (int i = 0; i < HT; i++) {
                float *row = dS + (size_t)i * Ts;
                const float *pr = P + (size_t)i * Ts;
                double di = 0;
                for (int j = 0; j < Ts; j++) di += (double)row[j] * pr[j];
                lst_row_dsoftmax(row, pr, Ts, (float)di);
            }
            /* dQW = dS E_b (over dPE, read above for the last time); dE_b += dS^T QW */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, HT, dm, Ts, 1.0f, dS, Ts, Eb, dm,
                        0.0f, dQW2 + (size_t)b * HT * dm, dm);
            if (denc)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Ts, dm, HT, 1.0f, dS, Ts, qw,
                            dm, 1.0f, dEb, dm);
        }
        swap_rows(PE1, PE2, B, H, T, dm);
        swap_rows(dQW1, dQW2, B, H, T, dm);
#pragma omp for schedule(static)
        for (int h = 0; h < H; h++) {
            const float *pe = PE1 + (size_t)h * BT * dm, *dqw = dQW1 + (size_t)h * BT * dm;
            if (dWv) /* dWv_h += dO_h^T PE_h: [D, B*T] x [B*T, dm] */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, dm, BT, 1.0f, dout + h * D,
                            C, pe, dm, 1.0f, dWv + (size_t)h * D * dm, dm);
            if (dq) /* dq_h += dQW_h Wk_h^T: [B*T, dm] x [dm, D] */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, BT, D, dm, 1.0f, dqw, dm,
                            Wk + (size_t)h * D * dm, dm, 1.0f, dq + h * D, C);
            if (dWk) /* dWk_h += q_h^T dQW_h: [D, B*T] x [B*T, dm] */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, dm, BT, 1.0f, q + h * D, C,
                            dqw, dm, 1.0f, dWk + (size_t)h * D * dm, dm);
        }
    }
}
