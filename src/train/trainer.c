/* trainer.c: one LST run end to end (see trainer.h).
 *
 * Every random choice is a pure function of the seed and a counter (the
 * epoch for shuffling, the step for dropout masks), so a checkpoint needs
 * only (step, epoch, position in the epoch) to resume bit-exactly. */
#include "trainer.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../core/fileio.h"
#include "../core/streams.h"
#include "../io/safetensors.h"
#include "adamw.h"
#include "checkpoint.h"
#include "evaluate.h"
#include "metrics.h"
#include "schedule.h"
#include "tuner.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

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
        if (lst_glue_load(o->task, o->data, NULL, strcmp(o->method.name, "adapters") != 0, &sp, err))
            return -1;
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
    const lst_tokdata_t *all[3] = {&d->train, &d->val, d->has_test ? &d->test : NULL};
    int mt = lst_tokdata_max_tgt(all, 3);
    for (int k = 0; k < 3; k++)
        for (int i = 0; all[k] && i < all[k]->n; i++)
            if (all[k]->tgt_len[i] > mt) all[k]->tgt_len[i] = mt;
    return 0;
}

/* ---- model --------------------------------------------------------------- */

static int open_model(const lst_train_opts_t *o, lst_tokenizer_t **tok, lst_tuner_t *t,
                      int bf16_load, lst_err_t *err) {
    *tok = lst_tokenizer_load(o->spm, err);
    if (!*tok) return -1;
    const int tv = lst_tokenizer_vocab_size(*tok);
    if (lst_tuner_open(t, o->model, o->full_vocab ? 0 : tv, &o->method, o->freeze_layers, &o->side,
                       bf16_load, o->seed, err))
        return -1;
    if (t->bb.vocab < tv)
        return lst_fail(err, "%s: the model's vocabulary (%d) is smaller than the tokenizer's (%d)",
                        o->model, t->bb.vocab, tv);
    return 0;
}

static int init_side(const lst_train_opts_t *o, const lst_t5_t *bb, lst_side_t *side,
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
    float *imp = lst_calloc(bb->n_floats, sizeof(float), err);
    lst_batch_t b = {0};
    int rc = -1;
    if (order && imp) {
        lst_epoch_order(order, train->n, o->seed, LST_EPOCH_FISHER);
        if (!o->quiet) fprintf(stderr, "lst train: Fisher importance over %d examples...\n", n);
        if (!lst_batch_make(&b, train, order, n, bb->cfg.decoder_start_token_id, err) &&
            !lst_fisher_importance(bb, &b.view, imp, err))
            rc = lst_side_init_prune(side, bb, imp, err);
    }
    lst_batch_release(&b);
    free(order);
    free(imp);
    return rc;
}

/* ---- state --------------------------------------------------------------- */

typedef struct {
    int64_t step, total_steps;
    int epoch, batch_index;  /* next batch to run */
    int best_epoch;
    double best_score;
    double wall_s;
    cJSON *history;          /* [{epoch, step, score, metrics{}}] */
} state_t;

static cJSON *metrics_json(const lst_metrics_t *m) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < m->n; i++) cJSON_AddNumberToObject(o, lst_metric_name(m->kinds[i]), m->values[i]);
    cJSON_AddNumberToObject(o, "score", m->score);
    return o;
}

/* The checkpoint describes itself: the run's options and how every random
 * number is derived, besides the position in training. */
static char *state_text(const state_t *s, const lst_train_opts_t *o) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToObject(j, "run", (cJSON *)lst_run_json(o));
    cJSON *rng = cJSON_CreateObject();
    cJSON_AddStringToObject(rng, "generator", "philox4x32-10, counter-based");
    cJSON_AddNumberToObject(rng, "seed", (double)o->seed);
    cJSON_AddStringToObject(rng, "dropout_stream", "step*4 + (0 backbone, 1 side), keyed by example");
    cJSON_AddStringToObject(rng, "epoch_order", "Fisher-Yates from Philox(seed, epoch)");
    cJSON_AddItemToObject(j, "rng", rng);
    cJSON_AddNumberToObject(j, "step", (double)s->step);
    cJSON_AddNumberToObject(j, "total_steps", (double)s->total_steps);
    cJSON_AddNumberToObject(j, "epoch", s->epoch);
    cJSON_AddNumberToObject(j, "batch_index", s->batch_index);
    cJSON_AddNumberToObject(j, "best_epoch", s->best_epoch);
    /* -inf (no validation yet) has no JSON form: best_epoch 0 says so */
    cJSON_AddNumberToObject(j, "best_score", s->best_epoch ? s->best_score : 0.0);
    cJSON_AddNumberToObject(j, "wall_s", s->wall_s);
    cJSON_AddItemToObject(j, "history", cJSON_Duplicate(s->history, 1));
    char *t = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return t;
}

