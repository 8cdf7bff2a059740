/* test_ops.c: every fast CPU op against its plain reference, and the
 * backward of the small ops against central finite differences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/rng.h"
#include "../src/ops/ops.h"
#include "test.h"

static float *randn(lst_rng_t *r, size_t n, float scale) {
    float *p = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) p[i] = (float)lst_rng_normal(r) * scale;
    return p;
}

static double maxdiff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= m)) m = e;
    }
    return m;
}

TEST(ops_matmul_matches_reference) {
    lst_rng_t r;
    lst_rng_seed(&r, 1);
    const int N = 37, IC = 29, OC = 41;
    float *x = randn(&r, N * IC, 1), *W = randn(&r, OC * IC, 1), *b = randn(&r, OC, 1);
    float *y1 = malloc(sizeof(float) * N * OC), *y2 = malloc(sizeof(float) * N * OC);
    lst_matmul_forward(y1, x, W, b, N, IC, OC);
    lst_matmul_forward_ref(y2, x, W, b, N, IC, OC);
    CHECK(maxdiff(y1, y2, N * OC) < 1e-4, "forward differs by %g", maxdiff(y1, y2, N * OC));
    float *dout = randn(&r, N * OC, 1);
    float *dx1 = calloc(N * IC, 4), *dx2 = calloc(N * IC, 4);
    float *dW1 = calloc(OC * IC, 4), *dW2 = calloc(OC * IC, 4);
    float *db1 = calloc(OC, 4), *db2 = calloc(OC, 4);
    lst_matmul_backward(dx1, dW1, db1, dout, x, W, N, IC, OC);
    lst_matmul_backward_ref(dx2, dW2, db2, dout, x, W, N, IC, OC);
    CHECK(maxdiff(dx1, dx2, N * IC) < 1e-4, "dx differs");
    CHECK(maxdiff(dW1, dW2, OC * IC) < 1e-4, "dW differs");
    CHECK(maxdiff(db1, db2, OC) < 1e-4, "db differs");
    /* Backward accumulates: a second call doubles the gradients. */
    lst_matmul_backward(dx1, NULL, NULL, dout, x, W, N, IC, OC);
    for (int i = 0; i < N * IC; i++) dx2[i] *= 2;
    CHECK(maxdiff(dx1, dx2, N * IC) < 2e-4, "backward does not accumulate");
    free(x); free(W); free(b); free(y1); free(y2); free(dout);
    free(dx1); free(dx2); free(dW1); free(dW2); free(db1); free(db2);
}

TEST(ops_attention_matches_reference) {
    lst_rng_t r;
    lst_rng_seed(&r, 2);
    const int B = 2, Tq = 5, Tk = 7, H = 3, D = 4, C = H * D;
    float *q = randn(&r, B * Tq * C, 1), *k = randn(&r, B * Tk * C, 1);
    float *v = randn(&r, B * Tk * C, 1), *bias = randn(&r, H * Tq * Tk, 1);
    uint8_t mask[2 * 7] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0};
    for (int causal = 0; causal < 2; causal++) {
        float *o1 = calloc(B * Tq * C, 4), *o2 = calloc(B * Tq * C, 4);
        float *p1 = calloc(B * H * Tq * Tk, 4), *p2 = calloc(B * H * Tq * Tk, 4);
        lst_attention_forward(o1, p1, NULL, q, k, v, bias, mask, causal, B, Tq, Tk, H, D, NULL, NULL);
        lst_attention_forward_ref(o2, p2, q, k, v, bias, mask, causal, B, Tq, Tk, H, D);
        CHECK(maxdiff(o1, o2, B * Tq * C) < 1e-5, "out differs (causal %d)", causal);
        CHECK(maxdiff(p1, p2, B * H * Tq * Tk) < 1e-6, "probs differ (causal %d)", causal);
        /* Masked keys get exactly zero probability. */
        for (int h = 0; h < H; h++)
            for (int i = 0; i < Tq; i++)
                for (int j = 3; j < Tk; j++)
                    CHECK(p1[((1 * H + h) * Tq + i) * Tk + j] == 0, "masked key has weight");
        free(o1); free(o2); free(p1); free(p2);
    }
    free(q); free(k); free(v); free(bias);
}

