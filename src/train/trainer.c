/* trainer.c: one LST run end to end (see trainer.h): the step loop, the
 * epoch's validation and the final evaluation. The run directory's files
 * are rundir.c's, the checkpoint's contents checkpoint.c's.
 *
 * Every random choice is a pure function of the seed and a counter (the
 * epoch for shuffling, the step for dropout masks), so a checkpoint needs
 * only (step, epoch, position in the epoch) to resume bit-exactly. */
#include "trainer.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/clock.h"
#include "../core/fileio.h"
#include "../core/rss.h"
#include "../core/streams.h"
#include "../core/version.h"
#include "../io/safetensors.h"
#include "../io/t5_config.h"
#include "adamw.h"
#include "checkpoint.h"
#include "dist.h"
#include "evaluate.h"
#include "metrics.h"
#include "export.h"
#include "rundir.h"
#include "schedule.h"
#include "tapcache_run.h"
#include "tuner.h"

/* ---- data ---------------------------------------------------------------- */

typedef struct {
    const lst_task_t *task;
    lst_tokdata_t train, val, test;
    int has_test;
} rundata_t;

static void rundata_free(rundata_t *d) {
    lst_tokdata_free(&d->train);
    lst_tokdata_free(&d->val);
    lst_tokdata_free(&d->test);
}

static int load_data(const lst_train_opts_t *o, const lst_tokenizer_t *tok, rundata_t *d,
                     lst_err_t *err) {
    memset(d, 0, sizeof *d);
    lst_splits_t sp = {0};
    lst_dataset_t cust[3] = {{0}};
    const lst_dataset_t *src[3];
    if (!strcmp(o->task, "custom")) {
        if (!o->train_file[0] || !o->valid_file[0])
            return lst_fail(err, "--task custom needs --train FILE and --valid FILE");
        if (lst_custom_load(o->train_file, &cust[0], err) ||
            lst_custom_load(o->valid_file, &cust[1], err) ||
            (o->test_file[0] && lst_custom_load(o->test_file, &cust[2], err))) {
            for (int i = 0; i < 3; i++) lst_dataset_free(&cust[i]);
            return -1;
        }
        src[0] = &cust[0];
        src[1] = &cust[1];
        src[2] = o->test_file[0] ? &cust[2] : NULL;
    } else {
        if (!lst_task_find(o->task)) {
            char names[256] = "";
            for (int i = 0; i < lst_task_count(); i++) {
                strcat(names, i ? ", " : "");
                strcat(names, lst_task_at(i)->name);
            }
            return lst_fail(err, "unknown task '%s' (tasks: %s, custom)", o->task, names);
        }
        /* the Adapters baseline alone runs without the task prefix (LST-SPEC 5) */
        const lst_method_info_t *mi = lst_method_info(o->method.name);
        if (lst_glue_load(o->task, o->data, NULL, !mi || mi->task_prefix, &sp, err)) return -1;
        d->task = sp.task;
        src[0] = &sp.train;
        src[1] = &sp.validation;
        src[2] = &sp.test;
    }
    /* optionally fewer training examples (demos), taken in file order */
    lst_dataset_t train_view = *src[0];
    if (o->max_train > 0 && o->max_train < train_view.n) train_view.n = (int)o->max_train;
    int rc = lst_tokdata_build(&d->train, &train_view, tok, o->max_src, 0, err);
    if (rc) lst_fail_ctx(err, "training data");
    if (!rc && (rc = lst_tokdata_build(&d->val, src[1], tok, o->max_src, 0, err)))
        lst_fail_ctx(err, "validation data");
    if (!rc && src[2] && (rc = lst_tokdata_build(&d->test, src[2], tok, o->max_src, 0, err)))
        lst_fail_ctx(err, "test data");
    d->has_test = src[2] != NULL;
    lst_splits_free(&sp);
    for (int i = 0; i < 3; i++) lst_dataset_free(&cust[i]);
    if (rc) {
        rundata_free(d);
        return -1;
    }
    /* targets: truncated to the longest label (all splits), like the reference */
    lst_tokdata_t *all[3] = {&d->train, &d->val, d->has_test ? &d->test : NULL};
    lst_tokdata_cap_targets(all, 3);
    return 0;
}

/* ---- model --------------------------------------------------------------- */

/* The tokenizer against the model's config.json: one that does not belong
 * to it is refused (mT5's 250112 rows with T5's 32100 pieces, another end
 * of sequence), and the rows past the tokenizer's are named (they are cut,
 * LST-SPEC section 1, unless --full-vocab). */
static int check_tokenizer(const lst_train_opts_t *o, int tv, int notes, lst_err_t *err) {
    char path[LST_PATH_MAX + 64];
    lst_t5_config_t c;
    lst_rundir_path(path, o->model, "config.json");
    if (lst_t5_config_load(&c, path, err)) return -1;
    if (c.eos_token_id != LST_TOKENIZER_EOS)
        return lst_fail(err, "%s: eos_token_id is %d, but the tokenizer %s ends every text with id %d "
                        "(</s>): they do not belong together; give the model's own tokenizer with --spm",
                        path, c.eos_token_id, o->spm, LST_TOKENIZER_EOS);
    if (c.vocab_size > tv + 1024)
        return lst_fail(err, "%s has %d vocabulary rows, the tokenizer %s %d pieces: it is not this "
                        "model's tokenizer (mT5 and other multilingual T5s have their own); give it "
                        "with --spm", o->model, c.vocab_size, o->spm, tv);
    if (c.vocab_size > tv && notes && !o->quiet && !o->full_vocab)
        fprintf(stderr, "lst train: note: rows %d-%d of the model's embedding and LM head, past the "
                "tokenizer's %d pieces, are left out (as the reference does; --full-vocab keeps "
                "them)\n", tv, c.vocab_size - 1, tv);
    return 0;
}

