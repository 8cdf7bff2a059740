/* test_ops.c: every fast CPU op against its plain reference, and the
 * backward of the small ops against central finite differences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/rng.h"
#include "../src/core/streams.h"
#include "../src/ops/ops.h"
#include "tensor_util.h"
#include "test.h"

TEST(ops_matmul_matches_reference) {
    lst_rng_t r;
    lst_rng_seed(&r, 1);
    const int N = 37, IC = 29, OC = 41;
    float *x = test_randn(&r, N * IC, 1), *W = test_randn(&r, OC * IC, 1), *b = test_randn(&r, OC, 1);
    float *y1 = malloc(sizeof(float) * N * OC), *y2 = malloc(sizeof(float) * N * OC);
    lst_matmul_forward(y1, x, W, b, N, IC, OC);
    lst_matmul_forward_ref(y2, x, W, b, N, IC, OC);
    CHECK(test_maxdiff(y1, y2, N * OC) < 1e-4, "forward differs by %g", test_maxdiff(y1, y2, N * OC));
    float *dout = test_randn(&r, N * OC, 1);
    float *dx1 = calloc(N * IC, 4), *dx2 = calloc(N * IC, 4);
    float *dW1 = calloc(OC * IC, 4), *dW2 = calloc(OC * IC, 4);
    float *db1 = calloc(OC, 4), *db2 = calloc(OC, 4);
    lst_matmul_backward(dx1, dW1, db1, dout, x, W, N, IC, OC);
    lst_matmul_backward_ref(dx2, dW2, db2, dout, x, W, N, IC, OC);
    CHECK(test_maxdiff(dx1, dx2, N * IC) < 1e-4, "dx differs");
    CHECK(test_maxdiff(dW1, dW2, OC * IC) < 1e-4, "dW differs");
    CHECK(test_maxdiff(db1, db2, OC) < 1e-4, "db differs");
    /* Backward accumulates: a second call doubles the gradients. */
    lst_matmul_backward(dx1, NULL, NULL, dout, x, W, N, IC, OC);
    for (int i = 0; i < N * IC; i++) dx2[i] *= 2;
    CHECK(test_maxdiff(dx1, dx2, N * IC) < 2e-4, "backward does not accumulate");
    free(x); free(W); free(b); free(y1); free(y2); free(dout);
    free(dx1); free(dx2); free(dW1); free(dW2); free(db1); free(db2);
}

/* Products large enough to be split across threads: by rows (more rows
 * than outputs) and by columns, forward and backward, odd sizes. */
TEST(ops_matmul_split_matches_reference) {
    lst_rng_t r;
    lst_rng_seed(&r, 3);
    const int shapes[][3] = {{400, 300, 260}, {50, 300, 401}, {403, 100, 61}, {2050, 64, 64},
                             {45, 512, 97},
                             /* few rows, many outputs: the LM head's kernel
                              * (matmul_rows.c) on AVX-512, with row and
                              * column tails */
                             {24, 768, 2050}, {7, 304, 1027}, {64, 48, 1500}}; /* N, IC, OC */
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int N = shapes[s][0], IC = shapes[s][1], OC = shapes[s][2];
        CHECK(2.0 * N * IC * OC >= 4e6, "shape %zu is too small to be split", s);
        float *x = test_randn(&r, (size_t)N * IC, 1), *W = test_randn(&r, (size_t)OC * IC, 1);
        float *b = test_randn(&r, OC, 1), *dout = test_randn(&r, (size_t)N * OC, 1);
        float *y1 = malloc(sizeof(float) * N * OC), *y2 = malloc(sizeof(float) * N * OC);
        float *dx1 = calloc((size_t)N * IC, 4), *dx2 = calloc((size_t)N * IC, 4);
        for (size_t i = 0; i < (size_t)N * IC; i++) dx1[i] = dx2[i] = 0.5f; /* accumulates */
        lst_matmul_forward(y1, x, W, b, N, IC, OC);
        lst_matmul_forward_ref(y2, x, W, b, N, IC, OC);
        const double tol = 2e-6 * IC;
        CHECK(test_maxdiff(y1, y2, (size_t)N * OC) < tol, "shape %zu: forward differs by %g", s,
              test_maxdiff(y1, y2, (size_t)N * OC));
        lst_matmul_backward(dx1, NULL, NULL, dout, x, W, N, IC, OC);
        lst_matmul_backward_ref(dx2, NULL, NULL, dout, x, W, N, IC, OC);
        CHECK(test_maxdiff(dx1, dx2, (size_t)N * IC) < 2e-6 * OC, "shape %zu: dx differs by %g", s,
              test_maxdiff(dx1, dx2, (size_t)N * IC));
        free(x); free(W); free(b); free(dout); free(y1); free(y2); free(dx1); free(dx2);
    }
}

