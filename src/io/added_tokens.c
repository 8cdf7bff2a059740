/* added_tokens.c: see added_tokens.h. */
#include "added_tokens.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/fileio.h"

/* "<dir of path>/<name>" into buf. */
static void beside(char *buf, size_t cap, const char *path, const char *name) {
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(buf, cap, "%.*s/%s", (int)(slash - path), path, name);
    else snprintf(buf, cap, "%s", name);
}

/* Appends (id, text) to the list; -1 when out of memory. */
static int add(lst_added_tokens_t *a, long id, const char *text) {
    if (a->n % 16 == 0) {
        lst_added_token_t *g = realloc(a->tok, sizeof *g * (size_t)(a->n + 16));
        if (!g) return -1;
        a->tok = g;
    }
    char *t = strdup(text);
    if (!t) return -1;
    a->tok[a->n++] = (lst_added_token_t){(int)id, t};
    return 0;
}

static int by_id(const void *x, const void *y) {
    const lst_added_token_t *a = x, *b = y;
    return (a->id > b->id) - (a->id < b->id);
}

/* added_tokens.json: {"<tok>": id, ...}; tokenizer_config.json:
 * {"added_tokens_decoder": {"id": {"content": "<tok>", ...}, ...}}. */
static int collect(const cJSON *j, int decoder, int base, lst_added_tokens_t *a, const char *file,
                   lst_err_t *err) {
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        char *end = NULL;
        const long id = decoder ? strtol(e->string ? e->string : "", &end, 10)
                                : (cJSON_IsNumber(e) ? (long)e->valuedouble : -1);
        const cJSON *c = decoder ? cJSON_GetObjectItemCaseSensitive(e, "content") : NULL;
        const char *text = decoder ? (cJSON_IsString(c) ? c->valuestring : NULL) : e->string;
        if ((decoder && (!end || *end)) || id < 0 || id > 100000000 || !text || !*text)
            return lst_fail(err, "%s: entry '%.80s' is not an added token (a text and its id)", file,
                            e->string ? e->string : "?");
        if (id < base) continue; /* T5's own pieces and sentinels */
        if (add(a, id, text)) return lst_fail(err, "%s: out of memory", file);
    }
    return 0;
}

int lst_added_tokens_read(const char *spm_path, int base, lst_added_tokens_t *a, lst_err_t *err) {
    memset(a, 0, sizeof *a);
    char path[4200];
    const char *names[2] = {"added_tokens.json", "tokenizer_config.json"};
    for (int k = 0; k < 2 && !a->n; k++) {
        beside(path, sizeof path, spm_path, names[k]);
        if (access(path, F_OK)) continue;
        char *text = lst_read_file(path, 1 << 24, NULL, err);
        if (!text) return -1;
        cJSON *j = cJSON_Parse(text);
        free(text);
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            return lst_fail(err, "%s: not a JSON object", path);
        }
        const cJSON *src = k ? cJSON_GetObjectItemCaseSensitive(j, "added_tokens_decoder") : j;
        int rc = src ? collect(src, k, base, a, path, err) : 0;
        cJSON_Delete(j);
        if (rc) {
            lst_added_tokens_free(a);
            return -1;
        }
    }
    if (a->n > 1) qsort(a->tok, (size_t)a->n, sizeof *a->tok, by_id); /* tok is NULL when none */
    /* transformers appends added tokens after the vocabulary: ids base, base + 1, ... */
    for (int i = 0; i < a->n; i++)
        if (a->tok[i].id != base + i) {
            const int id = a->tok[i].id;
            lst_added_tokens_free(a);
            return lst_fail(err, "%s: added token id %d leaves a gap (ids must run on from %d)", path, id,
                            base);
        }
    return 0;
}

void lst_added_tokens_free(lst_added_tokens_t *a) {
    for (int i = 0; i < a->n; i++) free(a->tok[i].text);
    free(a->tok);
    memset(a, 0, sizeof *a);
}
