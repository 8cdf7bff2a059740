/* test_matmul_bf16.c: the bf16 backbone product (src/ops/cpu/matmul_bf16.c)
 * against its plain reference and against float32, on shapes that exercise
 * every tail (rows, columns, odd K) and every block boundary. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/rng.h"
#include "../src/ops/cpu/matmul_bf16.h"
#include "../src/ops/ops.h"
#include "tensor_util.h"
#include "test.h"

typedef void (*bf16_fn)(float *, const float *, const uint16_t *, const float *, int, int, int);

/* The kernel with a workspace of its query's size, as the model plans it. */
static void bf16_call(float *y, const float *x, const uint16_t *Wp, const float *b, int N, int K,
                      int M) {
    void *ws = malloc(lst_bf16_workspace(K, M) + 1);
    lst_matmul_forward_bf16(y, x, Wp, b, N, K, M, ws);
    free(ws);
}

static float bfr(float v) { return lst_bf16_to_float(lst_bf16_from_float(v)); }

/* Worst |a - b| / tol over y: [N, M], where the tolerance of y[n, m] is
 * rel * sum_k |x[n,k]| |W[m,k]| (rounded to bf16 first when `round`) + abs. */
static double worst_ratio(const float *a, const float *b, const float *x, const float *W, int N,
                          int K, int M, double rel, int round, double abs_tol) {
    double worst = 0;
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                float xv = x[(size_t)n * K + k], wv = W[(size_t)m * K + k];
                if (round) xv = bfr(xv), wv = bfr(wv);
                s += fabs((double)xv * wv);
            }
            const double e = fabs((double)a[(size_t)n * M + m] - b[(size_t)n * M + m]);
            const double r = e / (rel * s + abs_tol);
            if (!(r <= worst)) worst = r; /* NaN -> infinite */
        }
    return worst;
}

static const int shapes[][3] = {
    {1, 1, 1},     {1, 3, 17},    {3, 1, 33},     {17, 33, 1},    {33, 17, 129},  {5, 2, 64},
    {6, 64, 64},   {7, 129, 65},  {129, 3, 3},    {13, 128, 128}, {64, 130, 200}, {200, 257, 96},
    /* past the kernel's blocks: rows > BF16_MC, K > 2 * BF16_KCP, several panels */
    {401, 300, 130}, {250, 1025, 70}, {31, 2049, 129},
    /* few rows, enough work for several threads: split by columns */
    {24, 700, 1000},
};
#define NSHAPES ((int)(sizeof shapes / sizeof shapes[0]))

/* fn on packed W against lst_matmul_forward_bf16_ref, with and without
 * bias; y is filled with NaN first (it must be overwritten, not added to). */
static void check_against_ref(bf16_fn fn, const char *name) {
    lst_rng_t r;
    lst_rng_seed(&r, 7);
    for (int s = 0; s < NSHAPES; s++) {
        const int N = shapes[s][0], K = shapes[s][1], M = shapes[s][2];
        float *x = test_randn(&r, (size_t)N * K, 1), *W = test_randn(&r, (size_t)M * K, 0.5f);
        float *b = test_randn(&r, (size_t)M, 1);
        float *y = malloc(sizeof(float) * N * M), *yr = malloc(sizeof(float) * N * M);
        uint16_t *Wp = malloc(sizeof(uint16_t) * lst_bf16_packed_size(M, K));
        memset(Wp, 0xff, sizeof(uint16_t) * lst_bf16_packed_size(M, K)); /* padding must be set */
        lst_bf16_pack_weights(Wp, W, M, K);
        for (int withb = 0; withb < 2; withb++) {
            for (int i = 0; i < N * M; i++) y[i] = NAN;
            fn(y, x, Wp, withb ? b : NULL, N, K, M);
            lst_matmul_forward_bf16_ref(yr, x, W, withb ? b : NULL, N, K, M);
            /* Both sum the same exact products in float, in different orders:
             * each is within (K - 1) u sum|terms| of the exact sum (u = 2^-24),
             * plus one rounding of the bias add. */
            const double w = worst_ratio(y, yr, x, W, N, K, M, (K + 2) * ldexp(1, -23), 1, 1e-6);
            CHECK(w <= 1, "%s N=%d K=%d M=%d bias=%d: %.3g x the tolerance", name, N, K, M, withb,
                  w);
        }
        free(x); free(W); free(b); free(y); free(yr); free(Wp);
    }
}