TEST(ops_attention_matches_reference) {
    lst_rng_t r;
    lst_rng_seed(&r, 2);
    const int B = 2, Tq = 5, Tk = 7, H = 3, D = 4, C = H * D;
    float *q = test_randn(&r, B * Tq * C, 1), *k = test_randn(&r, B * Tk * C, 1);
    float *v = test_randn(&r, B * Tk * C, 1), *bias = test_randn(&r, H * Tq * Tk, 1);
    uint8_t mask[2 * 7] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0};
    for (int causal = 0; causal < 2; causal++) {
        float *o1 = calloc(B * Tq * C, 4), *o2 = calloc(B * Tq * C, 4);
        float *p1 = calloc(B * H * Tq * Tk, 4), *p2 = calloc(B * H * Tq * Tk, 4);
        lst_attention_forward(o1, p1, NULL, q, k, v, bias, mask, causal, B, Tq, Tk, H, D, NULL, NULL);
        lst_attention_forward_ref(o2, p2, q, k, v, bias, mask, causal, B, Tq, Tk, H, D);
        CHECK(test_maxdiff(o1, o2, B * Tq * C) < 1e-5, "out differs (causal %d)", causal);
        CHECK(test_maxdiff(p1, p2, B * H * Tq * Tk) < 1e-6, "probs differ (causal %d)", causal);
        /* Masked keys get exactly zero probability. */
        for (int h = 0; h < H; h++)
            for (int i = 0; i < Tq; i++)
                for (int j = 3; j < Tk; j++)
                    CHECK(p1[((1 * H + h) * Tq + i) * Tk + j] == 0, "masked key has weight");
        free(o1); free(o2); free(p1); free(p2);
    }
    free(q); free(k); free(v); free(bias);
}

TEST(ops_rmsnorm_and_activations_finite_difference) {
    lst_rng_t r;
    lst_rng_seed(&r, 4);
    const int N = 3, C = 8;
    float *x = test_randn(&r, N * C, 1), *wt = test_randn(&r, C, 1), *w = test_randn(&r, N * C, 1);
    float *y = malloc(4 * N * C), *rstd = malloc(4 * N);
    float *dx = calloc(N * C, 4), *dw = calloc(C, 4);
    lst_rmsnorm_forward(y, rstd, x, wt, N, C, 1e-6f);
    lst_rmsnorm_backward(dx, dw, w, x, wt, rstd, N, C);
    for (int i = 0; i < N * C; i++) {
        float keep = x[i];
        double l[2];
        for (int s = 0; s < 2; s++) {
            x[i] = keep + (s ? -1e-3f : 1e-3f);
            lst_rmsnorm_forward(y, NULL, x, wt, N, C, 1e-6f);
            l[s] = 0;
            for (int j = 0; j < N * C; j++) l[s] += (double)w[j] * y[j];
        }
        x[i] = keep;
        double fd = (l[0] - l[1]) / 2e-3;
        CHECK(fabs(fd - dx[i]) < 1e-2 * (1 + fabs(fd)), "rmsnorm dx[%d]: %g vs %g", i, dx[i], fd);
    }
    /* gelu_new derivative, including the gated form */
    for (int a = 0; a < 3; a++) {
        float xs[] = {-3.f, -0.7f, -0.1f, 0.3f, 1.2f, 4.f};
        for (int i = 0; i < 6; i++) {
            float g = 0, hp, hm, xp = xs[i] + 1e-3f, xm = xs[i] - 1e-3f;
            lst_act_backward(&g, &(float){1.0f}, &xs[i], 1, (lst_op_act_t)a);
            lst_act_forward(&hp, &xp, 1, (lst_op_act_t)a);
            lst_act_forward(&hm, &xm, 1, (lst_op_act_t)a);
            CHECK(fabs((hp - hm) / 2e-3 - g) < 2e-3, "act %d derivative at %g", a, xs[i]);
        }
    }
    free(x); free(wt); free(w); free(y); free(rstd); free(dx); free(dw);
}