/* Parses a checkpoint's state and checks it against this run's shape
 * (epochs, batches per epoch, total steps): a damaged or foreign state is
 * refused with the key that is wrong, never used to index anything. */
static int state_parse(state_t *s, const char *text, int epochs, int per_epoch,
                       int64_t total_steps, lst_err_t *err) {
    cJSON *j = cJSON_Parse(text);
    const char *keys[] = {"step", "total_steps", "epoch", "batch_index", "best_epoch", "best_score", "wall_s"};
    double v[7];
    for (int i = 0; i < 7; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, keys[i]);
        if (!cJSON_IsNumber(x)) {
            cJSON_Delete(j);
            return lst_fail(err, "checkpoint state lacks '%s'", keys[i]);
        }
        v[i] = x->valuedouble;
    }
    const double hi[7] = {(double)total_steps, (double)total_steps, epochs, per_epoch, epochs, 1e9, 1e12};
    const double lo[7] = {0, (double)total_steps, 0, 0, 0, -1e9, 0};
    for (int i = 0; i < 7; i++)
        if (!(v[i] >= lo[i] && v[i] <= hi[i]) || (i != 5 && i != 6 && v[i] != floor(v[i]))) {
            cJSON_Delete(j);
            return lst_fail(err, "checkpoint state: '%s' = %g does not fit this run (%d epochs of "
                            "%d batches, %lld steps)", keys[i], v[i], epochs, per_epoch,
                            (long long)total_steps);
        }
    s->step = (int64_t)v[0];
    s->total_steps = (int64_t)v[1];
    s->epoch = (int)v[2];
    s->batch_index = (int)v[3];
    s->best_epoch = (int)v[4];
    s->best_score = s->best_epoch ? v[5] : -INFINITY;
    s->wall_s = v[6];
    cJSON *h = cJSON_DetachItemFromObjectCaseSensitive(j, "history");
    cJSON_Delete(j);
    if (!cJSON_IsArray(h)) {
        cJSON_Delete(h);
        return lst_fail(err, "checkpoint state lacks 'history'");
    }
    cJSON_Delete(s->history);
    s->history = h;
    return 0;
}

/* Writes the checkpoint (atomically) and flushes the step log. Returns 3
 * when --halt-after asks to stop here (as if killed), -1 on failure. */
static int checkpoint(const char *path, const state_t *S, const lst_train_opts_t *o,
                      const lst_tuner_t *t, const lst_ckpt_part_t *parts, FILE *log,
                      lst_err_t *err) {
    const int64_t halt_after = o->halt_after;
    char *st = state_text(S, o);
    int rc = st ? lst_ckpt_write(path, st, t->params, t->n_params, parts, 4, err)
                : lst_fail(err, "out of memory writing the checkpoint state");
    free(st);
    fflush(log);
    if (rc) return -1;
    if (halt_after > 0 && S->step >= halt_after) {
        lst_fail(err, "halted after step %lld as asked (--halt-after)", (long long)S->step);
        return 3;
    }
    return 0;
}

/* ---- outputs ------------------------------------------------------------- */

/* The trained parameters' file in a run directory. */
static void trained_path(char *buf, size_t n, const char *dir, const lst_tuner_t *t) {
    snprintf(buf, n, "%s/%s", dir, t->backbone ? "tuned.safetensors" : "side.safetensors");
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
    cJSON_AddNumberToObject(j, "planned_mib", p->total / M);
    return j;
}

/* Keeps the log rows up to `step` (a resumed run rewrites the rest). */
static FILE *open_log(const char *path, int64_t step, lst_err_t *err) {
    size_t len = 0;
    char *old = NULL;
    if (access(path, F_OK) == 0 && !(old = lst_read_file(path, (size_t)1 << 30, &len, err))) return NULL;
    FILE *f = fopen(path, "w");
    if (!f) {
        free(old);
        lst_fail(err, "%s: cannot write", path);
        return NULL;
    }
    fprintf(f, "step,epoch,loss,lr,grad_norm,elapsed_s\n");
    for (char *line = old ? strtok(old, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        long long st;
        if (sscanf(line, "%lld,", &st) == 1 && st <= step) fprintf(f, "%s\n", line);
    }
    free(old);
    fflush(f);
    return f;
}

/* Name of the first parameter whose gradient holds a NaN or Inf. */
static const char *first_nonfinite(const lst_param_t *p, int n, const float *g) {
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < p[i].numel; j++)
            if (!isfinite(g[p[i].offset + j])) return p[i].name;
    return NULL;
}

