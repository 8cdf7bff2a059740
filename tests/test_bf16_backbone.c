/* test_bf16_backbone.c: the optional bf16 frozen backbone (LST-SPEC
 * section 9): the LST loss and logits stay close to float32 (bf16 has 8
 * bits of mantissa), the cached generation equals the bf16 forward, the
 * float32 block linears are really gone (smaller parameters, as the plan
 * says), and the float32 default is untouched (the golden tests). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/train/batch_file.h"
#include "../src/model/side.h"
#include "../src/ops/cpu/matmul_bf16.h"
#include "golden_util.h"
#include "bb_util.h"
#include "test.h"

static void bf16_close_to_fp32(const char *model) {
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
    CHECK(lst_side_acts_alloc(&a, &bb, &s, b.B, b.Ts, b.Td, 0, &err) == 0, "%s", err.msg);
    const double l32 = lst_side_forward(&bb, &s, &b, &a, NULL, NULL);
    float *lg32 = malloc(sizeof(float) * n);
    memcpy(lg32, a.logits, sizeof(float) * n);

    const size_t before = m.n_floats * 4;
    CHECK(lst_t5_to_bf16(&m, &err) == 0, "%s", err.msg);
    const size_t after = m.n_floats * 4 + m.packed_bytes;
    CHECK(after < before && m.w.enc[0].q == NULL && m.w.enc[0].pq.data != NULL,
          "%s: %zu bytes before, %zu after", model, before, after);
    CHECK(after == lst_t5_bf16_bytes(&m.cfg, m.vocab), "%s: %zu bytes, the plan says %zu", model,
          after, lst_t5_bf16_bytes(&m.cfg, m.vocab));

    const double l16 = lst_side_forward(&bb, &s, &b, &a, NULL, NULL);
    double worst = 0, maxabs = 1e-6;
    for (size_t i = 0; i < n; i++) {
        if (fabs(a.logits[i] - lg32[i]) > worst) worst = fabs(a.logits[i] - lg32[i]);
        if (fabs(lg32[i]) > maxabs) maxabs = fabs(lg32[i]);
    }
    CHECK(fabs(l16 - l32) < 2e-2 * fabs(l32), "%s: loss %.6f in bf16, %.6f in fp32", model, l16, l32);
    CHECK(worst < 3e-2 * maxabs && worst > 0, "%s: logits differ by %.3g (max %.3g)", model, worst, maxabs);

    /* cached generation with the bf16 backbone equals its forward */
    double gmax;
    const double gw = golden_generation_gap(&m, &s, &b, a.logits, &gmax);
    CHECK(gw <= 1e-4 * maxabs, "%s: bf16 generation differs from the bf16 forward by %.3g", model, gw);
    free(lg32);
    lst_side_acts_free(&a);
    golden_lst_fixture_free(&m, &bf, &s);
}

TEST(bf16_backbone_close_to_fp32_relu) { bf16_close_to_fp32("t5-tiny-relu"); }
TEST(bf16_backbone_close_to_fp32_gated) { bf16_close_to_fp32("t5-tiny-gated"); }

/* Loading straight into bf16 (never holding the float32 block weights)
 * gives exactly the backbone that converting after a float32 load gives. */
TEST(bf16_backbone_direct_load_equals_conversion) {
    lst_err_t err;
    const char *models[2] = {"tests/data/t5-tiny-relu", "tests/data/t5-tiny-gated"};
    for (int k = 0; k < 2; k++) {
        lst_t5_t a, b;
        if (lst_t5_load(&a, models[k], 0, &err) || lst_t5_to_bf16(&a, &err) ||
            lst_t5_load_bf16(&b, models[k], 0, &err)) {
            CHECK(0, "%s", err.msg);
            return;
        }
        CHECK(a.packed_bytes == b.packed_bytes && a.n_floats == b.n_floats &&
                  !memcmp(a.packed, b.packed, a.packed_bytes) &&
                  !memcmp(a.flat, b.flat, 4 * a.n_floats),
              "%s: direct bf16 load differs from conversion", models[k]);
        CHECK(b.w.dec[0].pcq.data && !b.w.dec[0].cq && b.w.enc_rel && b.w.enc[0].ln_sa,
              "%s: pointers after a direct load", models[k]);
        lst_t5_free(&a);
        lst_t5_free(&b);
    }
}