/* ReLU's vector loops against its definition, element by element: lengths
 * around the vector width and past the threading threshold, in place and
 * not, with -0.0, NaN and infinities; the backward adds dout unless x <= 0
 * (PyTorch's threshold_backward, which passes it at NaN). */
TEST(ops_relu_vector_loops) {
    lst_rng_t r;
    lst_rng_seed(&r, 17);
    static const int64_t lens[] = {1, 3, 4, 5, 17, 64, 100003, 250001};
    for (size_t t = 0; t < sizeof lens / sizeof lens[0]; t++) {
        const int64_t n = lens[t];
        float *x = test_randn(&r, (size_t)n, 1), *g = test_randn(&r, (size_t)n, 1);
        float *y = malloc(sizeof(float) * n), *dx = test_randn(&r, (size_t)n, 1);
        float *dx0 = malloc(sizeof(float) * n);
        x[0] = -0.0f;
        if (n > 3) x[1] = NAN, x[2] = INFINITY, x[3] = -INFINITY;
        memcpy(dx0, dx, sizeof(float) * n);
        lst_act_forward(y, x, n, LST_OP_RELU);
        lst_act_backward(dx, g, x, n, LST_OP_RELU);
        int64_t bad = 0, badg = 0;
        for (int64_t i = 0; i < n; i++) {
            const float want = x[i] <= 0 ? 0.0f : x[i];
            bad += memcmp(&y[i], &want, sizeof want) != 0; /* bit for bit: -0.0 gives +0, NaN NaN */
            badg += dx[i] != dx0[i] + (x[i] <= 0 ? 0.0f : g[i]);
        }
        CHECK(bad == 0 && badg == 0, "n=%ld: %ld forward, %ld backward values wrong", (long)n,
              (long)bad, (long)badg);
        lst_act_forward(x, x, n, LST_OP_RELU); /* in place */
        CHECK(memcmp(x, y, sizeof(float) * n) == 0, "n=%ld: in place differs", (long)n);
        free(x); free(g); free(y); free(dx); free(dx0);
    }
}

/* A NaN reaching a ReLU stays NaN, as torch.relu keeps it: a mask `x > 0`
 * made it 0, so a NaN FFN weight gave a finite loss beside NaN gradients.
 * The backward is torch's threshold_backward: the gradient passes where the
 * activation is NaN and is 0 where it is <= 0 even when the gradient is NaN.
 * Every position of a vector of 4 and the scalar tail, plain and gated. */
TEST(ops_relu_propagates_nan) {
    enum { n = 11 };
    for (int at = 0; at < n; at++) {
        float x[n], y[n], g[n], dx[n];
        for (int i = 0; i < n; i++) x[i] = i % 2 ? -1.0f - i : 1.0f + i, g[i] = 0.5f, dx[i] = 0;
        x[at] = NAN;
        lst_act_forward(y, x, n, LST_OP_RELU);
        CHECK(isnan(y[at]), "relu(NaN) at %d of %d is %g, not NaN", at, n, y[at]);
        lst_act_backward(dx, g, x, n, LST_OP_RELU);
        CHECK(dx[at] == 0.5f, "relu backward at a NaN input (%d) gives %g, torch passes 0.5", at,
              dx[at]);
        float ga[n], one[n];
        for (int i = 0; i < n; i++) one[i] = 1.0f;
        lst_gated_forward(ga, x, one, n, LST_OP_RELU);
        CHECK(isnan(ga[at]), "gated relu(NaN) at %d is %g, not NaN", at, ga[at]);
    }
    float x[n], g[n], dx[n], dg[n];
    for (int i = 0; i < n; i++) x[i] = -1.0f, g[i] = NAN, dx[i] = 0, dg[i] = 0;
    const float l[n] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    lst_act_backward(dx, g, x, n, LST_OP_RELU);
    lst_gated_backward(dg, NULL, g, x, l, n, LST_OP_RELU);
    int nan = 0;
    for (int i = 0; i < n; i++) nan += isnan(dx[i]) || isnan(dg[i]);
    CHECK(nan == 0, "%d NaN gradients where x <= 0: torch gives 0 there", nan);
}