/* notes: training's notes on stderr (the rows left out, unused tensors);
 * eval and predict print none. */
static int open_model(const lst_train_opts_t *o, lst_tokenizer_t **tok, lst_tuner_t *t,
                      lst_wformat_t load_dtype, int notes, lst_err_t *err) {
    *tok = lst_tokenizer_load(o->spm, err);
    if (!*tok) return -1;
    const int tv = lst_tokenizer_vocab_size(*tok);
    if (check_tokenizer(o, tv, notes, err)) return -1;
    if (lst_tuner_open(t, o->model, o->full_vocab ? 0 : tv, &o->method, o->freeze_layers, &o->side,
                       load_dtype, o->seed, err))
        return -1;
    if (t->bb.vocab < tv)
        return lst_fail(err, "%s: the model's vocabulary (%d) is smaller than the tokenizer's (%d)",
                        o->model, t->bb.vocab, tv);
    if (t->bb.n_unused && notes && !o->quiet)
        fprintf(stderr, "lst train: note: %d tensor%s of %s %s not used by the model: %s%s\n",
                t->bb.n_unused, t->bb.n_unused > 1 ? "s" : "", o->model,
                t->bb.n_unused > 1 ? "are" : "is", t->bb.unused, t->bb.n_unused > 4 ? ", ..." : "");
    return 0;
}

static void fmt_time(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else if (s >= 60) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, n, "%.0fs", s);
}

/* The Fisher pass's progress line: examples done, elapsed, ETA (every 0.2 s
 * on a terminal, every 10 s into a log, and at the end). */
typedef struct {
    double t0, last;
    int tty;
} fisher_progress_t;

static void fisher_progress(void *ctx, int done, int total) {
    fisher_progress_t *p = ctx;
    const double t = lst_now_s();
    if (done < total && t - p->last < (p->tty ? 0.2 : 10.0)) return;
    p->last = t;
    char el[32], eta[32];
    fmt_time(el, sizeof el, t - p->t0);
    fmt_time(eta, sizeof eta, (t - p->t0) / done * (total - done));
    fprintf(stderr, "%sFisher importance: %d/%d examples  %s  ETA %s%s", p->tty ? "\r" : "", done,
            total, el, eta, p->tty ? (done == total ? "\033[K\n" : "\033[K") : "\n");
}

static int init_side(const lst_train_opts_t *o, const lst_backbone_t *bb, lst_side_t *side,
                     const lst_tokdata_t *train, lst_err_t *err) {
    if (!strcmp(o->init, "random")) {
        lst_side_init_random(side, o->seed);
        return 0;
    }
    lst_side_init_ladders(side, o->seed, 0.0f);
    if (!strcmp(o->init, "magnitude")) return lst_side_init_prune(side, bb, NULL, err);
    if (strcmp(o->init, "fisher")) return lst_fail(err, "unknown --init '%s' (fisher, magnitude, random)", o->init);
    /* Fisher over N shuffled training examples, each alone, dropout off */
    int n = o->fisher_samples < train->n ? o->fisher_samples : train->n;
    int *order = lst_malloc(train->n, sizeof(int), err);
    float *imp = lst_calloc(lst_bb_table(bb).n_floats, sizeof(float), err);
    lst_padded_batch_t b = {0};
    int rc = -1;
    if (order && imp) {
        lst_epoch_order(order, train->n, o->seed, LST_EPOCH_FISHER);
        fisher_progress_t fp = {lst_now_s(), 0, isatty(2)};
        if (!o->quiet) fprintf(stderr, "lst train: Fisher importance over %d examples\n", n);
        if (!lst_batch_make(&b, train, order, n, bb->dec_start, err) &&
            !lst_fisher_importance_cb(bb, &b.view, imp, o->quiet ? NULL : fisher_progress, &fp, err))
            rc = lst_side_init_prune(side, bb, imp, err);
    }
    lst_batch_release(&b);
    free(order);
    free(imp);
    return rc;
}

/* ---- outputs ------------------------------------------------------------- */

static cJSON *metrics_json(const lst_metrics_t *m) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < m->n; i++) cJSON_AddNumberToObject(o, lst_metric_name(m->kinds[i]), m->values[i]);
    cJSON_AddNumberToObject(o, "score", m->score);
    return o;
}

static cJSON *plan_json(const lst_plan_t *p) {
    cJSON *j = cJSON_CreateObject();
    const double M = 1048576.0;
    cJSON_AddNumberToObject(j, "weights_mib", p->weights / M);
    cJSON_AddNumberToObject(j, "gradients_mib", p->gradients / M);
    cJSON_AddNumberToObject(j, "optimizer_mib", p->optimizer / M);
    cJSON_AddNumberToObject(j, "activations_mib", p->activations / M);
    cJSON_AddNumberToObject(j, "workspace_mib", p->workspace / M);
    cJSON_AddNumberToObject(j, "best_copy_mib", p->best / M);
    cJSON_AddNumberToObject(j, "evaluation_mib", p->evaluation / M);
    cJSON_AddNumberToObject(j, "tap_cache_mib", p->tap_cache / M);
    cJSON_AddNumberToObject(j, "planned_mib", p->total / M);
    return j;
}

/* Name of the first parameter whose gradient holds a NaN or Inf. */
static const char *first_nonfinite(const lst_param_t *p, int n, const float *g) {
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < p[i].numel; j++)
            if (!isfinite(g[p[i].offset + j])) return p[i].name;
    return NULL;
}

/* ---- the run's state in this process ---------------------------------------- */

