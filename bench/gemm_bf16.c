/* gemm_bf16.c: micro-benchmark of the frozen-backbone product y = x @ W^T
 * (x: [N, K] float32, W: [M, K]) on the backbone's shapes:
 *   sgemm   cblas_sgemm, split over OpenMP threads as matmul.c does
 *           (OpenBLAS single-threaded inside each piece)
 *   sbgemm  cblas_sbgemm on pre-rounded bf16 x and W, same split, when the
 *           linked OpenBLAS exports it (looked up at run time; Debian's
 *           0.3.21 is built without BUILD_BFLOAT16 and does not)
 *   ours    lst_matmul_forward_bf16 (x rounded to bf16 inside the call)
 * Each at 1 and 2 threads, best of R runs (interleaved), in GFLOP/s.
 * Usage: gemm_bf16 [reps (5)] [N K M ...]   (make bench-gemm) */
#include <cblas.h>
#include <dlfcn.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../src/ops/cpu/matmul_bf16.h"
#include "../src/ops/ops.h"

typedef void (*sbgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint,
                          blasint, blasint, float, const uint16_t *, blasint, const uint16_t *,
                          blasint, float, float *, blasint);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void sgemm_split(float *y, const float *x, const float *W, int N, int K, int M, int T) {
#pragma omp parallel for num_threads(T) if (T > 1)
    for (int p = 0; p < T; p++) {
        const int lo = (int)((long)M * p / T), hi = (int)((long)M * (p + 1) / T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, hi - lo, K, 1.0f, x, K,
                    W + (size_t)lo * K, K, 0.0f, y + lo, M);
    }
}

static void sbgemm_split(sbgemm_fn f, float *y, const uint16_t *x, const uint16_t *W, int N, int K,
                         int M, int T) {
#pragma omp parallel for num_threads(T) if (T > 1)
    for (int p = 0; p < T; p++) {
        const int lo = (int)((long)M * p / T), hi = (int)((long)M * (p + 1) / T);
        f(CblasRowMajor, CblasNoTrans, CblasTrans, N, hi - lo, K, 1.0f, x, K, W + (size_t)lo * K, K,
          0.0f, y + lo, M);
    }
}

int main(int argc, char **argv) {
    static const int def[][3] = {{2048, 512, 512},  {2048, 512, 2048}, {2048, 2048, 512},
                                 {2048, 768, 768},  {2048, 768, 3072}, {2048, 3072, 768}};
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1) reps = 1;
    int ns = (argc - 2) / 3;
    int (*shapes)[3] = malloc(sizeof(int[3]) * (ns > 0 ? ns : 6));
    if (ns > 0) {
        for (int i = 0; i < ns; i++)
            for (int j = 0; j < 3; j++) shapes[i][j] = atoi(argv[2 + 3 * i + j]);
    } else {
        ns = 6;
        memcpy(shapes, def, sizeof def);
    }
    openblas_set_num_threads(1); /* as matmul.c: we split the work ourselves */
    sbgemm_fn sb = (sbgemm_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "cblas_sbgemm");
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("OpenBLAS core %s (OPENBLAS_CORETYPE=%s), cblas_sbgemm %s, our path %s, best of %d\n",
           openblas_get_corename(), ct ? ct : "unset", sb ? "exported" : "not exported",
           lst_bf16_native() ? "avx512_bf16" : "portable C", reps);
    printf("%-18s %8s %8s %8s %8s %8s %8s %7s %7s\n", "N K M", "sgemm1", "sgemm2", "sbgemm1",
           "sbgemm2", "ours1", "ours2", "x1", "x2");
    const int omp_max = omp_get_max_threads();
    for (int s = 0; s < ns; s++) {
        const int N = shapes[s][0], K = shapes[s][1], M = shapes[s][2];
        float *x = malloc(sizeof(float) * (size_t)N * K);
        float *W = malloc(sizeof(float) * (size_t)M * K);
        float *y = malloc(sizeof(float) * (size_t)N * M);
        uint16_t *Wp = malloc(sizeof(uint16_t) * lst_bf16_packed_size(M, K));
        uint16_t *xb = malloc(sizeof(uint16_t) * (size_t)N * K);
        uint16_t *Wb = malloc(sizeof(uint16_t) * (size_t)M * K);
        unsigned seed = 1;
        for (size_t i = 0; i < (size_t)N * K; i++) x[i] = (float)rand_r(&seed) / RAND_MAX - 0.5f;
        for (size_t i = 0; i < (size_t)M * K; i++) W[i] = (float)rand_r(&seed) / RAND_MAX - 0.5f;
        for (size_t i = 0; i < (size_t)N * K; i++) xb[i] = lst_bf16_from_float(x[i]);
        for (size_t i = 0; i < (size_t)M * K; i++) Wb[i] = lst_bf16_from_float(W[i]);
        double t0 = now();
        lst_bf16_pack_weights(Wp, W, M, K);
        void *ws = malloc(lst_bf16_workspace(K, M) + 1);
        const double tpack = now() - t0;
        double best[3][2];
        for (int a = 0; a < 3; a++) best[a][0] = best[a][1] = 1e30;
        for (int r = 0; r < reps + 1; r++) /* the first round warms up */
            for (int T = 1; T <= 2; T++) {
                double t;
                t = now();
                sgemm_split(y, x, W, N, K, M, T);
                t = now() - t;
                if (r && t < best[0][T - 1]) best[0][T - 1] = t;
                if (sb) {
                    t = now();
                    sbgemm_split(sb, y, xb, Wb, N, K, M, T);
                    t = now() - t;
                    if (r && t < best[1][T - 1]) best[1][T - 1] = t;
                }
                omp_set_num_threads(T);
                t = now();
                lst_matmul_forward_bf16(y, x, Wp, NULL, N, K, M, ws);
                t = now() - t;
                omp_set_num_threads(omp_max);
                if (r && t < best[2][T - 1]) best[2][T - 1] = t;
            }
        const double gf = 2.0 * N * K * M * 1e-9;
        char name[40];
        snprintf(name, sizeof name, "%d %d %d", N, K, M);
        printf("%-18s %8.1f %8.1f", name, gf / best[0][0], gf / best[0][1]);
        if (sb) printf(" %8.1f %8.1f", gf / best[1][0], gf / best[1][1]);
        else printf(" %8s %8s", "-", "-");
        printf(" %8.1f %8.1f %6.2fx %6.2fx   (pack W once: %.1f ms)\n", gf / best[2][0],
               gf / best[2][1], best[0][0] / best[2][0], best[0][1] / best[2][1], tpack * 1e3);
        fflush(stdout);
        free(x); free(W); free(y); free(Wp); free(ws); free(xb); free(Wb);
    }
    printf("x1, x2: ours / sgemm at 1 and 2 threads\n");
    free(shapes);
    return 0;
}