/* Finite-difference check of the attention backward (q, k, v and bias). */
TEST(ops_attention_backward_finite_difference) {
    lst_rng_t r;
    lst_rng_seed(&r, 3);
    const int B = 1, Tq = 3, Tk = 4, H = 2, D = 3, C = H * D;
    float *q = randn(&r, B * Tq * C, 1), *k = randn(&r, B * Tk * C, 1);
    float *v = randn(&r, B * Tk * C, 1), *bias = randn(&r, H * Tq * Tk, 1);
    float *w = randn(&r, B * Tq * C, 1); /* loss = sum(w * out) */
    float *out = malloc(4 * B * Tq * C), *P = malloc(4 * B * H * Tq * Tk);
    float *dq = calloc(B * Tq * C, 4), *dk = calloc(B * Tk * C, 4), *dv = calloc(B * Tk * C, 4);
    float *db = calloc(H * Tq * Tk, 4), *scratch = malloc(4 * LST_MAX_THREADS * 3 * Tq * Tk);
    float *lse = malloc(4 * B * H * Tq), *fscr = malloc(4 * LST_MAX_THREADS * 2 * Tq * Tk);
    uint8_t km[4] = {1, 1, 0, 1};
    lst_attention_forward(out, P, lse, q, k, v, bias, km, 1, B, Tq, Tk, H, D, NULL, fscr);
    lst_attention_backward(dq, dk, dv, db, w, out, lse, q, k, v, bias, km, 1, B, Tq, Tk, H, D, NULL,
                           scratch);
    struct { float *x, *g; int n; const char *name; } ins[] = {
        {q, dq, B * Tq * C, "q"}, {k, dk, B * Tk * C, "k"}, {v, dv, B * Tk * C, "v"},
        {bias, db, H * Tq * Tk, "bias"}};
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < ins[t].n; i++) {
            float keep = ins[t].x[i];
            double l[2];
            for (int s = 0; s < 2; s++) {
                ins[t].x[i] = keep + (s ? -1e-2f : 1e-2f);
                lst_attention_forward(out, P, NULL, q, k, v, bias, km, 1, B, Tq, Tk, H, D, NULL, fscr);
                l[s] = 0;
                for (int j = 0; j < B * Tq * C; j++) l[s] += (double)w[j] * out[j];
            }
            ins[t].x[i] = keep;
            double fd = (l[0] - l[1]) / 2e-2;
            CHECK(fabs(fd - ins[t].g[i]) < 2e-3 * (1 + fabs(fd)), "d%s[%d]: analytic %g, numeric %g",
                  ins[t].name, i, ins[t].g[i], fd);
        }
    free(q); free(k); free(v); free(bias); free(w); free(out); free(P);
    free(dq); free(dk); free(dv); free(db); free(scratch); free(lse); free(fscr);
}

