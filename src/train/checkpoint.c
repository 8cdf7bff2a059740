/* checkpoint.c: see checkpoint.h. */
#include "checkpoint.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/safetensors.h"

/* ---- the state ----------------------------------------------------------- */

char *lst_ckpt_state_text(const lst_ckpt_state_t *s, void *run, uint64_t seed) {
    cJSON *j = cJSON_CreateObject();
    if (!j) {
        cJSON_Delete(run);
        return NULL;
    }
    cJSON_AddItemToObject(j, "run", (cJSON *)run);
    cJSON *rng = cJSON_CreateObject();
    cJSON_AddStringToObject(rng, "generator", "philox4x32-10, counter-based");
    cJSON_AddNumberToObject(rng, "seed", (double)seed);
    cJSON_AddStringToObject(rng, "dropout_stream", "step*4 + (0 backbone, 1 side), keyed by example");
    cJSON_AddStringToObject(rng, "epoch_order", "Fisher-Yates from Philox(seed, epoch)");
    cJSON_AddItemToObject(j, "rng", rng);
    cJSON_AddNumberToObject(j, "step", (double)s->step);
    cJSON_AddNumberToObject(j, "total_steps", (double)s->total_steps);
    cJSON_AddNumberToObject(j, "epoch", s->epoch);
    cJSON_AddNumberToObject(j, "batch_index", s->batch_index);
    cJSON_AddNumberToObject(j, "best_epoch", s->best_epoch);
    cJSON_AddNumberToObject(j, "best_step", (double)s->best_step);
    cJSON_AddNumberToObject(j, "since_best", s->since_best);
    if (s->evals) cJSON_AddItemToObject(j, "evaluations", cJSON_Duplicate((const cJSON *)s->evals, 1));
    /* -inf (no validation yet) has no JSON form: best_epoch 0 says so */
    cJSON_AddNumberToObject(j, "best_score", s->best_epoch ? s->best_score : 0.0);
    cJSON_AddNumberToObject(j, "wall_s", s->wall_s);
    cJSON_AddNumberToObject(j, "peak_rss_mib", s->peak_rss_mib);
    cJSON_AddItemToObject(j, "history", cJSON_Duplicate((const cJSON *)s->history, 1));
    /* microseconds are plenty, and keep the text short */
    cJSON *t = cJSON_AddArrayToObject(j, "step_ms");
    for (int64_t i = 0; t && i < s->n_timed; i++)
        cJSON_AddItemToArray(t, cJSON_CreateNumber(round(s->step_ms[i] * 1e3) / 1e3));
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return text;
}

/* An integer field: a JSON number with no fraction, within [lo, hi]. */
static int int_field(const cJSON *j, const char *key, double lo, double hi, int64_t *out,
                     lst_err_t *err) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(x)) return lst_fail(err, "checkpoint state lacks the number '%s'", key);
    const double v = x->valuedouble;
    if (!(v >= lo && v <= hi) || v != floor(v))
        return lst_fail(err, "checkpoint state: '%s' = %.17g does not fit (an integer in [%.0f, %.0f])",
                        key, v, lo, hi);
    *out = (int64_t)v;
    return 0;
}

static int real_field(const cJSON *j, const char *key, int optional, double lo, double hi,
                      double *out, lst_err_t *err) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!x && optional) return 0;
    if (!cJSON_IsNumber(x)) return lst_fail(err, "checkpoint state lacks the number '%s'", key);
    if (!(x->valuedouble >= lo && x->valuedouble <= hi))
        return lst_fail(err, "checkpoint state: '%s' = %g is outside [%g, %g]", key, x->valuedouble,
                        lo, hi);
    *out = x->valuedouble;
    return 0;
}

/* One entry per finished epoch, in order, none after the current step. */
static int check_history(const cJSON *h, const lst_ckpt_state_t *s, lst_err_t *err) {
    if (!cJSON_IsArray(h)) return lst_fail(err, "checkpoint state lacks 'history'");
    if (cJSON_GetArraySize(h) != s->epoch)
        return lst_fail(err, "checkpoint state: %d history entries for %d finished epochs",
                        cJSON_GetArraySize(h), s->epoch);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, h) {
        int64_t ep, st;
        if (int_field(e, "epoch", i + 1, i + 1, &ep, err) ||
            int_field(e, "step", 0, (double)s->step, &st, err))
            return lst_fail_ctx(err, "history entry %d", i);
        i++;
    }
    return 0;
}

