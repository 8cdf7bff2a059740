/* rmsnorm.c: T5's layer norm (no mean subtraction, no bias); the variance
 * is accumulated in double so long rows lose nothing. */
#include <math.h>
#include <string.h>

#include "../ops.h"
#include "cpu.h"

/* sum of x[c]^2 in double, over 8 interleaved partial sums: one running sum
 * is a chain of dependent additions (4 cycles each), the slowest loop of the
 * norm; double keeps the order's effect far below float rounding. */
typedef double v2d __attribute__((vector_size(16)));
static double sumsq(const float *x, int C) {
    v2d a[4] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
    int c = 0;
    for (; c + 8 <= C; c += 8)
        for (int k = 0; k < 4; k++) {
            const v2d v = {x[c + 2 * k], x[c + 2 * k + 1]};
            a[k] += v * v;
        }
    double s = ((a[0][0] + a[0][1]) + (a[1][0] + a[1][1])) + ((a[2][0] + a[2][1]) + (a[3][0] + a[3][1]));
    for (; c < C; c++) s += (double)x[c] * x[c];
    return s;
}

/* out, x: [N, C]  w: [C]  rstd: [N] or NULL */
void lst_cpu_rmsnorm_forward(float *out, float *rstd, const float *x,
                         const float *w, int N, int C, float eps) {
    const int nt = (double)N * C > 1e5 ? lst_threads() : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;
        float *o = out + (size_t)n * C;
        const double ss = sumsq(xr, C);
        float r = (float)(1.0 / sqrt(ss / C + eps));
        if (rstd) rstd[n] = r;
        for (int c = 0; c < C; c++) o[c] = w[c] * (xr[c] * r);
    }
}

/* y = w * x * r, r = (mean x^2 + eps)^-1/2
 * dw += dy * x * r;  dx += r * (w*dy) - x * r^3 / C * sum(w*dy*x) */
void lst_cpu_rmsnorm_backward(float *dx, float *dw, const float *dout,
                          const float *x, const float *w, const float *rstd,
                          int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;
        const float *dy = dout + (size_t)n * C;
        float r = rstd[n];
        if (dw)
            for (int c = 0; c < C; c++) dw[c] += dy[c] * xr[c] * r;
        if (dx) {
            double dot = 0;
            for (int c = 0; c < C; c++) dot += (double)w[c] * dy[c] * xr[c];
            float k = (float)(dot * r * r * r / C);
            float *d = dx + (size_t)n * C;
            for (int c = 0; c < C; c++) d[c] += r * w[c] * dy[c] - xr[c] * k;
        }
    }
}

/* One pass per row: residual add with the sub-layer's dropout, then the
 * norm of the result. Same arithmetic as dropout + add + rmsnorm. */
void lst_cpu_residual_rmsnorm_forward(float *res, float *norm, float *rstd, const float *x,
                                  const float *y, const float *w, int N, int C, float eps,
                                  const lst_drop_t *drop) {
    const int on = lst_drop_active(drop);
    const int T = on && drop->B > 1 ? N / drop->B : N; /* positions of a batch row */
    const int nt = (double)N * C > 1e5 ? lst_threads() : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int n = 0; n < N; n++) {
        float *r = res + (size_t)n * C;
        const float *xr = x + (size_t)n * C;
        if (on) { /* the mask of lst_cpu_dropout_rows: (row n / T, index (n % T) C + c) */
            const lst_drop_t ex = lst_drop_example(drop, n / T);
            lst_cpu_dropout_apply(r, y + (size_t)n * C, C, &ex, (uint64_t)(n % T) * C);
        } else if (r != y + (size_t)n * C) memcpy(r, y + (size_t)n * C, sizeof(float) * C);
        for (int c = 0; c < C; c++) r[c] += xr[c];
        if (!norm) continue;
        const double ss = sumsq(r, C);
        float rs = (float)(1.0 / sqrt(ss / C + eps));
        if (rstd) rstd[n] = rs;
        float *o = norm + (size_t)n * C;
        for (int c = 0; c < C; c++) o[c] = w[c] * (r[c] * rs);
    }
}

void lst_cpu_residual_rmsnorm_backward(float *dres, float *dy, float *dw, const float *dnorm,
                                   const float *res, const float *w, const float *rstd, int N,
                                   int C, const lst_drop_t *drop) {
    if (dnorm) lst_cpu_rmsnorm_backward(dres, dw, dnorm, res, w, rstd, N, C);
    if (dy) lst_cpu_dropout_rows(dy, dres, (int64_t)N * C, drop);
}
