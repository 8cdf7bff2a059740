/* cmd_bench.c: `lst plan` (the memory a training step needs, predicted
 * without running) and `lst bench` (timed training steps on random tokens). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/peft.h"
#include "../train/bench.h"
#include "../train/trainer.h"
#include "cli.h"

/* Shared options of plan and bench; returns 0, or the exit status. */
static int parse(const char *cmd, int argc, char **argv, int with_steps, lst_bench_opts_t *o,
                 int *json) {
    lst_opt_t opts[] = {
        {"model", 0, 1, "checkpoint directory or preset (t5-tiny, t5-small, t5-base, t5-large, t5-3b)", NULL},
        {"method", 0, 0, "lst (default), side-tuning, compression, full, adapters, lora, bitfit, prompt", NULL},
        {"adapter-dim", 0, 0, "adapters: hidden size (default d_model/16)", NULL},
        {"lora-rank", 0, 0, "lora: rank (default 32)", NULL},
        {"prompt-len", 0, 0, "prompt: prompt vectors (default 100)", NULL},
        {"freeze-layers", 0, 0, "baselines: the first K layers frozen, encoder first", NULL},
        {"backbone-dtype", 0, 0, "side networks: fp32 (default) or bf16 frozen backbone", NULL},
        {"batch", 0, 1, "batch size", NULL},
        {"src-len", 0, 1, "source length", NULL},
        {"tgt-len", 0, 1, "target length", NULL},
        {"r", 0, 0, "LST reduction factor (default 8)", NULL},
        {"side-layers", 0, 0, "LST kept layers of both stacks (default all)", NULL},
        {"steps", 0, with_steps, "timed steps (after one warm-up step)", NULL},
        {"json", 1, 0, "one JSON object", NULL},
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
    if ((v = lst_opt(opts, n, "backbone-dtype"))) {
        if (strcmp(v, "fp32") && strcmp(v, "bf16")) {
            fprintf(stderr, "lst %s: --backbone-dtype must be fp32 or bf16, not '%s'\n", cmd, v);
            return 2;
        }
        o->bf16 = !strcmp(v, "bf16");
    }
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
            depth[0] = depth[1] = LST_MAX_LAYERS;
        for (int st = 0; st < 2; st++)
            if (lst_opt_layers(cmd, "side-layers", v, depth[st], o->side.keep[st], &o->side.n_keep[st]))
                return 2;
    }
    o->steps = 1;
    if (with_steps && lst_opt_i32(cmd, "steps", lst_opt(opts, n, "steps"), 1, 100000, &o->steps))
        return 2;
    *json = lst_opt(opts, n, "json") != NULL;
    return 0;
}

static double mib(size_t b) { return b / 1048576.0; }

int lst_cmd_plan(int argc, char **argv) {
    lst_bench_opts_t o;
    int json;
    int rc = parse("plan", argc, argv, 0, &o, &json);
    if (rc) return rc < 0 ? 0 : rc;
    lst_plan_t p;
    lst_err_t err = {{0}};
    if (lst_bench_plan(&o, &p, &err)) {
        lst_cli_error("plan", err.msg);
        return 1;
    }
    if (json) {
        printf("{\"method\":\"%s\",\"trainable\":%zu,\"weights\":%zu,\"gradients\":%zu,"
               "\"optimizer\":%zu,\"activations\":%zu,\"workspace\":%zu,\"total\":%zu}\n",
               o.method.name, p.trainable, p.weights, p.gradients, p.optimizer, p.activations,
               p.workspace, p.total);
    } else {
        printf("%s, %s, batch %d, source %d, target %d: predicted peak %.1f MiB\n", o.model,
               o.method.name, o.B, o.T, o.D, mib(p.total));
        printf("  weights      %10.1f MiB\n  gradients    %10.1f MiB\n  optimizer    %10.1f MiB\n"
               "  activations  %10.1f MiB\n  workspace    %10.1f MiB\n",
               mib(p.weights), mib(p.gradients), mib(p.optimizer), mib(p.activations), mib(p.workspace));
    }
    return 0;
}

int lst_cmd_bench(int argc, char **argv) {
    lst_bench_opts_t o;
    int json;
    int rc = parse("bench", argc, argv, 1, &o, &json);
    if (rc) return rc < 0 ? 0 : rc;
    lst_bench_result_t r;
    lst_err_t err = {{0}};
    if (lst_bench_run(&o, &r, &err)) {
        lst_cli_error("bench", err.msg);
        return 1;
    }
    if (json) {
        printf("{\"model\":\"%s\",\"method\":\"%s\",\"batch\":%d,\"src_len\":%d,\"tgt_len\":%d,"
               "\"steps\":%d,\"step_ms_median\":%.3f,\"step_ms_min\":%.3f,\"tokens_per_s\":%.1f,"
               "\"peak_bytes\":%zu,\"peak_rss_bytes\":%zu,\"loss_first\":%.6f,\"loss_last\":%.6f}\n",
               o.model, o.method.name, o.B, o.T, o.D, o.steps, r.step_ms_median, r.step_ms_min,
               r.tokens_per_s, r.peak_bytes, r.peak_rss_bytes, r.loss_first, r.loss_last);
    } else {
        printf("%s, %s, batch %d, source %d, target %d, %d steps: median %.1f ms/step (min %.1f), "
               "%.0f tokens/s, planned peak %.1f MiB, peak RSS %.1f MiB\n",
               o.model, o.method.name, o.B, o.T, o.D, o.steps, r.step_ms_median, r.step_ms_min,
               r.tokens_per_s, mib(r.peak_bytes), mib(r.peak_rss_bytes));
    }
    return 0;
}
