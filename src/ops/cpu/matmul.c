/* matmul.c: linear layers y = x @ W^T + b through OpenBLAS SGEMM.
 * Transposes are folded into the SGEMM calls: no copies are made. */
#include <cblas.h>
#include <string.h>

#include "../ops.h"

/* out: [N, OC]  x: [N, IC]  W: [OC, IC]  b: [OC] or NULL */
void lst_matmul_forward(float *out, const float *x, const float *W,
                        const float *b, int N, int IC, int OC) {
    if (N == 0 || OC == 0) return;
    if (IC == 0) {
        memset(out, 0, sizeof(float) * (size_t)N * OC);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, IC, 1.0f,
                    x, IC, W, IC, 0.0f, out, OC);
    }
    if (b) {
        for (int n = 0; n < N; n++) {
            float *o = out + (size_t)n * OC;
            for (int c = 0; c < OC; c++) o[c] += b[c];
        }
    }
}

/* dx: [N, IC] += dout @ W   dW: [OC, IC] += dout^T @ x   db: [OC] += sum dout */
void lst_matmul_backward(float *dx, float *dW, float *db, const float *dout,
                         const float *x, const float *W, int N, int IC, int OC) {
    if (N == 0 || OC == 0 || IC == 0) return;
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IC, OC, 1.0f,
                    dout, OC, W, IC, 1.0f, dx, IC);
    if (dW)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, IC, N, 1.0f,
                    dout, OC, x, IC, 1.0f, dW, IC);
    if (db) {
        for (int n = 0; n < N; n++) {
            const float *d = dout + (size_t)n * OC;
            for (int c = 0; c < OC; c++) db[c] += d[c];
        }
    }
}

/* Plain loops, accumulated in double: the reference the fast path is tested
 * against. */
void lst_matmul_forward_ref(float *out, const float *x, const float *W,
                            const float *b, int N, int IC, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < IC; i++)
                s += (double)x[(size_t)n * IC + i] * W[(size_t)o * IC + i];
            out[(size_t)n * OC + o] = (float)s;
        }
}

void lst_matmul_backward_ref(float *dx, float *dW, float *db, const float *dout,
                             const float *x, const float *W, int N, int IC,
                             int OC) {
    if (dx)
        for (int n = 0; n < N; n++)
            for (int i = 0; i < IC; i++) {
                double s = 0;
                for (int o = 0; o < OC; o++)
                    s += (double)dout[(size_t)n * OC + o] * W[(size_t)o * IC + i];
                dx[(size_t)n * IC + i] += (float)s;
            }
    if (dW)
        for (int o = 0; o < OC; o++)
            for (int i = 0; i < IC; i++) {
                double s = 0;
                for (int n = 0; n < N; n++)
                    s += (double)dout[(size_t)n * OC + o] * x[(size_t)n * IC + i];
                dW[(size_t)o * IC + i] += (float)s;
            }
    if (db)
        for (int o = 0; o < OC; o++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += dout[(size_t)n * OC + o];
            db[o] += (float)s;
        }
}