TEST(bf16_rounding_is_nearest_even) {
    CHECK(lst_bf16_from_float(1.0f) == 0x3f80, "1.0");
    CHECK(lst_bf16_from_float(-2.0f) == 0xc000, "-2.0");
    /* halfway between 1 and 1 + 2^-7 goes to the even one (1); between
     * 1 + 2^-7 and 1 + 2^-6 to 1 + 2^-6 */
    CHECK(lst_bf16_from_float(1.0f + ldexpf(1, -8)) == 0x3f80, "tie to even, down");
    CHECK(lst_bf16_from_float(1.0f + 3 * ldexpf(1, -8)) == 0x3f82, "tie to even, up");
    CHECK(lst_bf16_from_float(1.0f + ldexpf(1, -8) + ldexpf(1, -20)) == 0x3f81, "above the tie");
    CHECK(lst_bf16_from_float(INFINITY) == 0x7f80, "inf");
    CHECK(lst_bf16_from_float(3.4e38f) == 0x7f80, "overflow rounds to inf");
    CHECK(isnan(lst_bf16_to_float(lst_bf16_from_float(NAN))), "NaN stays NaN");
    CHECK(lst_bf16_from_float(1e-40f) == 0 && lst_bf16_from_float(-1e-40f) == 0x8000,
          "subnormals flush to signed zero");
    lst_rng_t r;
    lst_rng_seed(&r, 3);
    for (int i = 0; i < 10000; i++) { /* the nearest of the two neighbours */
        const float v = (float)lst_rng_normal(&r) * 100, q = bfr(v);
        union { float f; uint32_t u; } lo = {v}, hi;
        lo.u &= 0xffff0000u;
        hi = lo;
        hi.u += 0x10000u;
        CHECK(fabsf(q - v) <= fabsf(lo.f - v) && fabsf(q - v) <= fabsf(hi.f - v), "%g -> %g", v, q);
    }
}

/* The kernel's own conversion of x (vcvtne2ps2bf16 on the fast path) gives
 * the same bf16 as lst_bf16_from_float: through W = identity, y = bf16(x). */
TEST(bf16_kernel_rounds_x_like_scalar) {
    lst_rng_t r;
    lst_rng_seed(&r, 5);
    const int N = 9, K = 67;
    float *x = test_randn(&r, (size_t)N * K, 3), *I = calloc((size_t)K * K, sizeof(float));
    for (int i = 0; i < N * K; i += 5) /* exact ties and subnormals too */
        x[i] = (i % 3 ? 1.0f + (2 * (i % 7) + 1) * ldexpf(1, -8) : 1e-39f) * (i % 2 ? -1 : 1);
    for (int k = 0; k < K; k++) I[(size_t)k * K + k] = 1;
    uint16_t *Ip = malloc(sizeof(uint16_t) * lst_bf16_packed_size(K, K));
    lst_bf16_pack_weights(Ip, I, K, K);
    float *y = malloc(sizeof(float) * N * K);
    bf16_fn fns[2] = {bf16_call, lst_matmul_forward_bf16_portable};
    for (int f = 0; f < 2; f++) {
        fns[f](y, x, Ip, NULL, N, K, K);
        int bad = 0;
        for (int i = 0; i < N * K; i++) bad += y[i] != bfr(x[i]);
        CHECK(bad == 0, "%s: %d of %d differ", f ? "portable" : "dispatched", bad, N * K);
    }
    free(x); free(I); free(Ip); free(y);
}

