/* side_config.c: parses the side-network JSON (see side_config.h); every
 * wrong type or value is an error naming the file and key. */
#include "side_config.h"

#include "../core/fsfile.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, lst_err_t *err) {
    FILE *f = lst_fopen_regular(path, err);
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            if (cap > (1u << 24)) {
                free(buf);
                fclose(f);
                lst_fail(err, "%s: larger than 16 MB, not a side config", path);
                return NULL;
            }
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t k = fread(buf + len, 1, cap - len - 1, f);
        len += k;
        if (k == 0) break;
    }
    const int bad = ferror(f);
    fclose(f);
    if (!buf) {
        lst_fail(err, "%s: out of memory", path);
        return NULL;
    }
    buf[len] = 0;
    /* cJSON would stop at a NUL and take what came before it */
    if (bad || strlen(buf) != len) {
        lst_fail(err, bad ? "%s: read error" : "%s: not JSON text (a NUL byte)", path);
        free(buf);
        return NULL;
    }
    return buf;
}

static int get_num(const cJSON *o, const char *key, double lo, double hi, double *out,
                   const char *path, lst_err_t *err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j)) return 0;
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || j->valuedouble < lo ||
        j->valuedouble > hi)
        return lst_fail(err, "%s: key '%s' must be a number in [%g, %g]", path, key, lo, hi);
    *out = j->valuedouble;
    return 0;
}

/* Stack st's kept layers (absent: every layer), each in 0..L-1. */
static int get_layers(const cJSON *o, const char *key, int L, lst_side_opts_t *opts, int st,
                      const char *path, lst_err_t *err) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!j || cJSON_IsNull(j)) return 0;
    if (!cJSON_IsArray(j))
        return lst_fail(err, "%s: key '%s' must be an array of layer indices", path, key);
    const int n = cJSON_GetArraySize(j);
    int *keep = lst_malloc(n > 0 ? (size_t)n : 1, sizeof *keep, err), k = 0;
    if (!keep) return -1;
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 ||
            e->valuedouble >= L) {
            free(keep);
            return lst_fail(err, "%s: key '%s': every entry must be a layer index in 0..%d", path,
                            key, L - 1);
        }
        keep[k++] = (int)e->valuedouble;
    }
    const int rc = lst_side_opts_set(opts, st, keep, k, err);
    free(keep);
    return rc;
}

void lst_side_config_free(lst_side_config_t *c) { lst_side_opts_free(&c->opts); }

int lst_side_config_load(lst_side_config_t *c, const lst_backbone_t *bb, const char *path,
                         lst_err_t *err) {
    memset(c, 0, sizeof *c);
    lst_side_opts_default(&c->opts);
    lst_adamw_cfg_default(&c->adamw);
    char *text = slurp(path, err);
    if (!text) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lst_fail(err, "%s: not a JSON object", path);
    }
    double r = c->opts.r, T = c->opts.gate_T, gi = 0;
    int rc = get_num(root, "r", 1, 1 << 20, &r, path, err);
    if (!rc && r != floor(r)) rc = lst_fail(err, "%s: key 'r' must be an integer", path);
    if (!rc) rc = get_num(root, "gate_T", 1e-6, 1e6, &T, path, err);
    if (!rc) rc = get_num(root, "gate_init_param", -1e6, 1e6, &gi, path, err);
    if (!rc) rc = get_layers(root, "encoder_side_layers", bb->L[0], &c->opts, 0, path, err);
    if (!rc) rc = get_layers(root, "decoder_side_layers", bb->L[1], &c->opts, 1, path, err);
    c->opts.r = (int)r;
    c->opts.gate_T = (float)T;
    c->gate_init = (float)gi;
    const cJSON *init = cJSON_GetObjectItemCaseSensitive(root, "init");
    if (!rc && init && !cJSON_IsNull(init)) {
        if (!cJSON_IsString(init) || (strcmp(init->valuestring, "magnitude") &&
                                      strcmp(init->valuestring, "fisher") &&
                                      strcmp(init->valuestring, "random")))
            rc = lst_fail(err, "%s: key 'init' must be \"magnitude\", \"fisher\" or \"random\"", path);
        else snprintf(c->init, sizeof c->init, "%s", init->valuestring);
    }
    const cJSON *ad = cJSON_GetObjectItemCaseSensitive(root, "adamw");
    if (!rc && ad && !cJSON_IsNull(ad)) {
        if (!cJSON_IsObject(ad)) {
            rc = lst_fail(err, "%s: key 'adamw' must be an object", path);
        } else {
            double steps = 0;
            rc = get_num(ad, "lr", 0, 1e3, &c->adamw.lr, path, err);
            if (!rc) rc = get_num(ad, "eps", 0, 1, &c->adamw.eps, path, err);
            if (!rc) rc = get_num(ad, "weight_decay", 0, 1e3, &c->adamw.weight_decay, path, err);
            if (!rc) rc = get_num(ad, "steps", 0, 1e6, &steps, path, err);
            if (!rc && steps != floor(steps)) rc = lst_fail(err, "%s: adamw 'steps' must be an integer", path);
            c->steps = (int)steps;
            const cJSON *betas = cJSON_GetObjectItemCaseSensitive(ad, "betas");
            if (!rc && betas) {
                if (!cJSON_IsArray(betas) || cJSON_GetArraySize(betas) != 2 ||
                    !cJSON_IsNumber(cJSON_GetArrayItem(betas, 0)) ||
                    !cJSON_IsNumber(cJSON_GetArrayItem(betas, 1)))
                    rc = lst_fail(err, "%s: adamw 'betas' must be two numbers", path);
                else {
                    c->adamw.beta1 = cJSON_GetArrayItem(betas, 0)->valuedouble;
                    c->adamw.beta2 = cJSON_GetArrayItem(betas, 1)->valuedouble;
                    if (!(c->adamw.beta1 >= 0 && c->adamw.beta1 < 1 && c->adamw.beta2 >= 0 &&
                          c->adamw.beta2 < 1))
                        rc = lst_fail(err, "%s: adamw 'betas' must lie in [0, 1)", path);
                }
            }
        }
    }
    cJSON_Delete(root);
    if (rc) lst_side_config_free(c);
    return rc;
}
