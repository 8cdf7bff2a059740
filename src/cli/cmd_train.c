/* cmd_train.c: `lst train`: Ladder Side-Tuning (or a baseline, --method)
 * on a GLUE task or custom data, with a live progress line and a run
 * directory that can be resumed. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/methods.h"
#include "../train/trainer.h"
#include "../report/plot.h"
#include "cli.h"

static int copy_opt(char *dst, size_t cap, const char *v) {
    if (!v) return 0;
    if (strlen(v) >= cap) return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

/* Parsed into the field's own type (LST_OPT_INT): bounds wider than it
 * do not compile quietly. */
#define INT_OPT(name, field, lo, hi)                                                       \
    if ((s = lst_opt(opts, n, name)) && LST_OPT_INT("train", name, s, lo, hi, &o->field)) \
        return 2;

/* --method and the options that depend on it. */
static int parse_method(const lst_opt_t *opts, int n, lst_train_opts_t *o) {
    const char *s;
    if ((s = lst_opt(opts, n, "method"))) {
        if (lst_opt_method_known("train", "--method", s)) return 2;
        lst_method_default(&o->method, s);
        o->lr = lst_method_lr(s);
        if (!strcmp(s, "prompt")) { /* the paper's prompt tuning: batch 50 x 2 (LST-SPEC section 6) */
            o->batch = 50;
            o->grad_accum = 2;
        }
    }
    lst_method_side_mode(o->method.name, &o->side.mode);
    if (lst_opt_method_check("train", opts, n, o->method.name)) return 2;
    INT_OPT("adapter-dim", method.adapter_dim, 1, 1000000);
    INT_OPT("lora-rank", method.lora_rank, 1, 1000000);
    INT_OPT("prompt-len", method.prompt_len, 1, 1000000);
    INT_OPT("freeze-layers", freeze_layers, 0, 100000);
    return 0;
}

static int parse_paths(const lst_opt_t *opts, int n, lst_train_opts_t *o) {
    const char *data = lst_opt(opts, n, "data"), *spm = lst_opt(opts, n, "spm");
    const char *model = lst_opt(opts, n, "model");
    if (lst_cli_glue_dir("train", data, o->data, sizeof o->data) ||
        lst_cli_tokenizer("train", spm, model, o->spm, sizeof o->spm))
        return 2;
    if (copy_opt(o->model, sizeof o->model, model) ||
        copy_opt(o->task, sizeof o->task, lst_opt(opts, n, "task")) ||
        copy_opt(o->out, sizeof o->out, lst_opt(opts, n, "out")) ||
        copy_opt(o->train_file, sizeof o->train_file, lst_opt(opts, n, "train")) ||
        copy_opt(o->valid_file, sizeof o->valid_file, lst_opt(opts, n, "valid")) ||
        copy_opt(o->test_file, sizeof o->test_file, lst_opt(opts, n, "test"))) {
        lst_cli_error("train", "a path is too long");
        return 2;
    }
    return 0;
}

/* The protocol's numbers. */
static int parse_numbers(const lst_opt_t *opts, int n, lst_train_opts_t *o) {
    const char *s;
    double f;
    INT_OPT("r", side.r, 1, 1024);
    INT_OPT("fisher-samples", fisher_samples, 1, 100000000);
    INT_OPT("epochs", epochs, 1, 100000);
    INT_OPT("batch", batch, 1, 1000000);
    INT_OPT("grad-accum", grad_accum, 1, 1000000);
    INT_OPT("eval-batch", eval_batch, 1, 1000000);
    INT_OPT("warmup", warmup, 0, 1000000000);
    INT_OPT("max-steps", max_steps, 1, (int64_t)1 << 40);
    INT_OPT("max-train", max_train, 1, (int64_t)1 << 40);
    INT_OPT("max-source-length", max_src, 2, 100000);
    INT_OPT("gen-validation", gen_val, 1, 100000);
    INT_OPT("seed", seed, 0, 0x7fffffffffffULL); /* exact in run.json's doubles */
    INT_OPT("checkpoint-every", ckpt_every, 1, INT_MAX);
    INT_OPT("eval-every", eval_every, 1, INT_MAX);
    INT_OPT("patience", patience, 1, INT_MAX);
    INT_OPT("halt-after", halt_after, 1, (int64_t)1 << 40);
    if ((s = lst_opt(opts, n, "warmup-ratio"))) {
        if (lst_opt(opts, n, "warmup")) {
            lst_cli_error("train", "give --warmup or --warmup-ratio, not both");
            return 2;
        }
        if (lst_opt_float("train", "warmup-ratio", s, 0, 1, &o->warmup_ratio)) return 2;
    }
    if ((s = lst_opt(opts, n, "lr"))) {
        if (lst_opt_float("train", "lr", s, 0, 100, &f)) return 2;
        o->lr = f;
    }
    if ((s = lst_opt(opts, n, "max-memory")) && lst_opt_bytes("train", "max-memory", s, &o->max_memory))
        return 2;
    return 0;
}
#undef INT_OPT

