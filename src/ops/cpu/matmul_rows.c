/* matmul_rows.c: y = x @ W^T for a few rows of x against a tall W (the LM
 * head: 24-48 rows against the 32k-row embedding), on AVX-512.
 *
 * SGEMM packs W for so few rows (41 GFLOP/s at t5-base's 24 x 768 x 32100).
 * Here each output is a dot product along the input: a 4 x 6 register tile
 * of W rows by x rows, 24 accumulators of 16 lanes summed at the end. W is
 * streamed once, four rows at a time (12 KiB at d = 768, in L1), while the
 * few rows of x stay in L2. Threads take contiguous ranges of W's rows. The
 * sum of each output is the same whichever thread computes it. */
#include <immintrin.h>

#include "matmul_rows.h"

#include "gemm_sched.h"

#define WR 4 /* W rows per tile */
#define XR 6 /* x rows per tile */

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl")))

/* y[r, o] for r < nr (<= XR), o < nw (<= WR): x rows at x (stride K), W rows
 * at w (stride K), y at y (stride M); K a multiple of 16. */
TGT static inline __attribute__((always_inline)) void
tile(const int nr, const int nw, const float *x, const float *w, float *y, int K, int M) {
    __m512 acc[XR][WR];
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (int c = 0; c < nw; c++) acc[r][c] = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 16) {
        __m512 wv[WR];
#pragma GCC unroll 4
        for (int c = 0; c < nw; c++) wv[c] = _mm512_loadu_ps(w + (size_t)c * K + k);
#pragma GCC unroll 8
        for (int r = 0; r < nr; r++) {
            const __m512 xv = _mm512_loadu_ps(x + (size_t)r * K + k);
#pragma GCC unroll 4
            for (int c = 0; c < nw; c++) acc[r][c] = _mm512_fmadd_ps(xv, wv[c], acc[r][c]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (int c = 0; c < nw; c++) y[(size_t)r * M + c] = _mm512_reduce_add_ps(acc[r][c]);
}

/* tile() with constant sizes: full tiles, and each tail shape. */
TGT static void tile_any(int nr, int nw, const float *x, const float *w, float *y, int K, int M) {
#define ROWS(R)                                                       \
    case R:                                                           \
        switch (nw) {                                                 \
        case 4: tile(R, 4, x, w, y, K, M); break;                     \
        case 3: tile(R, 3, x, w, y, K, M); break;                     \
        case 2: tile(R, 2, x, w, y, K, M); break;                     \
        default: tile(R, 1, x, w, y, K, M); break;                    \
        }                                                             \
        break;
    switch (nr) {
        ROWS(1)
        ROWS(2)
        ROWS(3)
        ROWS(4)
        ROWS(5)
        ROWS(6)
    }
#undef ROWS
}

/* W rows [o0, o1) of y = x W^T. */
TGT static void range(float *y, const float *x, const float *W, int N, int K, int M, int o0,
                      int o1) {
    for (int o = o0; o < o1; o += WR) {
        const int nw = o1 - o < WR ? o1 - o : WR;
        for (int r = 0; r < N; r += XR)
            tile_any(N - r < XR ? N - r : XR, nw, x + (size_t)r * K, W + (size_t)o * K,
                     y + (size_t)r * M + o, K, M);
    }
}

int lst_matmul_rows_fits(int N, int K, int M) {
    return N > 0 && N <= 64 && K > 0 && K % 16 == 0 && M >= 1024 && lst_cpu_avx512(0);
}

/* y: [N, M]  x: [N, K]  W: [M, K]; only where lst_matmul_rows_fits. */
void lst_matmul_forward_rows(float *y, const float *x, const float *W, int N, int K, int M) {
    const int P = lst_gemm_parts(2.0 * N * K * M, M);
#pragma omp parallel for num_threads(P) if (P > 1)
    for (int p = 0; p < P; p++) {
        /* whole tiles of W rows to each thread */
        const int tiles = (M + WR - 1) / WR;
        const int o0 = (int)((long)tiles * p / P) * WR, o1e = (int)((long)tiles * (p + 1) / P) * WR;
        range(y, x, W, N, K, M, o0, o1e < M ? o1e : M);
    }
}
