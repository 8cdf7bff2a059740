/* test_cross_fold.c: the folded cross-attention against the plain path it
 * replaces (project keys and values, then lst_attention_forward) and against
 * the double-precision reference, with masks, dropout and rows that see no
 * key; and the cost rule that decides when it is used. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/rng.h"
#include "../src/model/side.h"
#include "../src/model/t5/t5.h"
#include "../src/ops/ops.h"
#include "tensor_util.h"
#include "bb_util.h"
#include "test.h"

/* out_plain = attention(q, enc Wk^T, enc Wv^T) the unfolded way */
static void plain(float *out, const float *q, const float *enc, const float *Wk, const float *Wv,
                  const uint8_t *km, int B, int T, int Ts, int H, int D, int dm,
                  const lst_drop_t *drop, int ref) {
    const int C = H * D;
    float *k = malloc(sizeof(float) * B * Ts * C), *v = malloc(sizeof(float) * B * Ts * C);
    lst_matmul_forward_ref(k, enc, Wk, NULL, B * Ts, dm, C);
    lst_matmul_forward_ref(v, enc, Wv, NULL, B * Ts, dm, C);
    if (ref) {
        float *P = malloc(sizeof(float) * B * H * T * Ts);
        lst_attention_forward_ref(out, P, q, k, v, NULL, km, 0, B, T, Ts, H, D);
        free(P);
    } else {
        float *scr = calloc(lst_attention_forward_workspace(B, T, Ts, H), sizeof(float));
        lst_attention_forward(out, NULL, NULL, q, k, v, NULL, km, 0, B, T, Ts, H, D, drop, scr);
        free(scr);
    }
    free(k);
    free(v);
}

TEST(cross_fold_matches_plain_attention) {
    lst_rng_t r;
    lst_rng_seed(&r, 11);
    const int B = 3, T = 2, Ts = 37, H = 4, D = 5, dm = 24, C = H * D;
    float *q = test_randn(&r, B * T * C, 1), *enc = test_randn(&r, B * Ts * dm, 1);
    float *Wk = test_randn(&r, C * dm, 0.3f), *Wv = test_randn(&r, C * dm, 0.3f);
    uint8_t km[3 * 37];
    for (int i = 0; i < B * Ts; i++) km[i] = 1;
    for (int j = 20; j < Ts; j++) km[1 * Ts + j] = 0; /* padded example */
    for (int j = 0; j < Ts; j++) km[2 * Ts + j] = 0;  /* sees no key at all */
    float *o1 = malloc(sizeof(float) * B * T * C), *o2 = malloc(sizeof(float) * B * T * C);
    float *scr = calloc(lst_cross_fold_workspace(B, T, Ts, H, dm), sizeof(float));
    for (int dropping = 0; dropping < 2; dropping++) {
        lst_drop_t drop = {0.3f, 77, 5};
        const lst_drop_t *dp = dropping ? &drop : NULL;
        memset(o1, 0x7f, sizeof(float) * B * T * C); /* every output must be written */
        lst_cross_fold_forward(o1, NULL, q, enc, Wk, Wv, km, B, T, Ts, H, D, dm, dp, scr);
        plain(o2, q, enc, Wk, Wv, km, B, T, Ts, H, D, dm, dp, 0);
        CHECK(test_maxdiff(o1, o2, B * T * C) < 2e-5, "dropout %d: folded differs from plain by %g",
              dropping, test_maxdiff(o1, o2, B * T * C));
        for (int i = 0; i < T * C; i++)
            CHECK(o1[2 * T * C + i] == 0.0f, "a query that sees no key must give 0");
        if (!dropping) {
            plain(o2, q, enc, Wk, Wv, km, B, T, Ts, H, D, dm, NULL, 1);
            CHECK(test_maxdiff(o1, o2, B * T * C) < 2e-5, "folded differs from the reference by %g",
                  test_maxdiff(o1, o2, B * T * C));
        }
    }
    /* dropout changes the result (the mask is applied at all) */
    lst_drop_t drop = {0.3f, 77, 5};
    lst_cross_fold_forward(o2, NULL, q, enc, Wk, Wv, km, B, T, Ts, H, D, dm, NULL, scr);
    lst_cross_fold_forward(o1, NULL, q, enc, Wk, Wv, km, B, T, Ts, H, D, dm, &drop, scr);
    CHECK(test_maxdiff(o1, o2, B * T * C) > 1e-3, "dropout had no effect");
    free(q); free(enc); free(Wk); free(Wv); free(o1); free(o2); free(scr);
}

