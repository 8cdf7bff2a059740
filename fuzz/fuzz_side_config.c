/* fuzz_side_config.c: lst_side_config_load on arbitrary bytes against a
 * small backbone whose layer counts come from the first two input bytes (up
 * to 75, past the 64 layers that were once a limit), then lst_side_create
 * with the parsed options.
 *
 * Accepted side configs must hold in-range values; the side network either
 * builds (and then has non-zero widths) or is refused with a message. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/train/side_config.h"
#include "../src/model/side.h"
#include "../src/model/t5/t5_backbone.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fz_quiet(0);
    return 0;
}

/* 1..16 layers, and 60..75 from the top 16 byte values: past 64 layers
 * now and then, not always (64 side blocks at r = 1 are slow to build). */
static int layers(uint8_t b) { return b >= 240 ? 60 + (b - 240) : 1 + b % 16; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    lst_t5_config_t cfg;
    lst_t5_config_default(&cfg);
    cfg.vocab_size = 512;
    cfg.d_model = 64;
    cfg.d_ff = 192;
    cfg.d_kv = 16;
    cfg.num_heads = 4;
    cfg.num_layers = layers(data[0]);
    cfg.num_decoder_layers = layers(data[1]);
    lst_backbone_t bb; /* shapes only: the side network needs no backbone weights */
    lst_err_t err = {{0}};
    FZ_CHECK(lst_t5_backbone_shape(&bb, &cfg, cfg.vocab_size, NULL, 0, &err) == 0, "%s", err.msg);
    const char *path = fz_path("side.json");
    fz_write(path, data + 2, size - 2);
    lst_side_config_t c;
    if (lst_side_config_load(&c, &bb, path, &err) != 0) {
        FZ_CHECK_MSG(err);
        FZ_CHECK(strstr(err.msg, path), "message does not name the file: %s", err.msg);
        lst_bb_free(&bb);
        return 0;
    }
    FZ_CHECK(c.opts.r >= 1, "r %d", c.opts.r);
    FZ_CHECK(c.opts.gate_T > 0 && isfinite(c.opts.gate_T), "T %g", c.opts.gate_T);
    FZ_CHECK(c.steps >= 0, "steps %d", c.steps);
    FZ_CHECK(isfinite(c.gate_init), "gate_init");
    for (int s = 0; s < 2; s++) {
        int L = bb.L[s];
        FZ_CHECK(c.opts.n_keep[s] >= -1 && c.opts.n_keep[s] <= L, "n_keep %d", /* -1: all */
                 c.opts.n_keep[s]);
        for (int k = 0; k < c.opts.n_keep[s]; k++)
            FZ_CHECK(c.opts.keep[s][k] >= 0 && c.opts.keep[s][k] < L, "kept layer %d of %d",
                     c.opts.keep[s][k], L);
    }
    lst_side_t side;
    if (lst_side_create(&side, &bb, &c.opts, &err) == 0) {
        FZ_CHECK(side.cfg.d_model >= 1 && side.cfg.d_ff >= 1 && side.cfg.d_kv >= 1, "no width");
        FZ_CHECK(side.n_floats > 0 && side.flat, "no parameters");
        lst_side_free(&side);
    } else {
        FZ_CHECK_MSG(err);
    }
    lst_side_config_free(&c);
    lst_bb_free(&bb);
    return 0;
}
