/* test_t5_grad.c: the full T5 backward (what full fine-tuning and the
 * Fisher pass use) against finite differences, with dropout on, so every
 * regenerated mask (embedding, attention, FFN, sub-layer outputs, final
 * norm) is exercised in both stacks. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/train/batch_file.h"
#include "../src/model/t5/t5.h"
#include "test.h"

static void t5_fd(const char *model) {
    char dir[256], bpath[300];
    snprintf(dir, sizeof dir, "tests/data/%s", model);
    snprintf(bpath, sizeof bpath, "%s/batch.safetensors", dir);
    lst_err_t err;
    lst_t5_t m;
    lst_batch_file_t bf;
    if (lst_t5_load(&m, dir, 0, &err) || lst_batch_load(&bf, bpath, 0, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    lst_t5_acts_t a;
    CHECK(lst_t5_acts_alloc(&a, &m, bf.view.B, bf.view.Ts, bf.view.Td, 1, &err) == 0, "%s", err.msg);
    lst_drop_t d = {0.1f, 77, 5};
    float *g = calloc(m.n_floats, sizeof(float));
    lst_t5_forward(&m, &bf.view, &a, &d);
    CHECK(lst_t5_backward(&m, &bf.view, &a, &d, g, &err) == 0, "%s", err.msg);
    int checked = 0;
    for (int i = 0; i < m.n_params; i++) {
        const lst_param_t *p = &m.params[i];
        /* a spread of tensors: every 3rd, plus the embedding and final norms */
        if (i % 3 && !strstr(p->name, "shared") && !strstr(p->name, "final")) continue;
        size_t j = 0;
        for (size_t q = 1; q < p->numel; q++)
            if (fabsf(g[p->offset + q]) > fabsf(g[p->offset + j])) j = q;
        float *x = m.flat + p->offset;
        const float keep = x[j];
        const double e = 2e-3, st[4] = {e, -e, 2 * e, -2 * e};
        double l[4];
        for (int t = 0; t < 4; t++) {
            x[j] = keep + (float)st[t];
            l[t] = lst_t5_forward(&m, &bf.view, &a, &d);
        }
        x[j] = keep;
        double fd = (8 * (l[0] - l[1]) - (l[2] - l[3])) / (12 * e), an = g[p->offset + j];
        CHECK(fabs(fd - an) <= 2e-2 * fabs(fd) + 5e-4, "%s[%zu]: analytic %.6g, numeric %.6g",
              p->name, j, an, fd);
        checked++;
    }
    CHECK(checked > 10, "only %d tensors checked", checked);
    free(g);
    lst_t5_acts_free(&a);
    lst_batch_free(&bf);
    lst_t5_free(&m);
}

TEST(t5_backward_dropout_finite_difference_relu) { t5_fd("t5-tiny-relu"); }
TEST(t5_backward_dropout_finite_difference_gated) { t5_fd("t5-tiny-gated"); }