/* The backward against the plain path's: attention backward on projected
 * keys and values, then the projections' backward. */
TEST(cross_fold_backward_matches_plain) {
    lst_rng_t r;
    lst_rng_seed(&r, 12);
    const int B = 3, T = 2, Ts = 37, H = 4, D = 5, dm = 24, C = H * D;
    float *q = test_randn(&r, B * T * C, 1), *enc = test_randn(&r, B * Ts * dm, 1);
    float *Wk = test_randn(&r, C * dm, 0.3f), *Wv = test_randn(&r, C * dm, 0.3f);
    float *dout = test_randn(&r, B * T * C, 1);
    uint8_t km[3 * 37];
    for (int i = 0; i < B * Ts; i++) km[i] = 1;
    for (int j = 20; j < Ts; j++) km[1 * Ts + j] = 0;
    for (int j = 0; j < Ts; j++) km[2 * Ts + j] = 0;
    const size_t nq = (size_t)B * T * C, ne = (size_t)B * Ts * dm, nw = (size_t)C * dm;
    float *scr = calloc(lst_cross_fold_workspace(B, T, Ts, H, dm), sizeof(float));
    float *ascr = calloc(lst_attention_backward_workspace(B, T, Ts, H), sizeof(float));
    float *k = malloc(sizeof(float) * B * Ts * C), *v = malloc(sizeof(float) * B * Ts * C);
    float *out = malloc(sizeof(float) * nq), *lse = malloc(sizeof(float) * B * H * T);
    float *out2 = malloc(sizeof(float) * nq), *lse2 = malloc(sizeof(float) * B * H * T);
    float *g1[4], *g2[4];
    const size_t n[4] = {nq, ne, nw, nw};
    for (int t = 0; t < 4; t++) {
        g1[t] = calloc(n[t], sizeof(float));
        g2[t] = calloc(n[t], sizeof(float));
    }
    float *dk = calloc(B * Ts * C, sizeof(float)), *dv = calloc(B * Ts * C, sizeof(float));
    const char *names[4] = {"dq", "denc", "dWk", "dWv"};
    for (int dropping = 0; dropping < 2; dropping++) {
        lst_drop_t drop = {0.3f, 78, 2};
        const lst_drop_t *dp = dropping ? &drop : NULL;
        for (int t = 0; t < 4; t++) {
            memset(g1[t], 0, sizeof(float) * n[t]);
            memset(g2[t], 0, sizeof(float) * n[t]);
        }
        /* folded: forward then backward (the backward accumulates: start from 0) */
        lst_cross_fold_forward(out, lse, q, enc, Wk, Wv, km, B, T, Ts, H, D, dm, dp, scr);
        lst_cross_fold_backward(g1[0], g1[1], g1[2], g1[3], dout, q, enc, Wk, Wv, lse, km, B, T,
                                Ts, H, D, dm, dp, scr);
        /* plain */
        lst_matmul_forward(k, enc, Wk, NULL, B * Ts, dm, C);
        lst_matmul_forward(v, enc, Wv, NULL, B * Ts, dm, C);
        lst_attention_forward(out2, NULL, lse2, q, k, v, NULL, km, 0, B, T, Ts, H, D, dp, ascr);
        for (int i = 0; i < B * H * T; i++) /* INFINITY: a row that saw no key */
            CHECK(lse[i] == lse2[i] || fabs(lse[i] - lse2[i]) < 1e-5, "lse[%d]: %g vs %g", i,
                  lse[i], lse2[i]);
        memset(dk, 0, sizeof(float) * B * Ts * C);
        memset(dv, 0, sizeof(float) * B * Ts * C);
        lst_attention_backward(g2[0], dk, dv, NULL, dout, out2, lse2, q, k, v, NULL, km, 0, B, T,
                               Ts, H, D, dp, ascr);
        lst_matmul_backward(g2[1], g2[2], NULL, dk, enc, Wk, B * Ts, dm, C);
        lst_matmul_backward(g2[1], g2[3], NULL, dv, enc, Wv, B * Ts, dm, C);
        for (int t = 0; t < 4; t++) {
            double scale = 0;
            for (size_t i = 0; i < n[t]; i++) scale = fmax(scale, fabs(g2[t][i]));
            CHECK(scale > 0, "dropout %d: %s is zero in the plain path", dropping, names[t]);
            CHECK(test_maxdiff(g1[t], g2[t], n[t]) <= 1e-5 * (1 + scale),
                  "dropout %d: %s differs by %g (scale %g)", dropping, names[t],
                  test_maxdiff(g1[t], g2[t], n[t]), scale);
        }
    }
    /* NULL gradients are skipped, the others still accumulate */
    lst_cross_fold_backward(g1[0], NULL, NULL, NULL, dout, q, enc, Wk, Wv, lse, km, B, T, Ts, H, D,
                            dm, NULL, scr);
    for (int t = 0; t < 4; t++) {
        free(g1[t]);
        free(g2[t]);
    }
    free(q); free(enc); free(Wk); free(Wv); free(dout); free(scr); free(ascr); free(k); free(v);
    free(out); free(lse); free(out2); free(lse2); free(dk); free(dv);
}