TEST(ops_rmsnorm_and_activations_finite_difference) {
    lst_rng_t r;
    lst_rng_seed(&r, 4);
    const int N = 3, C = 8;
    float *x = randn(&r, N * C, 1), *wt = randn(&r, C, 1), *w = randn(&r, N * C, 1);
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

TEST(ops_dropout_matches_reference) {
    lst_rng_t r;
    lst_rng_seed(&r, 5);
    const int N = 3 * 4096 + 37;
    float *x = randn(&r, N, 1), *a = malloc(4 * N), *b = malloc(4 * N);
    const float ps[3] = {0.1f, 0.5f, 0.3333f};
    for (int k = 0; k < 3; k++) {
        lst_drop_t d = {ps[k], 99, 7 + (uint64_t)k};
        for (uint64_t first = 0; first < 6; first += 5) {
            lst_dropout_apply(a, x, N, &d, first);
            lst_dropout_apply_ref(b, x, N, &d, first);
            CHECK(!memcmp(a, b, 4 * N), "p %g first %llu: fast path differs", ps[k],
                  (unsigned long long)first);
            int zeros = 0;
            for (int i = 0; i < N; i++) zeros += a[i] == 0;
            CHECK(fabs((double)zeros / N - ps[k]) < 0.02, "drop rate %g for p %g", (double)zeros / N, ps[k]);
        }
        /* in place equals out of place; a different stream gives another mask */
        memcpy(b, x, 4 * N);
        lst_dropout_apply(b, b, N, &d, 0);
        lst_dropout_apply(a, x, N, &d, 0);
        CHECK(!memcmp(a, b, 4 * N), "in-place differs");
        lst_drop_t d2 = d;
        d2.stream++;
        lst_dropout_apply(b, x, N, &d2, 0);
        CHECK(memcmp(a, b, 4 * N), "streams share a mask");
    }
    free(x); free(a); free(b);
}

TEST(ops_xent_chunks_add_up_to_full) {
    lst_rng_t r;
    lst_rng_seed(&r, 6);
    const int N = 7, V = 33;
    float *z = randn(&r, N * V, 3), *full = malloc(4 * N * V), *ch = malloc(4 * N * V);
    int32_t labels[7] = {3, -100, 0, 32, 5, -100, 17};
    double mean = lst_xent_forward_backward(full, z, labels, N, V, 1.0f);
    memcpy(ch, z, 4 * N * V);
    double sum = 0;
    const int R = 3; /* chunks of 3, 3, 1 rows */
    for (int r0 = 0; r0 < N; r0 += R)
        sum += lst_xent_chunk_inplace(ch + r0 * V, labels + r0, N - r0 < R ? N - r0 : R, V, 1.0f / 5);
    CHECK(fabs(sum / 5 - mean) < 1e-9 * (1 + fabs(mean)), "loss %g vs %g", sum / 5, mean);
    CHECK(maxdiff(ch, full, N * V) < 1e-7, "gradient differs by %g", maxdiff(ch, full, N * V));
    free(z); free(full); free(ch);
}

/* The fused residual + dropout + norm against its definition. */
TEST(ops_residual_rmsnorm_matches_composition) {
    lst_rng_t r;
    lst_rng_seed(&r, 8);
    const int N = 5, C = 24;
    float *x = randn(&r, N * C, 1), *y = randn(&r, N * C, 1), *w = randn(&r, C, 1);
    float *res = malloc(4 * N * C), *nrm = malloc(4 * N * C), *rs = malloc(4 * N);
    float *res2 = malloc(4 * N * C), *nrm2 = malloc(4 * N * C), *rs2 = malloc(4 * N);
    for (int on = 0; on < 2; on++) {
        lst_drop_t d = {0.25f, 3, 9};
        const lst_drop_t *dp = on ? &d : NULL;
        lst_residual_rmsnorm_forward(res, nrm, rs, x, y, w, N, C, 1e-6f, dp);
        lst_dropout_apply(res2, y, N * C, dp, 0);
        lst_add_inplace(res2, x, N * C);
        lst_rmsnorm_forward(nrm2, rs2, res2, w, N, C, 1e-6f);
        CHECK(maxdiff(res, res2, N * C) < 1e-6 && maxdiff(nrm, nrm2, N * C) < 1e-5 &&
                  maxdiff(rs, rs2, N) < 1e-6, "forward differs (dropout %d)", on);
        /* in place: res aliases y */
        float *yy = malloc(4 * N * C);
        memcpy(yy, y, 4 * N * C);
        lst_residual_rmsnorm_forward(yy, NULL, NULL, x, yy, NULL, N, C, 1e-6f, dp);
        CHECK(maxdiff(yy, res2, N * C) < 1e-6, "in-place differs");
        free(yy);
        /* backward: dres gains the norm's gradient; dy = drop(dres) */
        float *g = randn(&r, N * C, 1), *dres = randn(&r, N * C, 1), *dres2 = malloc(4 * N * C);
        float *dy = malloc(4 * N * C), *dy2 = malloc(4 * N * C), *dw = calloc(C, 4), *dw2 = calloc(C, 4);
        memcpy(dres2, dres, 4 * N * C);
        lst_residual_rmsnorm_backward(dres, dy, dw, g, res, w, rs, N, C, dp);
        lst_rmsnorm_backward(dres2, dw2, g, res2, w, rs2, N, C);
        lst_dropout_apply(dy2, dres2, N * C, dp, 0);
        CHECK(maxdiff(dres, dres2, N * C) < 1e-5 && maxdiff(dy, dy2, N * C) < 1e-5 &&
                  maxdiff(dw, dw2, C) < 1e-5, "backward differs (dropout %d)", on);
        free(g); free(dres); free(dres2); free(dy); free(dy2); free(dw); free(dw2);
    }
    free(x); free(y); free(w); free(res); free(nrm); free(rs); free(res2); free(nrm2); free(rs2);
}