TEST(bf16_fast_matches_reference) {
    check_against_ref(bf16_call, lst_bf16_native() ? "avx512_bf16" : "portable");
}

TEST(bf16_portable_matches_reference) {
    check_against_ref(lst_matmul_forward_bf16_portable, "portable");
}

/* Against the float32 product: the only extra error is rounding x and W to
 * bf16 (relative 2^-9 each, so 2^-8 on a product, to first order). */
TEST(bf16_close_to_float32) {
    lst_rng_t r;
    lst_rng_seed(&r, 11);
    static const int sh[][3] = {{37, 29, 41}, {129, 513, 67}, {64, 1536, 256}};
    for (int s = 0; s < 3; s++) {
        const int N = sh[s][0], K = sh[s][1], M = sh[s][2];
        float *x = test_randn(&r, (size_t)N * K, 1), *W = test_randn(&r, (size_t)M * K, 0.1f);
        float *b = test_randn(&r, (size_t)M, 1);
        float *y = malloc(sizeof(float) * N * M), *y32 = malloc(sizeof(float) * N * M);
        uint16_t *Wp = malloc(sizeof(uint16_t) * lst_bf16_packed_size(M, K));
        lst_bf16_pack_weights(Wp, W, M, K);
        bf16_call(y, x, Wp, b, N, K, M);
        lst_matmul_forward_ref(y32, x, W, b, N, K, M);
        const double bound = ldexp(1, -8) * (1 + ldexp(1, -9)) + (K + 2) * ldexp(1, -24);
        const double w = worst_ratio(y, y32, x, W, N, K, M, bound, 0, 1e-6);
        CHECK(w <= 1, "N=%d K=%d M=%d: %.3g x the bound", N, K, M, w);
        /* and typically far inside it: errors of random sign add up like sqrt(K) */
        double e2 = 0, s2 = 0;
        for (int i = 0; i < N * M; i++) {
            e2 += ((double)y[i] - y32[i]) * ((double)y[i] - y32[i]);
            s2 += (double)y32[i] * y32[i];
        }
        CHECK(sqrt(e2 / s2) < ldexp(1, -8), "N=%d K=%d M=%d: rms relative error %.3g", N, K, M,
              sqrt(e2 / s2));
        free(x); free(W); free(b); free(y); free(y32); free(Wp);
    }
}

/* Rows are split across threads without changing any row's arithmetic, so
 * the result is the same bit for bit with 1 or 2 threads; K = 0 gives the
 * bias; the packed size and its zero padding. */
