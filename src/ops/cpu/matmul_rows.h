/* matmul_rows.h: few-row products against a tall weight (matmul_rows.c),
 * which lst_cpu_matmul_forward takes where they fit. Internal to src/ops/cpu. */
#ifndef LST_MATMUL_ROWS_H
#define LST_MATMUL_ROWS_H

/* 1 when y[N, M] = x[N, K] W^T runs here: at most 64 rows, K a multiple of
 * 16, at least 1024 outputs, an AVX-512 CPU. */
int lst_matmul_rows_fits(int N, int K, int M);
/* y: [N, M]  x: [N, K]  W: [M, K] (no bias), split over W's rows. */
void lst_matmul_forward_rows(float *y, const float *x, const float *W, int N, int K, int M);

#endif