TEST(cross_fold_cost_rule) {
    /* T5-small and T5-base training shapes (3-5 target positions, 128
     * source) fold; a decoder as long as the source does not. */
    CHECK(lst_cross_fold_pays(3, 128, 8, 64, 512), "t5-small, target 3 should fold");
    CHECK(lst_cross_fold_pays(5, 128, 12, 64, 768), "t5-base, target 5 should fold");
    CHECK(!lst_cross_fold_pays(128, 128, 8, 64, 512), "target 128 should not fold");
    CHECK(!lst_cross_fold_pays(3, 4, 8, 64, 512), "a 4-token source should not fold");
}

/* ---- in the model ------------------------------------------------------ */

/* A zero-bias BitFit twin computes the plain backbone's function but keeps
 * the unfolded path (its key and value projections carry biases): the
 * reference for the folded one inside the model. Batch: a long source and 2
 * target positions, where folding pays. */
typedef struct {
    int32_t ids[2 * 48], dec[2 * 2], labels[2 * 2];
    uint8_t src_mask[2 * 48];
    lst_batch_t b;
} fold_batch_t;

static void fold_batch(fold_batch_t *f, int vocab) {
    enum { B = 2, Ts = 48, Td = 2 };
    lst_rng_t r;
    lst_rng_seed(&r, 3);
    for (int i = 0; i < B * Ts; i++) {
        f->ids[i] = 2 + (int32_t)(lst_rng_u32(&r) % (uint32_t)(vocab - 2));
        f->src_mask[i] = !(i >= Ts && i % Ts >= 30); /* the second example is padded */
    }
    for (int i = 0; i < B * Td; i++) {
        f->dec[i] = i % Td ? f->ids[i] : 0;
        f->labels[i] = f->ids[i + 5];
    }
    lst_batch_t b = {B, Ts, Td, f->ids, f->src_mask, f->dec, NULL, f->labels};
    f->b = b;
}

static double max_rel(const float *a, const float *b, size_t n) {
    double worst = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return worst / (scale > 0 ? scale : 1);
}

/* The tiny gated backbone m, its zero-bias BitFit twin t (frozen_base: only
 * the biases train; otherwise every weight does too, for full fine-tuning's
 * gradients) and the batch. Returns -1 after a CHECK failure. */
static int load_twins(lst_t5_t *m, lst_t5_t *t, int frozen_base, fold_batch_t *f) {
    const char *dir = "tests/data/t5-tiny-gated";
    lst_err_t err;
    lst_t5_ext_t bitfit = {0};
    bitfit.bitfit = 1;
    bitfit.frozen_base = frozen_base;
    if (lst_t5_load(m, dir, 0, &err)) {
        CHECK(0, "%s", err.msg);
        return -1;
    }
    if (lst_t5_load_ext(t, dir, 0, &bitfit, &err)) {
        CHECK(0, "%s", err.msg);
        lst_t5_free(m);
        return -1;
    }
    fold_batch(f, m->vocab);
    return 0;
}