TEST(bf16_threads_edges_and_packing) {
    lst_rng_t r;
    lst_rng_seed(&r, 13);
    const int N = 301, K = 333, M = 150;
    float *x = test_randn(&r, (size_t)N * K, 1), *W = test_randn(&r, (size_t)M * K, 1);
    float *b = test_randn(&r, (size_t)M, 1);
    float *y1 = malloc(sizeof(float) * N * M), *y2 = malloc(sizeof(float) * N * M);
    const size_t sz = lst_bf16_packed_size(M, K);
    CHECK(sz == (size_t)((M + LST_BF16_NR - 1) / LST_BF16_NR) * LST_BF16_NR * ((K + 1) / 2) * 2,
          "packed size %zu", sz);
    CHECK(lst_bf16_packed_size(0, 5) == 0 && lst_bf16_packed_size(5, 0) == 0, "empty sizes");
    uint16_t *Wp = malloc(sizeof(uint16_t) * sz);
    lst_bf16_pack_weights(Wp, W, M, K);
    size_t nonzero_pad = 0, count = 0;
    const int Kp = (K + 1) / 2;
    for (size_t i = 0; i < sz; i++) {
        const size_t t = i % 2, j = (i / 2) % LST_BF16_NR, kp = (i / 2 / LST_BF16_NR) % Kp,
                     p = i / 2 / LST_BF16_NR / Kp;
        const size_t m = p * LST_BF16_NR + j, k = 2 * kp + t;
        if (m >= (size_t)M || k >= (size_t)K) nonzero_pad += Wp[i] != 0;
        else count += Wp[i] == lst_bf16_from_float(W[m * K + k]);
    }
    CHECK(nonzero_pad == 0, "%zu padding entries are not zero", nonzero_pad);
    CHECK(count == (size_t)M * K, "%zu of %d weights packed where expected", count, M * K);

    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    bf16_call(y1, x, Wp, b, N, K, M);
    omp_set_num_threads(2);
    bf16_call(y2, x, Wp, b, N, K, M);
    omp_set_num_threads(saved);
    CHECK(memcmp(y1, y2, sizeof(float) * N * M) == 0, "1 and 2 threads differ");
    { /* few rows: the threads split the columns instead */
        const int n2 = 24, k2 = 700, m2 = 1000;
        float *x2 = test_randn(&r, (size_t)n2 * k2, 1), *W2 = test_randn(&r, (size_t)m2 * k2, 1);
        float *ya = malloc(sizeof(float) * n2 * m2), *yb = malloc(sizeof(float) * n2 * m2);
        uint16_t *Wp2 = malloc(sizeof(uint16_t) * lst_bf16_packed_size(m2, k2));
        lst_bf16_pack_weights(Wp2, W2, m2, k2);
        omp_set_num_threads(1);
        bf16_call(ya, x2, Wp2, NULL, n2, k2, m2);
        omp_set_num_threads(2);
        bf16_call(yb, x2, Wp2, NULL, n2, k2, m2);
        omp_set_num_threads(saved);
        CHECK(memcmp(ya, yb, sizeof(float) * n2 * m2) == 0, "1 and 2 threads differ (few rows)");
        free(x2); free(W2); free(ya); free(yb); free(Wp2);
    }

    for (int i = 0; i < N * M; i++) y1[i] = NAN;
    bf16_call(y1, x, Wp, b, N, 0, M);
    int bad = 0;
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) bad += y1[(size_t)n * M + m] != b[m];
    bf16_call(y2, x, Wp, NULL, N, 0, M);
    for (int i = 0; i < N * M; i++) bad += y2[i] != 0;
    CHECK(bad == 0, "K = 0: %d entries are not the bias (or 0)", bad);
    y1[0] = 42;
    bf16_call(y1, x, Wp, b, 0, K, M); /* N = 0: untouched */
    CHECK(y1[0] == 42, "N = 0 wrote to y");
    free(x); free(W); free(b); free(y1); free(y2); free(Wp);
}

/* Unpacking gives back exactly the bf16-rounded weight, padding dropped
 * (odd K, M not a multiple of the panel width). */
TEST(bf16_unpack_inverts_pack) {
    const int shapes[][2] = {{1, 1}, {7, 5}, {LST_BF16_NR + 3, 33}, {2 * LST_BF16_NR, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int M = shapes[s][0], K = shapes[s][1];
        float *W = malloc(sizeof(float) * M * K), *U = malloc(sizeof(float) * M * K);
        uint16_t *Wp = malloc(sizeof(uint16_t) * lst_bf16_packed_size(M, K));
        for (int i = 0; i < M * K; i++) W[i] = (float)sin(0.37 * i + s) * 3.0f;
        lst_bf16_pack_weights(Wp, W, M, K);
        lst_bf16_unpack_weights(U, Wp, M, K);
        int bad = 0;
        for (int i = 0; i < M * K; i++)
            bad += U[i] != lst_bf16_to_float(lst_bf16_from_float(W[i]));
        CHECK(bad == 0, "[%d, %d]: %d elements differ after pack + unpack", M, K, bad);
        free(W); free(U); free(Wp);
    }
}
