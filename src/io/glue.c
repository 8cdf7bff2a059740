/* glue.c: GLUE rows -> (source, target) examples, and the paper's splits.
 *
 * Each task's columns are looked up by header name, as the reference's
 * loader (HF datasets, csv.DictReader) does, so MNLI train and dev (12 and
 * 16 columns) share one description; CoLA alone has no header and fixed
 * columns. Every row must have exactly the header's number of TAB-separated
 * fields. Splits follow LST-SPEC s5 with the permutations in
 * paper_splits.json; its row counts are checked against the files so that a
 * different copy of GLUE cannot silently shift every index. */
#include "glue.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsv.h"

static const char *const k_idx2[] = {"0", "1"};
static const char *const k_idx3[] = {"0", "1", "2"};
static const char *const k_entail2[] = {"entailment", "not_entailment"};
static const char *const k_entail3[] = {"entailment", "neutral", "contradiction"};

static const lst_task_t k_tasks[] = {
    {"cola", "CoLA", 2, k_idx2, 1, {LST_METRIC_MCC}, k_idx2},
    {"sst2", "SST-2", 2, k_idx2, 1, {LST_METRIC_ACC}, k_idx2},
    {"mrpc", "MRPC", 2, k_idx2, 2, {LST_METRIC_F1, LST_METRIC_ACC}, k_idx2},
    {"qqp", "QQP", 2, k_idx2, 2, {LST_METRIC_F1, LST_METRIC_ACC}, k_idx2},
    {"mnli", "MNLI", 3, k_idx3, 1, {LST_METRIC_ACC}, k_entail3},
    {"qnli", "QNLI", 2, k_idx2, 1, {LST_METRIC_ACC}, k_entail2},
    {"rte", "RTE", 2, k_idx2, 1, {LST_METRIC_ACC}, k_entail2},
    {"stsb", "STS-B", 0, NULL, 2, {LST_METRIC_PEARSON, LST_METRIC_SPEARMAN}, NULL},
};
#define N_TASKS ((int)(sizeof k_tasks / sizeof k_tasks[0]))

typedef enum { SPLIT_SMALL, SPLIT_LARGE, SPLIT_MNLI } split_kind_t;

/* How a task's rows are read; parallel to k_tasks. */
typedef struct {
    int n_text;
    const char *key[2];      /* what precedes each text field in the source */
    const char *text_col[2]; /* header names (files with a header) */
    const char *label_col;
    int headerless_cols;     /* > 0: no header, this many columns (CoLA) */
    int text_idx[2], label_idx;
    split_kind_t split;
} task_fmt_t;

static const task_fmt_t k_fmts[N_TASKS] = {
    /* cola: source, label, original mark, sentence */
    {1, {"sentence:"}, {NULL}, NULL, 4, {3}, 1, SPLIT_SMALL},
    {1, {"sentence:"}, {"sentence"}, "label", 0, {0}, 0, SPLIT_LARGE},
    {2, {"sentence1:", "sentence2:"}, {"#1 String", "#2 String"}, "Quality", 0, {0}, 0,
     SPLIT_SMALL},
    {2, {"question1:", "question2:"}, {"question1", "question2"}, "is_duplicate", 0, {0}, 0,
     SPLIT_LARGE},
    /* "hypothesis" without a colon: the reference's quirk, kept (LST-SPEC s5) */
    {2, {"premise:", "hypothesis"}, {"sentence1", "sentence2"}, "gold_label", 0, {0}, 0,
     SPLIT_MNLI},
    {2, {"question:", "sentence:"}, {"question", "sentence"}, "label", 0, {0}, 0, SPLIT_LARGE},
    {2, {"sentence1:", "sentence2:"}, {"sentence1", "sentence2"}, "label", 0, {0}, 0,
     SPLIT_SMALL},
    {2, {"sentence1:", "sentence2:"}, {"sentence1", "sentence2"}, "score", 0, {0}, 0,
     SPLIT_SMALL},
};