/* --tap-cache DIR|memory and its dtype and limit. */
static int parse_tap_cache(const lst_opt_t *opts, int n, lst_train_opts_t *o) {
    const char *dir = lst_opt(opts, n, "tap-cache"), *dt = lst_opt(opts, n, "tap-cache-dtype");
    const char *max = lst_opt(opts, n, "tap-cache-max");
    if (!dir && (dt || max)) {
        lst_cli_error("train", "--tap-cache-dtype and --tap-cache-max need --tap-cache DIR|memory");
        return 2;
    }
    if (dir && (!dir[0] || copy_opt(o->tap_cache, sizeof o->tap_cache, dir))) {
        lst_cli_error("train", "--tap-cache needs a directory (or 'memory') of a sane length");
        return 2;
    }
    if (dt && lst_opt_tap_dtype("train", dt, &o->tap_cache_dtype)) return 2;
    if (max && lst_opt_bytes("train", "tap-cache-max", max, &o->tap_cache_max)) return 2;
    return 0;
}

/* The side network's initialisation, kept layers and backbone. */
static int parse_side(const lst_opt_t *opts, int n, lst_train_opts_t *o) {
    const char *s;
    if ((s = lst_opt(opts, n, "init"))) {
        if (strcmp(s, "fisher") && strcmp(s, "magnitude") && strcmp(s, "random")) {
            fprintf(stderr, "lst train: --init must be fisher, magnitude or random, not '%s'\n", s);
            return 2;
        }
        snprintf(o->init, sizeof o->init, "%s", s);
    }
    const char *both = lst_opt(opts, n, "side-layers");
    const char *lay[2] = {lst_opt(opts, n, "encoder-side-layers"), lst_opt(opts, n, "decoder-side-layers")};
    const char *lay_name[2] = {"encoder-side-layers", "decoder-side-layers"};
    /* against the backbone's own depth when its config can be read */
    int depth[2] = {INT_MAX, INT_MAX}; /* INT_MAX: not known here */
    if ((both || lay[0] || lay[1]) && lst_cli_model_layers(o->model, &depth[0], &depth[1]))
        depth[0] = depth[1] = INT_MAX;
    for (int st = 0; st < 2; st++) {
        const char *spec = lay[st] ? lay[st] : both;
        if (spec && lst_opt_layers("train", lay[st] ? lay_name[st] : "side-layers", spec, depth[st],
                                   &o->side, st))
            return 2;
    }
    o->bb_dropout = !lst_opt(opts, n, "no-backbone-dropout");
    if ((s = lst_opt(opts, n, "backbone-dtype")) && lst_opt_dtype("train", s, &o->bb_dtype))
        return 2;
    o->full_vocab = lst_opt(opts, n, "full-vocab") != NULL;
    return parse_tap_cache(opts, n, o);
}

/* A new run: the required options, the task, then everything else. */
static int parse_new(const lst_opt_t *opts, int n, lst_train_opts_t *o) {
    const char *need[] = {"model", "task", "out"};
    for (int i = 0; i < 3; i++)
        if (!lst_opt(opts, n, need[i])) {
            fprintf(stderr, "lst train: missing required option '--%s'\n", need[i]);
            return 2;
        }
    if (lst_opt_task("train", lst_opt(opts, n, "task"))) return 2;
    if (!strcmp(lst_opt(opts, n, "task"), "custom") &&
        (!lst_opt(opts, n, "train") || !lst_opt(opts, n, "valid"))) {
        lst_cli_error("train", "--task custom needs --train FILE and --valid FILE");
        return 2;
    }
    int rc = parse_method(opts, n, o);
    if (!rc) rc = parse_paths(opts, n, o);
    if (!rc) rc = parse_numbers(opts, n, o);
    if (!rc) rc = parse_side(opts, n, o);
    o->quiet = lst_opt(opts, n, "quiet") != NULL;
    return rc;
}

