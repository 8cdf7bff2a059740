/* run_config.c: run.json, the options a run was started with, so that
 * `lst train --resume`, `lst eval` and `lst predict` rebuild exactly the
 * same model and data from the run directory alone. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/fileio.h"
#include "../core/version.h"
#include "../model/backbone_open.h"
#include "tapcache.h"
#include "trainer.h"

void lst_train_opts_default(lst_train_opts_t *o) {
    memset(o, 0, sizeof *o);
    o->side.r = 8;
    o->side.gate_T = 0.1f;
    o->side.n_keep[0] = o->side.n_keep[1] = -1; /* all, once the backbone is known */
    snprintf(o->init, sizeof o->init, "fisher");
    o->lr = 3e-3;
    o->clip = 1.0;
    o->epochs = 20;
    o->batch = 100;
    o->grad_accum = 1;
    o->eval_batch = 100;
    o->warmup = 500;
    o->max_src = 128;
    o->fisher_samples = 1024;
    o->gen_val = 20;
    o->gen_test = 128;
    o->bb_dropout = 1;
    lst_method_default(&o->method, "lst");
}

double lst_method_lr(const char *m) {
    const lst_method_info_t *info = lst_method_info(m);
    return info ? info->paper_lr : 3e-4;
}

/* Stores a path made absolute, so the run directory works from anywhere. */
static void add_path(cJSON *o, const char *key, const char *p) {
    char abs[PATH_MAX];
    if (!p[0]) return;
    cJSON_AddStringToObject(o, key, realpath(p, abs) ? abs : p);
}

static cJSON *layers(const lst_side_opts_t *s, int st) {
    cJSON *a = cJSON_CreateArray();
    for (int k = 0; k < s->n_keep[st]; k++) cJSON_AddItemToArray(a, cJSON_CreateNumber(s->keep[st][k]));
    return a;
}

/* The backbone's fingerprint as hex strings (a JSON number would lose bits). */
void *lst_run_fp_json(const lst_train_opts_t *o) {
    char a[20], b[20];
    snprintf(a, sizeof a, "%016" PRIx64, o->fp_config);
    snprintf(b, sizeof b, "%016" PRIx64, o->fp_weights);
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "config_xxh3", a);
    cJSON_AddStringToObject(f, "weights_xxh3", b);
    return f;
}

static int hex64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsString(v) || strlen(v->valuestring) != 16) return -1;
    uint64_t x = 0;
    for (const char *p = v->valuestring; *p; p++) {
        const int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
        if (d < 0) return -1;
        x = x << 4 | (uint64_t)d;
    }
    *out = x;
    return 0;
}

int lst_run_fp_parse(const void *fp, lst_train_opts_t *o, const char *path, lst_err_t *err) {
    const cJSON *f = fp;
    o->has_fp = 0;
    if (!f) return 0; /* run files before the fingerprint */
    if (hex64(cJSON_GetObjectItemCaseSensitive(f, "config_xxh3"), &o->fp_config) ||
        hex64(cJSON_GetObjectItemCaseSensitive(f, "weights_xxh3"), &o->fp_weights))
        return lst_fail(err, "%s: 'backbone_fingerprint' needs config_xxh3 and weights_xxh3 as 16 "
                        "hex digits", path);
    o->has_fp = 1;
    return 0;
}

