/* test_quant.c: the int8 and 4-bit weight kernels (src/ops/cpu/matmul_q8.c,
 * matmul_q4.c): the fast path against the plain-C one bit for bit, 1 and 2
 * threads alike, int8 against its own definition computed independently in
 * double, the packing's error bounds, and the measurement behind the 4-bit
 * code book (NF4 against evenly spaced int4 on normally distributed
 * weights). test_wformat.c checks both rows against the float32 product. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../src/ops/cpu/matmul_q4.h"
#include "../src/ops/cpu/matmul_q8.h"
#include "tensor_util.h"
#include "test.h"

static const int shapes[][3] = {
    {1, 1, 1},    {1, 3, 17},     {3, 5, 33},     {17, 33, 1},    {6, 64, 64},
    {7, 129, 65}, {13, 128, 128}, {64, 130, 200}, {200, 257, 96}, {12, 512, 128},
    /* past the kernels' blocks: rows > 240, K past several k blocks, panels */
    {301, 1030, 130}, {31, 2049, 129},
    /* few rows, enough work for several threads: split by columns */
    {24, 700, 1000},
};
#define NSHAPES ((int)(sizeof shapes / sizeof shapes[0]))

typedef void (*fwd_fn)(float *y, const float *x, const void *P, const float *b, int N, int K,
                       int M, void *ws);
static void q8_fast(float *y, const float *x, const void *P, const float *b, int N, int K, int M,
                    void *ws) {
    lst_matmul_forward_q8(y, x, P, b, N, K, M, ws);
}
static void q8_plain(float *y, const float *x, const void *P, const float *b, int N, int K, int M,
                     void *ws) {
    lst_matmul_forward_q8_portable(y, x, P, b, N, K, M, ws);
}
static void q4_fast(float *y, const float *x, const void *P, const float *b, int N, int K, int M,
                    void *ws) {
    lst_matmul_forward_q4(y, x, P, b, N, K, M, ws);
}
static void q4_plain(float *y, const float *x, const void *P, const float *b, int N, int K, int M,
                     void *ws) {
    lst_matmul_forward_q4_portable(y, x, P, b, N, K, M);
}

typedef struct {
    const char *name;
    size_t (*bytes)(int M, int K);
    void (*pack)(void *P, const float *W, int M, int K);
    size_t (*workspace)(int K, int M);
    fwd_fn fast, plain;
    int (*native)(void);
} kernel_t;

static const kernel_t kernels[2] = {
    {"int8", lst_q8_packed_bytes, lst_q8_pack_weights, lst_q8_workspace, q8_fast, q8_plain,
     lst_q8_native},
    {"q4", lst_q4_packed_bytes, lst_q4_pack_weights, lst_q4_workspace, q4_fast, q4_plain,
     lst_q4_native},
};

/* Fast and plain paths, with and without bias, on every shape: the same
 * bits, and y overwritten (it starts as NaN). One row of x is all zeros
 * and one weight row too (scales 0). int8 runs each fast path this CPU
 * has (AMX tiles, then vpdpbusd alone). */
TEST(quant_fast_path_equals_plain_c) {
    lst_rng_t r;
    lst_rng_seed(&r, 71);
    for (int q = 0; q < 3; q++) {
        const kernel_t *kn = &kernels[q ? q - 1 : 0];
        lst_q8_use_path(q == 0 ? LST_Q8_AMX : LST_Q8_VNNI);
        if (q == 0 && lst_q8_path() != LST_Q8_AMX) continue; /* no AMX here */
        if (q == 0) printf("    int8 on AMX tiles, then on vpdpbusd\n");
        for (int s = 0; s < NSHAPES; s++) {
            const int N = shapes[s][0], K = shapes[s][1], M = shapes[s][2];
            float *x = test_randn(&r, (size_t)N * K, 1), *W = test_randn(&r, (size_t)M * K, 0.5f);
            float *b = test_randn(&r, (size_t)M, 1);
            memset(x + (size_t)(N / 2) * K, 0, sizeof(float) * K);
            memset(W + (size_t)(M / 2) * K, 0, sizeof(float) * K);
            void *P = malloc(kn->bytes(M, K)), *ws = malloc(kn->workspace(K, M) + 64);
            float *y = malloc(sizeof(float) * N * M), *yp = malloc(sizeof(float) * N * M);
            kn->pack(P, W, M, K);
            for (int withb = 0; withb < 2; withb++) {
                for (size_t i = 0; i < (size_t)N * M; i++) y[i] = yp[i] = NAN;
                kn->fast(y, x, P, withb ? b : NULL, N, K, M, kn->workspace(K, M) ? ws : NULL);
                kn->plain(yp, x, P, withb ? b : NULL, N, K, M, ws);
                CHECK(!memcmp(y, yp, sizeof(float) * N * M),
                      "%s N=%d K=%d M=%d bias=%d: the %s path differs from the plain-C one", kn->name,
                      N, K, M, withb, kn->native() ? "fast" : "dispatched");
                int finite = 1;
                for (size_t i = 0; i < (size_t)N * M; i++) finite &= isfinite(y[i]);
                CHECK(finite, "%s N=%d K=%d M=%d: y not all written", kn->name, N, K, M);
                const float *yr = y + (size_t)(N / 2) * M; /* the zero row: y = b (or 0) */
                CHECK(yr[0] == (withb ? b[0] : 0.0f) && yr[M - 1] == (withb ? b[M - 1] : 0.0f),
                      "%s N=%d K=%d M=%d: a zero row gives %g", kn->name, N, K, M, yr[0]);
            }
            free(x); free(W); free(b); free(P); free(ws); free(y); free(yp);
        }
    }
    lst_q8_use_path(LST_Q8_AMX);
}

