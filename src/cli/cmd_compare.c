/* cmd_compare.c: `lst compare`: every requested method under the same
 * protocol, each (method, seed) trained by a child `lst train` and measured
 * by a child `lst eval` (peak RSS from wait4), then the paper's Table 1 and
 * Figure 6 for those runs (s../report/report.h). Resumable: finished runs and
 * their measurements (runs/M-sS/compare.json) are reused, interrupted ones
 * continued with `lst train --resume`. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/clock.h"
#include "../core/fileio.h"
#include "../core/fsfile.h"
#include "../report/report.h"
#include "../train/trainer.h"
#include "cli.h"
#include "compare.h"

#define MAX_SEEDS 64
#define MAX_METHODS 8
#define MAX_ARGS 96


/* Options handed to `lst train` as given (only when given): compare's name,
 * lst train's name, help, kind ('i' integer in [lo, hi], lst train's own
 * range, so that a bad value is refused here with exit 2 rather than by
 * every child; 'f' number, 's' text), and the registry's option bit a
 * method must take to be given it (0: every method; lst train refuses an
 * option that does not apply to the method). */
#define MAX_I ((long)1 << 40)
static const struct {
    const char *name, *train_name, *help;
    char kind;
    long lo, hi;
    unsigned takes; /* LST_MOPT_* (methods.h), 0: every method */
} passes[] = {
    {"epochs", "epochs", "epochs", 'i', 1, 100000, 0},
    {"max-steps", "max-steps", "stop after this many steps", 'i', 1, MAX_I, 0},
    {"batch", "batch", "batch size", 'i', 1, 1000000, 0},
    {"eval-batch", "eval-batch", "generation batch size", 'i', 1, 1000000, 0},
    {"max-train", "max-train", "use only the first N training examples", 'i', 1, MAX_I, 0},
    {"lr", "lr", "peak learning rate for every method (default: each method's paper rate)", 'f', 0, 0, 0},
    {"warmup", "warmup", "warmup steps", 'i', 0, 1000000000, 0},
    {"r", "r", "side networks: reduction factor", 'i', 1, 1024, LST_MOPT_SIDE},
    {"side-layers", "side-layers", "side networks: kept layers of both stacks", 's', 0, 0, LST_MOPT_SIDE},
    {"init", "init", "side networks: init (fisher, magnitude, random)", 's', 0, 0, LST_MOPT_SIDE},
    {"fisher-samples", "fisher-samples", "side networks: examples for the Fisher importance", 'i', 1, 100000000,
     LST_MOPT_SIDE},
    {"adapter-dim", "adapter-dim", "adapters: hidden size", 'i', 1, 1000000, LST_MOPT_ADAPTER_DIM},
    {"lora-rank", "lora-rank", "lora: rank", 'i', 1, 1000000, LST_MOPT_LORA_RANK},
    {"prompt-len", "prompt-len", "prompt: vectors", 'i', 1, 1000000, LST_MOPT_PROMPT_LEN},
    {"freeze-layers", "freeze-layers", "full, adapters, lora, bitfit: freeze the first K layers", 'i', 0, 100000,
     LST_MOPT_FREEZE},
    {"spm", "spm", "SentencePiece model", 's', 0, 0, 0},
    {"max-src", "max-source-length", "source tokens incl. EOS (lst train --max-source-length)", 'i', 2, 100000,
     0},
    {"gen-validation", "gen-validation", "generation length during training", 'i', 1, 100000, 0},
};
#define N_PASSES ((int)(sizeof passes / sizeof passes[0]))

/* compare's own options, then the pass-through ones */
static const lst_opt_t own_opts[] = {
    {"model", 0, 1, "backbone checkpoint directory", NULL},
    {"task", 0, 1, "cola, sst2, mrpc, qqp, mnli, qnli, rte, stsb, or custom", NULL},
    {"data", 0, 0, "GLUE data directory (default: lst train's, data/glue)", NULL},
    {"train", 0, 0, "custom data: training file", NULL},
    {"valid", 0, 0, "custom data: validation file", NULL},
    {"test", 0, 0, "custom data: test file (optional)", NULL},
    {"methods", 0, 1, "comma-separated: full, adapters, lora, bitfit, prompt, lst, side-tuning, compression", NULL},
    {"seeds", 0, 0, "comma-separated seeds (default 0)", NULL},
    {"out", 0, 1, "output directory: compare.md, compare.csv, compare.svg, runs/", NULL},
    {"quiet", 1, 0, "no progress lines (failures are still reported)", NULL},
};
#define N_OWN ((int)(sizeof own_opts / sizeof own_opts[0]))
#define N_OPTS (N_OWN + N_PASSES)