typedef struct {
    lst_train_opts_t *o;
    int resume;
    lst_tokenizer_t *tok;
    lst_tuner_t tu;
    rundata_t data;
    lst_adamw_t opt;
    float *grads, *best;
    int *order;
    lst_runlog_t log;
    lst_ckpt_state_t S;
    lst_dist_t dist;         /* the processes the run is spread over (dist.h) */
    lst_plan_t plan;
    lst_tc_run_t tc;         /* the tap caches (off without --tap-cache) */
    lst_ckpt_part_t parts[4];
    char ckpt[LST_PATH_MAX + 64];
    int n_train, per_epoch, Bmax, maxTs, maxTd;
    int acts_live;           /* the step's activations are allocated */
    int64_t ckpt_step;       /* the step of the checkpoint on disk; -1: none yet */
    /* progress */
    int is_tty;
    int64_t step_start;
    double run_start, wall_before, last_print, loss_avg;
    double wall_start; /* before the setup: wall_s counts loading and the Fisher pass too */
} run_t;

static const double MiB = 1048576.0;

/* Training time so far, over every process of the run (loading and the
 * Fisher pass included). */
static double wall_now(const run_t *R) { return R->wall_before + lst_now_s() - R->wall_start; }

static void run_free(run_t *R) {
    lst_runlog_close(&R->log, NULL);
    lst_tc_run_close(&R->tc);
    cJSON_Delete((cJSON *)R->S.history);
    cJSON_Delete((cJSON *)R->S.evals);
    free(R->S.step_ms);
    free(R->grads);
    free(R->best);
    free(R->order);
    lst_adamw_free(&R->opt);
    rundata_free(&R->data);
    lst_tuner_free(&R->tu);
    lst_tokenizer_free(R->tok);
}

/* Checks the options of a new run, or loads a resumed run's (run.json). */
static int prepare(lst_train_opts_t *o, int resume, lst_err_t *err) {
    char path[LST_PATH_MAX + 64];
    if (!resume) {
        lst_rundir_path(path, o->out, "checkpoint.safetensors");
        if (access(path, F_OK) == 0)
            return lst_fail(err, "%s already holds a run: use --resume %s, or another --out",
                            o->out, o->out);
        if (o->batch < 1 || o->epochs < 1 || o->eval_batch < 1 || o->max_src < 2)
            return lst_fail(err, "batch, epochs and max source length must be positive");
        return 0;
    }
    lst_rundir_path(path, o->out, "run.json");
    char out[LST_PATH_MAX];
    const int quiet = o->quiet;
    memcpy(out, o->out, sizeof out);
    lst_train_opts_free(o); /* run.json says it all */
    if (lst_run_load(o, path, err)) return -1;
    memcpy(o->out, out, sizeof out);
    o->quiet = quiet;
    lst_rundir_path(path, o->out, "checkpoint.safetensors");
    if (access(path, F_OK) != 0)
        return lst_fail(err, "%s has no checkpoint yet (stopped before its first): start it again "
                        "with the same lst train command", o->out);
    return 0;
}

/* The memory plan: every buffer of the run, known before the first step. */
static int plan_memory(run_t *R, lst_err_t *err) {
    const lst_train_opts_t *o = R->o;
    const lst_backbone_t *bb = &R->tu.bb;
    lst_plan_t *p = &R->plan;
    R->maxTs = R->maxTd = 1;
    for (int i = 0; i < R->n_train; i++) {
        if (R->data.train.src_len[i] > R->maxTs) R->maxTs = R->data.train.src_len[i];
        if (R->data.train.tgt_len[i] > R->maxTd) R->maxTd = R->data.train.tgt_len[i];
    }
    R->Bmax = o->batch < R->n_train ? o->batch : R->n_train;
    if (lst_plan_compute(bb, &o->method, &o->side, o->bb_dtype, R->Bmax, R->maxTs, R->maxTd, p, err))
        return -1;
    p->best = 4 * R->tu.n_floats;
    p->total += p->best;
    /* evaluation runs where the step's activations were (released around it) */
    const int gen = o->gen_val > o->gen_test ? o->gen_val : o->gen_test;
    const lst_side_t *sp = lst_tuner_side(&R->tu);
    const lst_tc_key_t *vk = R->tc.bytes[1] ? &R->tc.key[1] : NULL; /* tap caches, if any */
    const lst_tc_key_t *tk = R->tc.bytes[2] ? &R->tc.key[2] : NULL;
    p->evaluation = lst_evaluate_bytes(bb, sp, &R->data.val, gen, o->eval_batch, o->bb_dtype, vk);
    if (R->data.has_test) {
        const size_t t = lst_evaluate_bytes(bb, sp, &R->data.test, o->gen_test, o->eval_batch,
                                            o->bb_dtype, tk);
        if (t > p->evaluation) p->evaluation = t;
    }
    const size_t step = p->activations + p->workspace;
    if (p->evaluation > step) p->total += p->evaluation - step;
    p->tap_cache = lst_tc_run_memory(&R->tc);
    p->total += p->tap_cache;
    char budget[64]; /* exact below a tenth of a MiB (--max-memory 1K is not "0.0 MiB") */
    if (o->max_memory >= MiB / 10) snprintf(budget, sizeof budget, "%.1f MiB", o->max_memory / MiB);
    else snprintf(budget, sizeof budget, "%lld bytes", (long long)o->max_memory);
    if (o->max_memory > 0 && p->total > (size_t)o->max_memory)
        return lst_fail(err,
                        "the run needs %.1f MiB (weights %.1f, gradients %.1f, AdamW state %.1f, best "
                        "copy %.1f, tap cache %.1f, and the larger of activations %.1f + backward "
                        "workspace %.1f for batch %d x %d source x %d target tokens and evaluation "
                        "%.1f at --eval-batch %d) but --max-memory is %s",
                        p->total / MiB, p->weights / MiB, p->gradients / MiB, p->optimizer / MiB,
                        p->best / MiB, p->tap_cache / MiB, p->activations / MiB, p->workspace / MiB,
                        R->Bmax, R->maxTs, R->maxTd, p->evaluation / MiB, o->eval_batch, budget);
    return 0;
}

