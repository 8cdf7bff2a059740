/* bench_opts.c: the options `lst plan` and `lst bench` share (the model or
 * preset, the method and its sizes, the batch shape), parsed into
 * lst_bench_opts_t with every check made before anything is read. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/methods.h"
#include "../train/bench.h"
#include "../train/trainer.h"
#include "cli.h"

/* lst plan's tap-cache options (--task and what it reads). */
static int parse_task(const char *cmd, const lst_opt_t *opts, int n, int with_steps,
                      struct lst_bench_opts *o) {
    const char *task = lst_opt(opts, n, "task"), *data = lst_opt(opts, n, "data");
    const char *spm = lst_opt(opts, n, "spm"), *msl = lst_opt(opts, n, "max-source-length");
    const char *dt = lst_opt(opts, n, "tap-cache-dtype");
    if (!task && (data || spm || msl || dt)) {
        fprintf(stderr, "lst %s: --data, --spm, --max-source-length and --tap-cache-dtype need --task\n", cmd);
        return 2;
    }
    if (!task) return 0;
    if (with_steps || strcmp(o->method.name, "lst")) {
        fprintf(stderr, "lst %s: --task (the tap cache's size) applies to lst plan --method lst\n", cmd);
        return 2;
    }
    if (lst_opt_task(cmd, task)) return 2;
    if (!strcmp(task, "custom")) {
        fprintf(stderr, "lst %s: --task custom has no splits to size here (a GLUE task)\n", cmd);
        return 2;
    }
    snprintf(o->task, sizeof o->task, "%s", task);
    if (lst_cli_glue_dir(cmd, data, o->data, sizeof o->data) ||
        lst_cli_tokenizer(cmd, spm, o->model, o->spm, sizeof o->spm))
        return 2;
    o->max_src = 128;
    if (msl && lst_opt_i32(cmd, "max-source-length", msl, 2, 100000, &o->max_src)) return 2;
    if (dt && lst_opt_tap_dtype(cmd, dt, &o->tc_dtype)) return 2;
    return 0;
}

static int parse_opts(const char *cmd, int argc, char **argv, int with_steps,
                      struct lst_bench_opts *o, int *json) {
    lst_opt_t opts[] = {
        {"model", 0, 1, "checkpoint directory or preset (t5-tiny, t5-small, t5-base, t5-large, t5-3b)", NULL},
        {"method", 0, 0, "lst (default), side-tuning, compression, full, adapters, lora, bitfit, prompt", NULL},
        {"adapter-dim", 0, 0, "adapters: hidden size (default d_model/16)", NULL},
        {"lora-rank", 0, 0, "lora: rank (default 32)", NULL},
        {"prompt-len", 0, 0, "prompt: prompt vectors (default 100)", NULL},
        {"freeze-layers", 0, 0, "baselines: the first K layers frozen, encoder first", NULL},
        {"backbone-dtype", 0, 0, "side networks: the frozen backbone in fp32 (default), bf16, int8 or q4", NULL},
        {"batch", 0, 1, "batch size", NULL},
        {"src-len", 0, 1, "source length", NULL},
        {"tgt-len", 0, 1, "target length", NULL},
        {"r", 0, 0, "LST reduction factor (default 8)", NULL},
        {"side-layers", 0, 0, "LST kept layers of both stacks (default all)", NULL},
        {"steps", 0, with_steps, "timed steps (after one warm-up step)", NULL},
        {"json", 1, 0, "one JSON object", NULL},
        {"cached-taps", 1, 0, "bench, LST: time the step with its taps given, as a tap cache does", NULL},
        {"task", 0, 0, "plan, LST: also the tap cache's size for a GLUE task's splits", NULL},
        {"data", 0, 0, "plan: GLUE data directory (default: the bundled data/glue)", NULL},
        {"spm", 0, 0, "plan: SentencePiece model (default: the model directory's spiece.model, "
                      "else the bundled T5 one)", NULL},
        {"max-source-length", 0, 0, "plan: source tokens incl. EOS (default 128)", NULL},
        {"tap-cache-dtype", 0, 0, "plan: f32 (default), bf16 or f16", NULL},
    };
    const int n = sizeof opts / sizeof opts[0] - (with_steps ? 0 : 0);
    int rc = lst_args_parse(cmd, "--model DIR|PRESET --batch B --src-len T --tgt-len D [options]",
                            opts, n, argc, argv);
    if (rc) return rc == 1 ? -1 : rc;
    memset(o, 0, sizeof *o);
    const char *v;
    snprintf(o->model, sizeof o->model, "%s", lst_opt(opts, n, "model"));
    v = lst_opt(opts, n, "method");
    if (v && lst_opt_method_known(cmd, "--method", v)) return 2;
    lst_method_default(&o->method, v ? v : "lst");
    if (lst_opt_method_check(cmd, opts, n, o->method.name)) return 2;
    const char *sizes[4] = {"adapter-dim", "lora-rank", "prompt-len", "freeze-layers"};
    int *dst[4] = {&o->method.adapter_dim, &o->method.lora_rank, &o->method.prompt_len,
                   &o->freeze_layers};
    if ((v = lst_opt(opts, n, "backbone-dtype")) && lst_opt_dtype(cmd, v, &o->dtype)) return 2;
    for (int i = 0; i < 4; i++)
        if ((v = lst_opt(opts, n, sizes[i])) &&
            lst_opt_i32(cmd, sizes[i], v, i == 3 ? 0 : 1, 1000000, dst[i]))
            return 2;
    if (lst_opt_i32(cmd, "batch", lst_opt(opts, n, "batch"), 1, 100000, &o->B) ||
        lst_opt_i32(cmd, "src-len", lst_opt(opts, n, "src-len"), 1, 100000, &o->T) ||
        lst_opt_i32(cmd, "tgt-len", lst_opt(opts, n, "tgt-len"), 1, 100000, &o->D))
        return 2;
    o->side.r = 8;
    o->side.gate_T = 0.1f;
    o->side.n_keep[0] = o->side.n_keep[1] = -1;
    if ((v = lst_opt(opts, n, "r")) && lst_opt_i32(cmd, "r", v, 1, 1024, &o->side.r)) return 2;
    if ((v = lst_opt(opts, n, "side-layers"))) {
        int depth[2];
        if (lst_cli_model_layers(o->model, &depth[0], &depth[1]))
            depth[0] = depth[1] = INT_MAX;
        for (int st = 0; st < 2; st++)
            if (lst_opt_layers(cmd, "side-layers", v, depth[st], &o->side, st)) return 2;
    }
    o->steps = 1;
    if (with_steps && lst_opt_i32(cmd, "steps", lst_opt(opts, n, "steps"), 1, 100000, &o->steps))
        return 2;
    *json = lst_opt(opts, n, "json") != NULL;
    o->cached_taps = lst_opt(opts, n, "cached-taps") != NULL;
    if (o->cached_taps && (!with_steps || strcmp(o->method.name, "lst"))) {
        fprintf(stderr, "lst %s: --cached-taps applies to lst bench --method lst\n", cmd);
        return 2;
    }
    return parse_task(cmd, opts, n, with_steps, o);
}

/* Shared options of plan and bench; returns 0, or the exit status. On 0
 * the caller owns o->side's kept-layer lists (lst_side_opts_free). */
int lst_cli_bench_opts(const char *cmd, int argc, char **argv, int with_steps, struct lst_bench_opts *o,
                       int *json) {
    memset(o, 0, sizeof *o);
    const int rc = parse_opts(cmd, argc, argv, with_steps, o, json);
    if (rc) lst_side_opts_free(&o->side);
    return rc;
}
