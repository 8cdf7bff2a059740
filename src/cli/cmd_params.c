/* cmd_params.c: `lst params`: trainable and backbone parameters of a
 * method on a checkpoint or preset, and the share (the paper's Table 1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/t5_config.h"
#include "../model/methods.h"
#include "../model/presets.h"
#include "cli.h"

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
    lst_err_t err = {{0}};
    lst_t5_config_t c;
    const char *model = lst_opt(opts, n, "model");
    if (lst_preset_config(model, &c, &err)) {
        char path[4200];
        snprintf(path, sizeof path, "%s/config.json", model);
        if (lst_t5_config_load(&c, path, &err)) {
            lst_cli_error("params", err.msg);
            return 1;
        }
    }
    lst_method_t m;
    lst_method_default(&m, lst_opt(opts, n, "method"));
    const char *v;
    long x;
#define INT_OPT(name, field, lo, hi)                                              \
    if ((v = lst_opt(opts, n, name))) {                                          \
        if (lst_opt_int("params", name, v, lo, hi, &x)) return 2;                \
        field = (int)x;                                                           \
    }
    INT_OPT("r", m.side.r, 1, 1024);
    INT_OPT("adapter-dim", m.adapter_dim, 1, 1 << 20);
    INT_OPT("lora-rank", m.lora_rank, 1, 1 << 20);
    INT_OPT("prompt-len", m.prompt_len, 1, 1 << 20);
#undef INT_OPT
    if ((v = lst_opt(opts, n, "side-layers"))) {
        if (lst_opt_layers("params", "side-layers", v, LST_MAX_LAYERS, m.side.keep[0], &m.side.n_keep[0]))
            return 2;
        m.side.n_keep[1] = m.side.n_keep[0];
        memcpy(m.side.keep[1], m.side.keep[0], sizeof m.side.keep[0]);
    }
    const int vocab = lst_opt(opts, n, "full-vocab") || c.vocab_size < 32100 ? c.vocab_size : 32100;
    int64_t trainable, total;
    if (lst_method_params(&m, &c, vocab, &trainable, &total, &err)) {
        lst_cli_error("params", err.msg);
        return strstr(err.msg, "unknown method") ? 2 : 1;
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
