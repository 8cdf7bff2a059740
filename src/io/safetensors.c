/* safetensors.c: the .safetensors reader (mmap + full validation) and the
 * writer (through core's atomic writer: temp file in the same directory,
 * fsync, rename).
 *
 * The reader checks every header entry before any pointer is handed out, so
 * callers may trust f->tensors[i].data for nbytes bytes. Sizes are size_t /
 * uint64_t throughout: t5-3b checkpoints are ~11 GB. The writer keeps at most
 * one tensor in memory in stream mode. */
#include "safetensors.h"

#include "../core/fsfile.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/fileio.h"
#include "../core/half.h"

#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)
/* Largest integer a JSON number (double) carries exactly. */
#define ST_MAX_EXACT 9007199254740992.0

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [LST_DT_F32] = {"F32", 4}, [LST_DT_F16] = {"F16", 2},
    [LST_DT_BF16] = {"BF16", 2}, [LST_DT_I64] = {"I64", 8},
    [LST_DT_I32] = {"I32", 4}, [LST_DT_U8] = {"U8", 1},
};
#define N_DTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

static int dtype_ok(lst_dtype_t dt) { return (int)dt >= 0 && (int)dt < N_DTYPES; }

size_t lst_dtype_size(lst_dtype_t dt) { return dtype_ok(dt) ? dtypes[dt].size : 0; }

const char *lst_dtype_name(lst_dtype_t dt) { return dtype_ok(dt) ? dtypes[dt].name : "?"; }

static int dtype_parse(const char *s, lst_dtype_t *out) {
    for (int i = 0; i < N_DTYPES; i++)
        if (strcmp(s, dtypes[i].name) == 0) {
            *out = (lst_dtype_t)i;
            return 0;
        }
    return -1;
}

/* "[a, b, c]" into buf. */
static const char *shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t len = 0;
    buf[0] = 0;
    len += (size_t)snprintf(buf + len, cap - len, "[");
    for (int i = 0; i < ndim && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? ", " : "",
                                (long long)shape[i]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
    return buf;
}

/* numel and byte count of a shape; -1 on overflow. */
static int shape_bytes(int ndim, const int64_t *shape, lst_dtype_t dt, int64_t *numel,
                       uint64_t *nbytes) {
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        uint64_t d = (uint64_t)shape[i];
        if (d != 0 && n > (uint64_t)INT64_MAX / d) return -1;
        n *= d;
    }
    uint64_t sz = lst_dtype_size(dt);
    if (n != 0 && n > UINT64_MAX / sz) return -1;
    if (n * sz > (uint64_t)SIZE_MAX) return -1;
    *numel = (int64_t)n;
    *nbytes = n * sz;
    return 0;
}

/* ------------------------------------------------------------------ reader */

void lst_st_close(lst_st_file_t *f) {
    if (!f) return;
    if (f->tensors)
        for (int i = 0; i < f->n; i++) free(f->tensors[i].name);
    free(f->tensors);
    for (int i = 0; f->meta && i < 2 * f->n_meta; i++) free(f->meta[i]);
    free(f->meta);
    if (f->map && f->map != MAP_FAILED) munmap(f->map, f->map_size);
    free(f->path);
    memset(f, 0, sizeof *f);
}

/* A JSON number that is a non-negative integer exactly representable. */
static int json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return -1;
    double v = j->valuedouble;
    if (!isfinite(v) || v < 0 || v > ST_MAX_EXACT || v != floor(v)) return -1;
    *out = (uint64_t)v;
    return 0;
}

static int cmp_begin(const void *a, const void *b) {
    const lst_st_tensor_t *x = *(const lst_st_tensor_t *const *)a;
    const lst_st_tensor_t *y = *(const lst_st_tensor_t *const *)b;
    const char *px = x->data, *py = y->data;
    return px < py ? -1 : px > py ? 1 : 0;
}

static int cmp_name_ptr(const void *a, const void *b) {
    const lst_st_tensor_t *x = *(const lst_st_tensor_t *const *)a;
    const lst_st_tensor_t *y = *(const lst_st_tensor_t *const *)b;
    return strcmp(x->name, y->name);
}