/* --warmup-ratio's warmup, and a warning when the warmup is not shorter
 * than the run: the learning rate then only rises and never decays (the
 * paper's RTE does exactly this: 25 x 20 = 500 steps, LST-SPEC section 5,
 * so the default stays 500 and the warning says what it means). */
static void warmup_check(lst_train_opts_t *o, int64_t total, int resume) {
    if (o->warmup_ratio > 0) o->warmup = (int)ceil(o->warmup_ratio * (double)total);
    if (resume || o->warmup < total || total < 1) return;
    const double top = o->lr * (double)(total - 1) / (double)(o->warmup > 0 ? o->warmup : 1);
    const long long tenth = (long long)ceil(0.1 * (double)total);
    fprintf(stderr, "lst train: warning: the warmup (%d steps) is not shorter than the whole run (%lld "
            "step%s): the learning rate only rises, to %.3g of %.3g at the last step, and never decays; "
            "--warmup-ratio 0.1 warms up over %lld step%s instead\n", o->warmup, (long long)total,
            total == 1 ? "" : "s", top, o->lr, tenth, tenth == 1 ? "" : "s");
}

/* Model, data, plan and every buffer; a new run's directory and run.json. */
static int setup(run_t *R, lst_err_t *err) {
    lst_train_opts_t *o = R->o;
    /* a frozen dtype loads straight into its format unless the side
     * network's Fisher initialisation needs the float32 backbone (magnitude
     * reads the packed one, a block at a time) */
    const int direct = R->resume || strcmp(o->init, "fisher");
    if (open_model(o, &R->tok, &R->tu, direct ? o->bb_dtype : LST_WF_F32, !R->resume, err)) return -1;
    lst_tuner_t *tu = &R->tu;
    if (R->resume && lst_rundir_check_backbone(o, tu->bb.fp_config, tu->bb.fp_weights, err))
        return lst_fail_ctx(err, "resuming %s", o->out);
    o->has_fp = 1; /* recorded in run.json */
    o->fp_config = tu->bb.fp_config;
    o->fp_weights = tu->bb.fp_weights;
    /* record the resolved kept layers */
    if (!tu->backbone && lst_side_opts_copy(&o->side, &tu->side.opts, err)) return -1;
    if (load_data(o, R->tok, &R->data, err)) return -1;
    R->n_train = R->data.train.n;
    const int64_t step_examples = (int64_t)o->batch * o->grad_accum;
    R->per_epoch = (int)((R->n_train + step_examples - 1) / step_examples);
    R->S.total_steps = (int64_t)R->per_epoch * o->epochs;
    if (o->max_steps > 0 && o->max_steps < R->S.total_steps) R->S.total_steps = o->max_steps;
    warmup_check(o, R->S.total_steps, R->resume);
    R->S.best_score = -INFINITY;
    const lst_tokdata_t *splits[LST_TC_SPLITS] = {&R->data.train, &R->data.val,
                                                  R->data.has_test ? &R->data.test : NULL};
    if (lst_tc_run_plan(&R->tc, o, &tu->bb, lst_tuner_side(tu), splits, err) || plan_memory(R, err))
        return -1;
    /* The side network's initialisation (Fisher and pruning read the float32
     * backbone), then the backbone packed for its forward (the optional bf16
     * one before the activations: the float32 block weights are gone before
     * the step buffers arrive). */
    if (!R->resume && !tu->backbone && init_side(o, &tu->bb, &tu->side, &R->data.train, err)) return -1;
    if (!tu->backbone && lst_bb_freeze(&tu->bb, o->bb_dtype, err))
        return -1;
    R->grads = lst_calloc(tu->n_floats, sizeof(float), err);
    R->best = lst_calloc(tu->n_floats, sizeof(float), err);
    R->order = lst_malloc(R->n_train, sizeof(int), err);
    R->S.step_ms = lst_calloc(R->S.total_steps + 1, sizeof(double), err);
    if (!R->grads || !R->best || !R->order || !R->S.step_ms ||
        lst_tuner_alloc(tu, R->Bmax, R->maxTs, R->maxTd, err))
        return lst_fail_ctx(err, "allocating the planned %.1f MiB", R->plan.total / MiB);
    R->acts_live = 1;
    if (lst_tc_run_open(&R->tc, o, err)) return -1;
    if (!R->resume) { /* only now: a run that cannot start leaves no directory */
        char path[LST_PATH_MAX + 64];
        lst_rundir_path(path, o->out, "run.json");
        if (lst_mkdir_p(o->out, err) || lst_run_save(o, path, err)) return -1;
    }
    lst_adamw_cfg_t ac;
    lst_adamw_cfg_default(&ac);
    ac.lr = o->lr;
    if (lst_adamw_init(&R->opt, &ac, tu->n_floats, err)) return -1;
    const lst_ckpt_part_t parts[4] = {{tu->flat, "param."}, {R->opt.m, "adam_m."},
                                      {R->opt.v, "adam_v."}, {R->best, "best."}};
    memcpy(R->parts, parts, sizeof parts);
    lst_rundir_path(R->ckpt, o->out, "checkpoint.safetensors");
    return 0;
}