const lst_task_t *lst_task_find(const char *name) {
    if (!name) return NULL;
    for (int i = 0; i < N_TASKS; i++)
        if (strcmp(k_tasks[i].name, name) == 0) return &k_tasks[i];
    return NULL;
}

const lst_task_t *lst_task_at(int i) { return i >= 0 && i < N_TASKS ? &k_tasks[i] : NULL; }

int lst_task_count(void) { return N_TASKS; }

int lst_task_label_index(const lst_task_t *t, const char *s) {
    if (!t || !s) return -1;
    for (int i = 0; i < t->n_labels; i++)
        if (strcmp(t->labels[i], s) == 0) return i;
    return -1;
}

static int raw_label_index(const lst_task_t *t, const char *s) {
    for (int i = 0; i < t->n_labels; i++)
        if (strcmp(t->raw_labels[i], s) == 0) return i;
    return -1;
}

/* ---- STS-B targets ---- */

int lst_stsb_target(const char *s, char out[8], lst_err_t *err) {
    out[0] = 0;
    if (!s || !*s) return lst_fail(err, "empty STS-B score");
    /* strtod would accept leading spaces and hex floats: refuse both */
    if (isspace((unsigned char)s[0]) || strpbrk(s, "xX"))
        return lst_fail(err, "STS-B score '%.40s' is not a number", s);
    char *end;
    double d = strtod(s, &end);
    if (end == s || *end) return lst_fail(err, "STS-B score '%.40s' is not a number", s);
    if (!(d >= 0.0 && d <= 5.0) || signbit(d))
        return lst_fail(err, "STS-B score '%.40s' is outside [0, 5]", s);
    /* The reference stores the score as float32 (HF Value("float32") of
     * float(text)), then rounds the widened value; rint() rounds half to even
     * in the default rounding mode. */
    double x = (double)(float)d;
    double r = rint(x * 10.0);
    snprintf(out, 8, "%.1f", r / 10.0);
    return 0;
}

/* ---- datasets ---- */

void lst_dataset_free(lst_dataset_t *d) {
    if (!d) return;
    for (int i = 0; i < d->n; i++) {
        free(d->ex[i].source);
        free(d->ex[i].target);
    }
    free(d->ex);
    d->ex = NULL;
    d->n = 0;
}

void lst_splits_free(lst_splits_t *s) {
    if (!s) return;
    lst_dataset_free(&s->train);
    lst_dataset_free(&s->validation);
    lst_dataset_free(&s->test);
    s->task = NULL;
}

/* Appends (source, target), taking ownership of both (freed on failure). */
static int push(lst_dataset_t *d, int *cap, char *source, char *target, lst_err_t *err) {
    if (!source || !target) {
        free(source);
        free(target);
        return lst_fail(err, "out of memory");
    }
    if (d->n == *cap) {
        if (*cap > (1 << 29)) {
            free(source);
            free(target);
            return lst_fail(err, "too many examples");
        }
        int nc = *cap ? *cap * 2 : 1024;
        lst_example_t *ne = realloc(d->ex, (size_t)nc * sizeof *ne);
        if (!ne) {
            free(source);
            free(target);
            return lst_fail(err, "out of memory");
        }
        d->ex = ne;
        *cap = nc;
    }
    d->ex[d->n].source = source;
    d->ex[d->n].target = target;
    d->n++;
    return 0;
}

/* ' '.join([prefix] + [key0, text0, key1, text1]) as the reference does. */
static char *format_source(const char *prefix, const task_fmt_t *f, char *const *texts) {
    const char *parts[5];
    int np = 0;
    if (prefix) parts[np++] = prefix;
    for (int i = 0; i < f->n_text; i++) {
        parts[np++] = f->key[i];
        parts[np++] = texts[i];
    }
    size_t len = 0;
    for (int i = 0; i < np; i++) len += strlen(parts[i]) + 1;
    char *s = malloc(len), *p = s;
    if (!s) return NULL;
    for (int i = 0; i < np; i++) {
        size_t l = strlen(parts[i]);
        memcpy(p, parts[i], l);
        p += l;
        *p++ = i + 1 < np ? ' ' : 0;
    }
    return s;
}