/* Parses one header entry `e` named `name` into t. */
static int parse_entry(const char *path, const char *name, const cJSON *e,
                       const char *data, uint64_t data_size, lst_st_tensor_t *t,
                       lst_err_t *err) {
    if (!cJSON_IsObject(e))
        return lst_fail(err, "%s: header entry '%s' is not an object", path, name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(jd))
        return lst_fail(err, "%s: tensor '%s' has no string \"dtype\"", path, name);
    if (dtype_parse(jd->valuestring, &t->dtype) != 0)
        return lst_fail(err, "%s: tensor '%s' has unknown dtype '%s' (supported: F32, F16, "
                        "BF16, I64, I32)", path, name, jd->valuestring);
    if (!cJSON_IsArray(js))
        return lst_fail(err, "%s: tensor '%s' has no \"shape\" array", path, name);
    int nd = cJSON_GetArraySize(js);
    if (nd > LST_ST_MAX_DIMS)
        return lst_fail(err, "%s: tensor '%s' has %d dims, at most %d supported", path,
                        name, nd, LST_ST_MAX_DIMS);
    t->ndim = nd;
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, js) {
        uint64_t v;
        if (json_uint(d, &v) != 0)
            return lst_fail(err, "%s: tensor '%s' shape entry %d is not a non-negative "
                            "integer", path, name, i);
        t->shape[i++] = (int64_t)v;
    }
    uint64_t b, en;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 ||
        json_uint(cJSON_GetArrayItem(jo, 0), &b) != 0 ||
        json_uint(cJSON_GetArrayItem(jo, 1), &en) != 0)
        return lst_fail(err, "%s: tensor '%s' \"data_offsets\" must be two non-negative "
                        "integers [begin, end]", path, name);
    if (b > en)
        return lst_fail(err, "%s: tensor '%s' data_offsets [%llu, %llu] have begin > end",
                        path, name, (unsigned long long)b, (unsigned long long)en);
    char sb[256];
    uint64_t need;
    if (shape_bytes(t->ndim, t->shape, t->dtype, &t->numel, &need) != 0)
        return lst_fail(err, "%s: tensor '%s' shape %s overflows", path, name,
                        shape_str(sb, sizeof sb, t->ndim, t->shape));
    if (need != en - b)
        return lst_fail(err, "%s: tensor '%s' shape %s x %s needs %llu bytes but "
                        "data_offsets [%llu, %llu] span %llu bytes (size mismatch)",
                        path, name, shape_str(sb, sizeof sb, t->ndim, t->shape),
                        lst_dtype_name(t->dtype), (unsigned long long)need,
                        (unsigned long long)b, (unsigned long long)en,
                        (unsigned long long)(en - b));
    if (en > data_size)
        return lst_fail(err, "%s: tensor '%s' data_offsets [%llu, %llu] out of range: the "
                        "data block has %llu bytes", path, name, (unsigned long long)b,
                        (unsigned long long)en, (unsigned long long)data_size);
    t->nbytes = (size_t)need;
    t->data = data + b;
    return 0;
}

/* Copies the (already checked) string pairs of "__metadata__"; a header
 * with two "__metadata__" keys keeps the first, as cJSON's lookups do. */
static int keep_meta(lst_st_file_t *f, const cJSON *e, lst_err_t *err) {
    if (f->meta) return 0;
    const int n = cJSON_GetArraySize(e);
    f->meta = lst_calloc(2 * (size_t)n + 1, sizeof *f->meta, err);
    if (!f->meta) return lst_fail_ctx(err, "%s", f->path);
    const cJSON *m;
    cJSON_ArrayForEach(m, e) {
        char *k = strdup(m->string), *v = strdup(m->valuestring);
        f->meta[2 * f->n_meta] = k;
        f->meta[2 * f->n_meta + 1] = v;
        f->n_meta++;
        if (!k || !v) return lst_fail(err, "%s: out of memory", f->path);
    }
    return 0;
}

