/* checkpoint.c: see checkpoint.h. */
#include "checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/safetensors.h"

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