static void fmt_time(char *buf, size_t n, double s) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
    else if (s >= 60) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else snprintf(buf, n, "%.0fs", s);
}

/* ---- the run ------------------------------------------------------------- */

/* A run killed while writing leaves "<file>.tmp.XXXXXX" behind (the real
 * file is intact: writes are atomic). Resuming clears them. */
static void remove_stale_temps(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[LST_PATH_MAX + 300];
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
}

int lst_train(lst_train_opts_t *o, int resume, lst_err_t *err) {
    char path[LST_PATH_MAX + 64];
    if (resume) {
        snprintf(path, sizeof path, "%s/run.json", o->out);
        char out[LST_PATH_MAX];
        const int quiet = o->quiet;
        memcpy(out, o->out, sizeof out);
        if (lst_run_load(o, path, err)) return -1;
        memcpy(o->out, out, sizeof out);
        o->quiet = quiet;
        remove_stale_temps(o->out);
    } else {
        snprintf(path, sizeof path, "%s/checkpoint.safetensors", o->out);
        if (access(path, F_OK) == 0)
            return lst_fail(err, "%s already holds a run: use --resume %s, or another --out",
                            o->out, o->out);
        if (o->batch < 1 || o->epochs < 1 || o->eval_batch < 1 || o->max_src < 2)
            return lst_fail(err, "batch, epochs and max source length must be positive");
    }

    lst_tokenizer_t *tok = NULL;
    lst_tuner_t tu = {0};
    rundata_t data = {0};
    lst_adamw_t opt = {0};
    double *step_ms = NULL;
    float *grads = NULL, *best = NULL;
    int *order = NULL;
    FILE *log = NULL;
    state_t S = {0};
    S.history = cJSON_CreateArray();
    int rc = -1;
    lst_plan_t plan;
    const double t0 = now_s();

    /* a bf16 backbone loads straight into bf16 unless the side network's
     * pruning initialisation needs its float32 weights first */
    const int bf16_load = o->bb_bf16 && (resume || !strcmp(o->init, "random"));
    if (open_model(o, &tok, &tu, bf16_load, err)) goto done;
    const lst_t5_t *bb = &tu.bb;
    /* record the resolved kept layers */
    if (!tu.backbone) o->side = tu.side.opts;
    if (load_data(o, tok, &data, err)) goto done;
    const int n_train = data.train.n, B = o->batch;
    const int per_epoch = (n_train + B - 1) / B;
    S.total_steps = (int64_t)per_epoch * o->epochs;
    if (o->max_steps > 0 && o->max_steps < S.total_steps) S.total_steps = o->max_steps;
    S.best_score = -INFINITY;

    /* The memory plan: every buffer of the run, known before the first step. */
    int maxTs = 1, maxTd = 1;
    for (int i = 0; i < n_train; i++) {
        if (data.train.src_len[i] > maxTs) maxTs = data.train.src_len[i];
        if (data.train.tgt_len[i] > maxTd) maxTd = data.train.tgt_len[i];
    }
    const int Bmax = B < n_train ? B : n_train;
    if (lst_plan_compute(&bb->cfg, bb->vocab, &o->method, o->freeze_layers, &o->side, o->bb_bf16, Bmax, maxTs,
                         maxTd, &plan, err))
        goto done;
    plan.best = 4 * tu.n_floats;
    plan.total += plan.best;
    { /* evaluation runs where the step's activations were (released around it) */
        const int gen = o->gen_val > o->gen_test ? o->gen_val : o->gen_test;
        const lst_side_t *sp = lst_tuner_side(&tu);
        plan.evaluation = lst_evaluate_bytes(bb, sp, &data.val, gen, o->eval_batch, o->bb_bf16);
        if (data.has_test) {
            const size_t t = lst_evaluate_bytes(bb, sp, &data.test, o->gen_test, o->eval_batch, o->bb_bf16);
            if (t > plan.evaluation) plan.evaluation = t;
        }
        const size_t step = plan.activations + plan.workspace;
        if (plan.evaluation > step) plan.total += plan.evaluation - step;
    }
    const double MiB = 1048576.0;
    if (o->max_memory > 0 && plan.total > (size_t)o->max_memory) {
        lst_fail(err,
                 "the run needs %.1f MiB (weights %.1f, gradients %.1f, AdamW state %.1f, best copy "
                 "%.1f, and the larger of activations %.1f + backward workspace %.1f for batch %d x "
                 "%d source x %d target tokens and evaluation %.1f at --eval-batch %d) but "
                 "--max-memory is %.1f MiB",
                 plan.total / MiB, plan.weights / MiB, plan.gradients / MiB, plan.optimizer / MiB,
                 plan.best / MiB, plan.activations / MiB, plan.workspace / MiB, Bmax, maxTs, maxTd,
                 plan.evaluation / MiB, o->eval_batch, o->max_memory / MiB);
        goto done;
    }
    /* The side network's initialisation (Fisher and pruning read the float32
     * backbone), then the backbone packed for its forward (the optional bf16
     * one before the activations: the float32 block weights are gone before
     * the step buffers arrive). */
    if (!resume && !tu.backbone && init_side(o, bb, &tu.side, &data.train, err)) goto done;
    if (!tu.backbone && lst_t5_freeze(&tu.bb, o->bb_bf16, err)) goto done;
    grads = lst_calloc(tu.n_floats, sizeof(float), err);
    best = lst_calloc(tu.n_floats, sizeof(float), err);
    order = lst_malloc(n_train, sizeof(int), err);
    step_ms = lst_calloc(S.total_steps + 1, sizeof(double), err);
    if (!grads || !best || !order || !step_ms || lst_tuner_alloc(&tu, Bmax, maxTs, maxTd, err)) {
        lst_fail_ctx(err, "allocating the planned %.1f MiB", plan.total / MiB);
        goto done;
    }
    if (!resume) { /* only now: a run that cannot start leaves no directory */
        if (lst_mkdir_p(o->out, err)) goto done;
        snprintf(path, sizeof path, "%s/run.json", o->out);
        if (lst_run_save(o, path, err)) goto done;
    }
    lst_adamw_cfg_t ac;
    lst_adamw_cfg_default(&ac);
    ac.lr = o->lr;
    if (lst_adamw_init(&opt, &ac, tu.n_floats, err)) goto done;
    lst_ckpt_part_t parts[4] = {{tu.flat, "param."}, {opt.m, "adam_m."}, {opt.v, "adam_v."},
                                {best, "best."}};
    char ckpt[LST_PATH_MAX + 64];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", o->out);
    if (resume) {
        char *st = NULL;
        if (lst_ckpt_read(ckpt, &st, tu.params, tu.n_params, parts, 4, err) ||
            state_parse(&S, st, o->epochs, per_epoch, S.total_steps, err)) {
            free(st);
            lst_fail_ctx(err, "resuming %s", o->out);
            goto done;
        }
        free(st);
        opt.step = S.step;
        if (!o->quiet)
            fprintf(stderr, "lst train: resuming %s at step %lld (epoch %d)\n", o->out,
                    (long long)S.step, S.epoch + 1);
    } else {
        memcpy(best, tu.flat, sizeof(float) * tu.n_floats); /* initialised above */
    }
    snprintf(path, sizeof path, "%s/log.csv", o->out);
    if (!(log = open_log(path, S.step, err))) goto done;

    const int is_tty = isatty(2);
    const float p_drop = bb->cfg.dropout_rate;
    int64_t n_timed = 0;
    double last_print = 0, loss_avg = NAN;
    const double run_start = now_s(), wall_before = S.wall_s;
    const int64_t step_start = S.step;
    char eta[32];
    int acts_live = 1; /* allocated with the plan above */
    while (S.step < S.total_steps && S.epoch < o->epochs) {
        if (!acts_live && lst_tuner_alloc(&tu, Bmax, maxTs, maxTd, err)) goto done;
        acts_live = 1;
        lst_epoch_order(order, n_train, o->seed, S.epoch);
        for (; S.batch_index < per_epoch && S.step < S.total_steps; S.batch_index++) {
            const int first = S.batch_index * B, nb = n_train - first < B ? n_train - first : B;
            lst_batch_t b;
            if (lst_batch_make(&b, &data.train, order + first, nb, bb->cfg.decoder_start_token_id, err))
                goto done;
            const double ts = now_s();
            const uint64_t bs = lst_stream_drop(S.step, LST_STREAM_DROP_BACKBONE);
            lst_drop_t bd = {o->bb_dropout ? p_drop : 0, o->seed, bs};
            lst_drop_t sd = {p_drop, o->seed, lst_stream_drop(S.step, LST_STREAM_DROP_SIDE)};
            /* backbone methods train the backbone itself: its dropout is theirs */
            lst_drop_t td = {p_drop, o->seed, bs};
            memset(grads, 0, sizeof(float) * tu.n_floats);
            int brc;
            double loss = lst_tuner_step(&tu, &b.view, tu.backbone ? &td : &bd, &sd, grads, &brc, err);
            lst_batch_release(&b);
            if (brc) goto done;
            if (!isfinite(loss)) {
                lst_fail(err, "the loss is %g at step %lld: stopping; the last checkpoint is kept",
                         loss, (long long)S.step + 1);
                goto done;
            }
            double gnorm = lst_clip_grad_norm(tu.params, tu.n_params, grads, o->clip);
            if (!isfinite(gnorm)) {
                const char *bad = first_nonfinite(tu.params, tu.n_params, grads);
                lst_fail(err, "the gradient of %s is not finite at step %lld: stopping; the last "
                         "checkpoint is kept", bad ? bad : "?", (long long)S.step + 1);
                goto done;
            }
            double lr = lst_lr_at(o->lr, S.step, o->warmup, S.total_steps);
            lst_adamw_step(&opt, tu.params, tu.n_params, tu.flat, grads, lr);
            step_ms[n_timed++] = (now_s() - ts) * 1e3;
            S.step++;
            double elapsed = wall_before + now_s() - run_start;
            fprintf(log, "%lld,%d,%.6f,%.6g,%.6f,%.3f\n", (long long)S.step, S.epoch + 1, loss, lr,
                    gnorm, elapsed);
            loss_avg = isnan(loss_avg) ? loss : 0.95 * loss_avg + 0.05 * loss;
            double t = now_s();
            if (!o->quiet && (t - last_print > (is_tty ? 0.2 : 10.0) || S.step == S.total_steps)) {
                double sps = (S.step - step_start) / (t - run_start);
                fmt_time(eta, sizeof eta, (S.total_steps - S.step) / sps);
                fprintf(stderr, "%sepoch %d/%d  step %lld/%lld  loss %.4f  lr %.2e  %.2f steps/s  ETA %s  rss %.0f MiB%s",
                        is_tty ? "\r" : "", S.epoch + 1, o->epochs, (long long)S.step,
                        (long long)S.total_steps, loss_avg, lr, sps, eta, peak_rss_mib(),
                        is_tty ? "\033[K" : "\n");
                last_print = t;
            }
            if (o->ckpt_every > 0 && S.step % o->ckpt_every == 0 && S.batch_index + 1 < per_epoch) {
                S.batch_index++; /* resume after this batch */
                S.wall_s = elapsed;
                int crc = checkpoint(ckpt, &S, o, &tu, parts, log, err);
                S.batch_index--;
                if (crc) {
                    rc = crc == 3 ? 3 : -1;
                    goto done;
                }
            }
        }
        if (!o->quiet && is_tty) fputc('\n', stderr);
        /* validation at the end of the epoch (or where max-steps stopped), in
         * the place of the step's activations (the plan counts the larger) */
        lst_metrics_t vm;
        lst_tuner_release(&tu);
        if (lst_evaluate(bb, lst_tuner_side(&tu), tok, &data.val, data.task, o->gen_val,
                         o->eval_batch, &vm, NULL, err))
            goto done;
        acts_live = 0;
        cJSON *h = cJSON_CreateObject();
        cJSON_AddNumberToObject(h, "epoch", S.epoch + 1);
        cJSON_AddNumberToObject(h, "step", (double)S.step);
        cJSON_AddItemToObject(h, "validation", metrics_json(&vm));
        cJSON_AddItemToArray(S.history, h);
        if (vm.score > S.best_score) { /* strict: ties keep the earlier epoch */
            S.best_score = vm.score;
            S.best_epoch = S.epoch + 1;
            memcpy(best, tu.flat, sizeof(float) * tu.n_floats);
        }
        if (!o->quiet)
            fprintf(stderr, "epoch %d: validation score %.2f (best %.2f at epoch %d)\n", S.epoch + 1,
                    vm.score, S.best_score, S.best_epoch);
        S.epoch++;
        S.batch_index = 0;
        S.wall_s = wall_before + now_s() - run_start;
        int crc = checkpoint(ckpt, &S, o, &tu, parts, log, err);
        if (crc) {
            rc = crc == 3 ? 3 : -1;
            goto done;
        }
    }

    /* The best epoch's weights: validation and test with the long generation. */
    lst_tuner_release(&tu);
    memcpy(tu.flat, best, sizeof(float) * tu.n_floats);
    trained_path(path, sizeof path, o->out, &tu);
    if (lst_layout_save(path, tu.params, tu.n_params, tu.flat, err)) goto done;
    lst_metrics_t bv, bt;
    const lst_side_t *sp = lst_tuner_side(&tu);
    if (lst_evaluate(bb, sp, tok, &data.val, data.task, o->gen_test, o->eval_batch, &bv, NULL, err))
        goto done;
    if (data.has_test &&
        lst_evaluate(bb, sp, tok, &data.test, data.task, o->gen_test, o->eval_batch, &bt, NULL, err))
        goto done;

    cJSON *mj = cJSON_CreateObject();
    cJSON_AddStringToObject(mj, "task", o->task);
    cJSON_AddStringToObject(mj, "method", o->method.name);
    cJSON_AddItemToObject(mj, "epochs", cJSON_Duplicate(S.history, 1));
    cJSON_AddNumberToObject(mj, "best_epoch", S.best_epoch);
    cJSON_AddItemToObject(mj, "validation", metrics_json(&bv));
    if (data.has_test) cJSON_AddItemToObject(mj, "test", metrics_json(&bt));
    /* the share's denominator: the backbone itself, as in the paper */
    const double backbone = (double)lst_t5_param_count(&bb->cfg, bb->vocab);
    cJSON_AddNumberToObject(mj, "trainable_params", (double)tu.n_floats);
    cJSON_AddNumberToObject(mj, "backbone_params", backbone);
    cJSON_AddNumberToObject(mj, "trainable_percent", 100.0 * tu.n_floats / backbone);
    if (n_timed > 0) {
        cJSON_AddNumberToObject(mj, "step_ms_median", lst_median(step_ms, (int)n_timed));
    } else { /* a resumed run that had no step left to time */
        cJSON_AddNullToObject(mj, "step_ms_median");
    }
    cJSON_AddNumberToObject(mj, "steps", (double)S.step);
    cJSON_AddNumberToObject(mj, "train_examples", n_train);
    cJSON_AddNumberToObject(mj, "peak_rss_mib", peak_rss_mib());
    cJSON_AddNumberToObject(mj, "planned_mib", plan.total / MiB);
    cJSON_AddItemToObject(mj, "memory", plan_json(&plan));
    cJSON_AddNumberToObject(mj, "wall_s", wall_before + now_s() - run_start);
    char *text = cJSON_Print(mj);
    cJSON_Delete(mj);
    snprintf(path, sizeof path, "%s/metrics.json", o->out);
    if (!text || lst_write_atomic(path, text, strlen(text), err)) {
        free(text);
        goto done;
    }
    if (!o->quiet) printf("%s\n", text);
    free(text);
    rc = 0;
    (void)t0;
done:
    if (log) fclose(log);
    cJSON_Delete(S.history);
    free(grads);
    free(best);
    free(order);
    free(step_ms);
    lst_adamw_free(&opt);
    rundata_free(&data);
    lst_tuner_free(&tu);
    lst_tokenizer_free(tok);
    return rc;
}

/* ---- a finished run ------------------------------------------------------ */

int lst_run_open(lst_run_t *r, const char *rundir, lst_err_t *err) {
    memset(r, 0, sizeof *r);
    char path[LST_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/run.json", rundir);
    if (lst_run_load(&r->opts, path, err)) return -1;
    lst_tuner_t t;
    memset(&t, 0, sizeof t);
    if (open_model(&r->opts, &r->tok, &t, r->opts.bb_bf16, err)) {
        lst_tuner_free(&t);
        lst_run_close(r);
        return -1;
    }
    trained_path(path, sizeof path, rundir, &t);
    if (lst_layout_load(path, t.params, t.n_params, t.flat, err)) {
        lst_tuner_free(&t);
        lst_run_close(r);
        return lst_fail_ctx(err, "%s (has the run finished?)", rundir);
    }
    if (!t.backbone && lst_t5_freeze(&t.bb, r->opts.bb_bf16, err)) {
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
    lst_t5_free(&r->bb);
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
        return lst_fail(err, "unknown or absent split '%s' (train, validation, test)", split);
    }
    *out = *pick;
    memset(pick, 0, sizeof *pick);
    rundata_free(&d);
    return 0;
}