const char *lst_st_meta(const lst_st_file_t *f, const char *key) {
    for (int i = 0; f && key && i < f->n_meta; i++)
        if (!strcmp(f->meta[2 * i], key)) return f->meta[2 * i + 1];
    return NULL;
}

/* Header after parsing: fill f->tensors and check names / overlaps. */
static int parse_header(lst_st_file_t *f, const cJSON *root, const char *data,
                        uint64_t data_size, lst_err_t *err) {
    const char *path = f->path;
    if (!cJSON_IsObject(root))
        return lst_fail(err, "%s: header JSON is not an object", path);
    int count = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(e))
                return lst_fail(err, "%s: \"__metadata__\" is not an object", path);
            const cJSON *m;
            cJSON_ArrayForEach(m, e) if (!cJSON_IsString(m))
                return lst_fail(err, "%s: \"__metadata__\" value '%s' is not a string",
                                path, m->string);
            if (keep_meta(f, e, err)) return -1;
            continue;
        }
        count++;
    }
    f->tensors = lst_calloc((size_t)count, sizeof *f->tensors, err);
    if (!f->tensors) return lst_fail_ctx(err, "%s", path);
    cJSON_ArrayForEach(e, root) {
        if (strcmp(e->string, "__metadata__") == 0) continue;
        lst_st_tensor_t *t = &f->tensors[f->n];
        t->name = strdup(e->string);
        if (!t->name) return lst_fail(err, "%s: out of memory", path);
        f->n++;
        if (parse_entry(path, e->string, e, data, data_size, t, err) != 0) return -1;
    }
    if (count == 0) return 0;
    lst_st_tensor_t **idx = lst_malloc((size_t)count, sizeof *idx, err);
    if (!idx) return lst_fail_ctx(err, "%s", path);
    for (int i = 0; i < count; i++) idx[i] = &f->tensors[i];
    qsort(idx, (size_t)count, sizeof *idx, cmp_name_ptr);
    for (int i = 1; i < count; i++)
        if (strcmp(idx[i - 1]->name, idx[i]->name) == 0) {
            lst_fail(err, "%s: duplicate tensor name '%s' in header", path, idx[i]->name);
            free(idx);
            return -1;
        }
    /* Zero-byte tensors occupy nothing, so they cannot overlap. */
    qsort(idx, (size_t)count, sizeof *idx, cmp_begin);
    const lst_st_tensor_t *last = NULL;
    for (int i = 0; i < count; i++) {
        const lst_st_tensor_t *t = idx[i];
        if (t->nbytes == 0) continue;
        if (last && (const char *)t->data < (const char *)last->data + last->nbytes) {
            const char *d0 = data;
            lst_fail(err, "%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap",
                     path, last->name,
                     (unsigned long long)((const char *)last->data - d0),
                     (unsigned long long)((const char *)last->data - d0 + last->nbytes),
                     t->name, (unsigned long long)((const char *)t->data - d0),
                     (unsigned long long)((const char *)t->data - d0 + t->nbytes));
            free(idx);
            return -1;
        }
        if (!last || (const char *)t->data + t->nbytes >
                         (const char *)last->data + last->nbytes)
            last = t;
    }
    free(idx);
    return 0;
}