/* Full fine-tuning's loss and every weight gradient, folded against plain. */
TEST(cross_fold_full_model_forward_backward) {
    lst_t5_t m, t;
    lst_err_t err;
    fold_batch_t f;
    if (load_twins(&m, &t, 0, &f)) return;
    const lst_batch_t *b = &f.b;
    CHECK(lst_cross_fold_pays(b->Td, b->Ts, m.cfg.num_heads, m.cfg.d_kv, m.cfg.d_model),
          "the test batch must be one where folding pays");
    lst_t5_acts_t am, at;
    CHECK(lst_t5_acts_alloc(&am, &m, b->B, b->Ts, b->Td, 1, &err) == 0, "%s", err.msg);
    CHECK(lst_t5_acts_alloc(&at, &t, b->B, b->Ts, b->Td, 1, &err) == 0, "%s", err.msg);
    CHECK(am.dec_blk[0].fold && !am.dec_blk[0].ck, "the plain backbone should fold");
    CHECK(!at.dec_blk[0].fold && at.dec_blk[0].ck, "the BitFit twin should not fold");
    float *gm = calloc(m.n_trainable_floats, sizeof(float));
    float *gt = calloc(t.n_trainable_floats, sizeof(float));
    for (int dropping = 0; dropping < 2; dropping++) {
        lst_drop_t bd = {0.1f, 77, 0};
        const lst_drop_t *dp = dropping ? &bd : NULL;
        double lm = lst_t5_forward(&m, b, &am, dp), lt = lst_t5_forward(&t, b, &at, dp);
        CHECK(fabs(lm - lt) <= 1e-6 * fabs(lt), "dropout %d: loss %.9g folded, %.9g plain",
              dropping, lm, lt);
        memset(gm, 0, sizeof(float) * m.n_trainable_floats);
        memset(gt, 0, sizeof(float) * t.n_trainable_floats);
        CHECK(lst_t5_backward(&m, b, &am, dp, gm, &err) == 0, "%s", err.msg);
        CHECK(lst_t5_backward(&t, b, &at, dp, gt, &err) == 0, "%s", err.msg);
        /* every backbone weight, by name */
        for (int i = 0; i < m.n_params; i++) {
            const lst_param_t *pm = &m.params[i];
            const lst_param_t *pt = NULL;
            for (int j = 0; j < t.n_params && !pt; j++)
                if (!strcmp(t.params[j].name, pm->name)) pt = &t.params[j];
            CHECK(pt != NULL, "%s missing in the twin", pm->name);
            if (!pt) continue;
            const double e = max_rel(gm + pm->offset, gt + pt->offset, pm->numel);
            CHECK(e <= 1e-4, "dropout %d: grad %s differs by %g (relative)", dropping, pm->name, e);
        }
    }
    free(gm);
    free(gt);
    lst_t5_acts_free(&am);
    lst_t5_acts_free(&at);
    lst_t5_free(&m);
    lst_t5_free(&t);
}

/* Side-tuning with its merge gate saturated gives exactly the backbone's
 * loss (test_side_ablations.c); its forward-only backbone folds, here with
 * the float32 and the bf16 backbone, against the unfolded twin. */
static void fold_in_side(int bf16) {
    lst_t5_t m, t;
    lst_err_t err;
    fold_batch_t f;
    if (load_twins(&m, &t, 1, &f)) return;
    if (bf16 && lst_t5_to_bf16(&m, &err)) {
        CHECK(0, "%s", err.msg);
        lst_t5_free(&m);
        lst_t5_free(&t);
        return;
    }
    const lst_batch_t *b = &f.b;
    lst_side_opts_t o;
    lst_side_opts_default(&o);
    o.r = 4;
    o.mode = LST_SIDE_TUNING;
    const lst_backbone_t bb = test_bb(&m);
    lst_side_t s;
    CHECK(lst_side_create(&s, &bb, &o, &err) == 0, "%s", err.msg);
    lst_side_init_random(&s, 5);
    s.w.merge[0] = 100.0f; /* g = 1: the backbone's own logits */
    lst_side_acts_t a;
    lst_t5_acts_t ta;
    CHECK(lst_side_acts_alloc(&a, &bb, &s, b->B, b->Ts, b->Td, 0, &err) == 0, "%s", err.msg);
    CHECK(lst_t5_acts_alloc(&ta, &t, b->B, b->Ts, b->Td, 0, &err) == 0, "%s", err.msg);
    const lst_t5_block_acts_t *bblk = lst_t5_run_block(a.bb_run);
    CHECK(bblk->fold && !bblk->ck && !bblk->cv, "the side path's backbone should fold");
    CHECK(!ta.dec_blk[0].fold && ta.dec_blk[0].ck, "the BitFit twin should not fold");
    /* bf16: the twin stays float32, so loss and logits differ by the bf16
     * rounding of every backbone product (test_bf16_backbone.c checks the
     * bf16 forward against bf16 generation, which runs the plain path) */
    const double tol = bf16 ? 1e-2 : 1e-6;
    for (int dropping = 0; dropping < 2; dropping++) {
        lst_drop_t bd = {0.1f, 77, 0}, sd = {0.1f, 77, 1};
        double ls = lst_side_forward(&bb, &s, b, &a, dropping ? &bd : NULL, dropping ? &sd : NULL);
        double lb = lst_t5_forward(&t, b, &ta, dropping ? &bd : NULL);
        CHECK(fabs(ls - lb) <= tol * fabs(lb), "bf16 %d dropout %d: loss %.9g, plain %.9g", bf16,
              dropping, ls, lb);
        const double e = max_rel(a.logits, ta.logits, (size_t)b->B * b->Td * m.vocab);
        CHECK(e <= 10 * tol, "bf16 %d dropout %d: logits differ by %g (relative)", bf16, dropping,
              e);
    }
    lst_side_acts_free(&a);
    lst_t5_acts_free(&ta);
    lst_side_free(&s);
    lst_t5_free(&m);
    lst_t5_free(&t);
}

