/* cmd_params.c: `lst params`: trainable and backbone parameters of a
 * method on a checkpoint or preset, and the share (the paper's Table 1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/model_pair.h"
#include "../io/t5_config.h"
#include "../model/methods.h"
#include "../model/methods.h"
#include "../model/t5/presets.h"
#include "cli.h"

/* DIR/config.json, checked against DIR/model.safetensors when that is
 * there: a pair that lst init left half replaced is refused here too. */
static int load_config(const char *dir, lst_t5_config_t *c, lst_err_t *err) {
    char path[4200];
    if (snprintf(path, sizeof path, "%s/config.json", dir) >= (int)sizeof path)
        return lst_fail(err, "%s: path too long", dir);
    if (lst_t5_config_load(c, path, err)) return -1;
    return lst_model_pair_check_dir(dir, c, err);
}

int lst_cmd_params(int argc, char **argv) {
    lst_opt_t opts[] = {
        {"model", 0, 1, "checkpoint directory (config.json) or preset name", NULL},
        {"method", 0, 1, "full, lst, adapters, lora, bitfit or prompt", NULL},
        {"r", 0, 0, "lst: reduction factor (default 8)", NULL},
        {"side-layers", 0, 0, "lst: kept layers of both stacks (default all)", NULL},
        {"adapter-dim", 0, 0, "adapters: hidden size (default d_model/16)", NULL},
        {"lora-rank", 0, 0, "lora: rank (default 32)", NULL},
        {"prompt-len", 0, 0, "prompt: vectors (default 100)", NULL},
        {"full-vocab", 1, 0, "count the checkpoint's whole vocabulary (default: 32100 rows)", NULL},
        {"json", 1, 0, "one object {\"trainable\":N,\"total\":N,\"percent\":P}", NULL},
    };
    const int n = sizeof opts / sizeof opts[0];
    int rc = lst_args_parse("params", "--model DIR|PRESET --method M [method options] [--json]",
                            opts, n, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    /* every option before the model is read: a bad option is exit 2 */
    const char *v = lst_opt(opts, n, "method");
    if (lst_opt_method_known("params", "method", v)) return 2;
    lst_method_t m;
    lst_method_default(&m, v);
#define INT_OPT(name, field, lo, hi)                                                      \
    if ((v = lst_opt(opts, n, name)) && LST_OPT_INT("params", name, v, lo, hi, &field)) \
        return 2;
    INT_OPT("r", m.side.r, 1, 1024);
    INT_OPT("adapter-dim", m.adapter_dim, 1, 1 << 20);
    INT_OPT("lora-rank", m.lora_rank, 1, 1 << 20);
    INT_OPT("prompt-len", m.prompt_len, 1, 1 << 20);
#undef INT_OPT
    lst_err_t err = {{0}};
    lst_t5_config_t c;
    const char *model = lst_opt(opts, n, "model");
    if (lst_preset_config(model, &c, &err) && load_config(model, &c, &err)) {
        lst_cli_error("params", err.msg);
        return 1;
    }
    if ((v = lst_opt(opts, n, "side-layers"))) {
        const int depth[2] = {c.num_layers, c.num_decoder_layers};
        for (int st = 0; st < 2; st++)
            if (lst_opt_layers("params", "side-layers", v, depth[st], &m.side, st)) {
                lst_side_opts_free(&m.side);
                return 2;
            }
    }
    const int vocab = lst_opt(opts, n, "full-vocab") || c.vocab_size < 32100 ? c.vocab_size : 32100;
    int64_t trainable, total;
    const int prc = lst_method_params(&m, &c, vocab, &trainable, &total, &err);
    lst_side_opts_free(&m.side); /* the --side-layers lists */
    if (prc) {
        lst_cli_error("params", err.msg);
        return 1;
    }
    const double pct = 100.0 * (double)trainable / (double)total;
    if (lst_opt(opts, n, "json"))
        printf("{\"trainable\":%lld,\"total\":%lld,\"percent\":%.4f}\n", (long long)trainable,
               (long long)total, pct);
    else
        printf("%s: %lld trainable of %lld backbone parameters (%.2f%%), vocabulary %d rows\n", m.name,
               (long long)trainable, (long long)total, pct, vocab);
    return 0;
}
