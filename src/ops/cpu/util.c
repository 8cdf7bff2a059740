/* util.c: small elementwise helpers used between ops. */
#include "../ops.h"
#include "cpu.h"

void lst_cpu_add_inplace(float *y, const float *x, int64_t N) {
    for (int64_t i = 0; i < N; i++) y[i] += x[i];
}

void lst_cpu_scale_inplace(float *y, float s, int64_t N) {
    for (int64_t i = 0; i < N; i++) y[i] *= s;
}

void lst_cpu_add_rows(float *y, const float *b, int N, int C) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) y[(size_t)n * C + c] += b[c];
}

void lst_cpu_colsum_acc(float *db, const float *dy, int N, int C) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) db[c] += dy[(size_t)n * C + c];
}