/* The position must be one the trainer writes: step == epoch x per_epoch +
 * batch_index, except where max-steps ended an epoch early (step ==
 * total_steps inside the last epoch, batch index 0). */
static int check_position(const lst_ckpt_state_t *s, const lst_ckpt_shape_t *sh, lst_err_t *err) {
    const int64_t at = (int64_t)s->epoch * sh->per_epoch + s->batch_index;
    const int early = s->batch_index == 0 && s->epoch >= 1 && s->step == sh->total_steps &&
                      s->step > (int64_t)(s->epoch - 1) * sh->per_epoch && s->step < at;
    if (s->step != at && !early)
        return lst_fail(err, "checkpoint state: step %lld does not agree with epoch %d, batch %d "
                        "(%d batches an epoch: step %lld)", (long long)s->step, s->epoch,
                        s->batch_index, sh->per_epoch, (long long)at);
    /* the best is a finished epoch's, or (--eval-every) a step's inside the epoch in
     * progress; where the state names its step, the step lies in that epoch */
    const int64_t pe = sh->per_epoch;
    const int inside = s->best_epoch == s->epoch + 1 && s->batch_index > 0 &&
                       s->best_step > (int64_t)s->epoch * pe && s->best_step <= s->step;
    if (s->best_epoch > s->epoch && !inside)
        return lst_fail(err, "checkpoint state: best epoch %d is after the current epoch %d (best step "
                        "%lld)", s->best_epoch, s->epoch, (long long)s->best_step);
    if (s->best_step && (!s->best_epoch || s->best_step > s->step ||
                         s->best_step <= (int64_t)(s->best_epoch - 1) * pe ||
                         s->best_step > (int64_t)s->best_epoch * pe))
        return lst_fail(err, "checkpoint state: best step %lld is not in best epoch %d (%lld batches an "
                        "epoch, step %lld)", (long long)s->best_step, s->best_epoch, (long long)pe,
                        (long long)s->step);
    return 0;
}

static int parse_timing(lst_ckpt_state_t *s, const cJSON *j, lst_err_t *err) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "step_ms");
    s->n_timed = 0;
    if (!t) return 0; /* older checkpoints: the steps before it go untimed */
    /* one time per step, fewer only when the run began before the step times */
    if (!cJSON_IsArray(t) || cJSON_GetArraySize(t) > s->step)
        return lst_fail(err, "checkpoint state: 'step_ms' is not an array of at most %lld step times",
                        (long long)s->step);
    const cJSON *e;
    cJSON_ArrayForEach(e, t) {
        if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble < 1e12))
            return lst_fail(err, "checkpoint state: step time %lld is not a duration",
                            (long long)s->n_timed + 1);
        s->step_ms[s->n_timed++] = e->valuedouble;
    }
    return 0;
}

static int parse_fields(lst_ckpt_state_t *s, const cJSON *j, const lst_ckpt_shape_t *sh,
                        lst_err_t *err) {
    int64_t v[5];
    const char *keys[5] = {"step", "total_steps", "epoch", "batch_index", "best_epoch"};
    const double hi[5] = {(double)sh->total_steps, (double)sh->total_steps, sh->epochs,
                          sh->per_epoch - 1, sh->epochs};
    const double lo[5] = {0, (double)sh->total_steps, 0, 0, 0};
    for (int i = 0; i < 5; i++)
        if (int_field(j, keys[i], lo[i], hi[i], &v[i], err))
            return lst_fail_ctx(err, "this run has %d epochs of %d batches, %lld steps", sh->epochs,
                                sh->per_epoch, (long long)sh->total_steps);
    s->step = v[0];
    s->total_steps = v[1];
    s->epoch = (int)v[2];
    s->batch_index = (int)v[3];
    s->best_epoch = (int)v[4];
    double best = 0;
    s->peak_rss_mib = 0;
    if (real_field(j, "best_score", 0, -1e9, 1e9, &best, err) ||
        real_field(j, "wall_s", 0, 0, 1e12, &s->wall_s, err) ||
        real_field(j, "peak_rss_mib", 1, 0, 1e12, &s->peak_rss_mib, err))
        return -1;
    s->best_score = s->best_epoch ? best : -INFINITY;
    /* optional: checkpoints before --eval-every and --patience */
    s->best_step = 0;
    s->since_best = 0;
    const cJSON *bs = cJSON_GetObjectItemCaseSensitive(j, "best_step");
    const cJSON *sb = cJSON_GetObjectItemCaseSensitive(j, "since_best");
    int64_t x;
    if (bs && int_field(j, "best_step", 0, (double)s->step, &x, err)) return -1;
    if (bs) s->best_step = x;
    if (sb && int_field(j, "since_best", 0, 1e9, &x, err)) return -1;
    if (sb) s->since_best = (int)x;
    return check_position(s, sh, err) || parse_timing(s, j, err) ? -1 : 0;
}

