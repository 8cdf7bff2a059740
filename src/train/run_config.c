/* run_config.c: run.json, the options a run was started with, so that
 * `lst train --resume`, `lst eval` and `lst predict` rebuild exactly the
 * same model and data from the run directory alone. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/fileio.h"
#include "../model/peft.h"
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
    if (!strcmp(m, "lst") || !strcmp(m, "side-tuning") || !strcmp(m, "compression")) return 3e-3;
    if (!strcmp(m, "prompt")) return 0.3;
    return 3e-4;
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
    cJSON_AddNumberToObject(j, "eval_batch", o->eval_batch);
    cJSON_AddNumberToObject(j, "warmup", o->warmup);
    cJSON_AddNumberToObject(j, "max_source_length", o->max_src);
    cJSON_AddNumberToObject(j, "fisher_samples", o->fisher_samples);
    cJSON_AddNumberToObject(j, "gen_validation", o->gen_val);
    cJSON_AddNumberToObject(j, "gen_test", o->gen_test);
    cJSON_AddBoolToObject(j, "backbone_dropout", o->bb_dropout);
    cJSON_AddStringToObject(j, "backbone_dtype", o->bb_bf16 ? "bf16" : "fp32");
    cJSON_AddBoolToObject(j, "full_vocab", o->full_vocab);
    cJSON_AddNumberToObject(j, "checkpoint_every", o->ckpt_every);
    cJSON_AddNumberToObject(j, "max_steps", (double)o->max_steps);
    cJSON_AddNumberToObject(j, "max_train", (double)o->max_train);
    cJSON_AddNumberToObject(j, "max_memory", (double)o->max_memory);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    return j;
}

int lst_run_save(const lst_train_opts_t *o, const char *path, lst_err_t *err) {
    cJSON *j = lst_run_json(o);
    char *text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    if (!text) return lst_fail(err, "out of memory writing %s", path);
    int rc = lst_write_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}

static int num(const cJSON *j, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v) && !cJSON_IsBool(v)) return -1;
    *out = cJSON_IsBool(v) ? cJSON_IsTrue(v) : v->valuedouble;
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

int lst_run_load(lst_train_opts_t *o, const char *path, lst_err_t *err) {
    lst_train_opts_default(o);
    char *text = lst_read_file(path, 1 << 20, NULL, err);
    if (!text) return -1;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return lst_fail(err, "%s: not a JSON object", path);
    }
    int bad = 0;
    bad |= str(j, "model", o->model, sizeof o->model) | str(j, "spm", o->spm, sizeof o->spm);
    bad |= str(j, "task", o->task, sizeof o->task) | str(j, "data", o->data, sizeof o->data);
    bad |= str(j, "train_file", o->train_file, sizeof o->train_file);
    bad |= str(j, "valid_file", o->valid_file, sizeof o->valid_file);
    bad |= str(j, "test_file", o->test_file, sizeof o->test_file);
    bad |= str(j, "init", o->init, sizeof o->init);
    /* the method (optional: older run files are LST runs) */
    char method[sizeof o->method.name] = "lst";
    bad |= str(j, "method", method, sizeof method);
    if (!method[0]) snprintf(method, sizeof method, "lst");
    lst_method_default(&o->method, method);
    const char *mk[4] = {"adapter_dim", "lora_rank", "prompt_len", "freeze_layers"};
    int *mf[4] = {&o->method.adapter_dim, &o->method.lora_rank, &o->method.prompt_len,
                  &o->freeze_layers};
    for (int i = 0; i < 4; i++) {
        double x = *mf[i];
        num(j, mk[i], &x);
        if (!(x >= 0 && x <= 1e6) || x != (int)x) {
            cJSON_Delete(j);
            return lst_fail(err, "%s: key '%s' = %g is outside [0, 1e6]", path, mk[i], x);
        }
        *mf[i] = (int)x;
    }
    char dtype[8] = "fp32";
    bad |= str(j, "backbone_dtype", dtype, sizeof dtype); /* optional: older runs are fp32 */
    if (strcmp(dtype, "fp32") && strcmp(dtype, "bf16") && dtype[0]) {
        cJSON_Delete(j);
        return lst_fail(err, "%s: backbone_dtype '%s' is neither fp32 nor bf16", path, dtype);
    }
    o->bb_bf16 = !strcmp(dtype, "bf16");
    double mm = 0;
    num(j, "max_memory", &mm); /* optional (older run files lack it) */
    if (mm >= 0 && mm <= 9e18) o->max_memory = (int64_t)mm;
    double v[19];
    const char *keys[19] = {"r", "gate_T", "lr", "clip", "epochs", "batch", "eval_batch",
                            "warmup", "max_source_length", "fisher_samples", "gen_validation",
                            "gen_test", "backbone_dropout", "full_vocab", "checkpoint_every",
                            "max_steps", "max_train", "seed", "version"};
    for (int i = 0; i < 19; i++) bad |= num(j, keys[i], &v[i]);
    for (int st = 0; st < 2 && !bad; st++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, st ? "decoder_side_layers" : "encoder_side_layers");
        if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > LST_MAX_LAYERS) {
            bad = 1;
            break;
        }
        int k = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, a) {
            if (!cJSON_IsNumber(e)) bad = 1;
            else o->side.keep[st][k++] = e->valueint;
        }
        o->side.n_keep[st] = k;
    }
    cJSON_Delete(j);
    if (bad || !o->model[0] || !o->spm[0] || !o->task[0])
        return lst_fail(err, "%s: malformed run file (a key is missing or has the wrong type)", path);
    /* every number checked before it is cast */
    static const struct {
        int idx;
        double lo, hi;
    } range[] = {{0, 1, 1024},  {1, 1e-6, 1e6}, {2, 0, 100},     {3, 0, 1e6},   {4, 1, 1e5},
                 {5, 1, 1e6},   {6, 1, 1e6},   {7, 0, 1e9},      {8, 2, 1e5},   {9, 1, 1e8},
                 {10, 1, 1e5},  {11, 1, 1e5},  {12, 0, 1},       {13, 0, 1},    {14, 0, 1e12},
                 {15, 0, 1e12}, {16, 0, 1e12}, {17, 0, 9e15},    {18, 1, 1}};
    for (size_t i = 0; i < sizeof range / sizeof range[0]; i++) {
        double x = v[range[i].idx];
        if (!(x >= range[i].lo && x <= range[i].hi))
            return lst_fail(err, "%s: key '%s' = %g is outside [%g, %g]", path, keys[range[i].idx], x,
                            range[i].lo, range[i].hi);
    }
    for (int st = 0; st < 2; st++)
        for (int k = 0; k < o->side.n_keep[st]; k++)
            if (o->side.keep[st][k] < 0 || o->side.keep[st][k] >= LST_MAX_LAYERS)
                return lst_fail(err, "%s: a side layer index is outside 0..%d", path, LST_MAX_LAYERS - 1);
    if (mm < 0 || mm > 9e18) return lst_fail(err, "%s: key 'max_memory' is out of range", path);
    o->side.r = (int)v[0];
    o->side.gate_T = (float)v[1];
    if (lst_method_side_mode(o->method.name, &o->side.mode) && !lst_method_is_backbone(o->method.name)) {
        cJSON_Delete(j);
        return lst_fail(err, "%s: unknown method '%s'", path, o->method.name);
    }
    o->lr = v[2];
    o->clip = v[3];
    o->epochs = (int)v[4];
    o->batch = (int)v[5];
    o->eval_batch = (int)v[6];
    o->warmup = (int)v[7];
    o->max_src = (int)v[8];
    o->fisher_samples = (int)v[9];
    o->gen_val = (int)v[10];
    o->gen_test = (int)v[11];
    o->bb_dropout = (int)v[12];
    o->full_vocab = (int)v[13];
    o->ckpt_every = (int)v[14];
    o->max_steps = (int64_t)v[15];
    o->max_train = (int64_t)v[16];
    o->seed = (uint64_t)v[17];
    return 0;
}
