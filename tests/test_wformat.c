/* test_wformat.c: every row of the weight-format table (src/ops/wformat.h)
 * against the float32 reference: unpack(pack(W)) gives W exactly (or its
 * rounding, for a rounding format), the format's product equals the plain
 * product of the unpacked weight and the input rounded as the format says,
 * and the bytes are what the format reports. Shapes with row, column and
 * block tails. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/ops/ops.h"
#include "../src/ops/wformat.h"
#include "tensor_util.h"
#include "test.h"

static void check_format(lst_wformat_t f, int N, int K, int M) {
    const lst_wformat_traits_t *tr = lst_wformat(f);
    lst_rng_t r;
    lst_rng_seed(&r, 1234 + (uint64_t)f * 7 + (uint64_t)K);
    float *W = test_randn(&r, (size_t)M * K, 0.5f), *x = test_randn(&r, (size_t)N * K, 1.0f);
    float *b = test_randn(&r, (size_t)M, 0.1f);
    const size_t bytes = tr->bytes(M, K);
    const size_t least = f == LST_WF_Q4 ? (size_t)M * K / 2 : f == LST_WF_INT8 ? (size_t)M * K
                         : f == LST_WF_BF16 ? 2 * (size_t)M * K : 4 * (size_t)M * K;
    CHECK(bytes >= least, "%s: %zu bytes for [%d, %d]", tr->name, bytes, M, K);
    void *P = calloc(1, bytes);
    float *U = calloc((size_t)M * K, sizeof(float)), *xr = calloc((size_t)N * K, sizeof(float));
    float *y = calloc((size_t)N * M, sizeof(float)), *ref = calloc((size_t)N * M, sizeof(float));
    tr->pack(P, W, M, K);
    tr->unpack(U, P, M, K);
    if (tr->round_input) {
        /* a rounding format: the unpacked weight is W rounded the same way */
        float *Wr = calloc((size_t)M * K, sizeof(float));
        tr->round_input(Wr, W, (size_t)M, K);
        CHECK(!memcmp(U, Wr, sizeof(float) * M * K), "%s: unpack(pack(W)) is not W rounded", tr->name);
        tr->round_input(xr, x, (size_t)N, K);
        free(Wr);
    } else if (f == LST_WF_Q4) {
        /* lossy on the weight only: every value within half the widest gap
         * of the code book (0.152 of its group's largest magnitude) */
        int bad = 0;
        for (int m = 0; m < M; m++)
            for (int k = 0; k < K; k++) {
                float amax = 0;
                for (int j = k / 32 * 32; j < K && j < k / 32 * 32 + 32; j++)
                    amax = fmaxf(amax, fabsf(W[(size_t)m * K + j]));
                bad += !(fabsf(U[(size_t)m * K + k] - W[(size_t)m * K + k]) <= 0.1520f * amax);
            }
        CHECK(bad == 0, "%s: %d weights off by more than the code book allows", tr->name, bad);
        memcpy(xr, x, sizeof(float) * N * K);
    } else {
        CHECK(!memcmp(U, W, sizeof(float) * M * K), "%s: unpack(pack(W)) != W", tr->name);
        memcpy(xr, x, sizeof(float) * N * K);
    }
    void *ws = malloc(tr->workspace(K, M) + 1);
    tr->matmul(y, x, P, b, N, K, M, ws);
    free(ws);
    lst_matmul_forward_ref(ref, xr, U, b, N, K, M);
    double scale = 0;
    for (size_t i = 0; i < (size_t)N * M; i++) scale = fmax(scale, fabs(ref[i]));
    const double diff = test_maxdiff(y, ref, (size_t)N * M);
    CHECK(diff <= 1e-5 * (scale + 1), "%s [%d x %d x %d]: max diff %g (scale %g)", tr->name, N, K, M,
          diff, scale);
    free(W);
    free(x);
    free(b);
    free(P);
    free(U);
    free(xr);
    free(y);
    free(ref);
}

TEST(wformat_rows_match_the_float32_reference) {
    static const int shapes[][3] = {{1, 7, 5}, {6, 64, 64}, {13, 300, 130}, {25, 257, 70}};
    for (int f = 0; f < LST_WF_COUNT; f++) {
        const lst_wformat_traits_t *tr = lst_wformat((lst_wformat_t)f);
        CHECK(tr->name && tr->bytes && tr->pack && tr->unpack && tr->matmul && tr->workspace && tr->native,
              "format %d: a table entry is missing", f);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            check_format((lst_wformat_t)f, shapes[s][0], shapes[s][1], shapes[s][2]);
    }
    CHECK(lst_wformat(LST_WF_COUNT) == lst_wformat(LST_WF_F32), "out-of-range format");
}

/* The user's dtype names come off the table: each parses to its row, names
 * the row back, and is stored frozen in a row computing the same numbers
 * (itself, or a speed-only form of float32). */
TEST(wformat_dtype_names_round_trip) {
    int named = 0;
    for (int f = 0; f < LST_WF_COUNT; f++) {
        const lst_wformat_traits_t *tr = lst_wformat((lst_wformat_t)f);
        const lst_wformat_traits_t *fz = lst_wformat(tr->frozen);
        CHECK(tr->frozen == (lst_wformat_t)f || (fz->speed_only && !tr->round_input),
              "%s: frozen as %s, which computes other numbers", tr->name, fz->name);
        if (!tr->dtype) {
            CHECK(tr->speed_only, "%s has no dtype name but is not speed-only", tr->name);
            continue;
        }
        named++;
        lst_wformat_t back = LST_WF_COUNT;
        CHECK(lst_wformat_parse(tr->dtype, &back) == 0 && back == (lst_wformat_t)f,
              "'%s' parses to %d, not %d", tr->dtype, (int)back, f);
        CHECK(!strcmp(lst_wformat_dtype((lst_wformat_t)f), tr->dtype) &&
                  !strcmp(lst_wformat_dtype(tr->frozen), tr->dtype),
              "%s: dtype name %s / frozen %s", tr->name, lst_wformat_dtype((lst_wformat_t)f),
              lst_wformat_dtype(tr->frozen));
        CHECK(strstr(lst_wformat_dtypes(), tr->dtype) != NULL, "'%s' missing from '%s'", tr->dtype,
              lst_wformat_dtypes());
    }
    CHECK(named >= 2, "only %d user dtypes", named);
    lst_wformat_t out = LST_WF_BF16;
    CHECK(lst_wformat_parse("fp16", &out) == -1 && out == LST_WF_BF16, "fp16 accepted");
    CHECK(lst_wformat_parse(NULL, &out) == -1, "NULL accepted");
    CHECK(lst_wformat_parse("f32-panels", &out) == -1, "an internal row name accepted as a dtype");
}
