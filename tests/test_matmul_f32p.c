/* test_matmul_f32p.c: the packed float32 product (src/ops/cpu/matmul_f32p.c)
 * against the double-precision reference, the AVX-512 path against the
 * plain-C one bit for bit, the packing, and the thread split, on shapes
 * that exercise every tail (rows, a narrow last panel, K not a multiple of
 * the k block) and every block boundary. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/rng.h"
#include "../src/ops/cpu/matmul_f32p.h"
#include "../src/ops/ops.h"
#include "tensor_util.h"
#include "test.h"

static const int shapes[][3] = {
    {1, 1, 1},      {1, 3, 17},     {3, 1, 33},      {17, 33, 1},    {33, 17, 129},
    {5, 2, 64},     {6, 64, 64},    {7, 129, 65},    {129, 3, 3},    {13, 128, 128},
    {64, 130, 200}, {200, 257, 96}, {2, 256, 64},    {12, 512, 128},
    /* past the kernel's blocks: rows > 120, K > 2 k blocks, several panels */
    {401, 300, 130}, {250, 1025, 70}, {31, 2049, 129},
    /* few rows, enough work for several threads: split by columns */
    {24, 700, 1000},
};
#define NSHAPES ((int)(sizeof shapes / sizeof shapes[0]))

typedef struct {
    float *x, *W, *b, *Wp;
    int N, K, M;
} case_t;

static case_t make_case(lst_rng_t *r, int N, int K, int M) {
    case_t c = {test_randn(r, (size_t)N * K, 1), test_randn(r, (size_t)M * K, 0.5f),
                test_randn(r, (size_t)M, 1), malloc(sizeof(float) * ((size_t)M * K + 1)), N, K, M};
    lst_f32p_pack_weights(c.Wp, c.W, M, K);
    return c;
}

static void free_case(case_t *c) {
    free(c->x);
    free(c->W);
    free(c->b);
    free(c->Wp);
}

/* Worst |y - ref| / ((K + 2) 2^-24 sum_k |x W| + 1e-6) over y: [N, M]: a
 * float32 sum of K products is within (K - 1) u sum|terms| of the exact one,
 * plus the bias add. */
static double worst_ratio(const float *y, const float *ref, const case_t *c) {
    double worst = 0;
    for (int n = 0; n < c->N; n++)
        for (int m = 0; m < c->M; m++) {
            double s = 0;
            for (int k = 0; k < c->K; k++)
                s += fabs((double)c->x[(size_t)n * c->K + k] * c->W[(size_t)m * c->K + k]);
            const double e = fabs((double)y[(size_t)n * c->M + m] - ref[(size_t)n * c->M + m]);
            const double r = e / ((c->K + 2) * ldexp(1, -24) * s + 1e-6);
            if (!(r <= worst)) worst = r; /* NaN -> infinite */
        }
    return worst;
}

/* Both paths, with and without bias, against lst_matmul_forward_ref; the
 * dispatched path equals the plain-C one bit for bit. y starts as NaN: it
 * must be overwritten, not added to. */
TEST(f32p_matches_reference_and_portable) {
    lst_rng_t r;
    lst_rng_seed(&r, 7);
    for (int s = 0; s < NSHAPES; s++) {
        case_t c = make_case(&r, shapes[s][0], shapes[s][1], shapes[s][2]);
        const size_t NM = (size_t)c.N * c.M;
        float *y = malloc(sizeof(float) * NM), *yp = malloc(sizeof(float) * NM);
        float *ref = malloc(sizeof(float) * NM);
        for (int withb = 0; withb < 2; withb++) {
            const float *b = withb ? c.b : NULL;
            for (size_t i = 0; i < NM; i++) y[i] = yp[i] = NAN;
            lst_matmul_forward_f32p(y, c.x, c.Wp, b, c.N, c.K, c.M);
            lst_matmul_forward_f32p_portable(yp, c.x, c.Wp, b, c.N, c.K, c.M);
            lst_matmul_forward_ref(ref, c.x, c.W, b, c.N, c.K, c.M);
            const double w = worst_ratio(y, ref, &c), wp = worst_ratio(yp, ref, &c);
            CHECK(w <= 1 && wp <= 1, "N=%d K=%d M=%d bias=%d: %.3g / %.3g x the tolerance", c.N,
                  c.K, c.M, withb, w, wp);
            CHECK(memcmp(y, yp, sizeof(float) * NM) == 0,
                  "N=%d K=%d M=%d bias=%d: the %s path differs from the plain-C one", c.N, c.K,
                  c.M, withb, lst_f32p_native() ? "AVX-512" : "dispatched");
        }
        free(y); free(yp); free(ref);
        free_case(&c);
    }
}

/* The layout the header promises (M * K floats, panel p at p * NR * K, w
 * columns per k), and unpacking as its exact inverse. */
TEST(f32p_packing_layout) {
    lst_rng_t r;
    lst_rng_seed(&r, 9);
    const int M = 150, K = 37; /* panels of 64, 64 and 22 columns */
    case_t c = make_case(&r, 1, K, M);
    int bad = 0;
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++) {
            const int p = m / LST_F32P_NR, j = m % LST_F32P_NR;
            const int w = M - p * LST_F32P_NR < LST_F32P_NR ? M - p * LST_F32P_NR : LST_F32P_NR;
            bad += c.Wp[(size_t)p * LST_F32P_NR * K + (size_t)k * w + j] != c.W[(size_t)m * K + k];
        }
    CHECK(bad == 0, "%d of %d weights not where the layout says", bad, M * K);
    float *back = malloc(sizeof(float) * M * K);
    lst_f32p_unpack_weights(back, c.Wp, M, K);
    CHECK(memcmp(back, c.W, sizeof(float) * M * K) == 0, "unpack is not the inverse of pack");
    free(back);
    free_case(&c);
}

/* Each output's arithmetic does not depend on which thread computes it: 1
 * and 2 threads give the same bits, for many rows (row blocks) and few
 * (column groups); K = 0 gives the bias. */
TEST(f32p_threads_and_empty_k) {
    lst_rng_t r;
    lst_rng_seed(&r, 13);
    static const int sh[][3] = {{301, 333, 150}, {24, 700, 1000}};
    for (int s = 0; s < 2; s++) {
        case_t c = make_case(&r, sh[s][0], sh[s][1], sh[s][2]);
        const size_t NM = (size_t)c.N * c.M;
        float *y1 = malloc(sizeof(float) * NM), *y2 = malloc(sizeof(float) * NM);
        const int saved = omp_get_max_threads();
        omp_set_num_threads(1);
        lst_matmul_forward_f32p(y1, c.x, c.Wp, c.b, c.N, c.K, c.M);
        omp_set_num_threads(2);
        lst_matmul_forward_f32p(y2, c.x, c.Wp, c.b, c.N, c.K, c.M);
        omp_set_num_threads(saved);
        CHECK(memcmp(y1, y2, sizeof(float) * NM) == 0, "N=%d: 1 and 2 threads differ", c.N);
        free(y1); free(y2);
        free_case(&c);
    }
    float y[6] = {NAN, NAN, NAN, NAN, NAN, NAN}, b[3] = {1, 2, 3};
    lst_matmul_forward_f32p(y, NULL, NULL, b, 2, 0, 3);
    CHECK(y[0] == 1 && y[2] == 3 && y[3] == 1 && y[5] == 3, "K = 0: y = bias");
    lst_matmul_forward_f32p(y, NULL, NULL, NULL, 2, 0, 3);
    CHECK(y[0] == 0 && y[5] == 0, "K = 0, no bias: y = 0");
}