void *lst_run_json(const lst_train_opts_t *o) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "version", 1);
    add_path(j, "model", o->model);
    add_path(j, "spm", o->spm);
    cJSON_AddStringToObject(j, "task", o->task);
    add_path(j, "data", o->data);
    add_path(j, "train_file", o->train_file);
    add_path(j, "valid_file", o->valid_file);
    add_path(j, "test_file", o->test_file);
    cJSON_AddStringToObject(j, "method", o->method.name);
    cJSON_AddNumberToObject(j, "adapter_dim", o->method.adapter_dim);
    cJSON_AddNumberToObject(j, "lora_rank", o->method.lora_rank);
    cJSON_AddNumberToObject(j, "prompt_len", o->method.prompt_len);
    cJSON_AddNumberToObject(j, "freeze_layers", o->freeze_layers);
    cJSON_AddNumberToObject(j, "r", o->side.r);
    cJSON_AddItemToObject(j, "encoder_side_layers", layers(&o->side, 0));
    cJSON_AddItemToObject(j, "decoder_side_layers", layers(&o->side, 1));
    cJSON_AddNumberToObject(j, "gate_T", o->side.gate_T);
    cJSON_AddStringToObject(j, "init", o->init);
    cJSON_AddNumberToObject(j, "lr", o->lr);
    cJSON_AddNumberToObject(j, "clip", o->clip);
    cJSON_AddNumberToObject(j, "epochs", o->epochs);
    cJSON_AddNumberToObject(j, "batch", o->batch);
    cJSON_AddNumberToObject(j, "grad_accum", o->grad_accum);
    cJSON_AddNumberToObject(j, "eval_batch", o->eval_batch);
    cJSON_AddNumberToObject(j, "warmup", o->warmup);
    cJSON_AddNumberToObject(j, "warmup_ratio", o->warmup_ratio);
    cJSON_AddNumberToObject(j, "max_source_length", o->max_src);
    cJSON_AddNumberToObject(j, "fisher_samples", o->fisher_samples);
    cJSON_AddNumberToObject(j, "gen_validation", o->gen_val);
    cJSON_AddNumberToObject(j, "gen_test", o->gen_test);
    cJSON_AddBoolToObject(j, "backbone_dropout", o->bb_dropout);
    cJSON_AddStringToObject(j, "backbone_dtype", lst_wformat_dtype(o->bb_dtype));
    cJSON_AddBoolToObject(j, "full_vocab", o->full_vocab);
    if (!strcmp(o->tap_cache, "memory")) cJSON_AddStringToObject(j, "tap_cache", "memory");
    else add_path(j, "tap_cache", o->tap_cache);
    cJSON_AddStringToObject(j, "tap_cache_dtype", lst_tc_dtype_name(o->tap_cache_dtype));
    cJSON_AddNumberToObject(j, "tap_cache_max", (double)o->tap_cache_max);
    cJSON_AddNumberToObject(j, "checkpoint_every", o->ckpt_every);
    cJSON_AddNumberToObject(j, "eval_every", o->eval_every);
    cJSON_AddNumberToObject(j, "patience", o->patience);
    cJSON_AddNumberToObject(j, "max_steps", (double)o->max_steps);
    cJSON_AddNumberToObject(j, "max_train", (double)o->max_train);
    cJSON_AddNumberToObject(j, "max_memory", (double)o->max_memory);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    if (o->has_fp) cJSON_AddItemToObject(j, "backbone_fingerprint", lst_run_fp_json(o));
    return j;
}

int lst_run_save(const lst_train_opts_t *o, const char *path, lst_err_t *err) {
    cJSON *j = lst_run_json(o);
    /* what wrote it, and when (not in lst_run_json: a checkpoint's copy of the
     * options must not change with the clock) */
    char now[32];
    lst_utc_now(now, sizeof now);
    cJSON_AddStringToObject(j, "lst_version", lst_version());
    cJSON_AddStringToObject(j, "lst_commit", lst_commit());
    cJSON_AddStringToObject(j, "started_utc", now);
    char *text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!text) return lst_fail(err, "out of memory writing %s", path);
    int rc = lst_write_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}

/* ---- reading it back ------------------------------------------------------ */

/* How a run.json number is stored: every integer must be an integer and fit
 * its C type (a range inside the type's), reals must be in range. */
enum { F_INT, F_I64, F_U64, F_DBL, F_FLT, F_BOOL };

typedef struct {
    const char *key;
    int kind, optional;
    double lo, hi;
    void *dst;
} field_t;