/* 1 and 2 threads give the same bits, for many rows and for few. */
TEST(quant_threads_agree) {
    lst_rng_t r;
    lst_rng_seed(&r, 73);
    static const int sh[][3] = {{301, 333, 150}, {24, 700, 1000}};
    for (int q = 0; q < 2; q++)
        for (int s = 0; s < 2; s++) {
            const kernel_t *kn = &kernels[q];
            const int N = sh[s][0], K = sh[s][1], M = sh[s][2];
            float *x = test_randn(&r, (size_t)N * K, 1), *W = test_randn(&r, (size_t)M * K, 0.5f);
            void *P = malloc(kn->bytes(M, K)), *ws = malloc(kn->workspace(K, M) + 64);
            float *y1 = malloc(sizeof(float) * N * M), *y2 = malloc(sizeof(float) * N * M);
            kn->pack(P, W, M, K);
            const int saved = omp_get_max_threads();
            omp_set_num_threads(1);
            kn->fast(y1, x, P, NULL, N, K, M, kn->workspace(K, M) ? ws : NULL);
            omp_set_num_threads(2);
            kn->fast(y2, x, P, NULL, N, K, M, kn->workspace(K, M) ? ws : NULL);
            omp_set_num_threads(saved);
            CHECK(!memcmp(y1, y2, sizeof(float) * N * M), "%s N=%d: 1 and 2 threads differ", kn->name, N);
            free(x); free(W); free(P); free(ws); free(y1); free(y2);
        }
}

/* int8 against matmul_q8.h's formula, computed here from scratch (its own
 * per-row scales, quantization and integer sums in double): equal up to
 * the final float rounding. */
TEST(q8_matches_its_definition) {
    lst_rng_t r;
    lst_rng_seed(&r, 75);
    const int N = 9, K = 301, M = 70;
    float *x = test_randn(&r, (size_t)N * K, 2), *W = test_randn(&r, (size_t)M * K, 0.3f);
    float *b = test_randn(&r, (size_t)M, 1);
    void *P = malloc(lst_q8_packed_bytes(M, K)), *ws = malloc(lst_q8_workspace(K, M));
    float *y = malloc(sizeof(float) * N * M);
    lst_q8_pack_weights(P, W, M, K);
    lst_matmul_forward_q8(y, x, P, b, N, K, M, ws);
    double worst = 0;
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) {
            float ax = 0, aw = 0;
            for (int k = 0; k < K; k++) {
                ax = fmaxf(ax, fabsf(x[(size_t)n * K + k]));
                aw = fmaxf(aw, fabsf(W[(size_t)m * K + k]));
            }
            double acc = 0;
            for (int k = 0; k < K; k++) {
                const double qx = nearbyintf(x[(size_t)n * K + k] * (127.0f / ax));
                const double qw = nearbyintf(W[(size_t)m * K + k] * (127.0f / aw));
                acc += qx * qw;
            }
            const double want = acc * ((double)(ax / 127.0f) * (aw / 127.0f)) + b[m];
            const double e = fabs(y[(size_t)n * M + m] - want) / (fabs(want) + 1e-3);
            worst = e > worst ? e : worst;
        }
    CHECK(worst < 1e-5, "int8 product off its definition by %.3g (relative)", worst);
    free(x); free(W); free(b); free(P); free(ws); free(y);
}

/* Relative Frobenius error of unpack(pack(W)) against W. */
static double rel_error(const float *W, const float *U, size_t n) {
    double e = 0, w = 0;
    for (size_t i = 0; i < n; i++) {
        e += ((double)U[i] - W[i]) * ((double)U[i] - W[i]);
        w += (double)W[i] * W[i];
    }
    return sqrt(e / w);
}

/* The packing's error on normally distributed weights (T5's are close to
 * that): int8 per row well under 1%; the 4-bit code book NF4 against evenly
 * spaced int4 at the same group size. The figures are printed, the choice
 * asserted: NF4 must be the better of the two. */
TEST(quant_weight_error_and_the_code_book) {
    lst_rng_t r;
    lst_rng_seed(&r, 77);
    const int M = 256, K = 512;
    const size_t n = (size_t)M * K;
    float *W = test_randn(&r, n, 0.05f), *U = malloc(sizeof(float) * n);
    void *P8 = malloc(lst_q8_packed_bytes(M, K)), *P4 = malloc(lst_q4_packed_bytes(M, K));
    lst_q8_pack_weights(P8, W, M, K);
    lst_q8_unpack_weights(U, P8, M, K);
    const double e8 = rel_error(W, U, n);
    lst_q4_pack_weights_codes(P4, W, M, K, lst_q4_codes_nf4());
    lst_q4_unpack_weights_codes(U, P4, M, K, lst_q4_codes_nf4());
    const double enf4 = rel_error(W, U, n);
    lst_q4_pack_weights_codes(P4, W, M, K, lst_q4_codes_int4());
    lst_q4_unpack_weights_codes(U, P4, M, K, lst_q4_codes_int4());
    const double eint4 = rel_error(W, U, n);
    printf("    weight error (relative L2, N(0, 0.05^2)): int8 %.4f, NF4/32 %.4f, int4/32 %.4f\n", e8,
           enf4, eint4);
    CHECK(e8 < 0.01, "int8 weight error %.4f", e8);
    CHECK(enf4 < 0.12 && enf4 < eint4, "NF4 %.4f against int4 %.4f", enf4, eint4);
    free(W); free(U); free(P8); free(P4);
}