/* Finds `name` among the header fields exactly once; -1 with a message if
 * it is absent or repeated. */
static int header_col(char **hdr, int nh, const char *name, const char *path, lst_err_t *err) {
    int found = -1;
    for (int i = 0; i < nh; i++) {
        if (strcmp(hdr[i], name) != 0) continue;
        if (found >= 0) {
            lst_fail(err, "%s:1: header names column '%s' twice", path, name);
            return -1;
        }
        found = i;
    }
    if (found < 0) lst_fail(err, "%s:1: header has no column '%s'", path, name);
    return found;
}

/* Reads the header line: returns its field count, or -1. *fields gets an
 * array of that many + 1 pointers for the caller to split rows into. */
static int read_header(lst_lines_t *r, char ***fields, lst_err_t *err) {
    char *line;
    int rc = lst_lines_next(r, &line, err);
    if (rc < 0) return -1;
    if (rc == 0) return lst_fail(err, "%s: empty file (expected a header line)", r->path);
    int n = 1;
    for (const char *c = line; *c; c++) n += *c == '\t';
    *fields = lst_malloc((size_t)n + 1, sizeof(char *), err);
    if (!*fields) return -1;
    lst_tsv_split(line, *fields, n);
    return n;
}

static int load_glue_tsv(const lst_task_t *t, const task_fmt_t *f, const char *path,
                         int with_prefix, lst_dataset_t *out, lst_err_t *err) {
    memset(out, 0, sizeof *out);
    lst_lines_t r;
    if (lst_lines_open(&r, path, err) != 0) return -1;
    char **fields = NULL, *line;
    int ncols, ti[2] = {0, 0}, li, cap = 0, rc = -1;
    if (f->headerless_cols > 0) {
        ncols = f->headerless_cols;
        ti[0] = f->text_idx[0];
        ti[1] = f->text_idx[1];
        li = f->label_idx;
        fields = lst_malloc((size_t)ncols + 1, sizeof(char *), err);
        if (!fields) goto done;
    } else {
        ncols = read_header(&r, &fields, err);
        if (ncols < 0) goto done;
        for (int i = 0; i < f->n_text; i++)
            if ((ti[i] = header_col(fields, ncols, f->text_col[i], path, err)) < 0) goto done;
        if ((li = header_col(fields, ncols, f->label_col, path, err)) < 0) goto done;
    }
    int got;
    while ((got = lst_lines_next(&r, &line, err)) == 1) {
        int nf = lst_tsv_split(line, fields, ncols);
        if (nf != ncols) {
            lst_fail(err, "%s:%d: expected %d tab-separated columns, got %d", path, r.line,
                     ncols, nf);
            goto done;
        }
        char *target;
        if (t->n_labels == 0) {
            char buf[8];
            if (lst_stsb_target(fields[li], buf, err) != 0) {
                lst_fail_ctx(err, "%s:%d", path, r.line);
                goto done;
            }
            target = strdup(buf);
        } else {
            int k = raw_label_index(t, fields[li]);
            if (k < 0) {
                char want[128] = "";
                for (int i = 0; i < t->n_labels; i++) {
                    size_t l = strlen(want);
                    snprintf(want + l, sizeof want - l, "%s%s", i ? ", " : "", t->raw_labels[i]);
                }
                lst_fail(err, "%s:%d: label '%.40s' is not a %s label (expected one of: %s)",
                         path, r.line, fields[li], t->name, want);
                goto done;
            }
            target = strdup(t->labels[k]);
        }
        char *texts[2] = {fields[ti[0]], f->n_text > 1 ? fields[ti[1]] : NULL};
        char *source = format_source(with_prefix ? t->name : NULL, f, texts);
        if (push(out, &cap, source, target, err) != 0) {
            lst_fail_ctx(err, "%s:%d", path, r.line);
            goto done;
        }
    }
    if (got < 0) goto done;
    if (out->n == 0) {
        lst_fail(err, "%s: no data rows", path);
        goto done;
    }
    rc = 0;
done:
    free(fields);
    lst_lines_close(&r);
    if (rc != 0) lst_dataset_free(out);
    return rc;
}