/* A resumed run's state from its checkpoint; a new run's best copy. */
static int restore(run_t *R, lst_err_t *err) {
    lst_tuner_t *tu = &R->tu;
    R->ckpt_step = -1;
    if (!R->resume) {
        memcpy(R->best, tu->flat, sizeof(float) * tu->n_floats); /* initialised above */
        return 0;
    }
    char *st = NULL;
    cJSON *run = NULL;
    const lst_ckpt_shape_t shape = {R->o->epochs, R->per_epoch, R->S.total_steps};
    int rc = lst_ckpt_read(R->ckpt, &st, tu->params, tu->n_params, R->parts, 4, err);
    if (!rc) rc = lst_ckpt_state_parse(&R->S, st, &shape, (void **)&run, err);
    free(st);
    if (!rc) { /* the state names its backbone too (through its copy of run.json) */
        lst_train_opts_t ro = *R->o;
        rc = lst_run_fp_parse(cJSON_GetObjectItemCaseSensitive(run, "backbone_fingerprint"), &ro,
                              R->ckpt, err);
        if (!rc) rc = lst_rundir_check_backbone(&ro, tu->bb.fp_config, tu->bb.fp_weights, err);
    }
    cJSON_Delete(run);
    if (rc) return lst_fail_ctx(err, "resuming %s", R->o->out);
    R->opt.step = R->S.step;
    R->ckpt_step = R->S.step;
    if (!R->o->quiet)
        fprintf(stderr, "lst train: resuming %s at step %lld (epoch %d)\n", R->o->out,
                (long long)R->S.step, R->S.epoch + 1);
    return 0;
}

/* The log first, then the checkpoint: a kill between the two leaves a log
 * that covers the checkpoint (its extra rows are dropped on resume).
 * Returns 3 when --halt-after asks to stop here (as if killed). */
static int checkpoint(run_t *R, lst_err_t *err) {
    const lst_tuner_t *tu = &R->tu;
    lst_ckpt_state_t *S = &R->S;
    const double rss = lst_peak_rss_mib();
    if (rss > S->peak_rss_mib) S->peak_rss_mib = rss;
    if (lst_runlog_sync(&R->log, err)) return -1;
    char *st = lst_ckpt_state_text(S, lst_run_json(R->o), R->o->seed);
    if (!st) return lst_fail(err, "out of memory writing the checkpoint state");
    int rc = lst_ckpt_write(R->ckpt, st, tu->params, tu->n_params, R->parts, 4, err);
    free(st);
    if (rc) return -1;
    R->ckpt_step = S->step;
    if (R->o->halt_after > 0 && S->step >= R->o->halt_after) {
        lst_fail(err, "halted after step %lld as asked (--halt-after)", (long long)S->step);
        return 3;
    }
    return 0;
}

static int stop_nonfinite(const run_t *R, const char *what, lst_err_t *err) {
    char kept[96];
    if (R->ckpt_step >= 0)
        snprintf(kept, sizeof kept, "the checkpoint of step %lld is kept", (long long)R->ckpt_step);
    else
        snprintf(kept, sizeof kept, "no checkpoint was written yet");
    return lst_fail(err, "%s at step %lld: stopping; %s", what, (long long)R->S.step + 1, kept);
}

/* The epochs the run will touch: --max-steps can end it before --epochs. */
static int run_epochs(const run_t *R) {
    const int64_t e = R->per_epoch > 0 ? (R->S.total_steps + R->per_epoch - 1) / R->per_epoch : 0;
    return e < R->o->epochs ? (int)e : R->o->epochs;
}

static void progress(run_t *R, double lr) {
    const lst_ckpt_state_t *S = &R->S;
    double t = lst_now_s();
    if (R->o->quiet || !(t - R->last_print > (R->is_tty ? 0.2 : 10.0) || S->step == S->total_steps))
        return;
    char eta[32], taps[64];
    lst_tc_run_status(&R->tc, taps, sizeof taps);
    double sps = (S->step - R->step_start) / (t - R->run_start);
    fmt_time(eta, sizeof eta, (S->total_steps - S->step) / sps);
    fprintf(stderr, "%sepoch %d/%d  step %lld/%lld  loss %.4f  lr %.2e  %.2f steps/s  ETA %s  rss %.0f MiB%s%s",
            R->is_tty ? "\r" : "", S->epoch + 1, run_epochs(R), (long long)S->step,
            (long long)S->total_steps, R->loss_avg, lr, sps, eta, lst_peak_rss_mib(), taps,
            R->is_tty ? "\033[K" : "\n");
    R->last_print = t;
}

/* Forward and backward of examples order[0, n) as micro-batches of at most
 * o->batch (--grad-accum), their gradients summed into R->grads and their
 * losses into the return value; every micro-batch is normalised by the
 * whole step's label count, so the sums are the step's mean, as one batch
 * of all n would give (dropout is keyed by example and step: the same masks
 * too). *brc: non-zero on failure (err filled). */
static double step_micro(run_t *R, const int *order, int n, int64_t labels, int *brc, lst_err_t *err) {
    const lst_train_opts_t *o = R->o;
    lst_tuner_t *tu = &R->tu;
    const lst_ckpt_state_t *S = &R->S;
    const float p_drop = tu->bb.dropout;
    const uint64_t bs = lst_stream_drop(S->step, LST_STREAM_DROP_BACKBONE);
    lst_drop_t bd = {o->bb_dropout ? p_drop : 0, o->seed, bs};
    lst_drop_t sd = {p_drop, o->seed, lst_stream_drop(S->step, LST_STREAM_DROP_SIDE)};
    /* backbone methods train the backbone itself: its dropout is theirs */
    lst_drop_t td = {p_drop, o->seed, bs};
    double loss = 0;
    *brc = 0;
    for (int at = 0; at < n && !*brc; at += o->batch) {
        const int k = n - at < o->batch ? n - at : o->batch;
        lst_padded_batch_t b;
        if (lst_batch_make(&b, &R->data.train, order + at, k, tu->bb.dec_start, err)) {
            *brc = -1;
            break;
        }
        b.view.label_count = labels;
        *brc = lst_tc_run_step_begin(&R->tc, &tu->sacts, &b.view, o->quiet, err);
        if (!*brc) loss += lst_tuner_step(tu, &b.view, tu->backbone ? &td : &bd, &sd, R->grads, brc, err);
        lst_tc_run_step_end(&R->tc, &tu->sacts, !*brc, o->quiet);
        lst_batch_release(&b);
    }
    return loss;
}