int lst_ckpt_state_parse(lst_ckpt_state_t *s, const char *text, const lst_ckpt_shape_t *shape,
                         void **run, lst_err_t *err) {
    cJSON *j = cJSON_Parse(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return lst_fail(err, "checkpoint state is not a JSON object");
    }
    int rc = parse_fields(s, j, shape, err);
    cJSON *h = NULL;
    if (!rc) {
        h = cJSON_DetachItemFromObjectCaseSensitive(j, "history");
        rc = check_history(h, s, err);
    }
    if (!rc) {
        cJSON_Delete((cJSON *)s->history);
        s->history = h;
        h = NULL;
        cJSON *ev = cJSON_DetachItemFromObjectCaseSensitive(j, "evaluations");
        if (ev && !cJSON_IsArray(ev)) {
            cJSON_Delete(ev);
            rc = lst_fail(err, "checkpoint state: 'evaluations' is not an array");
        } else if (ev) {
            cJSON_Delete((cJSON *)s->evals);
            s->evals = ev;
        }
        if (run) *run = cJSON_DetachItemFromObjectCaseSensitive(j, "run");
    }
    cJSON_Delete(h);
    cJSON_Delete(j);
    return rc;
}

/* ---- the file ------------------------------------------------------------ */

int lst_ckpt_write(const char *path, const char *state_json, const lst_param_t *params,
                   int n_params, const lst_ckpt_part_t *parts, int n_parts, lst_err_t *err) {
    int n = 1 + n_params * n_parts;
    lst_st_out_t *t = lst_calloc(n, sizeof *t, err);
    char *names = lst_calloc((size_t)n, 160, err);
    if (!t || !names) {
        free(t);
        free(names);
        return -1;
    }
    t[0].name = "state";
    t[0].dtype = LST_DT_U8;
    t[0].ndim = 1;
    t[0].shape[0] = (int64_t)strlen(state_json);
    t[0].data = state_json;
    int k = 1;
    for (int p = 0; p < n_parts; p++)
        for (int i = 0; i < n_params; i++, k++) {
            char *nm = names + (size_t)k * 160;
            snprintf(nm, 160, "%s%s", parts[p].prefix, params[i].name);
            t[k].name = nm;
            t[k].dtype = LST_DT_F32;
            t[k].ndim = params[i].ndim;
            t[k].shape[0] = params[i].shape[0];
            t[k].shape[1] = params[i].shape[1];
            t[k].data = parts[p].flat + params[i].offset;
        }
    int rc = lst_st_write(path, t, n, err);
    free(t);
    free(names);
    return rc;
}

int lst_ckpt_read(const char *path, char **state_json, const lst_param_t *params,
                  int n_params, const lst_ckpt_part_t *parts, int n_parts, lst_err_t *err) {
    lst_st_file_t f = {0};
    *state_json = NULL;
    if (lst_st_open(&f, path, err)) return -1;
    const lst_st_tensor_t *st = lst_st_find(&f, "state");
    if (!st || st->dtype != LST_DT_U8 || st->ndim != 1) {
        lst_st_close(&f);
        return lst_fail(err, "%s: not an lst checkpoint (no 'state')", path);
    }
    char *js = malloc(st->nbytes + 1);
    if (!js) {
        lst_st_close(&f);
        return lst_fail(err, "out of memory");
    }
    memcpy(js, st->data, st->nbytes);
    js[st->nbytes] = 0;
    char name[200];
    for (int p = 0; p < n_parts; p++)
        for (int i = 0; i < n_params; i++) {
            snprintf(name, sizeof name, "%s%s", parts[p].prefix, params[i].name);
            if (lst_st_read_f32(&f, name, params[i].ndim, params[i].shape,
                                (float *)parts[p].flat + params[i].offset, err)) {
                free(js);
                lst_st_close(&f);
                return lst_fail_ctx(err, "checkpoint");
            }
        }
    lst_st_close(&f);
    *state_json = js;
    return 0;
}
