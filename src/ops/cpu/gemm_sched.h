/* gemm_sched.h: what the CPU can run, and how a product is cut into tasks
 * for the OpenMP threads; shared by SGEMM's wrapper (matmul.c) and the
 * packed-weight kernels (matmul_bf16.c, matmul_f32p.c). */
#ifndef LST_GEMM_SCHED_H
#define LST_GEMM_SCHED_H

#include <string.h>

#include "../ops.h"
#include "cpu.h"

/* 1 when the CPU and the OS run AVX-512 F/BW/VL (and AVX512_BF16 when
 * need_bf16); detected once (cpu_features.c). */
int lst_cpu_avx512(int need_bf16);
/* 1 when the CPU and the OS run AVX-512 F/BW/VL and AVX512_VNNI. */
int lst_cpu_avx512_vnni(void);

/* Pieces for `flops` of work over n splittable units: one below 4 MFLOP
 * (threads cost more than they save), else one per thread. */
static inline int lst_gemm_parts(double flops, int n) {
    int t = lst_threads();
    if (flops < 4e6 || t < 2) return 1;
    return n < t ? (n > 0 ? n : 1) : t;
}

/* The products y: [N, M] with nothing to sum: none (N or M is 0), or y =
 * bias (or 0) when K is 0. Returns 1 when y is done. */
static inline int lst_gemm_trivial(float *y, const float *bias, int N, int K, int M) {
    if (N <= 0 || M <= 0) return 1;
    if (K > 0) return 0;
    for (int n = 0; n < N; n++) {
        float *o = y + (size_t)n * M;
        if (bias) memcpy(o, bias, sizeof(float) * (size_t)M);
        else memset(o, 0, sizeof(float) * (size_t)M);
    }
    return 1;
}

/* Tasks of a packed-weight product y: [N, np panels]: nb row blocks of
 * near-equal whole register tiles (mr rows; at most mc_max rows; nb a
 * multiple of the thread count when there are several), each split into G
 * column groups when there are fewer blocks than threads (few rows:
 * decoding, the LM head). Equal blocks matter: 1024 rows cut into 108-row
 * blocks left one thread 540 rows and the other 484. Tasks are handed out
 * one at a time, so a thread slowed by a neighbour (the cores are shared)
 * takes fewer; every output's arithmetic is the same whichever thread
 * computes it. */
typedef struct {
    int tiles, mr, nb, G, tasks, threads;
} lst_gemm_sched_t;

static inline lst_gemm_sched_t lst_gemm_sched(int N, int np, double flops, int mc_max, int mr) {
    lst_gemm_sched_t s;
    const int T = lst_gemm_parts(flops, N);
    s.mr = mr;
    s.tiles = (N + mr - 1) / mr;
    const int per = mc_max / mr; /* tiles per block at most */
    int nb = (s.tiles + per - 1) / per;
    if (nb > 1) nb = (nb + T - 1) / T * T;
    s.nb = nb < s.tiles ? nb : s.tiles;
    s.G = s.nb >= T ? 1 : (T + s.nb - 1) / s.nb;
    if (s.G > np) s.G = np;
    s.tasks = s.nb * s.G;
    s.threads = s.tasks < T ? s.tasks : T;
    return s;
}

/* Task t of s: rows [*i0, *i0 + *rows), panels [*p0, *p1). */
static inline void lst_gemm_task(const lst_gemm_sched_t *s, int t, int N, int np, int *i0,
                                 int *rows, int *p0, int *p1) {
    const int b = t / s->G, g = t % s->G;
    const int t0 = (int)((long)s->tiles * b / s->nb), t1 = (int)((long)s->tiles * (b + 1) / s->nb);
    *i0 = t0 * s->mr;
    const int end = t1 * s->mr < N ? t1 * s->mr : N;
    *rows = end - *i0;
    *p0 = (int)((long)np * g / s->G);
    *p1 = (int)((long)np * (g + 1) / s->G);
}

#endif