TEST(ops_relpos_bucket_matches_transformers) {
    /* Values of transformers' _relative_position_bucket (32 buckets, max
     * distance 128), bidirectional and causal, worked out from its formula. */
    CHECK(lst_relpos_bucket(0, 1, 32, 128) == 0, "0");
    CHECK(lst_relpos_bucket(5, 1, 32, 128) == 21, "+5 -> 16+5");
    CHECK(lst_relpos_bucket(-5, 1, 32, 128) == 5, "-5 -> 5");
    CHECK(lst_relpos_bucket(16, 1, 32, 128) == 26, "+16 -> 16+8+2");
    CHECK(lst_relpos_bucket(-200, 1, 32, 128) == 15, "far left saturates at 15");
    CHECK(lst_relpos_bucket(200, 1, 32, 128) == 31, "far right saturates at 31");
    CHECK(lst_relpos_bucket(3, 0, 32, 128) == 0, "causal: future -> 0");
    CHECK(lst_relpos_bucket(-20, 0, 32, 128) == 17, "causal -20 -> 16 + int(log(20/16)/log(8)*16)");
    CHECK(lst_relpos_bucket(-1000, 0, 32, 128) == 31, "causal saturates");
}

TEST(ops_xent_gradient_sums_to_zero) {
    float logits[2 * 5] = {1, 2, 3, 4, 5, -1, 0, 1, 0, -1};
    int32_t labels[2] = {4, -100};
    float d[10];
    double loss = lst_xent_forward_backward(d, logits, labels, 2, 5, 1.0f);
    double lse = log(exp(1) + exp(2) + exp(3) + exp(4) + exp(5));
    CHECK(fabs(loss - (lse - 5)) < 1e-6, "loss %g", loss);
    double s = 0;
    for (int i = 0; i < 5; i++) s += d[i];
    CHECK(fabs(s) < 1e-6, "gradient row sums to %g", s);
    for (int i = 5; i < 10; i++) CHECK(d[i] == 0, "ignored row has gradient");
}

/* Vocabulary-wide rows (the LM head's 32k): the vector softmax's loss and
 * gradient against a double-precision reference, the loss-only path (double
 * throughout) against the gradient path, and the in-place chunk against
 * both. */
TEST(ops_xent_vocabulary_rows_match_double) {
    lst_rng_t r;
    lst_rng_seed(&r, 23);
    const int N = 3, V = 32100;
    float *z = test_randn(&r, (size_t)N * V, 4), *d = malloc(sizeof(float) * N * V);
    float *c = malloc(sizeof(float) * N * V);
    int32_t labels[3] = {7, 32099, -100};
    z[5] = 40; /* one dominant logit */
    memcpy(c, z, sizeof(float) * N * V);
    const double loss = lst_xent_forward_backward(d, z, labels, N, V, 1.0f);
    const double loss_only = lst_xent_forward_backward(NULL, z, labels, N, V, 1.0f);
    const double chunk = lst_xent_chunk_inplace(c, labels, N, V, 0.5f) / 2;
    double ref = 0, worst = 0;
    for (int n = 0; n < 2; n++) {
        const float *x = z + (size_t)n * V;
        double mx = x[0], sum = 0;
        for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
        for (int v = 0; v < V; v++) sum += exp((double)x[v] - mx);
        const double lse = mx + log(sum);
        ref += (lse - x[labels[n]]) / 2;
        for (int v = 0; v < V; v++) {
            const double g = (exp((double)x[v] - lse) - (v == labels[n])) / 2;
            worst = fmax(worst, fabs(d[(size_t)n * V + v] - g));
            worst = fmax(worst, fabs(c[(size_t)n * V + v] - g));
        }
    }
    CHECK(fabs(loss - ref) < 1e-6 * fabs(ref) && fabs(loss_only - ref) < 1e-9 * fabs(ref) &&
              fabs(chunk - ref) < 1e-6 * fabs(ref),
          "loss %.9f / loss only %.9f / chunk %.9f, double %.9f", loss, loss_only, chunk, ref);
    CHECK(worst < 1e-7, "gradient off by %.3g", worst);
    for (int v = 0; v < V; v++)
        CHECK(d[2 * (size_t)V + v] == 0 && c[2 * (size_t)V + v] == 0, "ignored row has a gradient");
    free(z); free(d); free(c);
}

/* Elements whose dropout output is +0.0 (x must have no zeros). */
static int64_t count_dropped(const float *y, int64_t n) {
    int64_t z = 0;
    for (int64_t i = 0; i < n; i++) z += y[i] == 0;
    return z;
}