static int join_path(char *out, size_t cap, const char *a, const char *b, const char *c,
                     lst_err_t *err) {
    int n = c ? snprintf(out, cap, "%s/%s/%s", a, b, c) : snprintf(out, cap, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= cap) return lst_fail(err, "path too long under %.200s", a);
    return 0;
}

/* ---- paper splits ---- */

static int json_int(const cJSON *v, int *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= -2147483648.0 && d <= 2147483647.0) || d != floor(d)) return -1;
    *out = (int)d;
    return 0;
}

/* Reads a list of distinct row indices in [0, n) from arr into idx[]. */
static int json_rows(const cJSON *arr, int n, int *idx, int *count, const char *path,
                     const char *what, lst_err_t *err) {
    if (!cJSON_IsArray(arr)) return lst_fail(err, "%s: %s is not an array", path, what);
    int m = cJSON_GetArraySize(arr);
    if (m > n)
        return lst_fail(err, "%s: %s has %d entries for %d rows", path, what, m, n);
    char *seen = lst_calloc((size_t)n + 1, 1, err);
    if (!seen) return -1;
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        int k;
        if (json_int(v, &k) != 0 || k < 0 || k >= n) {
            free(seen);
            return lst_fail(err, "%s: %s[%d] is not a row index in [0, %d)", path, what, i, n);
        }
        if (seen[k]) {
            free(seen);
            return lst_fail(err, "%s: %s lists row %d twice", path, what, k);
        }
        seen[k] = 1;
        idx[i++] = k;
    }
    free(seen);
    *count = m;
    return 0;
}

/* Moves src->ex[idx[i]] into a new dataset in the order of idx; moved slots
 * are cleared so that freeing src does not free them. */
static int take_rows(lst_dataset_t *src, const int *idx, int m, lst_dataset_t *dst,
                     lst_err_t *err) {
    dst->ex = lst_malloc((size_t)(m > 0 ? m : 1), sizeof *dst->ex, err);
    if (!dst->ex) return -1;
    for (int i = 0; i < m; i++) {
        dst->ex[i] = src->ex[idx[i]];
        src->ex[idx[i]].source = src->ex[idx[i]].target = NULL;
    }
    dst->n = m;
    return 0;
}

static int check_count(const cJSON *obj, const char *key, int have, const char *path,
                       const char *task, const char *data_path, lst_err_t *err) {
    int want;
    if (json_int(cJSON_GetObjectItemCaseSensitive(obj, key), &want) != 0)
        return lst_fail(err, "%s: %s.%s is missing or not an integer", path, task, key);
    if (want != have)
        return lst_fail(err, "%s: %s.%s is %d but %s has %d data rows", path, task, key, want,
                        data_path, have);
    return 0;
}

