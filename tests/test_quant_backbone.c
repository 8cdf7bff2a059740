/* test_quant_backbone.c: the int8 and 4-bit frozen backbones (issue 14) on
 * the golden models: the LST loss, logits and side-network gradients stay
 * near float32 (bounds a wrong kernel or layout would break by orders of
 * magnitude; the measured errors are printed), the cached generation equals
 * the quantized forward, the float32 block linears are gone (the bytes the
 * plan predicts), and loading straight into the format (one tensor at a
 * time) gives the backbone that converting a float32 load gives. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/model/side.h"
#include "../src/train/batch_file.h"
#include "bb_util.h"
#include "golden_util.h"
#include "test.h"

/* Relative L2 and max |difference| / max |ref|. */
static void errors(const float *got, const float *ref, size_t n, double *rel, double *max) {
    double e = 0, w = 0, worst = 0, big = 1e-12;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)got[i] - ref[i];
        e += d * d;
        w += (double)ref[i] * ref[i];
        worst = fabs(d) > worst || d != d ? fabs(d) : worst;
        big = fabs(ref[i]) > big ? fabs(ref[i]) : big;
    }
    *rel = sqrt(e / (w > 0 ? w : 1e-30));
    *max = worst / big;
}

/* The loss, logits and gradient of the golden LST fixture in float32 and
 * then with the backbone packed as fmt; rel_tol bounds the logits' and the
 * gradients' relative L2 error. */
static void close_to_fp32(const char *model, lst_wformat_t fmt, double rel_tol) {
    lst_err_t err;
    lst_t5_t m;
    lst_batch_file_t bf;
    lst_side_t s;
    if (golden_lst_fixture(model, &m, &bf, &s)) return;
    const lst_backbone_t bb = test_bb(&m);
    lst_batch_t b = bf.view;
    b.dec_mask = NULL;
    const size_t V = m.vocab, n = (size_t)b.B * b.Td * V;
    lst_side_acts_t a;
    CHECK(lst_side_acts_alloc(&a, &bb, &s, b.B, b.Ts, b.Td, 1, &err) == 0, "%s", err.msg);
    float *lg32 = malloc(sizeof(float) * n), *g32 = calloc(s.n_floats, sizeof(float));
    float *g = calloc(s.n_floats, sizeof(float));
    const double l32 = lst_side_forward(&bb, &s, &b, &a, NULL, NULL);
    memcpy(lg32, a.logits, sizeof(float) * n);
    CHECK(lst_side_backward(&bb, &s, &b, &a, NULL, g32, &err) == 0, "%s", err.msg);

    CHECK(lst_t5_pack(&m, fmt, NULL, NULL, &err) == 0, "%s", err.msg);
    const size_t after = m.n_floats * 4 + m.packed_bytes;
    CHECK(m.w.enc[0].q == NULL && m.w.enc[0].pq.data != NULL && m.w.enc[0].pq.fmt == fmt,
          "%s %s: the block linears are not packed", model, lst_wformat(fmt)->name);
    CHECK(after == lst_t5_weight_bytes(&m.cfg, m.vocab, fmt), "%s %s: %zu bytes, the plan says %zu",
          model, lst_wformat(fmt)->name, after, lst_t5_weight_bytes(&m.cfg, m.vocab, fmt));

    const double lq = lst_side_forward(&bb, &s, &b, &a, NULL, NULL);
    double lrel, lmax, grel, gmax;
    errors(a.logits, lg32, n, &lrel, &lmax);
    CHECK(lst_side_backward(&bb, &s, &b, &a, NULL, g, &err) == 0, "%s", err.msg);
    errors(g, g32, s.n_floats, &grel, &gmax);
    printf("    %s %s: loss %.6f (fp32 %.6f), logits rel %.2e max %.2e, grads rel %.2e max %.2e\n",
           model, lst_wformat(fmt)->name, lq, l32, lrel, lmax, grel, gmax);
    CHECK(lq != l32 && fabs(lq - l32) < 5 * rel_tol * fabs(l32), "%s %s: loss %.6f, fp32 %.6f", model,
          lst_wformat(fmt)->name, lq, l32);
    CHECK(lrel > 0 && lrel < rel_tol && grel < 4 * rel_tol, "%s %s: logits %.3g, grads %.3g (bound %.3g)",
          model, lst_wformat(fmt)->name, lrel, grel, rel_tol);

    /* the cached generation (the folded cross-attention and one-token
     * steps) against the quantized forward */
    lst_side_acts_t f;
    CHECK(lst_side_acts_alloc(&f, &bb, &s, b.B, b.Ts, b.Td, 0, &err) == 0, "%s", err.msg);
    lst_side_forward(&bb, &s, &b, &f, NULL, NULL);
    double maxabs;
    const double gap = golden_generation_gap(&m, &s, &b, f.logits, &maxabs);
    CHECK(gap <= 2e-3 * maxabs, "%s %s: generation differs from the forward by %.3g (max %.3g)", model,
          lst_wformat(fmt)->name, gap, maxabs);
    lst_side_acts_free(&f);
    free(lg32);
    free(g32);
    free(g);
    lst_side_acts_free(&a);
    golden_lst_fixture_free(&m, &bf, &s);
}