/* The fast path against the element-by-element definition: odd offsets and
 * lengths around the 64-element groups and 4096-element chunks, the
 * threaded path (N > 8 chunks), block counters crossing 2^32, seeds and
 * streams with high words, p on and next to a 16-bit field boundary. */
TEST(ops_dropout_matches_reference) {
    lst_rng_t r;
    lst_rng_seed(&r, 5);
    const int64_t NMAX = 9 * 4096 + 1001;
    float *x = test_randn(&r, NMAX, 1), *a = malloc(4 * NMAX), *b = malloc(4 * NMAX);
    const float p_edge = 6554.0f / 65536.0f; /* exact: threshold 6554 */
    const float ps[6] = {0.1f, 0.5f, 0.3333f, p_edge, nextafterf(p_edge, 0), nextafterf(p_edge, 1)};
    const struct { int64_t n; uint64_t first; } cases[] = {
        {1, 0}, {1, 63}, {63, 1}, {64, 64}, {65, 63}, {127, 5}, {129, 127}, {200, 31},
        {3 * 4096 + 37, 0}, {3 * 4096 + 37, 5}, {NMAX, 0}, {NMAX, 4095}, {NMAX - 3, 100003},
        {1000, ((uint64_t)1 << 35) - 517}, /* blocks 2^32 - 65 .. 2^32 + 60 */
    };
    const uint64_t seeds[2] = {99, 0x9E3779B97F4A7C15ull}, streams[2] = {7, (3ull << 40) | 5};
    for (int k = 0; k < 6; k++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            const int s = (int)((k + c) % 2);
            lst_drop_t d = {ps[k], seeds[s], streams[s]};
            const int64_t n = cases[c].n;
            lst_dropout_apply(a, x, n, &d, cases[c].first);
            lst_dropout_apply_ref(b, x, n, &d, cases[c].first);
            CHECK(!memcmp(a, b, 4 * n), "p %.9g n %lld first %llu: fast path differs", ps[k],
                  (long long)n, (unsigned long long)cases[c].first);
        }
    /* in place equals out of place; another stream or seed gives another mask */
    const int64_t N = 3 * 4096 + 37;
    lst_drop_t d = {0.1f, 99, 7};
    memcpy(b, x, 4 * N);
    lst_dropout_apply(b, b, N, &d, 0);
    lst_dropout_apply(a, x, N, &d, 0);
    CHECK(!memcmp(a, b, 4 * N), "in-place differs");
    lst_drop_t d2 = d;
    d2.stream++;
    lst_dropout_apply(b, x, N, &d2, 0);
    CHECK(memcmp(a, b, 4 * N), "streams share a mask");
    d2 = d;
    d2.seed += 1ull << 32;
    lst_dropout_apply(b, x, N, &d2, 0);
    CHECK(memcmp(a, b, 4 * N), "seeds differing in the high word share a mask");
    free(x); free(a); free(b);
}

/* The mask is a function of the global element index: any split of a site
 * into calls (odd boundaries, threaded or not) gives the whole-site mask. */
TEST(ops_dropout_subranges_match_whole_site) {
    lst_rng_t r;
    lst_rng_seed(&r, 51);
    const int64_t N = 20 * 4096 + 333;
    float *x = test_randn(&r, N, 1), *whole = malloc(4 * N), *parts = malloc(4 * N);
    lst_drop_t d = {0.1f, 1234, 77};
    lst_dropout_apply(whole, x, N, &d, 0);
    const int64_t cuts[] = {0, 1, 64, 191, 4097, 9000, 9001, 9000 + 8 * 4096 + 5, N - 63, N};
    for (size_t i = 0; i + 1 < sizeof cuts / sizeof cuts[0]; i++)
        lst_dropout_apply(parts + cuts[i], x + cuts[i], cuts[i + 1] - cuts[i], &d,
                          (uint64_t)cuts[i]);
    CHECK(!memcmp(whole, parts, 4 * N), "pieces differ from the whole site");
    free(x); free(whole); free(parts);
}

/* The documented mapping, straight from the Philox block function: element
 * 64 G + 16 k + 2 j + h is half h of word k of block 8 G + j. With p = 0.5
 * (threshold 32768) an element is kept iff the top bit of its field is set. */
