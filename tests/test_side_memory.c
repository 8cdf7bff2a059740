/* test_side_memory.c: the LST step's planned memory (one allocation, made
 * before the first step) does not grow with backbone depth: only one tap
 * per KEPT layer (plus that layer's side block) is kept. */
#include <string.h>

#include "../src/model/side.h"
#include "bb_util.h"
#include "test.h"

static lst_t5_config_t side_cfg;

static size_t plan(int layers, const int *keep, int n_keep, int backward) {
    lst_t5_config_t c;
    lst_t5_config_default(&c);
    c.vocab_size = 64;
    c.d_model = 32;
    c.d_kv = 8;
    c.num_heads = 4;
    c.d_ff = 64;
    c.num_layers = c.num_decoder_layers = layers;
    lst_err_t err;
    lst_t5_t m;
    if (lst_t5_create(&m, &c, 64, &err)) {
        CHECK(0, "%s", err.msg);
        return 0;
    }
    lst_side_opts_t o;
    lst_side_opts_default(&o);
    o.r = 4;
    for (int st = 0; st < 2; st++) {
        o.n_keep[st] = n_keep;
        o.keep[st] = (int *)keep; /* a view: only read */
    }
    const lst_backbone_t bb = test_bb(&m);
    lst_side_t s;
    size_t n = 0;
    if (lst_side_create(&s, &bb, &o, &err) == 0) {
        n = lst_side_acts_floats(&bb, &s, 8, 32, 4, backward);
        side_cfg = s.cfg;
        lst_side_free(&s);
    } else {
        CHECK(0, "%s", err.msg);
    }
    lst_t5_free(&m);
    return n;
}

TEST(lst_memory_independent_of_depth) {
    const int k2[] = {1, 3}, k3[] = {1, 3, 5};
    for (int bw = 0; bw < 2; bw++) {
        size_t shallow = plan(6, k2, 2, bw), deep = plan(24, k2, 2, bw);
        CHECK(shallow > 0 && shallow == deep,
              "same kept layers, 6 vs 24 backbone layers: %zu vs %zu floats", shallow, deep);
        /* one more kept layer adds the same amount at any depth: a tap of
         * [B, T, d] per stack plus that side layer's activations */
        size_t a = plan(6, k3, 3, bw) - shallow, b = plan(24, k3, 3, bw) - deep;
        if (!bw) { /* a forward alone keeps one layer's buffers (two side outputs) */
            CHECK(a == 0 && b == 0, "forward only: a third kept layer costs %zu / %zu floats", a, b);
            continue;
        }
        CHECK(a == b && a > 0, "a kept layer costs %zu vs %zu floats", a, b);
        /* exactly: per stack the tap [B, T, d], the ladder/mix/output
         * [B, T, ds] x 3, and the side block's saved activations */
        lst_carve_t c = {0};
        lst_t5_block_acts_t blk;
        lst_carve(&c, 8 * 32 * 32);
        lst_carve(&c, 8 * 4 * 32);
        for (int k = 0; k < 3; k++) {
            lst_carve(&c, 8 * 32 * 8);
            lst_carve(&c, 8 * 4 * 8);
        }
        lst_t5_block_acts_carve(&c, &blk, &side_cfg, 8, 32, 32, 0);
        lst_t5_block_acts_carve(&c, &blk, &side_cfg, 8, 4, 32, 1);
        CHECK(a == c.used, "a kept layer costs %zu floats, expected %zu (tap + side layer)", a, c.used);
    }
}