/* One step: batch (grad_accum micro-batches), forward/backward, clip,
 * AdamW, log row. */
static int train_step(run_t *R, lst_err_t *err) {
    const lst_train_opts_t *o = R->o;
    lst_tuner_t *tu = &R->tu;
    lst_ckpt_state_t *S = &R->S;
    const int gb = o->batch * o->grad_accum; /* examples per optimizer step */
    const int first = S->batch_index * gb;
    const int nb = R->n_train - first < gb ? R->n_train - first : gb;
    /* this process's share of the global batch, its loss and gradients
     * normalised by the global batch's label count, so that the shares add
     * up to the whole batch (one process: all of it) */
    int share, n_share;
    lst_dist_share(nb, R->dist.rank, R->dist.world, &share, &n_share);
    int64_t labels = 0;
    for (int i = 0; i < nb; i++) labels += R->data.train.tgt_len[R->order[first + i]];
    const double ts = lst_now_s();
    memset(R->grads, 0, sizeof(float) * tu->n_floats);
    int brc;
    double loss = step_micro(R, R->order + first + share, n_share, labels, &brc, err);
    if (brc || R->dist.ops->allreduce_sum(&R->dist, R->grads, tu->n_floats, err) ||
        R->dist.ops->allreduce_sum_f64(&R->dist, &loss, 1, err))
        return -1;
    char what[300];
    if (!isfinite(loss)) {
        snprintf(what, sizeof what, "the loss is %g", loss);
        return stop_nonfinite(R, what, err);
    }
    double gnorm = lst_clip_grad_norm(tu->params, tu->n_params, R->grads, o->clip);
    if (!isfinite(gnorm)) {
        const char *bad = first_nonfinite(tu->params, tu->n_params, R->grads);
        snprintf(what, sizeof what, "the gradient of %s is not finite", bad ? bad : "?");
        return stop_nonfinite(R, what, err);
    }
    double lr = lst_lr_at(o->lr, S->step, o->warmup, S->total_steps);
    lst_adamw_step(&R->opt, tu->params, tu->n_params, tu->flat, R->grads, lr);
    S->step_ms[S->n_timed++] = (lst_now_s() - ts) * 1e3;
    S->step++;
    S->wall_s = wall_now(R);
    lst_runlog_row(&R->log, S->step, S->epoch + 1, loss, lr, gnorm, S->wall_s);
    R->loss_avg = isnan(R->loss_avg) ? loss : 0.95 * R->loss_avg + 0.05 * loss;
    progress(R, lr);
    return 0;
}

/* Validation at the end of an epoch or where max-steps stopped (history)
 * or, with --eval-every, inside one (evaluations), in the place of the
 * step's activations (the plan counts the larger): the best weights kept (a
 * strict improvement; ties keep the earlier), the score in the step's log
 * row, and the count --patience stops on. */
static int validate(run_t *R, int epoch_end, lst_err_t *err) {
    lst_ckpt_state_t *S = &R->S;
    lst_tuner_t *tu = &R->tu;
    lst_metrics_t vm;
    lst_tuner_release(tu);
    R->acts_live = 0;
    if (lst_evaluate_tc(&tu->bb, lst_tuner_side(tu), R->tok, &R->data.val, R->data.task,
                        R->o->gen_val, R->o->eval_batch, R->tc.c[1], &vm, NULL, err))
        return -1;
    cJSON *h = cJSON_CreateObject();
    cJSON_AddNumberToObject(h, "epoch", S->epoch + 1);
    cJSON_AddNumberToObject(h, "step", (double)S->step);
    cJSON_AddItemToObject(h, "validation", metrics_json(&vm));
    cJSON_AddItemToArray((cJSON *)(epoch_end ? S->history : S->evals), h);
    lst_runlog_val(&R->log, vm.score);
    if (vm.score > S->best_score) { /* strict: ties keep the earlier epoch */
        S->best_score = vm.score;
        S->best_epoch = S->epoch + 1;
        S->best_step = S->step;
        S->since_best = 0;
        memcpy(R->best, tu->flat, sizeof(float) * tu->n_floats);
    } else {
        S->since_best++;
    }
    if (!R->o->quiet)
        fprintf(stderr, "%s %d: validation score %.2f (best %.2f at step %lld, epoch %d)\n",
                epoch_end ? "epoch" : "step", epoch_end ? S->epoch + 1 : (int)S->step, vm.score,
                S->best_score, (long long)S->best_step, S->best_epoch);
    return 0;
}

/* --patience: this many validations in a row without a better score. */
static int out_of_patience(const run_t *R) {
    return R->o->patience > 0 && R->S.since_best >= R->o->patience;
}

/* The step's activations, allocated again where a validation took their
 * place. */
static int acts_ready(run_t *R, lst_err_t *err) {
    if (!R->acts_live && lst_tuner_alloc(&R->tu, R->Bmax, R->maxTs, R->maxTd, err)) return -1;
    R->acts_live = 1;
    return 0;
}

