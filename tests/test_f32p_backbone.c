/* test_f32p_backbone.c: the frozen backbone packed in float32 for its
 * forward (lst_t5_pack_f32, the default for the side methods on AVX-512
 * CPUs): the LST loss, logits and every side gradient equal the unpacked
 * backbone's up to float32 summation order, with dropout too; the cached
 * generation equals the packed forward; the packed linears leave the
 * parameter table in place (same bytes), the cross-attention key and value
 * stay float32; elsewhere packing is a no-op. The golden LST tests (through
 * `lst dump`) run the packed backbone against PyTorch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/train/batch_file.h"
#include "../src/model/side.h"
#include "../src/ops/cpu/matmul_f32p.h"
#include "golden_util.h"
#include "bb_util.h"
#include "test.h"

/* max |a - b| / max(1e-6, max |b|) */
static double rel_diff(const float *a, const float *b, size_t n) {
    double worst = 0, scale = 1e-6;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]);
        if (!(d <= worst)) worst = d; /* NaN -> NaN */
        if (fabs(b[i]) > scale) scale = fabs(b[i]);
    }
    return worst / scale;
}

static int has_param(const lst_t5_t *m, const char *name) {
    for (int i = 0; i < m->n_params; i++)
        if (!strcmp(m->params[i].name, name)) return 1;
    return 0;
}

static void packed_equals_unpacked(const char *model) {
    lst_err_t err;
    lst_t5_t m;
    lst_batch_file_t bf;
    lst_side_t s;
    if (golden_lst_fixture(model, &m, &bf, &s)) return;
    const lst_backbone_t bb = test_bb(&m);
    lst_batch_t b = bf.view;
    b.dec_mask = NULL;
    const size_t V = m.vocab, n = (size_t)b.B * b.Td * V;
    const lst_drop_t bd = {0.1f, 5, 3}, sd = {0.1f, 5, 4};

    lst_side_acts_t a, ev;
    CHECK(lst_side_acts_alloc(&a, &bb, &s, b.B, b.Ts, b.Td, 1, &err) == 0, "%s", err.msg);
    CHECK(lst_side_acts_alloc(&ev, &bb, &s, b.B, b.Ts, b.Td, 0, &err) == 0, "%s", err.msg);
    float *g0 = calloc(s.n_floats, sizeof(float)), *g1 = calloc(s.n_floats, sizeof(float));
    float *lg0 = malloc(sizeof(float) * n);
    const double e0 = lst_side_forward(&bb, &s, &b, &ev, NULL, NULL);
    memcpy(lg0, ev.logits, sizeof(float) * n);
    const double l0 = lst_side_forward(&bb, &s, &b, &a, &bd, &sd);
    CHECK(lst_side_backward(&bb, &s, &b, &a, &sd, g0, &err) == 0, "%s", err.msg);

    const size_t floats = m.n_floats;
    const int params = m.n_params;
    CHECK(lst_t5_pack_f32(&m, &err) == 0, "%s", err.msg);
    CHECK(m.n_floats == floats, "%s: packing in place changed the parameter bytes", model);
    if (!lst_f32p_native()) {
        CHECK(m.fmt == LST_WF_F32 && m.w.enc[0].q && !m.w.enc[0].pq.data && m.n_params == params,
              "%s: without AVX-512 packing must leave the backbone alone", model);
    } else {
        const lst_t5_block_t *d0 = &m.w.dec[0];
        CHECK(m.fmt == LST_WF_F32P && !m.w.enc[0].q && m.w.enc[0].pq.data && m.w.enc[0].pq.fmt == LST_WF_F32P &&
                  !d0->wo && d0->pwo.data && d0->ck && d0->cv && !d0->pck.data,
              "%s: block linears packed, cross-attention key and value float32", model);
        CHECK(!has_param(&m, "encoder.block.0.layer.0.SelfAttention.q.weight") &&
                  has_param(&m, "decoder.block.0.layer.1.EncDecAttention.k.weight") &&
                  has_param(&m, "shared.weight") && m.n_trainable == 0,
              "%s: the parameter table after packing", model);
    }
    CHECK(lst_t5_pack_f32(&m, &err) == 0 && m.n_params <= params, "%s: packing twice", model);

    const double e1 = lst_side_forward(&bb, &s, &b, &ev, NULL, NULL);
    const double l1 = lst_side_forward(&bb, &s, &b, &a, &bd, &sd);
    CHECK(lst_side_backward(&bb, &s, &b, &a, &sd, g1, &err) == 0, "%s", err.msg);
    /* the same products summed in another order: float32 rounding only */
    CHECK(fabs(e1 - e0) <= 1e-5 * fabs(e0) && fabs(l1 - l0) <= 1e-5 * fabs(l0),
          "%s: loss %.7f / %.7f packed, %.7f / %.7f not", model, e1, l1, e0, l0);
    const double dl = rel_diff(ev.logits, lg0, n), dg = rel_diff(g1, g0, s.n_floats);
    CHECK(dl <= 1e-5 && dg <= 1e-4, "%s: logits differ by %.3g, gradients by %.3g (relative)",
          model, dl, dg);

    /* cached generation, teacher-forced, equals the packed forward */
    double gmax;
    const double dgen = golden_generation_gap(&m, &s, &b, ev.logits, &gmax);
    CHECK(dgen <= 1e-5 * fmax(1e-6, gmax), "%s: packed generation differs from the packed forward by %.3g",
          model, dgen);
    free(g0); free(g1); free(lg0);
    lst_side_acts_free(&a);
    lst_side_acts_free(&ev);
    golden_lst_fixture_free(&m, &bf, &s);
}

TEST(f32p_backbone_equals_unpacked_relu) { packed_equals_unpacked("t5-tiny-relu"); }
TEST(f32p_backbone_equals_unpacked_gated) { packed_equals_unpacked("t5-tiny-gated"); }

/* A bf16 conversion after float32 packing would read panels as Hugging
 * Face tensors: refused with a message. */
TEST(f32p_then_bf16_refused) {
    if (!lst_f32p_native()) return; /* packing is a no-op there: nothing to refuse */
    lst_err_t err;
    lst_t5_t m;
    lst_batch_file_t bf;
    lst_side_t s;
    if (golden_lst_fixture("t5-tiny-relu", &m, &bf, &s)) return;
    CHECK(lst_t5_pack_f32(&m, &err) == 0, "%s", err.msg);
    CHECK(lst_t5_to_bf16(&m, &err) != 0 && strstr(err.msg, "already packed"), "bf16 after f32: %s",
          err.msg);
    golden_lst_fixture_free(&m, &bf, &s);
}
