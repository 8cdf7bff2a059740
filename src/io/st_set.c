/* st_set.c: see st_set.h. */
#include "st_set.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/fileio.h"

static int exists(const char *dir, const char *name) {
    char p[4400];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

/* No safetensors: say what the directory holds instead. */
static int no_weights(const char *dir, lst_err_t *err) {
    static const char *other[] = {"pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5",
                                  "flax_model.msgpack", "model.onnx", "onnx/model.onnx"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (exists(dir, other[i]))
            return lst_fail(err, "%s: no model.safetensors or %s, only %s: lst reads safetensors; "
                            "convert it with transformers (model.save_pretrained(dir, "
                            "safe_serialization=True)) or download the repository's .safetensors",
                            dir, LST_ST_INDEX, other[i]);
    return lst_fail(err, "%s: no model.safetensors or %s", dir, LST_ST_INDEX);
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const lst_st_entry_t *)a)->name, ((const lst_st_entry_t *)b)->name);
}

/* Every tensor of every file, sorted by name. */
static int build_index(lst_st_set_t *s, lst_err_t *err) {
    size_t n = 0;
    for (int f = 0; f < s->n_files; f++) n += (size_t)s->files[f].n;
    s->by_name = lst_malloc(n ? n : 1, sizeof *s->by_name, err);
    if (!s->by_name) return -1;
    for (int f = 0; f < s->n_files; f++)
        for (int i = 0; i < s->files[f].n; i++)
            s->by_name[s->n++] = (lst_st_entry_t){s->files[f].tensors[i].name,
                                                  &s->files[f].tensors[i], &s->files[f]};
    qsort(s->by_name, (size_t)s->n, sizeof *s->by_name, by_name);
    return 0;
}

static const char *base(const char *path) {
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* The index's shard names, each once, in order of first appearance. */
static int shard_names(const cJSON *map, const char *path, const char ***names, int *n,
                       lst_err_t *err) {
    int cap = 0;
    *n = 0;
    *names = NULL;
    for (const cJSON *e = map->child; e; e = e->next) {
        if (!cJSON_IsString(e) || !e->valuestring[0])
            return lst_fail(err, "%s: weight_map[\"%s\"] is not a file name", path, e->string);
        const char *v = e->valuestring;
        if (strchr(v, '/') || !strcmp(v, ".") || !strcmp(v, ".."))
            return lst_fail(err, "%s: weight_map[\"%s\"] = \"%s\" is not a file of the directory",
                            path, e->string, v);
        int seen = 0;
        for (int i = 0; i < *n && !seen; i++) seen = !strcmp((*names)[i], v);
        if (seen) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            const char **g = realloc(*names, sizeof **names * (size_t)cap);
            if (!g) return lst_fail(err, "out of memory reading %s", path);
            *names = g;
        }
        (*names)[(*n)++] = v;
    }
    return *n ? 0 : lst_fail(err, "%s: weight_map is empty", path);
}

/* The map and the shards agree: each listed tensor is in its shard, each
 * shard tensor is listed there, no name twice. */
static int check_map(const lst_st_set_t *s, const cJSON *map, lst_err_t *err) {
    for (const cJSON *e = map->child; e; e = e->next) {
        for (const cJSON *d = e->next; d; d = d->next)
            if (!strcmp(d->string, e->string))
                return lst_fail(err, "%s: weight_map lists tensor '%s' twice", s->path, e->string);
        const lst_st_file_t *f = NULL;
        for (int i = 0; i < s->n_files && !f; i++)
            if (!strcmp(base(s->files[i].path), e->valuestring)) f = &s->files[i];
        if (!f || !lst_st_find(f, e->string))
            return lst_fail(err, "%s: tensor '%s' is listed in %s, which does not hold it", s->path,
                            e->string, e->valuestring);
    }
    for (int i = 0; i < s->n_files; i++)
        for (int t = 0; t < s->files[i].n; t++) {
            const char *name = s->files[i].tensors[t].name;
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(map, name);
            if (!e)
                return lst_fail(err, "%s: tensor '%s' of %s is not in the index", s->path, name,
                                base(s->files[i].path));
            if (strcmp(e->valuestring, base(s->files[i].path)))
                return lst_fail(err, "%s: tensor '%s' is in %s, but the index puts it in %s", s->path,
                                name, base(s->files[i].path), e->valuestring);
        }
    return 0;
}

