/* test_side_ablations.c: the paper's two side-network ablations (LST-SPEC
 * section 6) in the LST engine: side-tuning (no ladders, one merge gate
 * before the LM head) and network compression (the side network alone).
 * Finite differences for every parameter kind of each mode, with and
 * without dropout; compression never touches the backbone's blocks;
 * side-tuning with a saturated merge gate is the backbone itself (and with
 * the opposite saturation, compression); cached greedy generation agrees
 * with the full forward; parameter tables, counts and memory plans follow
 * the mode. LST itself is covered, unchanged, by the golden tests. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/rng.h"
#include "../src/train/batch_file.h"
#include "../src/io/safetensors.h"
#include "../src/model/methods.h"
#include "../src/model/side.h"
#include "tensor_util.h"
#include "bb_util.h"
#include "test.h"

typedef struct {
    lst_t5_t m;
    lst_backbone_t bb; /* m through the interface */
    lst_batch_file_t bf;
    int ok;
} fixture_t;

static int fixture_load(fixture_t *f, const char *model) {
    char dir[256], bpath[300];
    lst_err_t err;
    memset(f, 0, sizeof *f);
    snprintf(dir, sizeof dir, "tests/data/%s", model);
    snprintf(bpath, sizeof bpath, "%s/batch.safetensors", dir);
    if (lst_t5_load(&f->m, dir, 0, &err)) {
        CHECK(0, "%s", err.msg);
        return -1;
    }
    if (lst_batch_load(&f->bf, bpath, 0, &err)) {
        CHECK(0, "%s", err.msg);
        lst_t5_free(&f->m);
        return -1;
    }
    f->bb = test_bb(&f->m);
    f->ok = 1;
    return 0;
}

static void fixture_free(fixture_t *f) {
    if (!f->ok) return;
    lst_batch_free(&f->bf);
    lst_t5_free(&f->m);
}

/* keep_enc / keep_dec: kept layers as digits ("" keeps every layer). */
static int make_side(lst_side_t *s, const lst_t5_t *m, int mode, int r, const char *keep_enc,
                     const char *keep_dec) {
    lst_side_opts_t o;
    lst_side_opts_default(&o);
    o.r = r;
    o.mode = mode;
    const char *keep[2] = {keep_enc, keep_dec};
    int lists[2][16];
    for (int st = 0; st < 2; st++) {
        if (!*keep[st]) continue;
        o.n_keep[st] = 0;
        o.keep[st] = lists[st];
        for (const char *p = keep[st]; *p; p++) o.keep[st][o.n_keep[st]++] = *p - '0';
    }
    lst_err_t err;
    const lst_backbone_t bb = test_bb(m);
    if (lst_side_create(s, &bb, &o, &err)) {
        CHECK(0, "%s", err.msg);
        return -1;
    }
    return 0;
}

/* Random init, then larger than the 0.01 init so every path carries a
 * visible gradient; the merge gate at alpha = 0.05 (g = sigmoid(0.5)) so
 * both the backbone and the side reach the head. */
static void randomise(lst_side_t *s, uint64_t seed) {
    lst_side_init_random(s, seed);
    lst_rng_t r;
    lst_rng_seed(&r, seed + 4);
    for (int i = 0; i < s->n_params; i++) {
        float *x = s->flat + s->params[i].offset;
        for (size_t j = 0; j < s->params[i].numel; j++) x[j] += (float)(lst_rng_normal(&r) * 0.1);
    }
    if (s->w.merge) s->w.merge[0] = 0.05f;
}

/* ---- finite differences ------------------------------------------------ */

