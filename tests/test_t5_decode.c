/* test_t5_decode.c: stepping the decoder one token at a time with the
 * key/value cache gives the logits of the full-sequence forward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/train/batch_file.h"
#include "../src/model/t5/t5.h"
#include "test.h"

static void decode_matches_full(const char *model) {
    char dir[256], bpath[256];
    snprintf(dir, sizeof dir, "tests/data/%s", model);
    snprintf(bpath, sizeof bpath, "tests/data/%s/batch.safetensors", model);
    lst_err_t err;
    lst_t5_t m;
    lst_batch_file_t bf;
    if (lst_t5_load(&m, dir, 0, &err)) { CHECK(0, "%s", err.msg); return; }
    if (lst_batch_load(&bf, bpath, 0, &err)) { CHECK(0, "%s", err.msg); lst_t5_free(&m); return; }
    /* Full forward with causal masking only, as generation sees it. */
    lst_batch_t b = bf.view;
    b.dec_mask = NULL;
    lst_t5_acts_t a;
    CHECK(lst_t5_acts_alloc(&a, &m, b.B, b.Ts, b.Td, 0, &err) == 0, "%s", err.msg);
    lst_t5_forward(&m, &b, &a, NULL);

    lst_t5_cache_t c;
    CHECK(lst_t5_cache_init(&c, &m, a.enc_out, b.src_mask, b.B, b.Ts, b.Td, &err) == 0, "%s", err.msg);
    float *logits = malloc(sizeof(float) * b.B * m.vocab);
    int32_t *ids = malloc(sizeof(int32_t) * b.B);
    double worst = 0, maxabs = 1;
    for (int t = 0; t < b.Td; t++) {
        for (int r = 0; r < b.B; r++) ids[r] = b.dec_ids[r * b.Td + t];
        CHECK(lst_t5_decode_step(&m, &c, ids, logits, &err) == 0, "%s", err.msg);
        for (int r = 0; r < b.B; r++)
            for (int v = 0; v < m.vocab; v++) {
                float ref = a.logits[((size_t)r * b.Td + t) * m.vocab + v];
                double e = fabs((double)logits[(size_t)r * m.vocab + v] - ref);
                if (e > worst) worst = e;
                if (fabs(ref) > maxabs) maxabs = fabs(ref);
            }
    }
    CHECK(worst <= 1e-5 * maxabs, "%s: stepwise logits differ by %g (max |logit| %g)", model, worst, maxabs);
    /* The cache refuses a step beyond its length. */
    CHECK(lst_t5_decode_step(&m, &c, ids, logits, &err) != 0 && strstr(err.msg, "full"),
          "overfull cache not refused");
    free(logits);
    free(ids);
    lst_t5_cache_free(&c);
    lst_t5_acts_free(&a);
    lst_batch_free(&bf);
    lst_t5_free(&m);
}

TEST(t5_decode_relu_equals_full) { decode_matches_full("t5-tiny-relu"); }
TEST(t5_decode_gated_equals_full) { decode_matches_full("t5-tiny-gated"); }

/* The cache holds exactly what lst_dec_cache_bytes (the evaluation's memory
 * plan) says, at its peak: folded throughout (a short generation), and past
 * the folded steps, where the keys and values are projected; float32 and
 * bf16 backbones. */
static void cache_bytes_as_planned(const char *model) {
    char dir[256], bpath[256];
    snprintf(dir, sizeof dir, "tests/data/%s", model);
    snprintf(bpath, sizeof bpath, "tests/data/%s/batch.safetensors", model);
    lst_err_t err;
    lst_batch_file_t bf;
    if (lst_batch_load(&bf, bpath, 0, &err)) { CHECK(0, "%s", err.msg); return; }
    const lst_batch_t b = bf.view;
    for (int bf16 = 0; bf16 < 2; bf16++) {
        lst_t5_t m;
        if (lst_t5_load(&m, dir, 0, &err) || (bf16 && lst_t5_to_bf16(&m, &err))) {
            CHECK(0, "%s", err.msg);
            continue;
        }
        const int L = m.cfg.num_decoder_layers;
        const lst_t5_block_t *blocks[64];
        for (int l = 0; l < L; l++) blocks[l] = &m.w.dec[l];
        lst_t5_acts_t a;
        CHECK(lst_t5_acts_alloc(&a, &m, b.B, b.Ts, 1, 0, &err) == 0, "%s", err.msg);
        lst_t5_encode(&m, &b, &a, NULL);
        float *logits = malloc(sizeof(float) * b.B * m.vocab);
        int32_t *ids = calloc(b.B, sizeof(int32_t));
        static const int lens[] = {3, 400};
        for (int k = 0; k < 2; k++) {
            lst_t5_cache_t c;
            CHECK(lst_t5_cache_init(&c, &m, a.enc_out, b.src_mask, b.B, b.Ts, lens[k], &err) == 0,
                  "%s", err.msg);
            if (k) CHECK(c.fold_until > 0 && c.fold_until < lens[k], "%s: %d of %d steps folded",
                         model, c.fold_until, lens[k]);
            for (int t = 0; t < lens[k]; t++) lst_t5_decode_step(&m, &c, ids, logits, &err);
            const size_t want = lst_dec_cache_bytes(&m.cfg, blocks, L, b.B, b.Ts, lens[k],
                                                    bf16 ? LST_WF_BF16 : LST_WF_F32);
            CHECK(c.bytes == want && (!k || c.cross_k), "%s bf16=%d, %d steps: %zu bytes, planned %zu",
                  model, bf16, lens[k], c.bytes, want);
            lst_t5_cache_free(&c);
        }
        free(logits);
        free(ids);
        lst_t5_acts_free(&a);
        lst_t5_free(&m);
    }
    lst_batch_free(&bf);
}

TEST(t5_decode_cache_bytes_as_planned) {
    cache_bytes_as_planned("t5-tiny-relu");
    cache_bytes_as_planned("t5-tiny-gated");
}