TEST(int8_backbone_close_to_fp32_relu) { close_to_fp32("t5-tiny-relu", LST_WF_INT8, 0.01); }
TEST(int8_backbone_close_to_fp32_gated) { close_to_fp32("t5-tiny-gated", LST_WF_INT8, 0.01); }
TEST(q4_backbone_close_to_fp32_relu) { close_to_fp32("t5-tiny-relu", LST_WF_Q4, 0.06); }
TEST(q4_backbone_close_to_fp32_gated) { close_to_fp32("t5-tiny-gated", LST_WF_Q4, 0.06); }

/* Loading straight into the format (never holding the float32 block
 * weights) gives exactly the backbone that converting after a float32 load
 * gives. */
TEST(quant_backbone_direct_load_equals_conversion) {
    lst_err_t err;
    const char *models[2] = {"tests/data/t5-tiny-relu", "tests/data/t5-tiny-gated"};
    const lst_wformat_t fmts[2] = {LST_WF_INT8, LST_WF_Q4};
    for (int k = 0; k < 2; k++)
        for (int f = 0; f < 2; f++) {
            lst_t5_t a, b;
            if (lst_t5_load(&a, models[k], 0, &err) || lst_t5_pack(&a, fmts[f], NULL, NULL, &err) ||
                lst_t5_load_frozen(&b, models[k], 0, fmts[f], &err)) {
                CHECK(0, "%s", err.msg);
                return;
            }
            CHECK(a.packed_bytes == b.packed_bytes && a.n_floats == b.n_floats &&
                      !memcmp(a.packed, b.packed, a.packed_bytes) &&
                      !memcmp(a.flat, b.flat, 4 * a.n_floats) && b.fmt == fmts[f],
                  "%s %s: direct load differs from conversion", models[k], lst_wformat(fmts[f])->name);
            lst_t5_free(&a);
            lst_t5_free(&b);
        }
}

/* lst quantize: the packed file loads, without conversion, to exactly the
 * backbone a direct load of the original gives; it refuses every other
 * use (float32, another format), naming the format. */
TEST(quantize_writes_what_loads) {
    const char *models[2] = {"t5-tiny-relu", "t5-tiny-gated"};
    const lst_wformat_t fmts[2] = {LST_WF_INT8, LST_WF_Q4};
    lst_err_t err;
    for (int k = 0; k < 2; k++)
        for (int f = 0; f < 2; f++) {
            char src[300], out[600];
            snprintf(src, sizeof src, "tests/data/%s", models[k]);
            snprintf(out, sizeof out, "%s/quantized-%s-%s", lst_test_tmpdir(), models[k],
                     lst_wformat(fmts[f])->name);
            char *log = NULL;
            int rc = lst_test_run(&log, "quantize --model %s --dtype %s --out %s", src,
                                  lst_wformat(fmts[f])->dtype, out);
            CHECK(rc == 0, "lst quantize: rc %d: %s", rc, log ? log : "");
            free(log);
            lst_t5_t a, b;
            if (lst_t5_load_frozen(&a, src, 0, fmts[f], &err) ||
                lst_t5_load_frozen(&b, out, 0, fmts[f], &err)) {
                CHECK(0, "%s", err.msg);
                return;
            }
            CHECK(a.packed_bytes == b.packed_bytes && !memcmp(a.packed, b.packed, a.packed_bytes) &&
                      a.n_floats == b.n_floats && !memcmp(a.flat, b.flat, 4 * a.n_floats),
                  "%s %s: the quantized file loads to another backbone", models[k],
                  lst_wformat(fmts[f])->name);
            lst_t5_free(&a);
            lst_t5_free(&b);
            CHECK(lst_t5_load(&a, out, 0, &err) != 0 && strstr(err.msg, "lst quantize") &&
                      strstr(err.msg, lst_wformat(fmts[f])->dtype),
                  "float32 load of a quantized file: '%s'", err.msg);
            CHECK(lst_t5_load_frozen(&a, out, 0, fmts[1 - f], &err) != 0 &&
                      strstr(err.msg, "loads only as"),
                  "another format from a quantized file: '%s'", err.msg);
            log = NULL;
            rc = lst_test_run(&log, "quantize --model %s --dtype int8 --out %s-again", out, out);
            CHECK(rc == 1 && strstr(log, "already packed"), "quantizing twice: rc %d: %s", rc, log);
            free(log);
        }
    char *log = NULL;
    int rc = lst_test_run(&log, "quantize --model tests/data/t5-tiny-relu --dtype fp16 --out %s/q",
                          lst_test_tmpdir());
    CHECK(rc == 2 && strstr(log, "--dtype"), "bad dtype: rc %d: %s", rc, log);
    free(log);
}

/* A quantized checkpoint trains with --init random or magnitude (and
 * records its dtype); Fisher, which needs the float32 backbone, is refused
 * before anything runs, saying so. */