TEST(ops_dropout_mapping_from_philox) {
    const uint64_t seed = 0x0123456789ABCDEFull, stream = (5ull << 32) | 9, G = 1000003;
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    float x[64], y[64];
    for (int i = 0; i < 64; i++) x[i] = 1.0f;
    lst_drop_t d = {0.5f, seed, stream};
    lst_dropout_apply(y, x, 64, &d, 64 * G);
    for (int j = 0; j < 8; j++) {
        const uint64_t blk = 8 * G + (uint64_t)j;
        const uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), (uint32_t)stream,
                                 (uint32_t)(stream >> 32)};
        uint32_t w[4];
        lst_philox4x32(key, ctr, w);
        for (int k = 0; k < 4; k++) {
            CHECK(lst_rng_u32_at(seed, stream, 4 * blk + (uint64_t)k) == w[k],
                  "lst_rng_u32_at: block %d word %d", j, k);
            for (int h = 0; h < 2; h++) {
                const int e = 16 * k + 2 * j + h;
                const float want = (w[k] >> (16 * h + 15)) & 1 ? 2.0f : 0.0f;
                CHECK(y[e] == want, "element %d: got %g want %g", e, y[e], want);
            }
        }
    }
}

/* The batch layout (ops.h): row b of a [B, L] site is example rows[b]'s
 * stream (key seed ^ lst_stream_example(e)) at indices 0.. L - 1, the
 * attention block (b, h) at (h << 40) + (i << 20) + j; the fast paths
 * (threaded rows, the fused norm's per-position calls, one call per query
 * row) against the element-by-element reference, and longer padding
 * leaving the masks of the positions both paddings have unchanged. */
TEST(ops_dropout_batch_rows_keyed_by_example) {
    lst_rng_t r;
    lst_rng_seed(&r, 61);
    const int B = 3;
    const int64_t L = 20000, ids[3] = {41, 7, 1ll << 40}; /* B * L > 8 chunks: threaded */
    float *x = test_randn(&r, B * L, 1), *a = malloc(4 * B * L), *b = malloc(4 * B * L);
    lst_drop_t d = {0.1f, 0x9E3779B97F4A7C15ull, (2ull << 33) | 3, B, ids};
    lst_dropout_rows(a, x, B * L, &d);
    for (int i = 0; i < B; i++) {
        lst_drop_t e = {0.1f, d.seed ^ lst_stream_example((uint64_t)ids[i]), d.stream};
        lst_dropout_apply_ref(b + i * L, x + i * L, L, &e, 0);
        const lst_drop_t got = lst_drop_example(&d, i);
        CHECK(got.seed == e.seed && got.stream == e.stream, "row %d: the example's key", i);
    }
    CHECK(!memcmp(a, b, 4 * B * L), "rows differ from the per-example reference");
    /* a row's mask follows its example, not its row: rows swapped */
    const int64_t sw[3] = {1ll << 40, 7, 41};
    lst_drop_t ds = d;
    ds.rows = sw;
    lst_dropout_rows(b, x, B * L, &ds);
    CHECK(!memcmp(a + L, b + L, 4 * L) && memcmp(a, b, 4 * L), "row 1 kept, rows 0 and 2 moved");
    /* NULL rows: example b; B 0: one row */
    lst_drop_t dn = d;
    dn.rows = NULL;
    lst_dropout_rows(a, x, B * L, &dn);
    lst_drop_t e1 = {0.1f, d.seed ^ lst_stream_example(1), d.stream};
    lst_dropout_apply_ref(b, x + L, L, &e1, 0);
    CHECK(!memcmp(a + L, b, 4 * L), "NULL rows: row 1 is example 1");
    dn.B = 0;
    lst_dropout_rows(a, x, B * L, &dn);
    lst_drop_t e0 = {0.1f, d.seed ^ lst_stream_example(0), d.stream};
    lst_dropout_apply_ref(b, x, B * L, &e0, 0);
    CHECK(!memcmp(a, b, 4 * B * L), "B 0: the whole site is example 0's one row");
    free(x); free(a); free(b);
}

