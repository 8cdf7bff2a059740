/* test_prune.c: the structural-pruning initialisation of the side network
 * and the empirical Fisher importance (LST-SPEC section 3) against
 * tests/data/<model>/prune_golden.safetensors (r = 4, every layer kept):
 * magnitude.* and fisher.* side tensors, fisher_importance.* backbone
 * tensors; kept-layer subsets taking their chain slices; r values whose
 * kept counts disagree with the side widths. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/train/batch_file.h"
#include "../src/io/safetensors.h"
#include "../src/model/side.h"
#include "golden_util.h"
#include "bb_util.h"
#include "bb_util.h"
#include "test.h"

static int load_bb(lst_t5_t *bb, const char *model) {
    char dir[256];
    lst_err_t err;
    snprintf(dir, sizeof dir, "tests/data/%s", model);
    int rc = lst_t5_load(bb, dir, 0, &err);
    CHECK(rc == 0, "%s", err.msg);
    return rc;
}

static int make_side(lst_side_t *s, lst_t5_t *bb, int r, const int *keep_enc, int n_enc,
                     const int *keep_dec, int n_dec) {
    lst_side_opts_t o;
    lst_err_t err;
    lst_side_opts_default(&o);
    o.r = r;
    if (keep_enc) {
        o.n_keep[0] = n_enc;
        o.keep[0] = (int *)keep_enc; /* views: only read */
    }
    if (keep_dec) {
        o.n_keep[1] = n_dec;
        o.keep[1] = (int *)keep_dec;
    }
    const lst_backbone_t b = test_bb(bb);
    int rc = lst_side_create(s, &b, &o, &err);
    CHECK(rc == 0, "%s", err.msg);
    return rc;
}

static int is_pruned_name(const char *name) {
    return strstr(name, ".block.") || strstr(name, ".final_layer_norm.");
}

/* Every `<prefix><side name>` tensor of the golden file equals the side
 * parameter (max abs diff <= 1e-6), and every side block / final norm
 * parameter is in the file. */
static void compare_side(const lst_side_t *s, const lst_st_file_t *g, const char *prefix) {
    size_t np = strlen(prefix);
    int n_seen = 0;
    for (int i = 0; i < g->n; i++) {
        const lst_st_tensor_t *t = &g->tensors[i];
        if (strncmp(t->name, prefix, np)) continue;
        const char *name = t->name + np;
        int j = lst_layout_find(s->params, s->n_params, name);
        CHECK(j >= 0, "%s: golden %s has no side parameter", g->path, t->name);
        if (j < 0) continue;
        const lst_param_t *p = &s->params[j];
        CHECK(t->ndim == p->ndim && t->shape[0] == p->shape[0] &&
                  (p->ndim < 2 || t->shape[1] == p->shape[1]),
              "%s: shape of %s differs", g->path, t->name);
        if ((size_t)t->numel != p->numel) continue;
        size_t n = 0;
        float *ref = golden_load(g, t->name, &n);
        if (!ref) continue;
        double worst = 0;
        size_t at = 0;
        for (size_t k = 0; k < n; k++) {
            double e = fabs((double)s->flat[p->offset + k] - ref[k]);
            if (!(e <= worst)) {
                worst = e;
                at = k;
            }
        }
        CHECK(worst <= 1e-6, "%s: %s differs by %g at element %zu (got %g, want %g)", g->path,
              t->name, worst, at, s->flat[p->offset + at], ref[at]);
        free(ref);
        n_seen++;
    }
    int n_want = 0;
    char nm[256];
    for (int j = 0; j < s->n_params; j++) {
        if (!is_pruned_name(s->params[j].name)) continue;
        n_want++;
        snprintf(nm, sizeof nm, "%s%s", prefix, s->params[j].name);
        CHECK(lst_st_find(g, nm) != NULL, "%s: %s missing from the golden file", g->path, nm);
    }
    CHECK(n_seen == n_want, "%s: compared %d %s tensors, the side has %d", g->path, n_seen,
          prefix, n_want);
}

static void golden_path(char *out, size_t n, const char *model) {
    snprintf(out, n, "tests/data/%s/prune_golden.safetensors", model);
}

static void magnitude_matches(const char *model) {
    lst_t5_t bb;
    lst_side_t s;
    lst_st_file_t g = {0};
    lst_err_t err;
    char path[256];
    golden_path(path, sizeof path, model);
    if (load_bb(&bb, model)) return;
    if (make_side(&s, &bb, 4, NULL, 0, NULL, 0) == 0) {
        int rc = lst_side_init_prune(&s, TEST_BB(&bb), NULL, &err);
        CHECK(rc == 0, "%s", err.msg);
        rc = lst_st_open(&g, path, &err);
        CHECK(rc == 0, "%s", err.msg);
        if (rc == 0) compare_side(&s, &g, "magnitude.");
        lst_st_close(&g);
        lst_side_free(&s);
    }
    lst_t5_free(&bb);
}

TEST(prune_magnitude_relu) { magnitude_matches("t5-tiny-relu"); }
TEST(prune_magnitude_gated) { magnitude_matches("t5-tiny-gated"); }