TEST(cross_fold_side_backbone_equals_plain_forward) { fold_in_side(0); }
TEST(cross_fold_side_backbone_equals_plain_forward_bf16) { fold_in_side(1); }

/* Cached decoding folds its cross-attention: for a whole short generation
 * (3 steps), or for the first steps of a long one (10), after which it
 * projects the keys and values. Every step's logits equal the zero-bias
 * BitFit twin's, whose cache projects them from the start. */
TEST(cross_fold_decode_cache_equals_plain) {
    lst_t5_t m, t;
    lst_err_t err;
    fold_batch_t f;
    if (load_twins(&m, &t, 1, &f)) return;
    const lst_batch_t *b = &f.b;
    lst_t5_acts_t am, at;
    CHECK(lst_t5_acts_alloc(&am, &m, b->B, b->Ts, b->Td, 0, &err) == 0, "%s", err.msg);
    CHECK(lst_t5_acts_alloc(&at, &t, b->B, b->Ts, b->Td, 0, &err) == 0, "%s", err.msg);
    lst_t5_encode(&m, b, &am, NULL);
    lst_t5_encode(&t, b, &at, NULL);
    const size_t V = (size_t)m.vocab;
    float *lm = malloc(sizeof(float) * b->B * V), *lt = malloc(sizeof(float) * b->B * V);
    const int lengths[2] = {3, 10};
    for (int k = 0; k < 2; k++) {
        const int steps = lengths[k];
        lst_t5_cache_t cm, ct;
        CHECK(lst_t5_cache_init(&cm, &m, am.enc_out, b->src_mask, b->B, b->Ts, steps, &err) == 0,
              "%s", err.msg);
        CHECK(lst_t5_cache_init(&ct, &t, at.enc_out, b->src_mask, b->B, b->Ts, steps, &err) == 0,
              "%s", err.msg);
        CHECK(cm.fold && !cm.cross_k, "%d steps over 48 source tokens should start folded", steps);
        CHECK(k == 0 ? cm.fold_until == steps : cm.fold_until > 0 && cm.fold_until < steps,
              "%d steps: folded for %d", steps, cm.fold_until);
        CHECK(!ct.fold && ct.cross_k, "the BitFit twin projects keys and values");
        int32_t ids[2] = {0, 0};
        for (int s = 0; s < steps; s++) {
            CHECK(!cm.cross_k == (s <= cm.fold_until), "step %d of %d: keys and values %s", s,
                  steps, cm.cross_k ? "projected too early" : "not projected");
            CHECK(lst_t5_decode_step(&m, &cm, ids, lm, &err) == 0, "%s", err.msg);
            CHECK(lst_t5_decode_step(&t, &ct, ids, lt, &err) == 0, "%s", err.msg);
            const double e = max_rel(lm, lt, b->B * V);
            CHECK(e <= 1e-5, "%d steps, step %d: logits differ by %g (relative)", steps, s, e);
            ids[0] = f.ids[s + 1];
            ids[1] = f.ids[b->Ts + s + 3];
        }
        CHECK(k == 0 ? !cm.cross_k : cm.cross_k != NULL, "%d steps: projection %s", steps,
              cm.cross_k ? "made" : "missing");
        lst_t5_cache_free(&cm);
        lst_t5_cache_free(&ct);
    }
    free(lm);
    free(lt);
    lst_t5_acts_free(&am);
    lst_t5_acts_free(&at);
    lst_t5_free(&m);
    lst_t5_free(&t);
}