static int open_impl(lst_st_file_t *f, const char *path, lst_err_t *err) {
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path) return lst_fail(err, "%s: out of memory", path);
    /* a FIFO would block a plain open() forever */
    int fd = lst_open_regular(path, O_RDONLY, err);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        lst_fail(err, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    uint64_t fsize = (uint64_t)st.st_size;
    if (fsize == 0) {
        close(fd);
        return lst_fail(err, "%s: file is empty (not a safetensors file)", path);
    }
    if (fsize < 8) {
        close(fd);
        return lst_fail(err, "%s: file is truncated: %llu bytes, need at least 8 for the "
                        "header length", path, (unsigned long long)fsize);
    }
    if (fsize > (uint64_t)SIZE_MAX) {
        close(fd);
        return lst_fail(err, "%s: file too large to map", path);
    }
    void *map = mmap(NULL, (size_t)fsize, PROT_READ, MAP_PRIVATE, fd, 0);
    int mmap_errno = errno;
    close(fd);
    if (map == MAP_FAILED)
        return lst_fail(err, "%s: cannot mmap: %s", path, strerror(mmap_errno));
    f->map = map;
    f->map_size = (size_t)fsize;

    const unsigned char *p = map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen > fsize - 8)
        return lst_fail(err, "%s: header length %llu extends beyond the end of the file "
                        "(%llu bytes): truncated or not a safetensors file", path,
                        (unsigned long long)hlen, (unsigned long long)fsize);
    if (hlen > ST_MAX_HEADER)
        return lst_fail(err, "%s: header length %llu exceeds the 100 MB limit", path,
                        (unsigned long long)hlen);
    if (hlen == 0) return lst_fail(err, "%s: header is empty (length 0)", path);

    /* A NUL-terminated copy: cJSON then never reads past the mapping. */
    char *hdr = lst_malloc((size_t)hlen + 1, 1, err);
    if (!hdr) return lst_fail_ctx(err, "%s", path);
    memcpy(hdr, p + 8, (size_t)hlen);
    hdr[hlen] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, 0);
    if (!root) {
        size_t at = end && end >= hdr ? (size_t)(end - hdr) : 0;
        lst_fail(err, "%s: header is not valid JSON (parse error at byte %zu of %llu)", path,
                 at, (unsigned long long)hlen);
        free(hdr);
        return -1;
    }
    /* Only padding (whitespace) may follow the JSON value. */
    for (const char *q = end; q && q < hdr + hlen; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            lst_fail(err, "%s: header is not valid JSON (trailing bytes at byte %zu)", path,
                     (size_t)(q - hdr));
            cJSON_Delete(root);
            free(hdr);
            return -1;
        }
    const char *data = (const char *)p + 8 + hlen;
    int rc = parse_header(f, root, data, fsize - 8 - hlen, err);
    cJSON_Delete(root);
    free(hdr);
    return rc;
}

/* A failed open releases what it took: every caller (batch, model, side,
 * checkpoint loaders) returned on failure without lst_st_close, leaking the
 * path, the mapping and the tensor table (found by fuzz/fuzz_batch). */
int lst_st_open(lst_st_file_t *f, const char *path, lst_err_t *err) {
    int rc = open_impl(f, path, err);
    if (rc != 0) lst_st_close(f);
    return rc;
}

const lst_st_tensor_t *lst_st_find(const lst_st_file_t *f, const char *name) {
    if (!f || !name) return NULL;
    for (int i = 0; i < f->n; i++)
        if (f->tensors[i].name && strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

/* Finds `name` and checks its shape against shape[0..ndim-1] (if ndim >= 0). */
static const lst_st_tensor_t *find_checked(const lst_st_file_t *f, const char *name,
                                           int ndim, const int64_t *shape, lst_err_t *err) {
    const char *path = f && f->path ? f->path : "(unopened file)";
    const lst_st_tensor_t *t = lst_st_find(f, name);
    if (!t) {
        lst_fail(err, "tensor '%s' not found in %s", name ? name : "(null)", path);
        return NULL;
    }
    if (ndim < 0) return t;
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char a[256], b[256];
        lst_fail(err, "tensor '%s' in %s has shape %s, expected %s", name, path,
                 shape_str(a, sizeof a, t->ndim, t->shape),
                 shape_str(b, sizeof b, ndim > LST_ST_MAX_DIMS ? LST_ST_MAX_DIMS : ndim,
                           shape));
        return NULL;
    }
    return t;
}

int lst_st_read_f32(const lst_st_file_t *f, const char *name, int ndim,
                    const int64_t *shape, float *out, lst_err_t *err) {
    const lst_st_tensor_t *t = find_checked(f, name, ndim, shape, err);
    if (!t) return -1;
    const unsigned char *p = t->data;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case LST_DT_F32:
        if (n) memcpy(out, p, n * 4); /* file is little-endian, as is the host */
        return 0;
    case LST_DT_F16:
        for (size_t i = 0; i < n; i++)
            out[i] = lst_f16_to_float((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        return 0;
    case LST_DT_BF16:
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = (uint32_t)(p[2 * i] | (p[2 * i + 1] << 8)) << 16;
            memcpy(&out[i], &bits, 4);
        }
        return 0;
    default:
        return lst_fail(err, "tensor '%s' in %s has dtype %s, expected a float dtype (F32, "
                        "F16 or BF16)", name, f->path, lst_dtype_name(t->dtype));
    }
}

int lst_st_read_i64(const lst_st_file_t *f, const char *name, int ndim,
                    const int64_t *shape, int64_t *out, lst_err_t *err) {
    const lst_st_tensor_t *t = find_checked(f, name, ndim, shape, err);
    if (!t) return -1;
    const unsigned char *p = t->data;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case LST_DT_I64:
        if (n) memcpy(out, p, n * 8);
        return 0;
    case LST_DT_I32:
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, p + 4 * i, 4);
            out[i] = v;
        }
        return 0;
    default:
        return lst_fail(err, "tensor '%s' in %s has dtype %s, expected an integer dtype "
                        "(I64 or I32)", name, f->path, lst_dtype_name(t->dtype));
    }
}

