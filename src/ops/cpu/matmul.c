/* matmul.c: linear layers y = x @ W^T + b through OpenBLAS SGEMM.
 * Transposes are folded into the SGEMM calls: no copies are made. Large
 * products are split into independent row or column blocks, one per
 * OpenMP thread, each a single-threaded SGEMM. */
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "gemm_sched.h"
#include "matmul_rows.h"

/* OpenBLAS's own threads would fight ours; we split the work instead. */
__attribute__((constructor)) static void single_threaded_blas(void) { openblas_set_num_threads(1); }

int lst_threads(void) {
    int n = omp_get_max_threads();
    return n < 1 ? 1 : n > LST_MAX_THREADS ? LST_MAX_THREADS : n;
}

/* Splits [0, n) into `parts` blocks; block p is [lo, hi). */
static void split(int n, int parts, int p, int *lo, int *hi) {
    *lo = (int)((long)n * p / parts);
    *hi = (int)((long)n * (p + 1) / parts);
}

/* out: [N, OC]  x: [N, IC]  W: [OC, IC]  b: [OC] or NULL */
void lst_cpu_matmul_forward(float *out, const float *x, const float *W,
                        const float *b, int N, int IC, int OC) {
    if (N == 0 || OC == 0) return;
    if (IC == 0) {
        memset(out, 0, sizeof(float) * (size_t)N * OC);
    } else if (lst_matmul_rows_fits(N, IC, OC)) { /* the LM head's few rows */
        lst_matmul_forward_rows(out, x, W, N, IC, OC);
    } else {
        /* Each piece packs its share of one operand and all of the other:
         * split the larger of x (N rows) and W (OC rows). */
        const int by_rows = N >= OC;
        const int P = lst_gemm_parts(2.0 * N * OC * IC, by_rows ? N : OC);
#pragma omp parallel for num_threads(P) if (P > 1)
        for (int p = 0; p < P; p++) {
            int lo, hi;
            split(by_rows ? N : OC, P, p, &lo, &hi);
            if (hi <= lo) continue;
            if (by_rows)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, hi - lo, OC, IC, 1.0f,
                            x + (size_t)lo * IC, IC, W, IC, 0.0f, out + (size_t)lo * OC, OC);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, hi - lo, IC, 1.0f, x, IC,
                            W + (size_t)lo * IC, IC, 0.0f, out + lo, OC);
        }
    }
    if (b) {
        for (int n = 0; n < N; n++) {
            float *o = out + (size_t)n * OC;
            for (int c = 0; c < OC; c++) o[c] += b[c];
        }
    }
}

/* dx: [N, IC] += dout @ W   dW: [OC, IC] += dout^T @ x   db: [OC] += sum dout */
void lst_cpu_matmul_backward(float *dx, float *dW, float *db, const float *dout,
                         const float *x, const float *W, int N, int IC, int OC) {
    if (N == 0 || OC == 0 || IC == 0) return;
    const double flops = 2.0 * N * OC * IC;
    if (dx) { /* row blocks of dx, or column blocks when rows are fewer (the
               * LM head: each piece then reads only its columns of W) */
        const int by_rows = N >= IC;
        const int P = lst_gemm_parts(flops, by_rows ? N : IC);
#pragma omp parallel for num_threads(P) if (P > 1)
        for (int p = 0; p < P; p++) {
            int lo, hi;
            split(by_rows ? N : IC, P, p, &lo, &hi);
            if (hi <= lo) continue;
            if (by_rows)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, hi - lo, IC, OC, 1.0f,
                            dout + (size_t)lo * OC, OC, W, IC, 1.0f, dx + (size_t)lo * IC, IC);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, hi - lo, OC, 1.0f, dout,
                            OC, W + lo, IC, 1.0f, dx + lo, IC);
        }
    }
    if (dW) { /* row blocks of dW */
        const int P = lst_gemm_parts(flops, OC);
#pragma omp parallel for num_threads(P) if (P > 1)
        for (int p = 0; p < P; p++) {
            int lo, hi;
            split(OC, P, p, &lo, &hi);
            if (hi > lo)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, hi - lo, IC, N, 1.0f,
                            dout + lo, OC, x, IC, 1.0f, dW + (size_t)lo * IC, IC);
        }
    }
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