static int load_field(const cJSON *j, const field_t *f, const char *path, lst_err_t *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, f->key);
    if (!v && f->optional) return 0;
    double x;
    if (cJSON_IsBool(v) && f->kind == F_BOOL) x = cJSON_IsTrue(v);
    else if (cJSON_IsNumber(v)) x = v->valuedouble;
    else return lst_fail(err, "%s: key '%s' is missing or not a number", path, f->key);
    const int integer = f->kind != F_DBL && f->kind != F_FLT;
    if (!(x >= f->lo && x <= f->hi) || (integer && x != floor(x)))
        return lst_fail(err, "%s: key '%s' = %.17g is not %s in [%.17g, %.17g]", path, f->key, x,
                        integer ? "an integer" : "a number", f->lo, f->hi);
    switch (f->kind) {
    case F_INT: case F_BOOL: *(int *)f->dst = (int)x; break;
    case F_I64: *(int64_t *)f->dst = (int64_t)x; break;
    case F_U64: *(uint64_t *)f->dst = (uint64_t)x; break;
    case F_DBL: *(double *)f->dst = x; break;
    case F_FLT: *(float *)f->dst = (float)x; break;
    }
    return 0;
}

static int load_numbers(const cJSON *j, lst_train_opts_t *o, const char *path, lst_err_t *err) {
    int version = 0;
    const double imax = INT_MAX;
    const field_t f[] = {
        {"version", F_INT, 0, 1, 1, &version},
        {"adapter_dim", F_INT, 1, 0, 1e6, &o->method.adapter_dim},
        {"lora_rank", F_INT, 1, 0, 1e6, &o->method.lora_rank},
        {"prompt_len", F_INT, 1, 0, 1e6, &o->method.prompt_len},
        {"freeze_layers", F_INT, 1, 0, 1e6, &o->freeze_layers},
        {"r", F_INT, 0, 1, 1024, &o->side.r},
        {"gate_T", F_FLT, 0, 1e-6, 1e6, &o->side.gate_T},
        {"lr", F_DBL, 0, 0, 100, &o->lr},
        {"clip", F_DBL, 0, 0, 1e6, &o->clip},
        {"epochs", F_INT, 0, 1, 1e5, &o->epochs},
        {"batch", F_INT, 0, 1, 1e6, &o->batch},
        {"grad_accum", F_INT, 1, 1, 1e6, &o->grad_accum},
        {"eval_batch", F_INT, 0, 1, 1e6, &o->eval_batch},
        {"warmup", F_INT, 0, 0, 1e9, &o->warmup},
        {"warmup_ratio", F_DBL, 1, 0, 1, &o->warmup_ratio},
        {"max_source_length", F_INT, 0, 2, 1e5, &o->max_src},
        {"fisher_samples", F_INT, 0, 1, 1e8, &o->fisher_samples},
        {"gen_validation", F_INT, 0, 1, 1e5, &o->gen_val},
        {"gen_test", F_INT, 0, 1, 1e5, &o->gen_test},
        {"backbone_dropout", F_BOOL, 0, 0, 1, &o->bb_dropout},
        {"full_vocab", F_BOOL, 0, 0, 1, &o->full_vocab},
        {"checkpoint_every", F_INT, 0, 0, imax, &o->ckpt_every},
        {"eval_every", F_INT, 1, 0, imax, &o->eval_every},
        {"patience", F_INT, 1, 0, imax, &o->patience},
        {"max_steps", F_I64, 0, 0, 1099511627776.0, &o->max_steps}, /* the CLI's 2^40 */
        {"max_train", F_I64, 0, 0, 1099511627776.0, &o->max_train},
        {"max_memory", F_I64, 1, 0, 9e18, &o->max_memory}, /* older run files lack it */
        {"tap_cache_max", F_I64, 1, 0, 9e18, &o->tap_cache_max},
        {"seed", F_U64, 0, 0, 9007199254740992.0, &o->seed}, /* a double's exact integers */
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (load_field(j, &f[i], path, err)) return -1;
    return 0;
}

static int str(const cJSON *j, const char *key, char *out, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v) {
        out[0] = 0;
        return 0;
    }
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap) return -1;
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return 0;
}

