/* export.c: see export.h. */
#include "export.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../core/fileio.h"
#include "../io/safetensors.h"
#include "../model/side.h"
#include "rundir.h"

#define LORA_ALPHA 32 /* LST-SPEC section 6; the t5 LoRA part's */

/* Appends "key" = printf(fmt, ...) to meta / buf; -1 when out of room. */
typedef struct {
    const char **meta;
    int n, cap;
    char *buf;
    size_t used, len;
} meta_t;

static int put(meta_t *m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int put(meta_t *m, const char *key, const char *fmt, ...) {
    if (m->n + 3 > m->cap) return -1;
    char *at = m->buf + m->used;
    va_list ap;
    va_start(ap, fmt);
    const int k = vsnprintf(at, m->len - m->used, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= m->len - m->used) return -1;
    m->used += (size_t)k + 1;
    m->meta[m->n++] = key;
    m->meta[m->n++] = at;
    m->meta[m->n] = NULL;
    return 0;
}

/* The shortest decimal that reads back as x ("0.1", not "0.100000001"). */
static int put_float(meta_t *m, const char *key, float x) {
    char b[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(b, sizeof b, "%.*g", digits, (double)x);
        if (strtof(b, NULL) == x) break;
    }
    return put(m, key, "%s", b);
}

/* A stack's kept layers as a JSON list: "[0,1,2]". */
static int put_layers(meta_t *m, const char *key, const lst_side_opts_t *s, int st) {
    char list[4096] = "[";
    size_t at = 1;
    for (int k = 0; k < s->n_keep[st]; k++) {
        const int w = snprintf(list + at, sizeof list - at, "%s%d", k ? "," : "", s->keep[st][k]);
        if (w < 0 || (size_t)w >= sizeof list - at - 1) return -1;
        at += (size_t)w;
    }
    list[at] = ']';
    list[at + 1] = 0;
    return put(m, key, "%s", list);
}

int lst_export_meta(const lst_train_opts_t *o, const lst_tuner_t *tu, const char **meta, int cap,
                    char *buf, size_t len) {
    meta_t m = {meta, 0, cap, buf, 0, len};
    const lst_method_t *me = &o->method;
    int bad = put(&m, "lst_method", "%s", me->name) |
              put(&m, "lst_format_version", "1");
    if (o->has_fp)
        bad |= put(&m, "backbone_config_xxh3", "%016" PRIx64, o->fp_config) |
               put(&m, "backbone_weights_xxh3", "%016" PRIx64, o->fp_weights);
    const lst_side_t *s = lst_tuner_side(tu);
    if (s) {
        bad |= put(&m, "side_mode", "%s", lst_side_mode_name(s->opts.mode)) |
               put(&m, "r", "%d", s->opts.r) | put_float(&m, "gate_T", s->opts.gate_T) |
               put_layers(&m, "encoder_side_layers", &s->opts, 0) |
               put_layers(&m, "decoder_side_layers", &s->opts, 1);
    } else if (!strcmp(me->name, "lora")) {
        bad |= put(&m, "lora_rank", "%d", me->lora_rank) | put(&m, "lora_alpha", "%d", LORA_ALPHA);
    } else if (!strcmp(me->name, "prompt")) {
        bad |= put(&m, "prompt_len", "%d", me->prompt_len);
    } else if (!strcmp(me->name, "adapters")) {
        bad |= put(&m, "adapter_dim", "%d", me->adapter_dim ? me->adapter_dim : tu->bb.d_model / 16);
    }
    if (o->freeze_layers) bad |= put(&m, "freeze_layers", "%d", o->freeze_layers);
    return bad ? -1 : 0;
}

/* A tensor's name in another layout, built into dst; NULL when it does not fit. */
typedef const char *(*rename_fn)(char *dst, size_t cap, const char *name);

/* Writes the trained tensors for which keep(name) holds (keep NULL: all),
 * named by rename (NULL: as they are), with metadata meta (NULL: none). */
static int write_tensors(const char *path, const lst_tuner_t *tu, int (*keep)(const char *),
                         rename_fn rename, const char *const *meta, lst_err_t *err) {
    lst_st_out_t *t = lst_calloc((size_t)tu->n_params + 1, sizeof *t, err);
    char *names = lst_malloc((size_t)tu->n_params + 1, 256, err);
    int n = 0, rc = -1;
    if (!t || !names) goto done;
    for (int i = 0; i < tu->n_params; i++) {
        const lst_param_t *p = &tu->params[i];
        if (keep && !keep(p->name)) continue;
        char *nm = names + (size_t)n * 256;
        t[n].name = rename ? rename(nm, 256, p->name) : p->name;
        if (!t[n].name) {
            lst_fail(err, "parameter name '%s' too long for the PEFT export", p->name);
            goto done;
        }
        t[n].dtype = LST_DT_F32;
        t[n].ndim = p->ndim;
        t[n].shape[0] = p->shape[0];
        t[n].shape[1] = p->shape[1];
        t[n].data = tu->flat + p->offset;
        n++;
    }
    rc = meta ? lst_st_write_stream_meta(path, t, n, NULL, NULL, meta, err)
              : lst_st_write(path, t, n, err);
done:
    free(t);
    free(names);
    return rc;
}

static int is_lora(const char *name) { return strstr(name, ".lora_") != NULL; }
static int is_bias(const char *name) { return !is_lora(name); }

/* PEFT's saved name of a LoRA tensor: the module path under
 * base_model.model (the adapter's own name is not in the file). */
static const char *peft_name(char *dst, size_t cap, const char *name) {
    const int k = snprintf(dst, cap, "base_model.model.%s", name);
    return k < 0 || (size_t)k >= cap ? NULL : dst;
}

static const char *prompt_name(char *dst, size_t cap, const char *name) {
    snprintf(dst, cap, "prompt_embeddings");
    return dst;
}

/* adapter_config.json: what PeftConfig.from_pretrained reads. */
static int write_adapter_config(const char *dir, const lst_train_opts_t *o, const lst_tuner_t *tu,
                                lst_err_t *err) {
    cJSON *j = cJSON_CreateObject();
    const int lora = !strcmp(o->method.name, "lora");
    cJSON_AddStringToObject(j, "peft_type", lora ? "LORA" : "PROMPT_TUNING");
    cJSON_AddStringToObject(j, "task_type", "SEQ_2_SEQ_LM");
    cJSON_AddStringToObject(j, "base_model_name_or_path", o->model);
    cJSON_AddBoolToObject(j, "inference_mode", 1);
    if (lora) {
        cJSON_AddNumberToObject(j, "r", o->method.lora_rank);
        cJSON_AddNumberToObject(j, "lora_alpha", LORA_ALPHA);
        cJSON_AddNumberToObject(j, "lora_dropout", 0.1);
        cJSON *tm = cJSON_AddArrayToObject(j, "target_modules");
        cJSON_AddItemToArray(tm, cJSON_CreateString("q"));
        cJSON_AddItemToArray(tm, cJSON_CreateString("v"));
        cJSON_AddStringToObject(j, "bias", "none");
        cJSON_AddBoolToObject(j, "fan_in_fan_out", 0);
        cJSON_AddBoolToObject(j, "init_lora_weights", 1);
    } else {
        cJSON_AddNumberToObject(j, "num_virtual_tokens", o->method.prompt_len);
        cJSON_AddNumberToObject(j, "token_dim", tu->bb.d_model);
        cJSON_AddNumberToObject(j, "num_transformer_submodules", 1);
        cJSON_AddStringToObject(j, "prompt_tuning_init", "RANDOM");
    }
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) return lst_fail(err, "out of memory writing adapter_config.json");
    char path[LST_PATH_MAX + 64];
    lst_rundir_path(path, dir, "adapter_config.json");
    const int rc = lst_write_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}

int lst_export_trained(const char *dir, const lst_train_opts_t *o, const lst_tuner_t *tu,
                       lst_err_t *err) {
    const char *meta[48];
    char buf[16384], path[LST_PATH_MAX + 64];
    if (lst_export_meta(o, tu, meta, 48, buf, sizeof buf))
        return lst_fail(err, "the trained file's metadata does not fit");
    lst_rundir_path(path, dir, lst_rundir_trained_name(tu->backbone));
    if (write_tensors(path, tu, NULL, NULL, meta, err)) return -1;
    const int lora = !strcmp(o->method.name, "lora"), prompt = !strcmp(o->method.name, "prompt");
    if (!lora && !prompt) return 0;
    lst_rundir_path(path, dir, "adapter_model.safetensors");
    if (write_tensors(path, tu, lora ? is_lora : NULL, lora ? peft_name : prompt_name, NULL, err))
        return -1;
    if (lora) {
        lst_rundir_path(path, dir, "bitfit_biases.safetensors");
        if (write_tensors(path, tu, is_bias, NULL, meta, err)) return -1;
    }
    return write_adapter_config(dir, o, tu, err);
}
