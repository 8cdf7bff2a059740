/* compare_store.c: each run's record in runs/M-sS/compare.json (see
 * compare.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/fileio.h"
#include "compare.h"

cJSON *lst_cmp_read_json(const char *path, lst_err_t *err) {
    char *t = lst_read_file(path, 1 << 26, NULL, err);
    if (!t) return NULL;
    cJSON *j = cJSON_Parse(t);
    free(t);
    if (!j) lst_fail(err, "%s: not valid JSON", path);
    return j;
}

double lst_cmp_num(const cJSON *o, const char *key) {
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

void lst_cmp_set_num(cJSON *o, const char *key, double v) {
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    cJSON_AddNumberToObject(o, key, v);
}

void lst_cmp_set_str(cJSON *o, const char *key, const char *v) {
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    cJSON_AddStringToObject(o, key, v);
}

int lst_cmp_save_json(const cJSON *j, const char *path) {
    char *t = cJSON_Print(j);
    char *nl = t ? realloc(t, strlen(t) + 2) : NULL;
    if (nl) strcat(nl, "\n");
    else free(t);
    t = nl;
    lst_err_t err;
    int rc = t ? lst_write_atomic(path, t, strlen(t), &err) : lst_fail(&err, "%s: out of memory", path);
    if (rc) fprintf(stderr, "lst compare: %s\n", err.msg);
    free(t);
    return rc;
}

void lst_cmp_add_attempt(cJSON *c, const char *key, const char *cmd, const child_t *ch) {
    cJSON *a = cJSON_GetObjectItemCaseSensitive(c, key);
    if (!cJSON_IsArray(a)) {
        cJSON_DeleteItemFromObjectCaseSensitive(c, key);
        a = cJSON_AddArrayToObject(c, key);
    }
    cJSON *e = cJSON_CreateObject();
    char st[128];
    lst_cmp_describe(ch, st, sizeof st);
    cJSON_AddStringToObject(e, "command", cmd);
    cJSON_AddStringToObject(e, "result", lst_cmp_child_ok(ch) ? "ok" : st);
    if (ch->started) {
        cJSON_AddNumberToObject(e, "peak_rss_mib", ch->rss_mib);
        cJSON_AddNumberToObject(e, "wall_s", ch->wall_s);
    }
    cJSON_AddItemToArray(a, e);
}