static int load_strings(const cJSON *j, lst_train_opts_t *o, const char *path, lst_err_t *err) {
    int bad = 0;
    bad |= str(j, "model", o->model, sizeof o->model) | str(j, "spm", o->spm, sizeof o->spm);
    bad |= str(j, "task", o->task, sizeof o->task) | str(j, "data", o->data, sizeof o->data);
    bad |= str(j, "train_file", o->train_file, sizeof o->train_file);
    bad |= str(j, "valid_file", o->valid_file, sizeof o->valid_file);
    bad |= str(j, "test_file", o->test_file, sizeof o->test_file);
    bad |= str(j, "init", o->init, sizeof o->init);
    bad |= str(j, "tap_cache", o->tap_cache, sizeof o->tap_cache);
    if (bad || !o->model[0] || !o->spm[0] || !o->task[0])
        return lst_fail(err, "%s: malformed run file (a key is missing or has the wrong type)", path);
    /* the method (optional: older run files are LST runs) */
    char method[sizeof o->method.name] = "lst";
    if (str(j, "method", method, sizeof method))
        return lst_fail(err, "%s: key 'method' is not a short string", path);
    if (!method[0]) snprintf(method, sizeof method, "lst");
    int mode = 0;
    if (lst_method_side_mode(method, &mode) && !lst_method_trains_backbone(method))
        return lst_fail(err, "%s: unknown method '%s'", path, method);
    lst_method_default(&o->method, method);
    char tdt[16] = "";
    if (str(j, "tap_cache_dtype", tdt, sizeof tdt) ||
        (o->tap_cache_dtype = lst_tc_dtype_parse(tdt[0] ? tdt : "f32")) < 0)
        return lst_fail(err, "%s: tap_cache_dtype '%s' is none of f32, bf16, f16", path, tdt);
    char dtype[16] = "fp32";
    if (str(j, "backbone_dtype", dtype, sizeof dtype) ||
        lst_wformat_parse(dtype[0] ? dtype : "fp32", &o->bb_dtype))
        return lst_fail(err, "%s: backbone_dtype '%s' is none of %s", path, dtype,
                        lst_wformat_dtypes());
    return 0;
}

/* The kept layers: integers, ascending, each a layer index (the backbone,
 * once opened, checks them against its depth). */
static int load_layers(const cJSON *j, lst_side_opts_t *s, const char *path, lst_err_t *err) {
    for (int st = 0; st < 2; st++) {
        const char *key = st ? "decoder_side_layers" : "encoder_side_layers";
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, key);
        if (!cJSON_IsArray(a))
            return lst_fail(err, "%s: '%s' is not an array of layers", path, key);
        const int n = cJSON_GetArraySize(a);
        int *keep = lst_malloc(n > 0 ? (size_t)n : 1, sizeof *keep, err);
        if (!keep) return -1;
        int k = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, a) {
            const double x = cJSON_IsNumber(e) ? e->valuedouble : -1;
            if (!(x >= 0 && x < INT_MAX) || x != floor(x) || (k && x <= keep[k - 1])) {
                free(keep);
                return lst_fail(err, "%s: '%s' entry %d is not a layer index above the previous "
                                "one", path, key, k);
            }
            keep[k++] = (int)x;
        }
        const int rc = lst_side_opts_set(s, st, keep, k, err);
        free(keep);
        if (rc) return -1;
    }
    return 0;
}

void lst_train_opts_free(lst_train_opts_t *o) { lst_side_opts_free(&o->side); }

int lst_run_load(lst_train_opts_t *o, const char *path, lst_err_t *err) {
    lst_train_opts_default(o);
    char *text = lst_read_file(path, 1 << 20, NULL, err);
    if (!text) return -1;
    cJSON *j = cJSON_Parse(text);
    free(text);
    int rc = cJSON_IsObject(j) ? 0 : lst_fail(err, "%s: not a JSON object", path);
    /* one owner of j, deleted once below whatever fails */
    if (!rc) rc = load_strings(j, o, path, err);
    if (!rc) rc = load_numbers(j, o, path, err);
    if (!rc) rc = load_layers(j, &o->side, path, err);
    if (!rc) rc = lst_run_fp_parse(cJSON_GetObjectItemCaseSensitive(j, "backbone_fingerprint"), o,
                                   path, err);
    if (!rc) lst_method_side_mode(o->method.name, &o->side.mode);
    cJSON_Delete(j);
    if (rc) lst_train_opts_free(o); /* nothing half-loaded stays owned */
    return rc;
}