/* The rest of one epoch, its validation and its checkpoint. */
static int run_epoch(run_t *R, lst_err_t *err) {
    const lst_train_opts_t *o = R->o;
    lst_ckpt_state_t *S = &R->S;
    lst_epoch_order(R->order, R->n_train, o->seed, S->epoch);
    for (; S->batch_index < R->per_epoch && S->step < S->total_steps; S->batch_index++) {
        if (acts_ready(R, err) || train_step(R, err)) return -1;
        const int inside = S->batch_index + 1 < R->per_epoch && S->step < S->total_steps;
        const int eval = inside && o->eval_every > 0 && S->step % o->eval_every == 0;
        if (eval) {
            if (!o->quiet && R->is_tty) fputc('\n', stderr);
            if (validate(R, 0, err)) return -1;
        }
        const int stop = eval && out_of_patience(R);
        if (inside && ((o->ckpt_every > 0 && S->step % o->ckpt_every == 0) || stop)) {
            S->batch_index++; /* resume after this batch */
            int crc = checkpoint(R, err);
            S->batch_index--;
            if (crc) return crc;
        }
        if (stop) return 0; /* the run loop stops: finish() */
    }
    if (!o->quiet && R->is_tty) fputc('\n', stderr);
    if (validate(R, 1, err)) return -1;
    S->epoch++;
    S->batch_index = 0;
    S->wall_s = wall_now(R);
    return checkpoint(R, err);
}

static char *metrics_text(const run_t *R, const lst_metrics_t *bv, const lst_metrics_t *bt) {
    const lst_train_opts_t *o = R->o;
    const lst_ckpt_state_t *S = &R->S;
    const lst_tuner_t *tu = &R->tu;
    cJSON *mj = cJSON_CreateObject();
    cJSON_AddStringToObject(mj, "task", o->task);
    cJSON_AddStringToObject(mj, "method", o->method.name);
    cJSON_AddItemToObject(mj, "epochs", cJSON_Duplicate((const cJSON *)S->history, 1));
    cJSON_AddNumberToObject(mj, "best_epoch", S->best_epoch);
    cJSON_AddNumberToObject(mj, "best_step", (double)S->best_step);
    if (o->eval_every > 0)
        cJSON_AddItemToObject(mj, "evaluations", cJSON_Duplicate((const cJSON *)S->evals, 1));
    if (o->patience > 0) cJSON_AddBoolToObject(mj, "stopped_early", out_of_patience(R));
    cJSON_AddItemToObject(mj, "validation", metrics_json(bv));
    if (bt) cJSON_AddItemToObject(mj, "test", metrics_json(bt));
    /* the share's denominator: the backbone itself, as in the paper */
    const double backbone = (double)lst_bb_param_count(&tu->bb);
    cJSON_AddNumberToObject(mj, "trainable_params", (double)tu->n_floats);
    cJSON_AddNumberToObject(mj, "backbone_params", backbone);
    cJSON_AddNumberToObject(mj, "trainable_percent", 100.0 * tu->n_floats / backbone);
    /* over every process of the run: the checkpoints carry the step times
     * and the largest peak RSS so far */
    if (S->n_timed > 0) cJSON_AddNumberToObject(mj, "step_ms_median", lst_median(S->step_ms, (int)S->n_timed));
    else cJSON_AddNullToObject(mj, "step_ms_median"); /* a checkpoint older than the step times */
    cJSON_AddNumberToObject(mj, "steps", (double)S->step);
    cJSON_AddNumberToObject(mj, "train_examples", R->n_train);
    const double rss = lst_peak_rss_mib();
    cJSON_AddNumberToObject(mj, "peak_rss_mib", rss > S->peak_rss_mib ? rss : S->peak_rss_mib);
    cJSON_AddNumberToObject(mj, "planned_mib", R->plan.total / MiB);
    cJSON_AddItemToObject(mj, "memory", plan_json(&R->plan));
    cJSON_AddNumberToObject(mj, "wall_s", wall_now(R));
    char now[32];
    lst_utc_now(now, sizeof now);
    cJSON_AddStringToObject(mj, "lst_version", lst_version());
    cJSON_AddStringToObject(mj, "lst_commit", lst_commit());
    cJSON_AddStringToObject(mj, "finished_utc", now);
    char *text = cJSON_Print(mj);
    cJSON_Delete(mj);
    return text;
}

/* The best epoch's weights: validation and test with the long generation. */
static int finish(run_t *R, lst_err_t *err) {
    const lst_train_opts_t *o = R->o;
    lst_tuner_t *tu = &R->tu;
    lst_tuner_release(tu);
    memcpy(tu->flat, R->best, sizeof(float) * tu->n_floats);
    if (lst_export_trained(o->out, o, tu, err)) return -1;
    lst_metrics_t bv, bt;
    const lst_side_t *sp = lst_tuner_side(tu);
    if (lst_evaluate_tc(&tu->bb, sp, R->tok, &R->data.val, R->data.task, o->gen_test, o->eval_batch,
                        R->tc.c[1], &bv, NULL, err))
        return -1;
    if (R->data.has_test && lst_evaluate_tc(&tu->bb, sp, R->tok, &R->data.test, R->data.task,
                                            o->gen_test, o->eval_batch, R->tc.c[2], &bt, NULL, err))
        return -1;
    char *text = metrics_text(R, &bv, R->data.has_test ? &bt : NULL);
    if (!text) return lst_fail(err, "out of memory writing metrics.json");
    if (lst_runlog_close(&R->log, err) || lst_rundir_write_metrics(o->out, text, err)) {
        free(text);
        return -1;
    }
    if (!o->quiet) printf("%s\n", text);
    free(text);
    return 0;
}

