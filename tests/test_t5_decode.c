/* test_t5_decode.c: stepping the decoder one token at a time with the
 * key/value cache gives the logits of the full-sequence forward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/io/batch.h"
#include "../src/model/t5.h"
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
    lst_t5_batch_t b = bf.view;
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