static void finite_difference(const char *model, int mode, int with_dropout, const char *keep_enc,
                              const char *keep_dec) {
    fixture_t f;
    if (fixture_load(&f, model)) return;
    lst_side_t s;
    if (make_side(&s, &f.m, mode, 2, keep_enc, keep_dec)) {
        fixture_free(&f);
        return;
    }
    randomise(&s, 7);
    const lst_batch_t *b = &f.bf.view;
    lst_err_t err;
    lst_side_acts_t a;
    CHECK(lst_side_acts_alloc(&a, &f.bb, &s, b->B, b->Ts, b->Td, 1, &err) == 0, "%s", err.msg);
    lst_drop_t bd = {0.1f, 1234, 0}, sd = {0.1f, 1234, 1};
    const lst_drop_t *bdp = with_dropout ? &bd : NULL, *sdp = with_dropout ? &sd : NULL;
    float *g = calloc(s.n_floats, sizeof(float));
    lst_side_forward(&f.bb, &s, b, &a, bdp, sdp);
    CHECK(lst_side_backward(&f.bb, &s, b, &a, sdp, g, &err) == 0, "%s", err.msg);
    enum { NK = 9 };
    const char *kinds[NK] = {"merge_gate", "relative_attention_bias", "first_downsample",
                             "upsample", "final_layer_norm", "layer.0.layer_norm",
                             "SelfAttention.q", "EncDecAttention.k", "DenseReluDense"};
    int seen[NK] = {0};
    for (int i = 0; i < s.n_params; i++) {
        const lst_param_t *p = &s.params[i];
        CHECK(p->trainable, "%s: every ablation parameter trains", p->name);
        /* The element with the largest gradient, by a 4-point stencil
         * (error O(e^4)) on the double loss, as the LST test does. */
        float *x = s.flat + p->offset;
        size_t j = 0;
        for (size_t q = 1; q < p->numel; q++)
            if (fabsf(g[p->offset + q]) > fabsf(g[p->offset + j])) j = q;
        /* A stencil that straddles a ReLU kink (where the dropout masks
         * put one) is no derivative: retried 4x smaller, twice. */
        const float keep = x[j];
        const double an = g[p->offset + j];
        double fd = 0;
        for (double e = 1e-2; e > 5e-4; e /= 4) {
            const double steps[4] = {e, -e, 2 * e, -2 * e};
            double l[4];
            for (int t = 0; t < 4; t++) {
                x[j] = keep + (float)steps[t];
                l[t] = lst_side_forward(&f.bb, &s, b, &a, bdp, sdp);
            }
            x[j] = keep;
            fd = (8 * (l[0] - l[1]) - (l[2] - l[3])) / (12 * e);
            if (fabs(fd - an) <= 2e-2 * fabs(fd) + 5e-4) break;
        }
        CHECK(fabs(fd - an) <= 2e-2 * fabs(fd) + 5e-4, "%s %s%s[%zu]: analytic %.6g, numeric %.6g",
              lst_side_mode_name(mode), with_dropout ? "(dropout) " : "", p->name, j, an, fd);
        CHECK(fabs(an) > 1e-6, "%s[%zu]: no gradient reaches it (%g)", p->name, j, an);
        for (int k = 0; k < NK; k++)
            if (strstr(p->name, kinds[k])) seen[k] = 1;
    }
    for (int k = 0; k < NK; k++) {
        const int want = k || mode == LST_SIDE_TUNING; /* only side-tuning has a merge gate */
        CHECK(seen[k] == want, "%s: %s checked %d, expected %d", lst_side_mode_name(mode),
              kinds[k], seen[k], want);
    }
    if (mode == LST_SIDE_TUNING) {
        /* the merge gate once more, by a plain central difference with a
         * small step (the gate's curvature is large: T = 0.1) */
        float *alpha = s.w.merge;
        const float keep = *alpha;
        const double e = 1e-3;
        *alpha = keep + (float)e;
        double lp = lst_side_forward(&f.bb, &s, b, &a, bdp, sdp);
        *alpha = keep - (float)e;
        double lm = lst_side_forward(&f.bb, &s, b, &a, bdp, sdp);
        *alpha = keep;
        double fd = (lp - lm) / (2 * e), an = g[s.w.merge - s.flat];
        CHECK(fabs(fd - an) <= 2e-2 * fabs(fd) + 5e-4, "merge_gate central: %.6g vs %.6g", an, fd);
    }
    free(g);
    lst_side_acts_free(&a);
    lst_side_free(&s);
    fixture_free(&f);
}

TEST(side_ablation_tuning_finite_difference_relu) {
    finite_difference("t5-tiny-relu", LST_SIDE_TUNING, 0, "02", "");
}
TEST(side_ablation_tuning_finite_difference_dropout) {
    finite_difference("t5-tiny-gated", LST_SIDE_TUNING, 1, "1", "02");
}
TEST(side_ablation_compression_finite_difference_gated) {
    finite_difference("t5-tiny-gated", LST_SIDE_COMPRESSION, 0, "01", "1");
}
TEST(side_ablation_compression_finite_difference_dropout) {
    finite_difference("t5-tiny-relu", LST_SIDE_COMPRESSION, 1, "1", "012");
}