/* Cuts dev (small tasks) or train (large tasks) as paper_splits.json says. */
static int apply_splits(const lst_task_t *t, split_kind_t kind, const char *json_path,
                        const char *train_path, const char *dev_path, lst_dataset_t *train,
                        lst_dataset_t *dev, lst_splits_t *out, lst_err_t *err) {
    char *text;
    size_t len;
    if (lst_read_text_file(json_path, &text, &len, err) != 0) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) return lst_fail(err, "%s: invalid JSON", json_path);
    int rc = -1, *idx = NULL, m = 0;
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, t->name);
    if (!cJSON_IsObject(obj)) {
        lst_fail(err, "%s: no split for task '%s'", json_path, t->name);
        goto done;
    }
    char what[64];
    if (kind == SPLIT_SMALL) {
        if (check_count(obj, "dev_rows", dev->n, json_path, t->name, dev_path, err) != 0)
            goto done;
        if (!(idx = lst_malloc((size_t)dev->n, sizeof *idx, err))) goto done;
        snprintf(what, sizeof what, "%s.dev_permutation", t->name);
        if (json_rows(cJSON_GetObjectItemCaseSensitive(obj, "dev_permutation"), dev->n, idx, &m,
                      json_path, what, err) != 0)
            goto done;
        if (m != dev->n) {
            lst_fail(err, "%s: %s has %d entries for %d dev rows", json_path, what, m, dev->n);
            goto done;
        }
        int half = m / 2;
        if (half == 0) {
            lst_fail(err, "%s: %d dev rows cannot be halved", dev_path, m);
            goto done;
        }
        if (take_rows(dev, idx, half, &out->validation, err) != 0 ||
            take_rows(dev, idx + half, m - half, &out->test, err) != 0)
            goto done;
        out->train = *train;
        memset(train, 0, sizeof *train);
    } else {
        if (check_count(obj, "train_rows", train->n, json_path, t->name, train_path, err) != 0)
            goto done;
        if (!(idx = lst_malloc((size_t)train->n, sizeof *idx, err))) goto done;
        snprintf(what, sizeof what, "%s.validation_train_rows", t->name);
        if (json_rows(cJSON_GetObjectItemCaseSensitive(obj, "validation_train_rows"), train->n,
                      idx, &m, json_path, what, err) != 0)
            goto done;
        if (m == 0 || m == train->n) {
            lst_fail(err, "%s: %s must leave both validation and train non-empty", json_path,
                     what);
            goto done;
        }
        if (take_rows(train, idx, m, &out->validation, err) != 0) goto done;
        /* the rest of train, in file order */
        int k = 0;
        for (int i = 0; i < train->n; i++)
            if (train->ex[i].source) idx[k++] = i;
        if (take_rows(train, idx, k, &out->train, err) != 0) goto done;
        out->test = *dev;
        memset(dev, 0, sizeof *dev);
    }
    rc = 0;
done:
    free(idx);
    cJSON_Delete(root);
    return rc;
}

int lst_glue_load(const char *task, const char *data_dir, const char *splits_json,
                  int with_prefix, lst_splits_t *out, lst_err_t *err) {
    memset(out, 0, sizeof *out);
    const lst_task_t *t = lst_task_find(task);
    if (!t) {
        return lst_fail(err,
                        "unknown task '%.40s' (expected cola, sst2, mrpc, qqp, mnli, qnli, "
                        "rte or stsb)",
                        task ? task : "(null)");
    }
    if (!data_dir) return lst_fail(err, "no GLUE data directory given");
    const task_fmt_t *f = &k_fmts[t - k_tasks];
    char train_path[4096], dev_path[4096], dev2_path[4096], json_path[4096];
    if (join_path(train_path, sizeof train_path, data_dir, t->dir, "train.tsv", err) != 0)
        return -1;
    if (f->split == SPLIT_MNLI) {
        if (join_path(dev_path, sizeof dev_path, data_dir, t->dir, "dev_mismatched.tsv", err) ||
            join_path(dev2_path, sizeof dev2_path, data_dir, t->dir, "dev_matched.tsv", err))
            return -1;
    } else {
        if (join_path(dev_path, sizeof dev_path, data_dir, t->dir, "dev.tsv", err) != 0)
            return -1;
        if (splits_json) {
            if (strlen(splits_json) >= sizeof json_path)
                return lst_fail(err, "path too long: %.200s", splits_json);
            strcpy(json_path, splits_json);
        } else if (join_path(json_path, sizeof json_path, data_dir, "paper_splits.json", NULL,
                             err) != 0) {
            return -1;
        }
    }

    lst_dataset_t train = {0}, dev = {0};
    if (load_glue_tsv(t, f, train_path, with_prefix, &train, err) != 0) return -1;
    if (load_glue_tsv(t, f, dev_path, with_prefix, &dev, err) != 0) {
        lst_dataset_free(&train);
        return -1;
    }
    if (f->split == SPLIT_MNLI) {
        out->train = train;
        out->validation = dev;
        if (load_glue_tsv(t, f, dev2_path, with_prefix, &out->test, err) != 0) {
            lst_splits_free(out);
            return -1;
        }
    } else {
        int rc = apply_splits(t, f->split, json_path, train_path, dev_path, &train, &dev, out,
                              err);
        lst_dataset_free(&train);
        lst_dataset_free(&dev);
        if (rc != 0) {
            lst_splits_free(out);
            return -1;
        }
    }
    out->task = t;
    return 0;
}