TEST(ops_dropout_probs_padding_independent) {
    lst_rng_t r;
    lst_rng_seed(&r, 62);
    const int Tq = 5, Tk = 70, Tk2 = 131, h = 3, b = 1;
    const int64_t ids[2] = {9, 12345};
    float *x = test_randn(&r, Tq * Tk2, 1), *a = malloc(4 * Tq * Tk2), *c = malloc(4 * Tq * Tk2);
    float *x2 = malloc(4 * Tq * Tk2);
    lst_drop_t d = {0.3f, 77, 5, 2, ids};
    lst_dropout_probs(a, x, Tq, Tk, &d, b, h);
    const lst_drop_t e = lst_drop_example(&d, b);
    for (int i = 0; i < Tq; i++)
        lst_dropout_apply_ref(c + i * Tk, x + i * Tk, Tk, &e,
                              ((uint64_t)h << 40) + ((uint64_t)i << 20));
    CHECK(!memcmp(a, c, 4 * Tq * Tk), "probabilities differ from the reference");
    /* the same rows padded to Tk2 keys: the first Tk of each row unchanged */
    for (int i = 0; i < Tq; i++) memcpy(x2 + i * Tk2, x + i * Tk, 4 * Tk);
    lst_dropout_probs(c, x2, Tq, Tk2, &d, b, h);
    int same = 1;
    for (int i = 0; i < Tq; i++) same &= !memcmp(a + i * Tk, c + i * Tk2, 4 * Tk);
    CHECK(same, "padding the keys moved the mask of real positions");
    /* in place equals out of place; another head, another mask */
    memcpy(c, x, 4 * Tq * Tk);
    lst_dropout_probs(c, c, Tq, Tk, &d, b, h);
    CHECK(!memcmp(a, c, 4 * Tq * Tk), "in-place differs");
    lst_dropout_probs(c, x, Tq, Tk, &d, b, h + 1);
    CHECK(memcmp(a, c, 4 * Tq * Tk), "heads share a mask");
    free(x); free(a); free(c); free(x2);
}

/* Over 2^20 elements the kept share is within 5 standard deviations of
 * 1 - ceil(p * 65536) / 65536, and kept values are x / (1 - p) exactly. */
TEST(ops_dropout_keep_rate_binomial) {
    const int64_t N = 1 << 20;
    float *x = malloc(4 * N), *y = malloc(4 * N);
    for (int64_t i = 0; i < N; i++) x[i] = 1.0f + (float)(i % 7);
    const float ps[2] = {0.1f, 0.5f};
    for (int k = 0; k < 2; k++) {
        lst_drop_t d = {ps[k], 2024, 3};
        lst_dropout_apply(y, x, N, &d, 0);
        const double q = 1.0 - ceil((double)ps[k] * 65536.0) / 65536.0;
        const double kept = (double)(N - count_dropped(y, N)), sd = sqrt(N * q * (1 - q));
        CHECK(fabs(kept - N * q) < 5 * sd, "p %g: kept %.0f of %lld, expected %.0f +- %.0f",
              ps[k], kept, (long long)N, N * q, sd);
        const float scale = 1.0f / (1.0f - ps[k]);
        int bad = 0;
        for (int64_t i = 0; i < N; i++) bad += y[i] != 0 && y[i] != x[i] * scale;
        CHECK(bad == 0, "p %g: %d kept values not x / (1 - p)", ps[k], bad);
    }
    free(x); free(y);
}

/* p enters only through ceil(p * 65536): just below a field boundary drops
 * exactly what the boundary drops; just above it also drops the elements
 * whose field equals the boundary (about N / 65536 of them). */
TEST(ops_dropout_threshold_at_field_boundaries) {
    const int64_t N = 1 << 20;
    float *x = malloc(4 * N), *y0 = malloc(4 * N), *y1 = malloc(4 * N);
    for (int64_t i = 0; i < N; i++) x[i] = 1.0f;
    const float pe = 6554.0f / 65536.0f;
    lst_drop_t d = {pe, 11, 12};
    lst_dropout_apply(y0, x, N, &d, 0);
    d.p = nextafterf(pe, 0);
    lst_dropout_apply(y1, x, N, &d, 0);
    int64_t diff = 0;
    for (int64_t i = 0; i < N; i++) diff += (y0[i] == 0) != (y1[i] == 0);
    CHECK(diff == 0, "p just below k/65536 drops %lld elements differently", (long long)diff);
    d.p = nextafterf(pe, 1);
    lst_dropout_apply(y1, x, N, &d, 0);
    int64_t more = 0, fewer = 0;
    for (int64_t i = 0; i < N; i++) {
        more += y0[i] != 0 && y1[i] == 0;
        fewer += y0[i] == 0 && y1[i] != 0;
    }
    CHECK(fewer == 0 && more > 0 && more < 64,
          "p just above k/65536: %lld more dropped, %lld fewer (want about 16, 0)",
          (long long)more, (long long)fewer);
    free(x); free(y0); free(y1);
}