/* ---- compression never runs the backbone -------------------------------- */

/* Forward (with dropout) + backward: loss and gradients. */
static double step(fixture_t *f, const lst_side_t *s, lst_side_acts_t *a, float *g) {
    lst_drop_t bd = {0.1f, 99, 0}, sd = {0.1f, 99, 1};
    lst_err_t err;
    memset(g, 0, sizeof(float) * s->n_floats);
    double loss = lst_side_forward(&f->bb, s, &f->bf.view, a, &bd, &sd);
    CHECK(lst_side_backward(&f->bb, s, &f->bf.view, a, &sd, g, &err) == 0, "%s", err.msg);
    return loss;
}

TEST(side_ablation_compression_ignores_backbone) {
    fixture_t f;
    if (fixture_load(&f, "t5-tiny-gated")) return;
    lst_side_t s, lst;
    if (make_side(&s, &f.m, LST_SIDE_COMPRESSION, 4, "1", "02") ||
        make_side(&lst, &f.m, LST_SIDE_LADDER, 4, "1", "02")) {
        fixture_free(&f);
        return;
    }
    randomise(&s, 3);
    const lst_batch_t *b = &f.bf.view;
    lst_err_t err;
    lst_side_acts_t a, e;
    CHECK(lst_side_acts_alloc(&a, &f.bb, &s, b->B, b->Ts, b->Td, 1, &err) == 0, "%s", err.msg);
    CHECK(lst_side_acts_alloc(&e, &f.bb, &s, b->B, b->Ts, b->Td, 0, &err) == 0, "%s", err.msg);
    CHECK(!a.bb_x && !a.bb_y && !a.bb_enc_out && !a.bb_run && !a.taps[0] &&
          !a.taps[1] && !a.D[0] && !a.M[1] && !a.bb_dec_out && !a.head,
          "compression planned a backbone, tap or ladder buffer");
    for (int bw = 0; bw < 2; bw++) {
        size_t mine = lst_side_acts_floats(&f.bb, &s, b->B, b->Ts, b->Td, bw);
        size_t theirs = lst_side_acts_floats(&f.bb, &lst, b->B, b->Ts, b->Td, bw);
        CHECK(mine < theirs, "compression plans %zu floats, LST %zu", mine, theirs);
        CHECK(mine == (bw ? a.arena_floats : e.arena_floats), "plan %zu vs allocation %zu", mine,
              bw ? a.arena_floats : e.arena_floats);
    }
    float *g0 = calloc(s.n_floats, sizeof(float)), *g1 = calloc(s.n_floats, sizeof(float));
    double l0 = step(&f, &s, &a, g0);
    double e0 = lst_side_forward(&f.bb, &s, b, &e, NULL, NULL);
    const size_t nlog = (size_t)b->B * b->Td * f.m.vocab;
    float *lg0 = malloc(sizeof(float) * nlog);
    memcpy(lg0, e.logits, sizeof(float) * nlog);
    int32_t *gen0 = calloc((size_t)b->B * 4, sizeof(int32_t)), *gen1 = calloc((size_t)b->B * 4, 4);
    int *len = calloc(b->B, sizeof(int));
    CHECK(lst_side_generate(&f.bb, &s, b, 4, gen0, len, NULL, NULL, &err) == 0, "%s", err.msg);

    /* Every backbone tensor but the embedding and LM head becomes NaN. */
    int poisoned = 0;
    for (int i = 0; i < f.m.n_params; i++) {
        const lst_param_t *p = &f.m.params[i];
        if (!strcmp(p->name, "shared.weight") || !strcmp(p->name, "lm_head.weight")) continue;
        for (size_t j = 0; j < p->numel; j++) f.m.flat[p->offset + j] = NAN;
        poisoned++;
    }
    CHECK(poisoned > 20, "only %d backbone tensors poisoned", poisoned);
    double l1 = step(&f, &s, &a, g1);
    double e1 = lst_side_forward(&f.bb, &s, b, &e, NULL, NULL);
    CHECK(isfinite(l0) && l1 == l0, "training loss %.17g, with a NaN backbone %.17g", l0, l1);
    CHECK(isfinite(e0) && e1 == e0, "eval loss %.17g, with a NaN backbone %.17g", e0, e1);
    CHECK(!memcmp(g0, g1, sizeof(float) * s.n_floats), "gradients changed with a NaN backbone");
    CHECK(!memcmp(lg0, e.logits, sizeof(float) * nlog), "logits changed with a NaN backbone");
    CHECK(lst_side_generate(&f.bb, &s, b, 4, gen1, len, NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(!memcmp(gen0, gen1, sizeof(int32_t) * b->B * 4), "generation changed with a NaN backbone");
    free(g0);
    free(g1);
    free(lg0);
    free(gen0);
    free(gen1);
    free(len);
    lst_side_acts_free(&a);
    lst_side_acts_free(&e);
    lst_side_free(&s);
    lst_side_free(&lst);
    fixture_free(&f);
}

/* ---- side-tuning's merge gate at its two saturations --------------------- */

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

static void saturated(const char *model) {
    fixture_t f;
    if (fixture_load(&f, model)) return;
    lst_side_t s, c;
    if (make_side(&s, &f.m, LST_SIDE_TUNING, 4, "1", "1") ||
        make_side(&c, &f.m, LST_SIDE_COMPRESSION, 4, "1", "1")) {
        fixture_free(&f);
        return;
    }
    randomise(&s, 5);
    const lst_batch_t *b = &f.bf.view;
    const size_t nlog = (size_t)b->B * b->Td * f.m.vocab;
    lst_err_t err;
    lst_side_acts_t a, ac, at;
    lst_t5_acts_t ta;
    CHECK(lst_side_acts_alloc(&a, &f.bb, &s, b->B, b->Ts, b->Td, 0, &err) == 0, "%s", err.msg);
    CHECK(lst_side_acts_alloc(&at, &f.bb, &s, b->B, b->Ts, b->Td, 1, &err) == 0, "%s", err.msg);
    CHECK(lst_side_acts_alloc(&ac, &f.bb, &c, b->B, b->Ts, b->Td, 0, &err) == 0, "%s", err.msg);
    CHECK(lst_t5_acts_alloc(&ta, &f.m, b->B, b->Ts, b->Td, 0, &err) == 0, "%s", err.msg);
    CHECK(!a.taps[0] && !a.taps[1] && !a.D[0] && !a.M[0] && a.bb_dec_out && a.head,
          "side-tuning's plan: no taps or ladder buffers, a dec_out and a head buffer");

    /* g -> 1: the backbone's own logits (eval), its own loss (dropout). */
    s.w.merge[0] = 100.0f; /* z = 1000: g = 1, 1 - g = 0 exactly */
    double ls = lst_side_forward(&f.bb, &s, b, &a, NULL, NULL);
    double lb = lst_t5_forward(&f.m, b, &ta, NULL);
    double err_lg = test_maxdiff(a.logits, ta.logits, nlog), scale = max_abs(ta.logits, nlog);
    CHECK(err_lg <= 1e-6 * scale, "%s: saturated side-tuning logits differ from the backbone's by "
          "%g (scale %g)", model, err_lg, scale);
    CHECK(fabs(ls - lb) <= 1e-6 * fabs(lb), "%s: loss %.9g, backbone %.9g", model, ls, lb);
    lst_drop_t bd = {0.1f, 77, 0}, sd = {0.1f, 77, 1};
    ls = lst_side_forward(&f.bb, &s, b, &at, &bd, &sd);
    lb = lst_t5_forward(&f.m, b, &ta, &bd);
    CHECK(fabs(ls - lb) <= 1e-6 * fabs(lb), "%s: with backbone dropout, loss %.9g vs backbone %.9g",
          model, ls, lb);
    float *g = calloc(s.n_floats, sizeof(float));
    CHECK(lst_side_backward(&f.bb, &s, b, &at, &sd, g, &err) == 0, "%s", err.msg);
    CHECK(max_abs(g, s.n_floats) == 0, "a saturated merge gate passes gradient %g",
          max_abs(g, s.n_floats));
    /* generation fed the golden decoder inputs: the backbone's logits too */
    int32_t *out = calloc((size_t)b->B * b->Td, sizeof(int32_t));
    int *len = calloc(b->B, sizeof(int));
    float *lg = calloc(nlog, sizeof(float));
    int32_t *teacher = calloc((size_t)b->B * b->Td, sizeof(int32_t));
    for (int r = 0; r < b->B; r++)
        for (int t = 0; t + 1 < b->Td; t++) teacher[r * b->Td + t] = b->dec_ids[r * b->Td + t + 1];
    lst_batch_t causal = *b;
    causal.dec_mask = NULL;
    lst_t5_forward(&f.m, &causal, &ta, NULL);
    CHECK(lst_side_generate(&f.bb, &s, &causal, b->Td, out, len, teacher, lg, &err) == 0, "%s",
          err.msg);
    double worst = 0;
    for (int t = 0; t < b->Td; t++)
        for (int r = 0; r < b->B; r++)
            for (int v = 0; v < f.m.vocab; v++) {
                double d = fabs(lg[((size_t)t * b->B + r) * f.m.vocab + v] -
                                ta.logits[((size_t)r * b->Td + t) * f.m.vocab + v]);
                if (!(d <= worst)) worst = d;
            }
    CHECK(worst <= 1e-5 * scale, "%s: saturated side-tuning generation differs from the "
          "backbone by %g", model, worst);

    /* g -> 0: exactly the compression network with the same side weights */
    s.w.merge[0] = -100.0f;
    for (int i = 0; i < c.n_params; i++) {
        const lst_param_t *p = &c.params[i];
        int j = lst_layout_find(s.params, s.n_params, p->name);
        CHECK(j >= 0 && s.params[j].numel == p->numel, "%s missing from side-tuning", p->name);
        if (j >= 0) memcpy(c.flat + p->offset, s.flat + s.params[j].offset, sizeof(float) * p->numel);
    }
    CHECK(c.n_floats + 1 == s.n_floats, "side-tuning = compression + merge gate: %zu vs %zu",
          s.n_floats, c.n_floats);
    lst_side_forward(&f.bb, &s, b, &a, NULL, NULL);
    lst_side_forward(&f.bb, &c, b, &ac, NULL, NULL);
    err_lg = test_maxdiff(a.logits, ac.logits, nlog);
    CHECK(err_lg <= 1e-6 * max_abs(ac.logits, nlog), "%s: side-tuning at g = 0 differs from "
          "compression by %g", model, err_lg);
    free(g);
    free(out);
    free(len);
    free(lg);
    free(teacher);
    lst_t5_acts_free(&ta);
    lst_side_acts_free(&a);
    lst_side_acts_free(&at);
    lst_side_acts_free(&ac);
    lst_side_free(&s);
    lst_side_free(&c);
    fixture_free(&f);
}

TEST(side_ablation_tuning_saturated_relu) { saturated("t5-tiny-relu"); }
TEST(side_ablation_tuning_saturated_gated) { saturated("t5-tiny-gated"); }

/* ---- greedy generation with the caches ---------------------------------- */

static int argmax(const float *row, int V) {
    int best = 0;
    for (int v = 1; v < V; v++)
        if (row[v] > row[best]) best = v;
    return best;
}

static void generate_equals_full(const char *model, int mode, const char *keep_dec) {
    fixture_t f;
    if (fixture_load(&f, model)) return;
    lst_side_t s;
    if (make_side(&s, &f.m, mode, 4, "", keep_dec)) {
        fixture_free(&f);
        return;
    }
    randomise(&s, 9);
    lst_batch_t b = f.bf.view;
    b.dec_mask = NULL; /* generation sees causal masking only */
    const int B = b.B, Td = b.Td, V = f.m.vocab;
    const char *mn = lst_side_mode_name(mode);
    lst_err_t err;
    lst_side_acts_t a;
    CHECK(lst_side_acts_alloc(&a, &f.bb, &s, B, b.Ts, Td, 0, &err) == 0, "%s", err.msg);
    lst_side_forward(&f.bb, &s, &b, &a, NULL, NULL);

    /* teacher forcing: the next decoder input is dec_ids[t + 1] */
    int32_t *teacher = calloc((size_t)B * Td, sizeof(int32_t));
    for (int r = 0; r < B; r++)
        for (int t = 0; t + 1 < Td; t++) teacher[r * Td + t] = b.dec_ids[r * Td + t + 1];
    int32_t *out = calloc((size_t)B * Td, sizeof(int32_t));
    int *len = calloc(B, sizeof(int));
    float *lg = calloc((size_t)Td * B * V, sizeof(float));
    CHECK(lst_side_generate(&f.bb, &s, &b, Td, out, len, teacher, lg, &err) == 0, "%s", err.msg);
    double worst = 0, scale = max_abs(a.logits, (size_t)B * Td * V);
    for (int t = 0; t < Td; t++)
        for (int r = 0; r < B; r++) {
            for (int v = 0; v < V; v++) {
                double e = fabs(lg[((size_t)t * B + r) * V + v] - a.logits[((size_t)r * Td + t) * V + v]);
                if (!(e <= worst)) worst = e;
            }
            const int want = argmax(a.logits + ((size_t)r * Td + t) * V, V);
            if (t < len[r] + 1)
                CHECK(out[r * Td + t] == want, "%s %s row %d step %d: generated %d, argmax %d", mn,
                      model, r, t, out[r * Td + t], want);
        }
    CHECK(worst <= 1e-5 * scale, "%s %s: stepwise logits differ by %g (scale %g)", mn, model, worst,
          scale);

    /* free running: every generated token (through EOS) is the argmax of
     * the full forward fed the generated prefix */
    CHECK(lst_side_generate(&f.bb, &s, &b, Td, out, len, NULL, NULL, &err) == 0, "%s", err.msg);
    int32_t *dec = calloc((size_t)B * Td, sizeof(int32_t));
    for (int r = 0; r < B; r++)
        for (int t = 0; t + 1 < Td; t++) dec[r * Td + t + 1] = out[r * Td + t];
    lst_batch_t fb = b;
    fb.dec_ids = dec;
    fb.labels = NULL;
    lst_side_forward(&f.bb, &s, &fb, &a, NULL, NULL);
    int checked = 0;
    for (int r = 0; r < B; r++) {
        CHECK(len[r] >= 0 && len[r] <= Td, "length %d", len[r]);
        for (int t = 0; t < Td && t <= len[r]; t++, checked++) {
            const int want = argmax(a.logits + ((size_t)r * Td + t) * V, V);
            CHECK(out[r * Td + t] == want, "%s %s row %d: free-running step %d gave %d, argmax %d",
                  mn, model, r, t, out[r * Td + t], want);
        }
    }
    CHECK(checked >= B, "only %d tokens checked", checked);
    free(dec);
    free(teacher);
    free(out);
    free(len);
    free(lg);
    lst_side_acts_free(&a);
    lst_side_free(&s);
    fixture_free(&f);
}

TEST(side_ablation_generate_tuning) {
    generate_equals_full("t5-tiny-relu", LST_SIDE_TUNING, "02");
    generate_equals_full("t5-tiny-gated", LST_SIDE_TUNING, "");
}
TEST(side_ablation_generate_compression) {
    generate_equals_full("t5-tiny-relu", LST_SIDE_COMPRESSION, "");
    generate_equals_full("t5-tiny-gated", LST_SIDE_COMPRESSION, "1");
}

/* ---- parameter tables, counts, checkpoints ------------------------------ */

static int64_t trainable_floats(const lst_side_t *s) {
    int64_t n = 0;
    for (int i = 0; i < s->n_params; i++)
        if (s->params[i].trainable) n += (int64_t)s->params[i].numel;
    return n;
}

TEST(side_ablation_param_tables) {
    fixture_t f;
    if (fixture_load(&f, "t5-tiny-relu")) return;
    const lst_t5_config_t *c = &f.m.cfg;
    lst_side_t s[3];
    const int ok = !make_side(&s[0], &f.m, LST_SIDE_LADDER, 4, "12", "") &&
                   !make_side(&s[1], &f.m, LST_SIDE_TUNING, 4, "12", "") &&
                   !make_side(&s[2], &f.m, LST_SIDE_COMPRESSION, 4, "12", "");
    if (!ok) {
        fixture_free(&f);
        return;
    }
    for (int m = 1; m < 3; m++) {
        int merge = 0, blocks = 0, firsts = 0, ups = 0;
        for (int i = 0; i < s[m].n_params; i++) {
            const char *n = s[m].params[i].name;
            CHECK(!strstr(n, "downsamples") && !strstr(n, "gates"), "%s table has %s",
                  lst_side_mode_name(m), n);
            CHECK(strncmp(n, "side_encoder.block.0.", 21), "dropped layer 0 present: %s", n);
            if (!strcmp(n, "merge_gate")) {
                merge++;
                CHECK(s[m].params[i].ndim == 1 && s[m].params[i].shape[0] == 1 &&
                      s[m].params[i].trainable, "merge_gate must be a trainable [1]");
            }
            blocks += strstr(n, ".block.") != NULL;
            firsts += strstr(n, "first_downsample") != NULL;
            ups += !strncmp(n, "upsample.", 9);
        }
        CHECK(merge == (m == LST_SIDE_TUNING), "%s: %d merge gates", lst_side_mode_name(m), merge);
        CHECK(firsts == 4 && ups == 2 && blocks > 0, "%s: first %d up %d blocks %d",
              lst_side_mode_name(m), firsts, ups, blocks);
        CHECK((s[m].w.merge != NULL) == (m == LST_SIDE_TUNING), "merge pointer");
        for (int st = 0; st < 2; st++)
            for (int i = 0; i < s[m].L[st]; i++)
                CHECK(!s[m].w.st[st].gate[i] && !s[m].w.st[st].down_w[i], "ladder pointer bound");
    }
    /* the ladder parameters are the whole difference */
    const int64_t d = c->d_model, ds = s[0].cfg.d_model;
    const int64_t ladders = (c->num_layers + c->num_decoder_layers) +
                            (2 + c->num_decoder_layers) * (ds * d + ds);
    CHECK((int64_t)s[0].n_floats - ladders == (int64_t)s[2].n_floats,
          "LST %zu - ladders %lld != compression %zu", s[0].n_floats, (long long)ladders,
          s[2].n_floats);
    CHECK(s[1].n_floats == s[2].n_floats + 1, "side-tuning %zu, compression %zu", s[1].n_floats,
          s[2].n_floats);

    /* lst_method_params counts the mode's trainable table */
    const char *names[3] = {"lst", "side-tuning", "compression"};
    for (int m = 0; m < 3; m++) {
        lst_method_t me;
        lst_method_default(&me, names[m]);
        CHECK(me.side.mode == m, "%s: mode %d", names[m], me.side.mode);
        me.side.r = 4;
        int kept[2] = {1, 2};
        me.side.n_keep[0] = 2;
        me.side.keep[0] = kept; /* a view: only read */
        int64_t tr = 0, total = 0;
        lst_err_t err;
        CHECK(lst_method_params(&me, c, f.m.vocab, &tr, &total, &err) == 0, "%s", err.msg);
        CHECK(total == lst_t5_param_count(c, f.m.vocab), "%s: backbone %lld", names[m],
              (long long)total);
        const int64_t want = m ? trainable_floats(&s[m]) : (int64_t)s[0].n_floats;
        CHECK(tr == want && (!m || tr == (int64_t)s[m].n_floats),
              "%s: %lld trainable, table %lld", names[m], (long long)tr, (long long)want);
    }

    /* an unknown mode fails clearly */
    lst_side_opts_t o;
    lst_side_opts_default(&o);
    o.mode = 3;
    lst_side_t bad;
    lst_err_t err;
    CHECK(lst_side_create(&bad, &f.bb, &o, &err) != 0 && strstr(err.msg, "mode 3"), "mode 3: %s",
          err.msg);

    /* checkpoints: a side-tuning table saved and loaded back is the same;
     * an LST side cannot load it (no ladders in the file), compression can */
    randomise(&s[1], 13);
    s[1].w.merge[0] = 0.25f;
    char path[512];
    snprintf(path, sizeof path, "%s/side_tuning.safetensors", lst_test_tmpdir());
    lst_st_out_t *t = calloc(s[1].n_params, sizeof *t);
    for (int i = 0; i < s[1].n_params; i++) {
        const lst_param_t *p = &s[1].params[i];
        t[i].name = p->name;
        t[i].dtype = LST_DT_F32;
        t[i].ndim = p->ndim;
        t[i].shape[0] = p->shape[0];
        t[i].shape[1] = p->shape[1];
        t[i].data = s[1].flat + p->offset;
    }
    CHECK(lst_st_write(path, t, s[1].n_params, &err) == 0, "%s", err.msg);
    free(t);
    lst_side_t back;
    if (!make_side(&back, &f.m, LST_SIDE_TUNING, 4, "12", "")) {
        CHECK(lst_side_load(&back, path, &err) == 0, "%s", err.msg);
        CHECK(!memcmp(back.flat, s[1].flat, sizeof(float) * s[1].n_floats), "reload differs");
        lst_side_free(&back);
    }
    CHECK(lst_side_load(&s[0], path, &err) != 0 && strstr(err.msg, "not found"),
          "an LST side loaded a side-tuning file: %s", err.msg);
    CHECK(lst_side_load(&s[2], path, &err) == 0, "%s", err.msg);
    for (int m = 0; m < 3; m++) lst_side_free(&s[m]);
    fixture_free(&f);
}

/* ---- memory plans ------------------------------------------------------- */

/* Exactly the buffers each mode drops: side-tuning plans no tap and no
 * ladder/mix buffer (per kept layer: [B, T, d] + 2 x [B, T, ds]) but the
 * backbone decoder output and the merged head input (2 x [B, Td, d]);
 * compression additionally no backbone buffer. Sizes are multiples of 16
 * floats, so the 64-byte alignment of each carve adds nothing. */
TEST(side_ablation_memory_plan) {
    lst_t5_config_t c;
    lst_t5_config_default(&c);
    c.vocab_size = 64;
    c.d_model = 32;
    c.d_kv = 8;
    c.num_heads = 4;
    c.d_ff = 64;
    c.num_layers = c.num_decoder_layers = 6;
    lst_err_t err;
    lst_t5_t m;
    if (lst_t5_create(&m, &c, 64, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    const lst_backbone_t bb = test_bb(&m);
    lst_side_t s[3];
    const int keep[3] = {1, 3, 5};
    for (int mode = 0; mode < 3; mode++) {
        lst_side_opts_t o;
        lst_side_opts_default(&o);
        o.r = 4;
        o.mode = mode;
        for (int st = 0; st < 2; st++) {
            o.n_keep[st] = 3;
            o.keep[st] = (int *)keep; /* a view: only read */
        }
        CHECK(lst_side_create(&s[mode], &bb, &o, &err) == 0, "%s", err.msg);
    }
    const size_t B = 8, Ts = 32, Td = 4, d = 32, ds = 8, Tm = 32, H = 4;
    for (int bw = 0; bw < 2; bw++) {
        size_t n[3];
        for (int mode = 0; mode < 3; mode++)
            n[mode] = lst_side_acts_floats(&bb, &s[mode], (int)B, (int)Ts, (int)Td, bw);
        /* taps and ladder mixes: every kept layer's (3) for the backward, one
         * layer's for a forward alone */
        const size_t kl = bw ? 3 : 1;
        const size_t ladder = kl * (B * Ts * d + 2 * B * Ts * ds) + kl * (B * Td * d + 2 * B * Td * ds);
        CHECK(n[0] - ladder + 2 * B * Td * d == n[1], "backward %d: LST %zu, side-tuning %zu", bw,
              n[0], n[1]);
        lst_carve_t bbc = {0};
        lst_t5_block_acts_t blk;
        lst_carve(&bbc, 3 * B * Tm * d + H * Ts * Ts + H * Td * Td);
        lst_t5_block_acts_carve_fwd(&bbc, &blk, &c, (int)B, (int)Ts, (int)Td);
        CHECK(n[1] - bbc.used - 2 * B * Td * d == n[2], "backward %d: side-tuning %zu, compression "
              "%zu, backbone buffers %zu", bw, n[1], n[2], bbc.used);
        CHECK(n[2] < n[1] && n[2] < n[0], "compression is the smallest plan");
        /* one allocation of exactly the plan, before any step */
        lst_side_acts_t a;
        for (int mode = 0; mode < 3; mode++) {
            CHECK(lst_side_acts_alloc(&a, &bb, &s[mode], (int)B, (int)Ts, (int)Td, bw, &err) == 0,
                  "%s", err.msg);
            CHECK(a.arena_floats == n[mode], "mode %d: allocated %zu, planned %zu", mode,
                  a.arena_floats, n[mode]);
            lst_side_acts_free(&a);
        }
    }
    for (int mode = 0; mode < 3; mode++) lst_side_free(&s[mode]);
    lst_t5_free(&m);
}