int lst_train(lst_train_opts_t *o, int resume, lst_err_t *err) {
    if (prepare(o, resume, err)) return -1;
    if (resume && lst_rundir_finished(o->out)) { /* metrics.json is written last */
        fprintf(stderr, "lst train: %s is finished (metrics.json is written): nothing to resume\n", o->out);
        return 0;
    }
    if (resume) lst_rundir_clean_temps(o->out);
    run_t R;
    memset(&R, 0, sizeof R);
    R.o = o;
    lst_dist_single(&R.dist);
    R.resume = resume;
    R.S.history = cJSON_CreateArray();
    R.S.evals = cJSON_CreateArray();
    R.wall_start = lst_now_s();
    int rc = setup(&R, err) || restore(&R, err) || lst_runlog_open(&R.log, o->out, R.S.step, err) ? -1 : 0;
    R.is_tty = isatty(2);
    R.loss_avg = NAN;
    R.run_start = lst_now_s();
    R.wall_before = R.S.wall_s;
    R.step_start = R.S.step;
    while (!rc && R.S.step < R.S.total_steps && R.S.epoch < o->epochs && !out_of_patience(&R))
        rc = run_epoch(&R, err);
    if (!rc && out_of_patience(&R) && !o->quiet)
        fprintf(stderr, "lst train: stopping early at step %lld: %d validations without a better score "
                "than %.2f (step %lld; --patience %d)\n", (long long)R.S.step, R.S.since_best,
                R.S.best_score, (long long)R.S.best_step, o->patience);
    if (!rc) rc = finish(&R, err);
    run_free(&R);
    return rc == 3 ? 3 : rc ? -1 : 0;
}

/* ---- a finished run ------------------------------------------------------ */

int lst_run_open(lst_run_t *r, const char *rundir, lst_err_t *err) {
    memset(r, 0, sizeof *r);
    char path[LST_PATH_MAX + 64];
    lst_rundir_path(path, rundir, "run.json");
    if (lst_run_load(&r->opts, path, err)) return -1;
    lst_tuner_t t;
    memset(&t, 0, sizeof t);
    if (open_model(&r->opts, &r->tok, &t, r->opts.bb_dtype, 0, err)) {
        lst_tuner_free(&t);
        lst_run_close(r);
        return -1;
    }
    if (lst_rundir_check_backbone(&r->opts, t.bb.fp_config, t.bb.fp_weights, err)) {
        lst_tuner_free(&t);
        lst_run_close(r);
        return lst_fail_ctx(err, "%s", rundir);
    }
    lst_rundir_path(path, rundir, lst_rundir_trained_name(t.backbone));
    if (lst_layout_load(path, t.params, t.n_params, t.flat, err)) {
        lst_tuner_free(&t);
        lst_run_close(r);
        return lst_fail_ctx(err, "%s (has the run finished?)", rundir);
    }
    if (!t.backbone && lst_bb_freeze(&t.bb, r->opts.bb_dtype, err)) {
        lst_tuner_free(&t);
        lst_run_close(r);
        return -1;
    }
    /* the run keeps the model; the tuner's activations were never allocated */
    r->bb = t.bb;
    r->side = t.side;
    r->sidep = t.backbone ? NULL : &r->side;
    r->task = strcmp(r->opts.task, "custom") ? lst_task_find(r->opts.task) : NULL;
    return 0;
}

void lst_run_close(lst_run_t *r) {
    lst_side_free(&r->side);
    lst_bb_free(&r->bb);
    lst_train_opts_free(&r->opts);
    lst_tokenizer_free(r->tok);
    memset(r, 0, sizeof *r);
}

int lst_run_split(const lst_run_t *r, const char *split, lst_tokdata_t *out, lst_err_t *err) {
    rundata_t d;
    if (load_data(&r->opts, r->tok, &d, err)) return -1;
    lst_tokdata_t *pick = !strcmp(split, "train") ? &d.train
                          : !strcmp(split, "validation") ? &d.val
                          : !strcmp(split, "test") && d.has_test ? &d.test : NULL;
    if (!pick) {
        rundata_free(&d);
        if (!strcmp(split, "test"))
            return lst_fail(err, "the run has no test split: it was trained with --task custom and no "
                            "--test file (splits: train, validation)");
        return lst_fail(err, "unknown split '%s' (train, validation, test)", split);
    }
    *out = *pick;
    memset(pick, 0, sizeof *pick);
    rundata_free(&d);
    return 0;
}

static int cmp_text(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int lst_run_majority(const char *rundir, const char *split, double *pct, lst_err_t *err) {
    lst_run_t r;
    memset(&r, 0, sizeof r);
    char path[LST_PATH_MAX + 64];
    lst_rundir_path(path, rundir, "run.json");
    if (lst_run_load(&r.opts, path, err)) return -1;
    r.tok = lst_tokenizer_load(r.opts.spm, err);
    lst_tokdata_t d = {0};
    int rc = !r.tok || lst_run_split(&r, split, &d, err) ? -1 : 0;
    /* the most frequent target text's share (what always answering it scores):
     * the texts sorted, the longest run of equal ones */
    char **t = rc || !d.n ? NULL : lst_malloc((size_t)d.n, sizeof *t, err);
    if (!rc && d.n && !t) rc = -1;
    int best = 0;
    if (t) {
        memcpy(t, d.target_text, sizeof *t * (size_t)d.n);
        qsort(t, (size_t)d.n, sizeof *t, cmp_text);
        for (int i = 0, run = 0; i < d.n; i++) {
            run = i && !strcmp(t[i], t[i - 1]) ? run + 1 : 1;
            if (run > best) best = run;
        }
        free(t);
    }
    if (!rc) *pct = d.n ? 100.0 * best / d.n : NAN;
    lst_tokdata_free(&d);
    lst_tokenizer_free(r.tok);
    lst_train_opts_free(&r.opts);
    return rc;
}
