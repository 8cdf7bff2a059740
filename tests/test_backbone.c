/* test_backbone.c: the side network through the backbone interface on a
 * backbone deeper than the 64 layers that were once a fixed limit
 * (LST_MAX_LAYERS): creation, forward, backward (one gate's gradient
 * against a central difference), generation, and the memory plan equal to
 * the one allocation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/rng.h"
#include "../src/model/side.h"
#include "bb_util.h"
#include "test.h"

enum { DEEP = 70, B = 2, TS = 5, TD = 3 };

/* A random T5 of DEEP layers per stack and tiny widths. */
static int deep_t5(lst_t5_t *m) {
    lst_t5_config_t c;
    lst_t5_config_default(&c);
    c.vocab_size = 32;
    c.d_model = 8;
    c.d_ff = 16;
    c.d_kv = 4;
    c.num_heads = 2;
    c.num_layers = c.num_decoder_layers = DEEP;
    lst_err_t err;
    if (lst_t5_create(m, &c, c.vocab_size, &err)) {
        CHECK(0, "%s", err.msg);
        return -1;
    }
    lst_rng_t r;
    lst_rng_seed(&r, 21);
    for (int i = 0; i < m->n_params; i++) {
        float *x = m->flat + m->params[i].offset;
        const int norm = strstr(m->params[i].name, "layer_norm") != NULL;
        for (size_t j = 0; j < m->params[i].numel; j++)
            x[j] = norm ? 1.0f : (float)(0.3 * lst_rng_normal(&r));
    }
    return 0;
}

static int index_of(const lst_side_t *s, const char *name) {
    for (int i = 0; i < s->n_params; i++)
        if (!strcmp(s->params[i].name, name)) return i;
    return -1;
}

TEST(side_network_past_64_layers) {
    lst_t5_t m;
    if (deep_t5(&m)) return;
    const lst_backbone_t bb = test_bb(&m);
    CHECK(bb.L[0] == DEEP && bb.L[1] == DEEP, "the interface says %d + %d layers", bb.L[0], bb.L[1]);
    lst_side_opts_t o;
    lst_side_opts_default(&o);
    o.r = 2;
    lst_side_t s;
    lst_err_t err;
    if (lst_side_create(&s, &bb, &o, &err)) {
        CHECK(0, "%d layers: %s", DEEP, err.msg);
        lst_t5_free(&m);
        return;
    }
    CHECK(s.opts.n_keep[0] == DEEP && s.opts.n_keep[1] == DEEP && s.opts.keep[1][DEEP - 1] == DEEP - 1,
          "every layer kept: %d + %d", s.opts.n_keep[0], s.opts.n_keep[1]);
    lst_side_init_random(&s, 4);
    for (int st = 0; st < 2; st++) /* gates away from 0, so that both paths count */
        for (int i = 0; i < DEEP; i++) s.w.st[st].gate[i][0] = 0.05f * (float)((i % 5) - 2);

    int32_t ids[B * TS], dec[B * TD], lab[B * TD];
    uint8_t mask[B * TS];
    for (int i = 0; i < B * TS; i++) {
        ids[i] = 2 + (i * 7) % 30;
        mask[i] = i % TS < TS - (i / TS); /* the second row padded by one */
    }
    for (int i = 0; i < B * TD; i++) {
        lab[i] = 2 + (i * 5) % 30;
        dec[i] = i % TD ? lab[i - 1] : 0;
    }
    const lst_batch_t bt = {B, TS, TD, ids, mask, dec, NULL, lab};

    lst_side_acts_t a;
    CHECK(lst_side_acts_alloc(&a, &bb, &s, B, TS, TD, 1, &err) == 0, "%s", err.msg);
    CHECK(a.arena_floats == lst_side_acts_floats(&bb, &s, B, TS, TD, 1),
          "allocated %zu floats, planned %zu", a.arena_floats,
          lst_side_acts_floats(&bb, &s, B, TS, TD, 1));
    float *g = calloc(s.n_floats, sizeof(float));
    const double loss = lst_side_forward(&bb, &s, &bt, &a, NULL, NULL);
    CHECK(isfinite(loss) && loss > 0, "loss %g", loss);
    CHECK(lst_side_backward(&bb, &s, &bt, &a, NULL, g, &err) == 0, "%s", err.msg);
    int finite = 1;
    for (size_t j = 0; j < s.n_floats; j++) finite &= isfinite(g[j]) != 0;
    CHECK(finite, "a non-finite gradient");

    /* the gate of encoder layer 68 (past the old limit): analytic vs central difference */
    const int gi = index_of(&s, "side_encoder.gates.68");
    CHECK(gi >= 0, "no side_encoder.gates.68");
    if (gi >= 0) {
        float *alpha = s.flat + s.params[gi].offset;
        const double an = g[s.params[gi].offset], h = 1e-2, a0 = alpha[0];
        alpha[0] = (float)(a0 + h);
        const double lp = lst_side_forward(&bb, &s, &bt, &a, NULL, NULL);
        alpha[0] = (float)(a0 - h);
        const double lm = lst_side_forward(&bb, &s, &bt, &a, NULL, NULL);
        alpha[0] = (float)a0;
        const double fd = (lp - lm) / (2 * h);
        CHECK(an != 0 && fabs(an - fd) <= 5e-2 * fabs(fd) + 1e-5,
              "d(loss)/d(gates.68): analytic %.6g, central difference %.6g", an, fd);
    }

    /* generation steps every one of the 70 backbone and side decoder layers */
    int32_t out[B * 4];
    int len[B];
    CHECK(lst_side_generate(&bb, &s, &bt, 4, out, len, NULL, NULL, &err) == 0, "%s", err.msg);
    for (int b = 0; b < B; b++) CHECK(len[b] >= 0 && len[b] <= 4, "row %d: length %d", b, len[b]);
    free(g);
    lst_side_acts_free(&a);
    lst_side_free(&s);
    lst_t5_free(&m);
}
