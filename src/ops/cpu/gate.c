/* gate.c: the side network's scalar gates, out = g a + (1 - g) b with
 * g = sigmoid(alpha / T) (ops.h), and their backward. The arithmetic is
 * the model's loops' own, operation for operation, so switching the model
 * to these ops changes no bit: the forward is elementwise in float; the
 * backward's alpha gradient is ONE running double sum in index order,
 * which is why the fast entry does not split it over threads (a split sum
 * rounds differently) and only the forward is threaded. */
#include <math.h>
#include <omp.h>

#include "../ops.h"
#include "cpu.h"

#define PAR_MIN 100000 /* elementwise loops split across threads when longer */

/* out, a, b: [N] (out may equal a or b) */
void lst_cpu_gate_forward(float *out, const float *a, const float *b, const float *alpha, float T,
                          int64_t N) {
    float g, omg;
    lst_gate_from_value(alpha[0], T, &g, &omg);
    const int nt = N > PAR_MIN ? lst_threads() : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t j = 0; j < N; j++)
        out[j] = g * a[j] + omg * b[j];
}

/* da, db: [N] overwritten (NULL: skipped; either may equal dout);
 * dalpha: [1] accumulates */
void lst_cpu_gate_backward(float *da, float *db, float *dalpha, const float *dout, const float *a,
                           const float *b, const float *alpha, float T, int64_t N) {
    float g, omg;
    lst_gate_from_value(alpha[0], T, &g, &omg);
    double dg = 0;
    for (int64_t j = 0; j < N; j++) {
        const float d = dout[j]; /* read before da or db (which may be dout) is stored */
        if (dalpha)
            dg += (double)d * (a[j] - b[j]);
        if (db)
            db[j] = omg * d;
        if (da)
            da[j] = g * d;
    }
    if (dalpha)
        dalpha[0] += (float)(dg * g * omg / T);
}

/* The definition, one element at a time (the reference instance). */
void lst_gate_forward_ref(float *out, const float *a, const float *b, const float *alpha, float T,
                          int64_t N) {
    const double z = (double)alpha[0] / T;
    const float g = (float)(1.0 / (1.0 + exp(-z))), omg = (float)(1.0 / (1.0 + exp(z)));
    for (int64_t j = 0; j < N; j++)
        out[j] = g * a[j] + omg * b[j];
}

void lst_gate_backward_ref(float *da, float *db, float *dalpha, const float *dout, const float *a,
                           const float *b, const float *alpha, float T, int64_t N) {
    const double z = (double)alpha[0] / T;
    const float g = (float)(1.0 / (1.0 + exp(-z))), omg = (float)(1.0 / (1.0 + exp(z)));
    /* d out / d alpha = (a - b) g (1 - g) / T */
    double dg = 0;
    for (int64_t j = 0; j < N; j++)
        dg += (double)dout[j] * (a[j] - b[j]);
    if (dalpha)
        dalpha[0] += (float)(dg * g * omg / T);
    for (int64_t j = 0; j < N; j++) {
        const float d = dout[j];
        if (db)
            db[j] = omg * d;
        if (da)
            da[j] = g * d;
    }
}