/* ------------------------------------------------------------------ writer */

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void sb_str(sbuf_t *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_json_string(sbuf_t *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            sb_put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static int cmp_out_name(const void *a, const void *b) {
    const lst_st_out_t *x = *(const lst_st_out_t *const *)a;
    const lst_st_out_t *y = *(const lst_st_out_t *const *)b;
    return strcmp(x->name, y->name);
}

/* Checks the tensors and builds the padded header; sizes[i] = byte count. */
static int build_header(const char *path, const lst_st_out_t *ts, int n, int stream,
                        const char *const *meta, uint64_t *sizes, sbuf_t *hb, lst_err_t *err) {
    if (n < 0) return lst_fail(err, "%s: negative tensor count %d", path, n);
    if (n > 0 && !ts) return lst_fail(err, "%s: no tensors given", path);
    for (int i = 0; i < n; i++) {
        const lst_st_out_t *t = &ts[i];
        char sb[256];
        int64_t numel;
        if (!t->name || !t->name[0])
            return lst_fail(err, "%s: tensor %d has an empty name", path, i);
        if (strcmp(t->name, "__metadata__") == 0)
            return lst_fail(err, "%s: tensor %d may not be named __metadata__", path, i);
        if (!dtype_ok(t->dtype))
            return lst_fail(err, "%s: tensor '%s' has invalid dtype %d", path, t->name,
                            (int)t->dtype);
        if (t->ndim < 0 || t->ndim > LST_ST_MAX_DIMS)
            return lst_fail(err, "%s: tensor '%s' has invalid ndim %d (0..%d)", path,
                            t->name, t->ndim, LST_ST_MAX_DIMS);
        if (shape_bytes(t->ndim, t->shape, t->dtype, &numel, &sizes[i]) != 0)
            return lst_fail(err, "%s: tensor '%s' has invalid shape %s", path, t->name,
                            shape_str(sb, sizeof sb, t->ndim, t->shape));
        if (!t->data && sizes[i] > 0 && !stream)
            return lst_fail(err, "%s: tensor '%s' has no data", path, t->name);
    }
    if (n > 0) {
        const lst_st_out_t **idx = lst_malloc((size_t)n, sizeof *idx, err);
        if (!idx) return lst_fail_ctx(err, "%s", path);
        for (int i = 0; i < n; i++) idx[i] = &ts[i];
        qsort(idx, (size_t)n, sizeof *idx, cmp_out_name);
        for (int i = 1; i < n; i++)
            if (strcmp(idx[i - 1]->name, idx[i]->name) == 0) {
                lst_fail(err, "%s: duplicate tensor name '%s'", path, idx[i]->name);
                free(idx);
                return -1;
            }
        free(idx);
    }

    uint64_t off = 0;
    char num[160];
    sb_str(hb, "{\"__metadata__\":{\"format\":\"pt\"");
    for (int i = 0; meta && meta[i] && meta[i + 1]; i += 2) {
        sb_str(hb, ",");
        sb_json_string(hb, meta[i]);
        sb_str(hb, ":");
        sb_json_string(hb, meta[i + 1]);
    }
    sb_str(hb, "}");
    for (int i = 0; i < n; i++) {
        const lst_st_out_t *t = &ts[i];
        sb_str(hb, ",");
        sb_json_string(hb, t->name);
        snprintf(num, sizeof num, ":{\"dtype\":\"%s\",\"shape\":[", lst_dtype_name(t->dtype));
        sb_str(hb, num);
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            sb_str(hb, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                 (unsigned long long)(off + sizes[i]));
        sb_str(hb, num);
        off += sizes[i];
    }
    sb_str(hb, "}");
    while (!hb->oom && hb->len % 8 != 0) sb_str(hb, " ");
    if (hb->oom) return lst_fail(err, "%s: out of memory building header", path);
    return 0;
}

static int write_impl(const char *path, const lst_st_out_t *ts, int n, lst_st_fill_fn fill,
                      void *ctx, const char *const *meta, lst_err_t *err) {
    if (!path || !*path) return lst_fail(err, "safetensors write: empty output path");
    int stream = fill != NULL;
    uint64_t *sizes = lst_calloc(n > 0 ? (size_t)n : 1, sizeof *sizes, err);
    if (!sizes) return lst_fail_ctx(err, "%s", path);
    sbuf_t hb = {0};
    char *buf = NULL;
    lst_atomic_t out = {.fd = -1};
    int rc = -1;
    if (build_header(path, ts, n, stream, meta, sizes, &hb, err) != 0) goto done;

    size_t buf_size = 0;
    for (int i = 0; stream && i < n; i++)
        if (!ts[i].data && sizes[i] > buf_size) buf_size = (size_t)sizes[i];
    if (buf_size && !(buf = lst_malloc(buf_size, 1, err))) {
        lst_fail_ctx(err, "%s", path);
        goto done;
    }
    if (lst_atomic_open(&out, path, err)) goto done;
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)(((uint64_t)hb.len >> (8 * i)) & 0xff);
    if (lst_atomic_write(&out, lenb, 8, err) || lst_atomic_write(&out, hb.s, hb.len, err)) goto done;
    for (int i = 0; i < n; i++) {
        const void *src = ts[i].data;
        if (sizes[i] == 0) continue;
        if (!src) {
            lst_err_t ferr = {{0}};
            if (fill(ctx, i, buf, &ferr) != 0) {
                lst_fail(err, "%s: producing tensor '%s': %s", path, ts[i].name, ferr.msg);
                goto done;
            }
            src = buf;
        }
        if (lst_atomic_write(&out, src, (size_t)sizes[i], err)) goto done;
    }
    rc = lst_atomic_commit(&out, err);
done:
    lst_atomic_abort(&out); /* a no-op once committed or after a failed write */
    free(buf);
    free(hb.s);
    free(sizes);
    return rc;
}

int lst_st_write(const char *path, const lst_st_out_t *tensors, int n, lst_err_t *err) {
    return write_impl(path, tensors, n, NULL, NULL, NULL, err);
}

int lst_st_write_stream(const char *path, const lst_st_out_t *tensors, int n,
                        lst_st_fill_fn fill, void *ctx, lst_err_t *err) {
    return write_impl(path, tensors, n, fill, ctx, NULL, err);
}

int lst_st_write_stream_meta(const char *path, const lst_st_out_t *tensors, int n,
                             lst_st_fill_fn fill, void *ctx, const char *const *meta,
                             lst_err_t *err) {
    return write_impl(path, tensors, n, fill, ctx, meta, err);
}

void lst_st_release(const lst_st_file_t *f, const lst_st_tensor_t *t) {
    if (!f || !t || !f->map || !t->nbytes) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)t->data & ~(page - 1), hi = (uintptr_t)t->data + t->nbytes;
    hi = (hi + page - 1) & ~(page - 1);
    const uintptr_t end = (uintptr_t)f->map + f->map_size;
    if (hi > end) hi = end;
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED); /* advice: failure changes nothing */
}
