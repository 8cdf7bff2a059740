/* test_side_decode.c: LST greedy generation steps the backbone and side
 * decoders with their caches; fed the golden decoder inputs it must give
 * the logits of the full LST forward, and its greedy output must be the
 * argmax of those logits when fed its own tokens. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/train/batch_file.h"
#include "../src/model/side.h"
#include "golden_util.h"
#include "bb_util.h"
#include "test.h"

static void stepwise_equals_full(const char *model) {
    lst_err_t err;
    lst_t5_t m;
    lst_batch_file_t bf;
    lst_side_t s;
    if (golden_lst_fixture(model, &m, &bf, &s)) return;
    const lst_backbone_t bb = test_bb(&m);

    lst_batch_t b = bf.view;
    b.dec_mask = NULL; /* generation sees causal masking only */
    lst_side_acts_t a;
    CHECK(lst_side_acts_alloc(&a, &bb, &s, b.B, b.Ts, b.Td, 0, &err) == 0, "%s", err.msg);
    lst_side_forward(&bb, &s, &b, &a, NULL, NULL);

    double maxabs;
    const double worst = golden_generation_gap(&m, &s, &b, a.logits, &maxabs);
    CHECK(worst <= 1e-5 * fmax(1, maxabs), "%s: stepwise LST logits differ by %g", model, worst);

    /* free-running greedy: token 0 is the argmax of the first step */
    int32_t *out = calloc((size_t)b.B * 4, sizeof(int32_t));
    int *len = calloc(b.B, sizeof(int));
    CHECK(lst_side_generate(&bb, &s, &b, 4, out, len, NULL, NULL, &err) == 0, "%s", err.msg);
    for (int r = 0; r < b.B; r++) {
        const float *row = a.logits + (size_t)r * b.Td * m.vocab;
        int best = 0;
        for (int v = 1; v < m.vocab; v++)
            if (row[v] > row[best]) best = v;
        CHECK(out[r * 4] == best, "row %d: first generated %d, argmax %d", r, out[r * 4], best);
        CHECK(len[r] >= 0 && len[r] <= 4, "length %d", len[r]);
    }
    free(out);
    free(len);
    lst_side_acts_free(&a);
    golden_lst_fixture_free(&m, &bf, &s);
}

TEST(lst_generate_relu_equals_full) { stepwise_equals_full("t5-tiny-relu"); }
TEST(lst_generate_gated_equals_full) { stepwise_equals_full("t5-tiny-gated"); }