static int open_sharded(lst_st_set_t *s, const char *dir, lst_err_t *err) {
    size_t len;
    char *text = lst_read_file(s->path, (size_t)64 << 20, &len, err);
    if (!text) return -1;
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    const char **names = NULL;
    int n = 0, rc = -1;
    const cJSON *map = j ? cJSON_GetObjectItemCaseSensitive(j, "weight_map") : NULL;
    if (!j) lst_fail(err, "%s: not valid JSON", s->path);
    else if (!cJSON_IsObject(map)) lst_fail(err, "%s: no \"weight_map\" object", s->path);
    else if (!shard_names(map, s->path, &names, &n, err) &&
             (s->files = lst_calloc((size_t)n, sizeof *s->files, err))) {
        rc = 0;
        for (int i = 0; i < n && !rc; i++) {
            char p[4400];
            snprintf(p, sizeof p, "%s/%s", dir, names[i]);
            if (!exists(dir, names[i]))
                rc = lst_fail(err, "%s: shard %s is listed but missing", s->path, names[i]);
            else {
                s->n_files = i + 1; /* closed by the caller even if it fails */
                rc = lst_st_open(&s->files[i], p, err);
            }
        }
        if (!rc) rc = check_map(s, map, err);
    }
    free(names);
    cJSON_Delete(j);
    return rc;
}

int lst_st_set_present(const char *dir) {
    return exists(dir, "model.safetensors") || exists(dir, LST_ST_INDEX);
}

int lst_st_set_open(lst_st_set_t *s, const char *dir, lst_err_t *err) {
    memset(s, 0, sizeof *s);
    const int single = exists(dir, "model.safetensors");
    if (!single && !exists(dir, LST_ST_INDEX)) return no_weights(dir, err);
    const size_t cap = strlen(dir) + sizeof LST_ST_INDEX + 2;
    if (!(s->path = lst_malloc(cap, 1, err))) return -1;
    snprintf(s->path, cap, "%s/%s", dir, single ? "model.safetensors" : LST_ST_INDEX);
    int rc;
    if (single) {
        rc = (s->files = lst_calloc(1, sizeof *s->files, err)) ? lst_st_open(&s->files[0], s->path, err) : -1;
        if (!rc) s->n_files = 1;
    } else {
        s->sharded = 1;
        rc = open_sharded(s, dir, err);
    }
    if (!rc) rc = build_index(s, err);
    if (rc) lst_st_set_close(s);
    return rc;
}

void lst_st_set_close(lst_st_set_t *s) {
    for (int i = 0; i < s->n_files; i++) lst_st_close(&s->files[i]);
    free(s->files);
    free(s->by_name);
    free(s->path);
    memset(s, 0, sizeof *s);
}

const lst_st_tensor_t *lst_st_set_find(const lst_st_set_t *s, const char *name,
                                       const lst_st_file_t **file) {
    const lst_st_entry_t key = {name, NULL, NULL};
    const lst_st_entry_t *e = s->n ? bsearch(&key, s->by_name, (size_t)s->n, sizeof key, by_name) : NULL;
    if (file) *file = e ? e->file : NULL;
    return e ? e->t : NULL;
}

const char *lst_st_set_meta(const lst_st_set_t *s, const char *key) {
    return s->n_files ? lst_st_meta(&s->files[0], key) : NULL;
}

const char *lst_st_set_path(const lst_st_set_t *s) { return s->path ? s->path : "(no weights)"; }
