/* test_golden_lst.c: the LST model against the golden reference (logits,
 * loss, every side gradient, 5 AdamW steps), the pruning initialisation
 * through `lst dump --side-config` with "init", and finite differences
 * for every side parameter (gates and relative bias included), with and
 * without dropout. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/rng.h"
#include "../src/train/batch_file.h"
#include "../src/model/side.h"
#include "golden_util.h"
#include "bb_util.h"
#include "test.h"

static void lst_dump_matches(const char *model) {
    char out[512], *log = NULL;
    snprintf(out, sizeof out, "%s/lst_%s.safetensors", lst_test_tmpdir(), model);
    int rc = lst_test_run(&log,
                          "dump --model tests/data/%s --batch tests/data/%s/batch.safetensors "
                          "--side tests/data/%s/lst_side_init.safetensors --side-config "
                          "tests/data/%s/lst_golden.json --out %s",
                          model, model, model, model, out);
    CHECK(rc == 0, "lst dump failed (%d): %s", rc, log ? log : "");
    free(log);
    if (rc) return;
    char ref[512];
    snprintf(ref, sizeof ref, "tests/data/%s/lst_golden.safetensors", model);
    static const char *const all[] = {"logits", "loss", "grad.", "adamw_losses", "after5.", NULL};
    double worst;
    int bad = golden_compare_files(out, ref, all, &worst);
    CHECK(bad == 0, "%d tensors outside tolerance", bad);
    /* No gradient for gates of layers that are not kept (torch: grad None). */
    lst_st_file_t f = {0};
    lst_err_t err;
    if (lst_st_open(&f, out, &err) == 0) {
        CHECK(lst_st_find(&f, "grad.side_encoder.gates.1") != NULL, "kept gate has no gradient");
        if (!strcmp(model, "t5-tiny-relu"))
            CHECK(lst_st_find(&f, "grad.side_encoder.gates.0") == NULL, "unkept gate has a gradient");
        lst_st_close(&f);
    }
    fprintf(stderr, "(worst %.3f x tol) ", worst);
}

TEST(golden_lst_relu_dump) { lst_dump_matches("t5-tiny-relu"); }
TEST(golden_lst_gated_dump) { lst_dump_matches("t5-tiny-gated"); }

/* init.<side name> of `lst dump` with {"init": kind, r 4, all kept} equals
 * <kind>.<side name> of prune_golden.safetensors for every pruned tensor. */
static void prune_dump_matches(const char *model, const char *kind) {
    char cfg[512], out[512], *log = NULL;
    snprintf(cfg, sizeof cfg, "%s/prune_%s_%s.json", lst_test_tmpdir(), model, kind);
    snprintf(out, sizeof out, "%s/prune_%s_%s.safetensors", lst_test_tmpdir(), model, kind);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "{\"r\": 4, \"init\": \"%s\"}\n", kind);
    fclose(f);
    int rc = lst_test_run(&log, "dump --model tests/data/%s --batch tests/data/%s/batch.safetensors "
                          "--side-config %s --out %s", model, model, cfg, out);
    CHECK(rc == 0, "dump failed: %s", log ? log : "");
    free(log);
    if (rc) return;
    char ref[512];
    snprintf(ref, sizeof ref, "tests/data/%s/prune_golden.safetensors", model);
    lst_st_file_t got = {0}, gold = {0};
    lst_err_t err;
    if (lst_st_open(&got, out, &err) || lst_st_open(&gold, ref, &err)) {
        CHECK(0, "%s", err.msg);
        lst_st_close(&got);
        return;
    }
    int compared = 0;
    size_t plen = strlen(kind) + 1;
    for (int i = 0; i < gold.n; i++) {
        const char *name = gold.tensors[i].name;
        if (strncmp(name, kind, plen - 1) || name[plen - 1] != '.') continue;
        char want[300];
        snprintf(want, sizeof want, "init.%s", name + plen);
        size_t na = 0, nb = 0;
        float *a = golden_load(&got, want, &na), *b = golden_load(&gold, name, &nb);
        if (a && b && na == nb) {
            double q = golden_ratio(a, b, na, 0);
            CHECK(q <= 1.0, "%s: %s off by %.3g x tol", model, want, q);
            compared++;
        }
        free(a);
        free(b);
    }
    CHECK(compared > 10, "only %d tensors compared", compared);
    lst_st_close(&got);
    lst_st_close(&gold);
}

TEST(golden_prune_magnitude_dump) {
    prune_dump_matches("t5-tiny-relu", "magnitude");
    prune_dump_matches("t5-tiny-gated", "magnitude");
}
TEST(golden_prune_fisher_dump) {
    prune_dump_matches("t5-tiny-relu", "fisher");
    prune_dump_matches("t5-tiny-gated", "fisher");
}