int lst_cmd_train(int argc, char **argv) {
    lst_opt_t opts[] = {
        {"model", 0, 0, "backbone checkpoint directory (config.json + model.safetensors)", NULL},
        {"task", 0, 0, "cola, sst2, mrpc, qqp, mnli, qnli, rte, stsb, or custom", NULL},
        {"data", 0, 0, "GLUE data directory (default: the bundled data/glue)", NULL},
        {"train", 0, 0, "custom data: training .tsv/.jsonl (source, target)", NULL},
        {"valid", 0, 0, "custom data: validation file", NULL},
        {"test", 0, 0, "custom data: test file (optional)", NULL},
        {"spm", 0, 0, "SentencePiece model (default: the model directory's spiece.model, else "
                      "the bundled T5 one)", NULL},
        {"out", 0, 0, "run directory", NULL},
        {"resume", 0, 0, "RUNDIR: continue an interrupted run", NULL},
        {"method", 0, 0, "lst (default), side-tuning, compression, full, adapters, lora, bitfit, prompt", NULL},
        {"adapter-dim", 0, 0, "adapters: hidden size (default d_model/16)", NULL},
        {"lora-rank", 0, 0, "lora: rank (default 32, alpha 32)", NULL},
        {"prompt-len", 0, 0, "prompt: prompt vectors (default 100)", NULL},
        {"freeze-layers", 0, 0, "baselines: freeze the first K layers, encoder first (Figure 6)", NULL},
        {"r", 0, 0, "reduction factor (default 8)", NULL},
        {"side-layers", 0, 0, "kept layers of both stacks, e.g. 1,2,3,5,6,7,9,10,11 (default all)", NULL},
        {"encoder-side-layers", 0, 0, "kept encoder layers", NULL},
        {"decoder-side-layers", 0, 0, "kept decoder layers", NULL},
        {"init", 0, 0, "fisher (default), magnitude or random", NULL},
        {"fisher-samples", 0, 0, "examples for the Fisher importance (default 1024)", NULL},
        {"lr", 0, 0, "peak learning rate (default: the paper's for the method: 3e-3 side networks, 0.3 prompt, 3e-4 others)", NULL},
        {"epochs", 0, 0, "epochs (default 20)", NULL},
        {"batch", 0, 0, "batch size (default 100)", NULL},
        {"eval-batch", 0, 0, "generation batch size (default 100)", NULL},
        {"grad-accum", 0, 0, "micro-batches of --batch per optimizer step (default 1; prompt: "
                             "batch 50 x 2, the paper's)", NULL},
        {"warmup", 0, 0, "warmup steps (default 500, the paper's)", NULL},
        {"warmup-ratio", 0, 0, "warmup over this share of the run's steps instead (e.g. 0.1)", NULL},
        {"max-steps", 0, 0, "stop after this many steps", NULL},
        {"max-train", 0, 0, "use only the first N training examples", NULL},
        {"max-source-length", 0, 0, "source tokens incl. EOS (default 128)", NULL},
        {"gen-validation", 0, 0, "generation length during training (default 20)", NULL},
        {"seed", 0, 0, "seed (default 0)", NULL},
        {"no-backbone-dropout", 1, 0, "backbone in eval mode (the reference trains with dropout)", NULL},
        {"backbone-dtype", 0, 0, "side networks: fp32 (default, exact), bf16 (half the weights), int8 (a quarter) or q4 (5 bits a weight)", NULL},
        {"full-vocab", 1, 0, "keep the checkpoint's vocabulary (default: the tokenizer's 32100)", NULL},
        {"tap-cache", 0, 0, "DIR or memory: compute the backbone's taps once per example, not per epoch (needs --no-backbone-dropout)", NULL},
        {"tap-cache-dtype", 0, 0, "f32 (default, exact), bf16 or f16: the cache's half-size formats", NULL},
        {"tap-cache-max", 0, 0, "refuse a tap cache over BYTES (suffix K, M, G)", NULL},
        {"checkpoint-every", 0, 0, "also checkpoint every N steps (default: epoch ends)", NULL},
        {"eval-every", 0, 0, "also validate every N steps inside an epoch (default: epoch ends)", NULL},
        {"patience", 0, 0, "stop after N validations without a better score (default: never)", NULL},
        {"halt-after", 0, 0, "testing: stop after the checkpoint at this step", NULL},
        {"max-memory", 0, 0, "refuse to start if the planned memory exceeds BYTES (suffix K, M, G)", NULL},
        {"quiet", 1, 0, "no progress output", NULL},
    };
    const int n = sizeof opts / sizeof opts[0];
    int rc = lst_args_parse("train", "--model DIR --task NAME --out RUNDIR [options] | --resume RUNDIR",
                            opts, n, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    lst_train_opts_t o;
    lst_train_opts_default(&o);
    const char *resume = lst_opt(opts, n, "resume");
    if (resume) {
        if (argc != 3 && !(argc == 4 && lst_opt(opts, n, "quiet"))) {
            lst_cli_error("train", "--resume takes the run directory and no other options "
                                   "(but --quiet): the run's options are in its run.json");
            return 2;
        }
        if (copy_opt(o.out, sizeof o.out, resume)) return 2;
        o.quiet = lst_opt(opts, n, "quiet") != NULL;
    } else if ((rc = parse_new(opts, n, &o))) {
        lst_train_opts_free(&o); /* the --side-layers lists */
        return rc;
    }
    lst_err_t err = {{0}};
    rc = lst_train(&o, resume != NULL, &err);
    /* the figure of the finished run (the report layer: lst plot draws the same) */
    if (!rc && lst_plot_run(o.out, NULL, &err)) {
        lst_fail_ctx(&err, "the run is finished (metrics.json is written), its figure is not "
                           "(lst plot --run %s draws it)", o.out);
        rc = -1;
    }
    lst_train_opts_free(&o);
    if (rc) {
        lst_cli_error("train", err.msg);
        return rc == 3 ? 3 : 1;
    }
    return 0;
}