TEST(quantize_then_train) {
    char dir[600], q[700], out[700];
    snprintf(dir, sizeof dir, "%s/qtrain-tiny", lst_test_tmpdir());
    snprintf(q, sizeof q, "%s-int8", dir);
    snprintf(out, sizeof out, "%s-run", dir);
    char *log = NULL;
    int rc = lst_test_run(&log, "init --preset t5-tiny --out %s --seed 0 && %s quantize --model %s "
                          "--dtype int8 --out %s", dir, lst_test_bin(), dir, q);
    CHECK(rc == 0, "init + quantize: rc %d: %s", rc, log);
    free(log);
    log = NULL;
    rc = lst_test_run(&log, "train --model %s --task sst2 --backbone-dtype int8 --init random "
                      "--max-steps 2 --max-train 32 --batch 8 --quiet --out %s", q, out);
    CHECK(rc == 0, "train on the quantized file: rc %d: %s", rc, log);
    free(log);
    char p[800];
    snprintf(p, sizeof p, "%s/run.json", out);
    FILE *f = fopen(p, "r");
    char text[8192] = {0};
    if (f) {
        if (fread(text, 1, sizeof text - 1, f) == 0) text[0] = 0;
        fclose(f);
    }
    CHECK(strstr(text, "\"backbone_dtype\":\t\"int8\"") != NULL, "run.json: %.200s", text);
    log = NULL;
    rc = lst_test_run(&log, "train --model %s --task sst2 --backbone-dtype int8 --init magnitude "
                      "--max-steps 2 --max-train 32 --batch 8 --quiet --out %s-magnitude", q, out);
    CHECK(rc == 0, "magnitude init on the quantized file: rc %d: %s", rc, log);
    free(log);
    log = NULL;
    rc = lst_test_run(&log, "train --model %s --task sst2 --backbone-dtype int8 --max-steps 2 "
                      "--max-train 32 --quiet --out %s-fisher", q, out);
    CHECK(rc == 1 && strstr(log, "original checkpoint") && strstr(log, "Fisher"),
          "Fisher init on the quantized file: rc %d: %s", rc, log);
    free(log);
}

/* Magnitude pruning from a packed backbone (each block unpacked in turn)
 * equals magnitude pruning from the float32 backbone whose linears hold the
 * same dequantized values; Fisher on a packed backbone is refused. */
TEST(magnitude_init_from_a_packed_backbone) {
    const lst_wformat_t fmts[2] = {LST_WF_INT8, LST_WF_Q4};
    lst_err_t err;
    for (int f = 0; f < 2; f++) {
        lst_t5_t q, d;
        if (lst_t5_load_frozen(&q, "tests/data/t5-tiny-gated", 0, fmts[f], &err) ||
            lst_t5_load(&d, "tests/data/t5-tiny-gated", 0, &err)) {
            CHECK(0, "%s", err.msg);
            return;
        }
        /* d: float32, every block linear replaced by its dequantized values
         * (through the format's own pack and unpack, not the code under test) */
        const lst_wformat_traits_t *tr = lst_wformat(fmts[f]);
        for (int j = 0; j < d.n_params; j++) {
            const lst_param_t *p = &d.params[j];
            if (!lst_t5_is_block_linear(p->name)) continue;
            const int M = (int)p->shape[0], K = (int)p->shape[1];
            void *P = malloc(tr->bytes(M, K));
            tr->pack(P, d.flat + p->offset, M, K);
            tr->unpack(d.flat + p->offset, P, M, K);
            free(P);
        }
        const lst_backbone_t bq = test_bb(&q), bd = test_bb(&d);
        lst_side_opts_t so = {0};
        so.mode = LST_SIDE_LADDER;
        so.r = 4;
        so.gate_T = 0.1f;
        so.n_keep[0] = so.n_keep[1] = -1;
        lst_side_t a = {0}, b = {0};
        CHECK(lst_side_create(&a, &bq, &so, &err) == 0 && lst_side_create(&b, &bd, &so, &err) == 0,
              "%s", err.msg);
        CHECK(lst_side_init_prune(&a, &bq, NULL, &err) == 0, "%s: %s", lst_wformat(fmts[f])->name,
              err.msg);
        CHECK(lst_side_init_prune(&b, &bd, NULL, &err) == 0, "%s", err.msg);
        CHECK(a.n_floats == b.n_floats && !memcmp(a.flat, b.flat, sizeof(float) * a.n_floats),
              "%s: magnitude init from the packed backbone differs", lst_wformat(fmts[f])->name);
        float *imp = calloc(d.n_floats, sizeof(float));
        CHECK(lst_side_init_prune(&a, &bq, imp, &err) != 0 && strstr(err.msg, "Fisher"),
              "Fisher on a packed backbone: '%s'", err.msg);
        free(imp);
        lst_side_free(&a);
        lst_side_free(&b);
        lst_t5_free(&q);
        lst_t5_free(&d);
    }
}