/* ---- custom data ---- */

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int load_custom_tsv(lst_lines_t *r, lst_dataset_t *out, lst_err_t *err) {
    char **fields = NULL, *line;
    int cap = 0, rc = -1, si, ti, got;
    int ncols = read_header(r, &fields, err);
    if (ncols < 0) goto done;
    if ((si = header_col(fields, ncols, "source", r->path, err)) < 0 ||
        (ti = header_col(fields, ncols, "target", r->path, err)) < 0)
        goto done;
    while ((got = lst_lines_next(r, &line, err)) == 1) {
        int nf = lst_tsv_split(line, fields, ncols);
        if (nf != ncols) {
            lst_fail(err, "%s:%d: expected %d tab-separated columns, got %d", r->path, r->line,
                     ncols, nf);
            goto done;
        }
        if (push(out, &cap, strdup(fields[si]), strdup(fields[ti]), err) != 0) {
            lst_fail_ctx(err, "%s:%d", r->path, r->line);
            goto done;
        }
    }
    rc = got < 0 ? -1 : 0;
done:
    free(fields);
    return rc;
}

/* The string field `key` of obj, or NULL with a message. */
static const char *json_field(const cJSON *obj, const char *key, const lst_lines_t *r,
                              lst_err_t *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        lst_fail(err, "%s:%d: missing field \"%s\"", r->path, r->line, key);
        return NULL;
    }
    if (!cJSON_IsString(v) || !v->valuestring) {
        lst_fail(err, "%s:%d: field \"%s\" is not a string", r->path, r->line, key);
        return NULL;
    }
    if (!lst_utf8_valid(v->valuestring, strlen(v->valuestring))) {
        lst_fail(err, "%s:%d: field \"%s\" is not valid UTF-8", r->path, r->line, key);
        return NULL;
    }
    return v->valuestring;
}

static int load_custom_jsonl(lst_lines_t *r, lst_dataset_t *out, lst_err_t *err) {
    char *line;
    int cap = 0, got;
    while ((got = lst_lines_next(r, &line, err)) == 1) {
        const char *end = NULL;
        cJSON *obj = cJSON_ParseWithOpts(line, &end, 1);
        if (!obj) {
            long col = end && end >= line ? (long)(end - line) + 1 : 1;
            return lst_fail(err, "%s:%d: invalid JSON (near column %ld)", r->path, r->line, col);
        }
        if (!cJSON_IsObject(obj)) {
            cJSON_Delete(obj);
            return lst_fail(err, "%s:%d: expected a JSON object", r->path, r->line);
        }
        const char *s = json_field(obj, "source", r, err);
        const char *t = s ? json_field(obj, "target", r, err) : NULL;
        if (!s || !t) {
            cJSON_Delete(obj);
            return -1;
        }
        int rc = push(out, &cap, strdup(s), strdup(t), err);
        cJSON_Delete(obj);
        if (rc != 0) return lst_fail_ctx(err, "%s:%d", r->path, r->line);
    }
    return got < 0 ? -1 : 0;
}

int lst_custom_load(const char *path, lst_dataset_t *out, lst_err_t *err) {
    memset(out, 0, sizeof *out);
    if (!path) return lst_fail(err, "no custom data file given");
    int jsonl = ends_with(path, ".jsonl");
    if (!jsonl && !ends_with(path, ".tsv"))
        return lst_fail(err, "%s: custom data must be a .tsv or .jsonl file", path);
    lst_lines_t r;
    if (lst_lines_open(&r, path, err) != 0) return -1;
    int rc = jsonl ? load_custom_jsonl(&r, out, err) : load_custom_tsv(&r, out, err);
    if (rc == 0 && out->n == 0) rc = lst_fail(err, "%s: no examples", path);
    lst_lines_close(&r);
    if (rc != 0) lst_dataset_free(out);
    return rc;
}
