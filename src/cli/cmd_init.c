/* cmd_init.c: `lst init`, a randomly initialised HF-format T5 checkpoint.
 *
 *   lst init --preset NAME --out DIR [--seed N] [--gated]
 *
 * Lets the whole pipeline (loading, training, benchmarks) run without
 * downloaded weights. --gated switches to the v1.1 layout (gated-gelu FFN,
 * untied lm_head) on the same shapes, to exercise that code path. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "../model/t5/presets.h"
#include "cli.h"

int lst_cmd_init(int argc, char **argv) {
    lst_opt_t opts[] = {
        {"preset", 0, 1, "one of: " LST_PRESET_NAMES, NULL},
        {"out", 0, 1, "output directory (created if missing)", NULL},
        {"seed", 0, 0, "random seed, a non-negative integer (default 0)", NULL},
        {"gated", 1, 0, "v1.1-style gated-gelu FFN with an untied lm_head", NULL},
    };
    const int n = (int)(sizeof opts / sizeof opts[0]);
    int rc = lst_args_parse("init", "--preset NAME --out DIR [--seed N] [--gated]", opts,
                            n, argc, argv);
    if (rc == 1) return 0;
    if (rc != 0) return 2;

    const char *preset = lst_opt(opts, n, "preset");
    const char *out = lst_opt(opts, n, "out");
    const char *seed_s = lst_opt(opts, n, "seed");
    const int gated = lst_opt(opts, n, "gated") != NULL;
    uint64_t seed = 0;
    if (seed_s && lst_opt_u64("init", "seed", seed_s, 0, INT64_MAX, &seed) != 0) return 2;

    lst_err_t err;
    lst_t5_config_t c;
    if (lst_preset_config(preset, &c, &err) != 0) {
        lst_cli_error("init", err.msg);
        return 2;
    }
    if (gated) {
        c.act = LST_ACT_GELU_NEW;
        c.gated = 1;
        c.tie_word_embeddings = 0;
    }
    if (lst_preset_write_random(&c, out, seed, &err) != 0) {
        lst_cli_error("init", err.msg);
        return 1;
    }
    printf("wrote %s/model.safetensors and %s/config.json: %s%s, seed %llu, %lld parameters\n",
           out, out, preset, gated ? " (gated-gelu, untied)" : "", (unsigned long long)seed,
           (long long)lst_preset_param_count(&c));
    return 0;
}