/* Finite differences for every trainable side parameter tensor. */
static double side_loss(const lst_backbone_t *m, const lst_side_t *s, const lst_batch_t *b,
                        lst_side_acts_t *a, const lst_drop_t *bd, const lst_drop_t *sd) {
    return lst_side_forward(m, s, b, a, bd, sd);
}

static void finite_difference(const char *model, int with_dropout, const char *keep_enc) {
    char dir[256], bpath[256];
    snprintf(dir, sizeof dir, "tests/data/%s", model);
    snprintf(bpath, sizeof bpath, "tests/data/%s/batch.safetensors", model);
    lst_err_t err;
    lst_t5_t m;
    lst_batch_file_t bf;
    if (lst_t5_load(&m, dir, 0, &err) || lst_batch_load(&bf, bpath, 0, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    lst_side_opts_t o;
    lst_side_opts_default(&o);
    o.r = 2; /* other r and kept layers than the golden files */
    o.n_keep[0] = 0;
    int keep[16];
    o.keep[0] = keep;
    for (const char *p = keep_enc; *p; p++) o.keep[0][o.n_keep[0]++] = *p - '0';
    const lst_backbone_t bb = test_bb(&m);
    lst_side_t s;
    CHECK(lst_side_create(&s, &bb, &o, &err) == 0, "%s", err.msg);
    lst_side_init_random(&s, 7);
    /* larger than the 0.01 init so every path carries a visible gradient */
    lst_rng_t r;
    lst_rng_seed(&r, 11);
    for (int i = 0; i < s.n_params; i++) {
        float *x = s.flat + s.params[i].offset;
        for (size_t j = 0; j < s.params[i].numel; j++)
            x[j] += (float)(lst_rng_normal(&r) * (strstr(s.params[i].name, "gates") ? 0.5 : 0.1));
    }
    lst_side_acts_t a;
    CHECK(lst_side_acts_alloc(&a, &bb, &s, bf.view.B, bf.view.Ts, bf.view.Td, 1, &err) == 0, "%s", err.msg);
    lst_drop_t bd = {0.1f, 1234, 0}, sd = {0.1f, 1234, 1};
    const lst_drop_t *bdp = with_dropout ? &bd : NULL, *sdp = with_dropout ? &sd : NULL;
    float *g = calloc(s.n_floats, sizeof(float));
    side_loss(&bb, &s, &bf.view, &a, bdp, sdp);
    CHECK(lst_side_backward(&bb, &s, &bf.view, &a, sdp, g, &err) == 0, "%s", err.msg);
    int kinds_seen[8] = {0};
    const char *kinds[8] = {"gates", "relative_attention_bias", "downsamples", "first_downsample",
                            "upsample", "layer_norm", "SelfAttention.q", "DenseReluDense"};
    for (int i = 0; i < s.n_params; i++) {
        const lst_param_t *p = &s.params[i];
        if (!p->trainable) continue;
        /* The element with the largest gradient, by a 4-point stencil
         * (error O(e^4)), so float32 rounding of the loss stays small
         * against the derivative. */
        float *x = s.flat + p->offset;
        size_t j = 0;
        for (size_t q = 1; q < p->numel; q++)
            if (fabsf(g[p->offset + q]) > fabsf(g[p->offset + j])) j = q;
        const float keep = x[j];
        const double e = 1e-2;
        double l[4];
        const double steps[4] = {e, -e, 2 * e, -2 * e};
        for (int t = 0; t < 4; t++) {
            x[j] = keep + (float)steps[t];
            l[t] = side_loss(&bb, &s, &bf.view, &a, bdp, sdp);
        }
        x[j] = keep;
        double fd = (8 * (l[0] - l[1]) - (l[2] - l[3])) / (12 * e);
        double an = g[p->offset + j];
        CHECK(fabs(fd - an) <= 2e-2 * fabs(fd) + 5e-4, "%s%s[%zu]: analytic %.6g, numeric %.6g",
              with_dropout ? "(dropout) " : "", p->name, j, an, fd);
        for (int k = 0; k < 8; k++)
            if (strstr(p->name, kinds[k])) kinds_seen[k] = 1;
    }
    for (int k = 0; k < 8; k++) CHECK(kinds_seen[k], "no %s parameter checked", kinds[k]);
    free(g);
    lst_side_acts_free(&a);
    lst_side_free(&s);
    lst_batch_free(&bf);
    lst_t5_free(&m);
}

TEST(lst_finite_difference_relu) { finite_difference("t5-tiny-relu", 0, "02"); }
TEST(lst_finite_difference_gated) { finite_difference("t5-tiny-gated", 0, "1"); }
TEST(lst_finite_difference_dropout) { finite_difference("t5-tiny-gated", 1, "01"); }