typedef struct {
    lst_opt_t opts[N_OPTS];
    const char *out;
    int quiet;
    const char *base[MAX_ARGS]; /* the fresh `lst train` arguments but method, seed, out */
    int n_base;
    char pass_flag[N_PASSES][40]; /* "--<lst train name>" of each pass-through option */
    char protocol[2048];
    /* metric names in order of first appearance */
    char metric_names[LST_REPORT_MAX_METRICS][32];
    int n_metrics;
    int n_test, n_valid; /* runs whose metrics come from each split */
    char notes[MAX_SEEDS * MAX_METHODS][512];
    int n_notes;
} ctx_t;

static const char *opt(const ctx_t *c, const char *name) { return lst_opt(c->opts, N_OPTS, name); }

static void progress(const ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(const ctx_t *c, const char *fmt, ...) {
    if (c->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("lst compare: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* ---- option checks --------------------------------------------------------- */

static int parse_methods(const char *s, const char **out, int *n) {
    *n = 0;
    const char *p = s;
    for (;;) {
        const char *e = strchr(p, ',');
        const size_t len = e ? (size_t)(e - p) : strlen(p);
        if (!len) {
            fprintf(stderr, "lst compare: --methods '%s': an empty method name (expected e.g. lst,full,lora)\n", s);
            return -1;
        }
        const lst_method_info_t *m = NULL;
        for (int i = 0; lst_method_at(i); i++)
            if (strlen(lst_method_at(i)->name) == len && !strncmp(lst_method_at(i)->name, p, len))
                m = lst_method_at(i);
        if (!m) {
            fprintf(stderr, "lst compare: unknown method '%.*s' in --methods (valid: %s)\n", (int)len, p,
                    lst_method_names());
            return -1;
        }
        for (int i = 0; i < *n; i++)
            if (out[i] == m->name) {
                fprintf(stderr, "lst compare: --methods: '%s' is given twice\n", m->name);
                return -1;
            }
        if (*n >= MAX_METHODS) return -1; /* cannot happen: no method twice */
        out[(*n)++] = m->name;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

static int parse_seeds(const char *s, long long *seeds, int *n) {
    *n = 0;
    const char *p = s;
    if (!*s) {
        fprintf(stderr, "lst compare: --seeds is empty (expected comma-separated seeds, e.g. 0,1,2)\n");
        return -1;
    }
    for (;;) {
        const char *q = p;
        long long v = 0;
        while (*q >= '0' && *q <= '9' && v <= 0x7fffffffffffLL) v = v * 10 + (*q++ - '0');
        if (q == p || (*q && *q != ',') || v > 0x7fffffffffffLL || (*q == ',' && !q[1])) {
            fprintf(stderr, "lst compare: --seeds '%s': expected comma-separated non-negative integers "
                            "(e.g. 0,1,2)\n", s);
            return -1;
        }
        for (int i = 0; i < *n; i++)
            if (seeds[i] == v) {
                fprintf(stderr, "lst compare: --seeds: seed %lld is given twice\n", v);
                return -1;
            }
        if (*n >= MAX_SEEDS) {
            fprintf(stderr, "lst compare: --seeds: at most %d seeds\n", MAX_SEEDS);
            return -1;
        }
        seeds[(*n)++] = v;
        if (!*q) break;
        p = q + 1;
    }
    return 0;
}

static void note_failure(ctx_t *c, const char *method, long long seed, const char *what, const child_t *ch,
                         const char *log, long from) {
    char st[128];
    lst_cmp_describe(ch, st, sizeof st);
    fprintf(stderr, "lst compare: %s seed %lld: %s %s; last lines of %s:\n", method, seed, what, st, log);
    lst_cmp_print_tail(log, from, 8);
    if (c->n_notes < (int)(sizeof c->notes / sizeof c->notes[0]))
        snprintf(c->notes[c->n_notes++], sizeof c->notes[0], "%s, seed %lld: %s %s (runs/%s-s%lld/stderr.log)",
                 method, seed, what, st, method, seed);
}

static int metric_index(ctx_t *c, const char *name) {
    for (int i = 0; i < c->n_metrics; i++)
        if (!strcmp(c->metric_names[i], name)) return i;
    if (c->n_metrics >= LST_REPORT_MAX_METRICS || strlen(name) >= sizeof c->metric_names[0]) return -1;
    snprintf(c->metric_names[c->n_metrics], sizeof c->metric_names[0], "%s", name);
    return c->n_metrics++;
}

/* The run's figures from its metrics.json; the split its metrics come from. */
static void read_metrics(ctx_t *c, const cJSON *m, lst_report_run_t *run, const char **split) {
    const cJSON *test = cJSON_GetObjectItemCaseSensitive(m, "test");
    const cJSON *sp = cJSON_IsObject(test) ? test : cJSON_GetObjectItemCaseSensitive(m, "validation");
    *split = cJSON_IsObject(test) ? "test" : "validation";
    run->trainable_pct = lst_cmp_num(m, "trainable_percent");
    run->step_ms = lst_cmp_num(m, "step_ms_median");
    const cJSON *mem = cJSON_GetObjectItemCaseSensitive(m, "memory");
    for (int k = 0; k < LST_REPORT_MEM_PARTS; k++) {
        char key[64];
        snprintf(key, sizeof key, "%s_mib", lst_report_mem_names[k]);
        run->mem[k] = lst_cmp_num(mem, key);
    }
    run->plan_mib = lst_cmp_num(mem, "planned_mib");
    if (isnan(run->plan_mib)) run->plan_mib = lst_cmp_num(m, "planned_mib");
    if (cJSON_IsObject(sp)) {
        const cJSON *v;
        cJSON_ArrayForEach(v, sp) {
            if (!cJSON_IsNumber(v) || !v->string) continue;
            if (!strcmp(v->string, "score")) run->score = v->valuedouble;
            else {
                const int k = metric_index(c, v->string);
                if (k >= 0) run->metrics[k] = v->valuedouble;
            }
        }
    }
}

/* The method takes the option (takes: LST_MOPT_*, 0: every method). */
static int applies(unsigned takes, const char *method) {
    const lst_method_info_t *m = lst_method_info(method);
    return !takes || (m && (m->options & takes));
}

/* Inference: `lst eval` on the split the metrics come from (or the peak
 * recorded by an earlier compare for that split). */
static void measure_inference(ctx_t *c, const char *method, long long seed, const char *dir,
                              const char *split, const char *log, const char *evout, const char *cpath,
                              cJSON *cj, lst_report_run_t *run) {
    const cJSON *isplit = cJSON_GetObjectItemCaseSensitive(cj, "inference_split");
    if (!isnan(lst_cmp_num(cj, "inference_peak_rss_mib")) && cJSON_IsString(isplit) && !strcmp(isplit->valuestring, split)) {
        run->infer_peak_mib = lst_cmp_num(cj, "inference_peak_rss_mib");
    } else {
        const char *argv[] = {"lst", "eval", "--run", dir, "--split", split, NULL};
        char cmd[4096];
        lst_cmp_join_args(argv, cmd, sizeof cmd);
        progress(c, "%s seed %lld: lst eval --split %s", method, seed, split);
        const long from = lst_cmp_file_size(log);
        child_t ch;
        lst_cmp_run_child(argv, evout, log, &ch);
        lst_cmp_add_attempt(cj, "inference_attempts", cmd, &ch);
        if (lst_cmp_child_ok(&ch)) {
            lst_cmp_set_num(cj, "inference_peak_rss_mib", ch.rss_mib);
            lst_cmp_set_str(cj, "inference_split", split);
            lst_cmp_set_str(cj, "inference_peak_source", "wait4 ru_maxrss of lst eval");
            lst_err_t e2;
            cJSON *ev = lst_cmp_read_json(evout, &e2);
            cJSON_DeleteItemFromObjectCaseSensitive(cj, "eval");
            if (cJSON_IsObject(ev)) cJSON_AddItemToObject(cj, "eval", ev);
            else cJSON_Delete(ev);
            run->infer_peak_mib = ch.rss_mib;
        } else {
            note_failure(c, method, seed, "lst eval", &ch, log, from);
            run->infer_failed = 1;
        }
        unlink(evout);
        lst_cmp_save_json(cj, cpath);
    }
}

/* Trains (or reuses, or continues) runs/M-sS, then measures inference. */
static void do_run(ctx_t *c, const char *method, long long seed, lst_report_run_t *run) {
    lst_report_run_init(run, method, seed);
    char dir[LST_PATH_MAX], metrics[LST_PATH_MAX + 32], ckpt[LST_PATH_MAX + 32], cpath[LST_PATH_MAX + 32],
        log[LST_PATH_MAX + 32], evout[LST_PATH_MAX + 32], seed_s[32];
    snprintf(seed_s, sizeof seed_s, "%lld", seed);
    if (snprintf(dir, sizeof dir, "%s/runs/%s-s%lld", c->out, method, seed) >= (int)sizeof dir) {
        fprintf(stderr, "lst compare: --out is too long\n");
        run->train_failed = 1;
        return;
    }
    snprintf(metrics, sizeof metrics, "%s/metrics.json", dir);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
    snprintf(cpath, sizeof cpath, "%s/compare.json", dir);
    snprintf(log, sizeof log, "%s/stderr.log", dir);
    snprintf(evout, sizeof evout, "%s/eval.stdout", dir);
    lst_err_t err = {{0}};
    if (lst_mkdir_p(dir, &err)) {
        fprintf(stderr, "lst compare: %s\n", err.msg);
        run->train_failed = 1;
        return;
    }
    cJSON *cj = file_exists(cpath) ? lst_cmp_read_json(cpath, &err) : NULL;
    if (file_exists(cpath) && !cJSON_IsObject(cj)) {
        fprintf(stderr, "lst compare: warning: %s is unreadable (%s); measuring again\n", cpath, err.msg);
        cJSON_Delete(cj);
        cj = NULL;
    }
    if (!cj) cj = cJSON_CreateObject();
    lst_cmp_set_str(cj, "method", method);
    lst_cmp_set_num(cj, "seed", (double)seed);

    /* the command that starts this run afresh */
    const char *fresh[MAX_ARGS + 2 * N_PASSES + 16];
    int na = 0;
    for (int i = 0; i < c->n_base; i++) fresh[na++] = c->base[i];
    for (int i = 0; i < N_PASSES; i++)
        if (opt(c, passes[i].name) && applies(passes[i].takes, method)) {
            fresh[na++] = c->pass_flag[i];
            fresh[na++] = opt(c, passes[i].name);
        }
    fresh[na++] = "--method";
    fresh[na++] = method;
    fresh[na++] = "--seed";
    fresh[na++] = seed_s;
    fresh[na++] = "--out";
    fresh[na++] = dir;
    fresh[na++] = "--quiet";
    fresh[na] = NULL;
    char fresh_cmd[4096];
    lst_cmp_join_args(fresh, fresh_cmd, sizeof fresh_cmd);

    if (file_exists(metrics)) {
        const cJSON *was = cJSON_GetObjectItemCaseSensitive(cj, "train_command");
        if (cJSON_IsString(was) && strcmp(was->valuestring, fresh_cmd))
            fprintf(stderr, "lst compare: warning: reusing %s, trained by a different command:\n    %s\n"
                            "  (remove the directory to train it again)\n", dir, was->valuestring);
        progress(c, "%s seed %lld: reusing %s", method, seed, dir);
    } else {
        const int resume = file_exists(ckpt);
        const char *res_argv[] = {"lst", "train", "--resume", dir, "--quiet", NULL};
        const char *const *argv = resume ? res_argv : fresh;
        char cmd[4096];
        lst_cmp_join_args(argv, cmd, sizeof cmd);
        progress(c, "%s seed %lld: %s %s", method, seed, resume ? "continuing" : "training", dir);
        const long from = lst_cmp_file_size(log);
        child_t ch;
        lst_cmp_run_child(argv, NULL, log, &ch);
        if (!resume) lst_cmp_set_str(cj, "train_command", fresh_cmd);
        lst_cmp_add_attempt(cj, "train_attempts", cmd, &ch);
        if (ch.started && (lst_cmp_child_ok(&ch) || file_exists(ckpt))) { /* it trained (a start-up failure did not) */
            const double was = lst_cmp_num(cj, "train_peak_rss_mib");
            lst_cmp_set_num(cj, "train_peak_rss_mib", isnan(was) || ch.rss_mib > was ? ch.rss_mib : was);
            lst_cmp_set_str(cj, "train_peak_source", "wait4 ru_maxrss of lst train (the largest over its invocations)");
        }
        lst_cmp_save_json(cj, cpath);
        if (!lst_cmp_child_ok(&ch) || !file_exists(metrics)) {
            note_failure(c, method, seed, "lst train", &ch, log, from);
            run->train_failed = 1;
            cJSON_Delete(cj);
            return;
        }
        progress(c, "%s seed %lld: trained in %.1f s, peak RSS %.1f MiB", method, seed, ch.wall_s, ch.rss_mib);
    }
    cJSON *m = lst_cmp_read_json(metrics, &err);
    if (!cJSON_IsObject(m)) {
        fprintf(stderr, "lst compare: %s seed %lld: %s\n", method, seed, err.msg);
        if (c->n_notes < (int)(sizeof c->notes / sizeof c->notes[0]))
            snprintf(c->notes[c->n_notes++], sizeof c->notes[0], "%s, seed %lld: metrics.json unreadable", method,
                     seed);
        run->train_failed = 1;
        cJSON_Delete(m);
        cJSON_Delete(cj);
        return;
    }
    const cJSON *mm = cJSON_GetObjectItemCaseSensitive(m, "method");
    if (cJSON_IsString(mm) && strcmp(mm->valuestring, method))
        fprintf(stderr, "lst compare: warning: %s holds a '%s' run, not '%s'\n", dir, mm->valuestring, method);
    const char *split;
    read_metrics(c, m, run, &split);
    if (!strcmp(split, "test")) c->n_test++;
    else c->n_valid++;
    if (isnan(lst_cmp_num(cj, "train_peak_rss_mib"))) { /* trained outside lst compare: its own getrusage figure */
        const double rss = lst_cmp_num(m, "peak_rss_mib");
        if (!isnan(rss)) {
            lst_cmp_set_num(cj, "train_peak_rss_mib", rss);
            lst_cmp_set_str(cj, "train_peak_source", "metrics.json peak_rss_mib (not trained by lst compare)");
            lst_cmp_save_json(cj, cpath);
        }
    }
    cJSON_Delete(m);
    run->train_peak_mib = lst_cmp_num(cj, "train_peak_rss_mib");

    measure_inference(c, method, seed, dir, split, log, evout, cpath, cj, run);
    cJSON_Delete(cj);
}

/* A pass-through option's value, checked as lst train checks it. */
static int check_pass(const ctx_t *c, int i, const char *v) {
    const char *name = passes[i].name;
    int64_t iv;
    double fv;
    if (passes[i].kind == 'i') return lst_opt_i64("compare", name, v, passes[i].lo, passes[i].hi, &iv);
    if (passes[i].kind == 'f') return lst_opt_float("compare", name, v, 0, 100, &fv);
    /* --init is left to lst train: tests/test_report.c makes a child fail with --init best */
    if (!strcmp(name, "side-layers")) {
        int depth[2];
        if (lst_cli_model_layers(opt(c, "model"), &depth[0], &depth[1])) depth[0] = depth[1] = INT_MAX;
        lst_side_opts_t so;
        lst_side_opts_default(&so);
        int rc = 0;
        for (int st = 0; st < 2 && !rc; st++) rc = lst_opt_layers("compare", name, v, depth[st], &so, st);
        lst_side_opts_free(&so);
        if (rc) return -1;
    }
    return 0;
}

/* The common `lst train` arguments and the protocol line of the report:
 * every pass-through option given, checked as lst train checks it. */
static int base_args(ctx_t *c) {
    c->base[c->n_base++] = "lst";
    c->base[c->n_base++] = "train";
    const char *paths[] = {"model", "task", "data", "train", "valid", "test"};
    for (int i = 0; i < 6; i++)
        if (opt(c, paths[i])) {
            static char flag[6][16];
            snprintf(flag[i], sizeof flag[i], "--%s", paths[i]);
            c->base[c->n_base++] = flag[i];
            c->base[c->n_base++] = opt(c, paths[i]);
        }
    size_t plen = 0;
    c->protocol[0] = 0;
    for (int i = 0; i < N_PASSES; i++) {
        const char *v = opt(c, passes[i].name);
        if (!v) continue;
        if (check_pass(c, i, v)) return 2;
        snprintf(c->pass_flag[i], sizeof c->pass_flag[i], "--%s", passes[i].train_name);
        /* the methods the option reaches, as they were given to every run */
        char scope[160] = "";
        if (passes[i].takes == LST_MOPT_SIDE) {
            snprintf(scope, sizeof scope, " (side networks)");
        } else if (passes[i].takes) {
            for (int k = 0; lst_method_at(k); k++)
                if (lst_method_at(k)->options & passes[i].takes)
                    snprintf(scope + strlen(scope), sizeof scope - strlen(scope), "%s%s",
                             scope[0] ? "," : " (", lst_method_at(k)->name);
            snprintf(scope + strlen(scope), sizeof scope - strlen(scope), ")");
        }
        int k = snprintf(c->protocol + plen, sizeof c->protocol - plen, "%s--%s %s%s", plen ? " " : "",
                         passes[i].name, v, scope);
        if (k > 0 && plen + (size_t)k < sizeof c->protocol) plen += (size_t)k;
    }
    snprintf(c->protocol + plen, sizeof c->protocol - plen, "%s%s", plen ? "; otherwise " : "",
             opt(c, "lr") ? "lst train's defaults"
                          : "lst train's defaults, each method with its own paper learning rate");
    return 0;
}

/* Every option, before anything runs: 0, or the exit status. */
static int parse(ctx_t *c, int argc, char **argv, const char **methods, int *n_methods,
                 long long *seeds, int *n_seeds) {
    for (int i = 0; i < N_OWN; i++) c->opts[i] = own_opts[i];
    for (int i = 0; i < N_PASSES; i++)
        c->opts[N_OWN + i] = (lst_opt_t){passes[i].name, 0, 0, passes[i].help, NULL};
    int rc = lst_args_parse("compare",
                            "--model DIR --task NAME --methods lst,full,... [--seeds 0,1,2] --out DIR "
                            "[--data DIR | --train F --valid F [--test F]] [train options]",
                            c->opts, N_OPTS, argc, argv);
    if (rc) return rc == 1 ? -1 : rc;
    if (parse_methods(opt(c, "methods"), methods, n_methods) ||
        parse_seeds(opt(c, "seeds") ? opt(c, "seeds") : "0", seeds, n_seeds))
        return 2;
    if (!*opt(c, "out")) {
        lst_cli_error("compare", "--out is empty");
        return 2;
    }
    if (lst_opt_task("compare", opt(c, "task"))) return 2;
    if (!strcmp(opt(c, "task"), "custom") && (!opt(c, "train") || !opt(c, "valid"))) {
        lst_cli_error("compare", "--task custom needs --train FILE and --valid FILE");
        return 2;
    }
    c->out = opt(c, "out");
    c->quiet = opt(c, "quiet") != NULL;
    return base_args(c);
}

/* The figure's majority-class baseline, where the score is accuracy: the
 * split's most frequent target's share, read through the first finished
 * run's options (its data and tokenizer). */
static void majority(const ctx_t *c, lst_report_t *rep, const char *const *methods, int n_methods,
                     const long long *seeds, int n_seeds) {
    if (c->n_metrics != 1 || strcmp(c->metric_names[0], "accuracy")) return;
    for (int i = 0; i < n_methods; i++)
        for (int s = 0; s < n_seeds; s++) {
            char dir[4200], done[4300];
            snprintf(dir, sizeof dir, "%s/runs/%s-s%lld", c->out, methods[i], seeds[s]);
            snprintf(done, sizeof done, "%s/metrics.json", dir);
            if (access(done, F_OK)) continue;
            lst_err_t err = {{0}};
            double pct;
            if (lst_run_majority(dir, c->n_test == 0 ? "validation" : "test", &pct, &err)) continue;
            rep->has_majority = 1;
            rep->majority = pct;
            return;
        }
}

/* compare.md, .csv and .svg from the runs; the markdown also to stdout. */
static int report(ctx_t *c, const lst_report_run_t *runs, int n_runs, const char *const *methods,
                  int n_methods, const long long *seeds, int n_seeds, double t0) {
    lst_report_row_t rows[MAX_METHODS];
    for (int i = 0; i < n_methods; i++) lst_report_aggregate(runs, n_runs, methods[i], c->n_metrics, &rows[i]);
    char seeds_s[MAX_SEEDS * 24];
    size_t sl = 0;
    seeds_s[0] = 0;
    for (int s = 0; s < n_seeds && sl < sizeof seeds_s; s++)
        sl += (size_t)snprintf(seeds_s + sl, sizeof seeds_s - sl, "%s%lld", s ? "," : "", seeds[s]);
    const char *notes[MAX_SEEDS * MAX_METHODS];
    for (int i = 0; i < c->n_notes; i++) notes[i] = c->notes[i];
    lst_report_t rep = {
        .task = opt(c, "task"),
        .model = opt(c, "model"),
        .split = c->n_valid == 0 ? "test"
                 : c->n_test == 0 ? "validation"
                                  : "test (validation where a run has no test split)",
        .seeds = seeds_s,
        .protocol = c->protocol,
        .n_metrics = c->n_metrics,
        .n_rows = n_methods,
        .rows = rows,
        .n_notes = c->n_notes,
        .notes = notes,
    };
    for (int k = 0; k < c->n_metrics; k++) rep.metric_names[k] = c->metric_names[k];
    majority(c, &rep, methods, n_methods, seeds, n_seeds);
    lst_err_t err = {{0}};
    if (lst_report_write(&rep, c->out, &err)) {
        lst_cli_error("compare", err.msg);
        return 1;
    }
    char *md = lst_report_markdown(&rep);
    if (md) fputs(md, stdout);
    free(md);
    progress(c, "wrote %s/compare.md, compare.csv and compare.svg (%.1f s)", c->out, lst_now_s() - t0);
    return 0;
}

int lst_cmd_compare(int argc, char **argv) {
    ctx_t *c = calloc(1, sizeof *c);
    if (!c) {
        lst_cli_error("compare", "out of memory");
        return 1;
    }
    const char *methods[MAX_METHODS];
    long long seeds[MAX_SEEDS];
    int n_methods = 0, n_seeds = 0;
    int rc = parse(c, argc, argv, methods, &n_methods, seeds, &n_seeds);
    if (rc) {
        free(c);
        return rc < 0 ? 0 : rc;
    }
    lst_err_t err = {{0}};
    char runs_dir[LST_PATH_MAX + 16];
    snprintf(runs_dir, sizeof runs_dir, "%s/runs", c->out);
    lst_report_run_t *runs = calloc((size_t)n_methods * n_seeds, sizeof *runs);
    if (!runs || lst_mkdir_p(runs_dir, &err)) {
        lst_cli_error("compare", runs ? err.msg : "out of memory");
        free(runs);
        free(c);
        return 1;
    }
    const double t0 = lst_now_s();
    int n_runs = 0;
    for (int i = 0; i < n_methods; i++)
        for (int s = 0; s < n_seeds; s++) do_run(c, methods[i], seeds[s], &runs[n_runs++]);
    int failed = 0;
    for (int i = 0; i < n_runs; i++) failed += runs[i].train_failed || runs[i].infer_failed;
    int status = report(c, runs, n_runs, methods, n_methods, seeds, n_seeds, t0) || failed ? 1 : 0;
    if (failed) {
        fprintf(stderr, "lst compare: %d of %d runs failed:\n", failed, n_runs);
        for (int i = 0; i < c->n_notes; i++) fprintf(stderr, "  %s\n", c->notes[i]);
    }
    free(runs);
    free(c);
    return status;
}