/* The Fisher importance of the golden batch's rows (each alone). */
static float *fisher_of(const lst_t5_t *bb, const char *model) {
    char path[256];
    lst_batch_file_t b;
    lst_err_t err;
    snprintf(path, sizeof path, "tests/data/%s/batch.safetensors", model);
    int rc = lst_batch_load(&b, path, bb->cfg.decoder_start_token_id, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return NULL;
    float *imp = calloc(bb->n_floats, sizeof(float));
    rc = lst_fisher_importance(TEST_BB(bb), &b.view, imp, &err);
    CHECK(rc == 0, "%s", err.msg);
    lst_batch_free(&b);
    if (rc) {
        free(imp);
        return NULL;
    }
    return imp;
}

static void fisher_matches(const char *model) {
    lst_t5_t bb;
    lst_side_t s;
    lst_st_file_t g = {0};
    lst_err_t err;
    char path[256], nm[256];
    golden_path(path, sizeof path, model);
    if (load_bb(&bb, model)) return;
    float *imp = fisher_of(&bb, model);
    int rc = lst_st_open(&g, path, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (imp && rc == 0) {
        double worst = 0;
        for (int j = 0; j < bb.n_params; j++) {
            const lst_param_t *p = &bb.params[j];
            snprintf(nm, sizeof nm, "fisher_importance.%s", p->name);
            size_t n = 0;
            float *ref = golden_load(&g, nm, &n);
            if (!ref) continue;
            CHECK(n == p->numel, "%s: %zu values, the backbone has %zu", nm, n, p->numel);
            if (n == p->numel) {
                double q = golden_ratio(imp + p->offset, ref, n, 1);
                CHECK(q <= 1.0, "%s: error %.3g x tolerance", nm, q);
                if (!(q <= worst)) worst = q;
            }
            free(ref);
        }
        fprintf(stderr, "(importance worst %.3f x tol) ", worst);
        if (make_side(&s, &bb, 4, NULL, 0, NULL, 0) == 0) {
            rc = lst_side_init_prune(&s, TEST_BB(&bb), imp, &err);
            CHECK(rc == 0, "%s", err.msg);
            compare_side(&s, &g, "fisher.");
            lst_side_free(&s);
        }
    }
    free(imp);
    lst_st_close(&g);
    lst_t5_free(&bb);
}

TEST(prune_fisher_relu) { fisher_matches("t5-tiny-relu"); }
TEST(prune_fisher_gated) { fisher_matches("t5-tiny-gated"); }

/* The pruning alone on the reference's own importance (float64 computed,
 * stored as float32): isolates the chain from the Fisher numerics. */
static void fisher_chain_on_reference_importance(const char *model) {
    lst_t5_t bb;
    lst_side_t s;
    lst_st_file_t g = {0};
    lst_err_t err;
    char path[256], nm[256];
    golden_path(path, sizeof path, model);
    if (load_bb(&bb, model)) return;
    int rc = lst_st_open(&g, path, &err);
    CHECK(rc == 0, "%s", err.msg);
    float *imp = calloc(bb.n_floats, sizeof(float));
    for (int j = 0; rc == 0 && j < bb.n_params; j++) {
        const lst_param_t *p = &bb.params[j];
        snprintf(nm, sizeof nm, "fisher_importance.%s", p->name);
        int r2 = lst_st_read_f32(&g, nm, p->ndim, p->shape, imp + p->offset, &err);
        CHECK(r2 == 0, "%s", err.msg);
    }
    if (rc == 0 && make_side(&s, &bb, 4, NULL, 0, NULL, 0) == 0) {
        rc = lst_side_init_prune(&s, TEST_BB(&bb), imp, &err);
        CHECK(rc == 0, "%s", err.msg);
        compare_side(&s, &g, "fisher.");
        lst_side_free(&s);
    }
    free(imp);
    lst_st_close(&g);
    lst_t5_free(&bb);
}

TEST(prune_fisher_reference_importance_relu) {
    fisher_chain_on_reference_importance("t5-tiny-relu");
}
TEST(prune_fisher_reference_importance_gated) {
    fisher_chain_on_reference_importance("t5-tiny-gated");
}

/* Equal tensors `name` in two side networks (by name). */
static void same_param(const lst_side_t *a, const lst_side_t *b, const char *name_a,
                       const char *name_b) {
    int i = lst_layout_find(a->params, a->n_params, name_a);
    int j = lst_layout_find(b->params, b->n_params, name_b);
    CHECK(i >= 0 && j >= 0, "%s / %s missing", name_a, name_b);
    if (i < 0 || j < 0) return;
    CHECK(a->params[i].numel == b->params[j].numel, "%s: sizes differ", name_a);
    if (a->params[i].numel != b->params[j].numel) return;
    CHECK(!memcmp(a->flat + a->params[i].offset, b->flat + b->params[j].offset,
                  sizeof(float) * a->params[i].numel),
          "%s differs from %s", name_a, name_b);
}

/* Kept subsets take the all-kept chain's slices; the first kept block of
 * each stack owns backbone block 0's relative bias. */
static void subset_slices(const char *model) {
    lst_t5_t bb;
    lst_side_t all, sub;
    lst_err_t err;
    if (load_bb(&bb, model)) return;
    const int ke[1] = {1};
    const int kd[2] = {1, 2};
    if (make_side(&all, &bb, 4, NULL, 0, NULL, 0) == 0) {
        if (make_side(&sub, &bb, 4, ke, 1, kd, 2) == 0) {
            int rc = lst_side_init_prune(&all, TEST_BB(&bb), NULL, &err);
            CHECK(rc == 0, "%s", err.msg);
            rc = lst_side_init_prune(&sub, TEST_BB(&bb), NULL, &err);
            CHECK(rc == 0, "%s", err.msg);
            int n_cmp = 0;
            for (int j = 0; j < sub.n_params; j++) {
                const char *name = sub.params[j].name;
                if (!is_pruned_name(name) || strstr(name, "relative_attention_bias")) continue;
                same_param(&sub, &all, name, name);
                n_cmp++;
            }
            CHECK(n_cmp > 0, "no side block tensors compared");
            CHECK(lst_layout_find(sub.params, sub.n_params, "side_encoder.block.0.layer.0.layer_norm.weight") < 0,
                  "side_encoder.block.0 exists although layer 0 is not kept");
            same_param(&sub, &all,
                       "side_encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight",
                       "side_encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
            same_param(&sub, &all,
                       "side_decoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight",
                       "side_decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
            CHECK(lst_layout_find(sub.params, sub.n_params,
                                  "side_decoder.block.2.layer.0.SelfAttention."
                                  "relative_attention_bias.weight") < 0,
                  "only the first kept block owns a relative bias");
            size_t nrel = (size_t)bb.cfg.rel_buckets * bb.cfg.num_heads;
            CHECK(sub.w.st[0].rel && !memcmp(sub.w.st[0].rel, bb.w.enc_rel, sizeof(float) * nrel),
                  "encoder side relative bias is not backbone block 0's");
            CHECK(sub.w.st[1].rel && !memcmp(sub.w.st[1].rel, bb.w.dec_rel, sizeof(float) * nrel),
                  "decoder side relative bias is not backbone block 0's");
            /* The pruning init leaves the ladders alone. */
            int nz = 0;
            for (int j = 0; j < sub.n_params; j++) {
                const lst_param_t *p = &sub.params[j];
                if (is_pruned_name(p->name)) continue;
                for (size_t k = 0; k < p->numel; k++) nz += sub.flat[p->offset + k] != 0;
            }
            CHECK(nz == 0, "%d ladder/gate/upsample values were written", nz);
            lst_side_free(&sub);
        }
        lst_side_free(&all);
    }
    lst_t5_free(&bb);
}

TEST(prune_kept_subset_relu) { subset_slices("t5-tiny-relu"); }
TEST(prune_kept_subset_gated) { subset_slices("t5-tiny-gated"); }

/* r = 6 on d_model 64: round(5/6 x 64) = 53 pruned, 11 kept, but the side
 * width is 64 // 6 = 10: a clear error, nothing written. */
TEST(prune_bad_r_fails_clearly) {
    lst_t5_t bb;
    lst_side_t s;
    lst_err_t err;
    if (load_bb(&bb, "t5-tiny-relu")) return;
    if (make_side(&s, &bb, 6, NULL, 0, NULL, 0) == 0) {
        err.msg[0] = 0;
        int rc = lst_side_init_prune(&s, TEST_BB(&bb), NULL, &err);
        CHECK(rc != 0, "r = 6 was accepted");
        CHECK(strstr(err.msg, "r = 6") && strstr(err.msg, "keeps 11") &&
                  strstr(err.msg, "has 10") && strstr(err.msg, "d_model"),
              "unclear message: %s", err.msg);
        int nz = 0;
        for (size_t k = 0; k < s.n_floats; k++) nz += s.flat[k] != 0;
        CHECK(nz == 0, "%d side values written by a failed init", nz);
        lst_side_free(&s);
    }
    lst_t5_free(&bb);
}

/* A batch without labels has no loss to differentiate. */
TEST(prune_fisher_needs_labels) {
    lst_t5_t bb;
    lst_batch_file_t b;
    lst_err_t err;
    if (load_bb(&bb, "t5-tiny-relu")) return;
    int rc = lst_batch_load(&b, "tests/data/t5-tiny-relu/batch.safetensors", 0, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc == 0) {
        float *imp = calloc(bb.n_floats, sizeof(float));
        lst_batch_t v = b.view;
        v.labels = NULL;
        err.msg[0] = 0;
        rc = lst_fisher_importance(TEST_BB(&bb), &v, imp, &err);
        CHECK(rc != 0 && strstr(err.msg, "labels"), "no-label batch: rc %d, '%s'", rc, err.msg);
        free(imp);
        lst_batch_free(&b);
    }
    lst_t5_free(&bb);
}