TEST(ops_xent_chunks_add_up_to_full) {
    lst_rng_t r;
    lst_rng_seed(&r, 6);
    const int N = 7, V = 33;
    float *z = test_randn(&r, N * V, 3), *full = malloc(4 * N * V), *ch = malloc(4 * N * V);
    int32_t labels[7] = {3, -100, 0, 32, 5, -100, 17};
    double mean = lst_xent_forward_backward(full, z, labels, N, V, 1.0f);
    memcpy(ch, z, 4 * N * V);
    double sum = 0;
    const int R = 3; /* chunks of 3, 3, 1 rows */
    for (int r0 = 0; r0 < N; r0 += R)
        sum += lst_xent_chunk_inplace(ch + r0 * V, labels + r0, N - r0 < R ? N - r0 : R, V, 1.0f / 5);
    CHECK(fabs(sum / 5 - mean) < 1e-9 * (1 + fabs(mean)), "loss %g vs %g", sum / 5, mean);
    CHECK(test_maxdiff(ch, full, N * V) < 1e-7, "gradient differs by %g", test_maxdiff(ch, full, N * V));
    free(z); free(full); free(ch);
}

/* The fused residual + dropout + norm against its definition. */
TEST(ops_residual_rmsnorm_matches_composition) {
    lst_rng_t r;
    lst_rng_seed(&r, 8);
    const int N = 5, C = 24;
    float *x = test_randn(&r, N * C, 1), *y = test_randn(&r, N * C, 1), *w = test_randn(&r, C, 1);
    float *res = malloc(4 * N * C), *nrm = malloc(4 * N * C), *rs = malloc(4 * N);
    float *res2 = malloc(4 * N * C), *nrm2 = malloc(4 * N * C), *rs2 = malloc(4 * N);
    /* the fused op's mask is lst_dropout_rows' (rows keyed by example):
     * one row of N positions, then N rows of one */
    const int64_t ids[5] = {7, 3, 11, 0, 2};
    for (int on = 0; on < 3; on++) {
        lst_drop_t d = {0.25f, 3, 9, on == 2 ? N : 0, on == 2 ? ids : NULL};
        const lst_drop_t *dp = on ? &d : NULL;
        lst_residual_rmsnorm_forward(res, nrm, rs, x, y, w, N, C, 1e-6f, dp);
        lst_dropout_rows(res2, y, N * C, dp);
        lst_add_inplace(res2, x, N * C);
        lst_rmsnorm_forward(nrm2, rs2, res2, w, N, C, 1e-6f);
        CHECK(test_maxdiff(res, res2, N * C) < 1e-6 && test_maxdiff(nrm, nrm2, N * C) < 1e-5 &&
                  test_maxdiff(rs, rs2, N) < 1e-6, "forward differs (dropout %d)", on);
        /* in place: res aliases y */
        float *yy = malloc(4 * N * C);
        memcpy(yy, y, 4 * N * C);
        lst_residual_rmsnorm_forward(yy, NULL, NULL, x, yy, NULL, N, C, 1e-6f, dp);
        CHECK(test_maxdiff(yy, res2, N * C) < 1e-6, "in-place differs");
        free(yy);
        /* backward: dres gains the norm's gradient; dy = drop(dres) */
        float *g = test_randn(&r, N * C, 1), *dres = test_randn(&r, N * C, 1), *dres2 = malloc(4 * N * C);
        float *dy = malloc(4 * N * C), *dy2 = malloc(4 * N * C), *dw = calloc(C, 4), *dw2 = calloc(C, 4);
        memcpy(dres2, dres, 4 * N * C);
        lst_residual_rmsnorm_backward(dres, dy, dw, g, res, w, rs, N, C, dp);
        lst_rmsnorm_backward(dres2, dw2, g, res2, w, rs2, N, C);
        lst_dropout_rows(dy2, dres2, N * C, dp);
        CHECK(test_maxdiff(dres, dres2, N * C) < 1e-5 && test_maxdiff(dy, dy2, N * C) < 1e-5 &&
                  test_maxdiff(dw, dw2, C) < 1e-5, "backward differs (dropout %d)", on);
        free(g); free(dres); free(dres2); free(dy); free(dy2); free(dw); free(dw2);
    }
    free(x); free(y); free(w); free(res); free(nrm); free(rs); free(res2); free(nrm2); free(rs2);
}
