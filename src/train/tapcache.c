/* tapcache.c: see tapcache.h. */
#define XXH_INLINE_ALL
#include "tapcache.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "../core/fileio.h"
#include "../core/half.h"

enum { HEADER = 4096, ALIGN = 64 };
static const char MAGIC[] = "LSTTAPS1\n", REC_MAGIC[8] = "LSTTREC1";

/* A record's header, 64 bytes, little-endian as the host. */
typedef struct {
    char magic[8];
    int64_t example;
    int32_t len[2];   /* rows of part 0 and part 1 */
    uint64_t payload; /* bytes, before the padding */
    uint64_t sum;     /* XXH3-64 of the payload */
    uint64_t spare[2];
    uint64_t self;    /* XXH3-64 of the 56 bytes above */
} rec_t;
_Static_assert(sizeof(rec_t) == 64, "record header");

struct lst_tapcache {
    lst_tc_key_t k;
    int n0, n1;          /* layers of part 0 and part 1 */
    size_t esize;        /* bytes per element */
    char *path;          /* NULL: in memory */
    int fd;
    uint8_t *map;        /* the file, read-only, [map_len] */
    size_t map_len, end; /* end: after the last whole record */
    int64_t *off;        /* [n] file: a record's offset; -1: none */
    uint8_t **mem;       /* [n] memory: the records */
    int count, stopped;  /* stopped: a write failed, no more records */
    int werr;            /* errno of a failed write in this batch */
    /* the batch being written (lst_tc_stage .. lst_tc_commit) */
    int n_stage, cap, next;  /* next: the part/layer slot the sink expects */
    int *row;
    int64_t *ex;
    size_t *at;              /* where each record goes */
    uint8_t **buf;           /* memory: the records being written */
    XXH3_state_t **h;
    void *scratch;
    size_t scratch_bytes;
};

int lst_tc_dtype_parse(const char *name) {
    static const char *names[] = {"f32", "bf16", "f16"};
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, names[i])) return i;
    return -1;
}

const char *lst_tc_dtype_name(int dtype) {
    return dtype == LST_TC_BF16 ? "bf16" : dtype == LST_TC_F16 ? "f16" : "f32";
}

static size_t dtype_bytes(int dtype) { return dtype == LST_TC_F32 ? 4 : 2; }
static size_t pad64(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

/* Rows of example e in part p. */
static int part_len(const lst_tc_key_t *k, int e, int p) {
    return p == 0 || k->kind == LST_TC_EVAL ? k->data->src_len[e] : k->data->tgt_len[e];
}

static int part_layers(const lst_tc_key_t *k, int p) {
    return p == 0 ? k->n_keep[0] : k->kind == LST_TC_EVAL ? 1 : k->n_keep[1];
}

static size_t payload_bytes(const lst_tc_key_t *k, int e) {
    const size_t rows = (size_t)part_layers(k, 0) * part_len(k, e, 0) +
                        (size_t)part_layers(k, 1) * part_len(k, e, 1);
    return rows * k->d * dtype_bytes(k->dtype);
}

/* Byte offset of (part p, layer l) inside example e's payload. */
static size_t slot_offset(const lst_tc_key_t *k, int e, int p, int l) {
    size_t rows = p ? (size_t)part_layers(k, 0) * part_len(k, e, 0) : 0;
    rows += (size_t)l * part_len(k, e, p);
    return rows * k->d * dtype_bytes(k->dtype);
}

static size_t record_bytes(const lst_tc_key_t *k, int e) { return sizeof(rec_t) + pad64(payload_bytes(k, e)); }

size_t lst_tc_bytes(const lst_tc_key_t *k) {
    size_t n = HEADER;
    for (int e = 0; e < k->data->n; e++) n += record_bytes(k, e);
    return n;
}

size_t lst_tc_part_floats(const lst_tc_key_t *k, int part, int B, int Ts, int Td) {
    const int T = part == 0 || k->kind == LST_TC_EVAL ? Ts : Td;
    return (size_t)part_layers(k, part) * B * T * k->d;
}

/* ---- the key ----------------------------------------------------------------- */

static uint64_t data_hash(const lst_tokdata_t *d) {
    XXH3_state_t *h = XXH3_createState();
    if (!h) return 0;
    XXH3_64bits_reset(h);
    for (int e = 0; e < d->n; e++) {
        const int32_t len[2] = {d->src_len[e], d->tgt_len[e]};
        XXH3_64bits_update(h, len, sizeof len);
        XXH3_64bits_update(h, d->src[e], sizeof(int32_t) * len[0]);
        XXH3_64bits_update(h, d->tgt[e], sizeof(int32_t) * len[1]);
    }
    const uint64_t v = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return v;
}

static cJSON *int_list(const int *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static void add_hex(cJSON *o, const char *name, uint64_t v) {
    char s[24];
    snprintf(s, sizeof s, "%016llx", (unsigned long long)v);
    cJSON_AddStringToObject(o, name, s);
}

static cJSON *key_json(const lst_tc_key_t *k) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", k->kind == LST_TC_EVAL ? "evaluation" : "training");
    cJSON_AddStringToObject(o, "dtype", lst_tc_dtype_name(k->dtype));
    cJSON_AddNumberToObject(o, "d_model", k->d);
    cJSON_AddItemToObject(o, "encoder_layers", int_list(k->keep[0], k->n_keep[0]));
    cJSON_AddItemToObject(o, "decoder_layers", int_list(k->keep[1], k->n_keep[1]));
    cJSON_AddNumberToObject(o, "max_source_length", k->max_src);
    cJSON_AddNumberToObject(o, "max_target_length", k->max_tgt);
    add_hex(o, "backbone_config", k->fp_config);
    add_hex(o, "backbone_weights", k->fp_weights);
    add_hex(o, "tokenizer", k->tokenizer);
    add_hex(o, "data", data_hash(k->data));
    cJSON_AddNumberToObject(o, "examples", k->data->n);
    return o;
}

/* Why a stored header is not this key's ("" when it is). */
static void key_mismatch(const char *stored, const cJSON *want, char *why, size_t n) {
    why[0] = 0;
    if (strncmp(stored, MAGIC, sizeof MAGIC - 1)) {
        snprintf(why, n, "not a tap cache header");
        return;
    }
    cJSON *got = cJSON_Parse(stored + sizeof MAGIC - 1);
    if (!got) {
        snprintf(why, n, "its header is not readable JSON");
        return;
    }
    for (const cJSON *w = want->child; w && !why[0]; w = w->next) {
        char *a = cJSON_PrintUnformatted(w);
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(got, w->string);
        char *b = g ? cJSON_PrintUnformatted(g) : NULL;
        if (!b || strcmp(a, b)) snprintf(why, n, "%s was %s, now %s", w->string, b ? b : "absent", a);
        free(a);
        free(b);
    }
    cJSON_Delete(got);
}

/* ---- the file ----------------------------------------------------------------- */

static int remap(lst_tapcache_t *c) {
    if (c->map) munmap(c->map, c->map_len);
    c->map = NULL;
    c->map_len = c->end;
    void *p = mmap(NULL, c->map_len, PROT_READ, MAP_SHARED, c->fd, 0);
    if (p == MAP_FAILED) return -1;
    c->map = p;
    return 0;
}

/* A new file: the header alone (key: key_json of the cache's key). */
static int start_over(lst_tapcache_t *c, const cJSON *key, lst_err_t *err) {
    char hdr[HEADER] = {0};
    char *text = cJSON_PrintUnformatted(key);
    const int fits = text && strlen(MAGIC) + strlen(text) + 2 <= HEADER;
    if (fits) snprintf(hdr, sizeof hdr, "%s%s\n", MAGIC, text);
    free(text);
    if (!fits) return lst_fail(err, "tap cache %s: the key does not fit its header", c->path);
    if (ftruncate(c->fd, 0) || pwrite(c->fd, hdr, HEADER, 0) != HEADER)
        return lst_fail(err, "tap cache %s: writing its header: %s", c->path, strerror(errno));
    for (int e = 0; e < c->k.data->n; e++) c->off[e] = -1;
    c->count = 0;
    c->end = HEADER;
    return 0;
}

/* A record header at `at` that belongs to this key (its payload unchecked). */
static int header_sound(const lst_tapcache_t *c, const rec_t *r) {
    const lst_tc_key_t *k = &c->k;
    if (memcmp(r->magic, REC_MAGIC, 8) || XXH3_64bits(r, offsetof(rec_t, self)) != r->self)
        return 0;
    if (r->example < 0 || r->example >= k->data->n) return 0;
    const int e = (int)r->example;
    return r->len[0] == part_len(k, e, 0) && r->len[1] == part_len(k, e, 1) &&
           r->payload == payload_bytes(k, e);
}

/* Indexes the whole records after the header; truncates a cut-short tail. */
static int scan(lst_tapcache_t *c, size_t size, char *note, size_t nn) {
    size_t at = HEADER;
    rec_t r;
    while (at + sizeof r <= size && pread(c->fd, &r, sizeof r, (off_t)at) == (ssize_t)sizeof r &&
           header_sound(c, &r) && at + sizeof r + pad64(r.payload) <= size) {
        if (c->off[r.example] < 0) c->count++;
        c->off[r.example] = (int64_t)at; /* a later record supersedes */
        at += sizeof r + pad64(r.payload);
    }
    c->end = at;
    if (at < size) {
        snprintf(note, nn, "tap cache %s: %zu bytes after the last whole record (a write cut "
                 "short) dropped; those examples are computed again", c->path, size - at);
        if (ftruncate(c->fd, (off_t)at)) return -1;
    }
    return 0;
}

static int open_file(lst_tapcache_t *c, char *note, size_t nn, lst_err_t *err) {
    c->fd = open(c->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (c->fd < 0) return lst_fail(err, "tap cache %s: %s", c->path, strerror(errno));
    struct stat sb;
    if (fstat(c->fd, &sb) || !S_ISREG(sb.st_mode))
        return lst_fail(err, "tap cache %s is not a regular file", c->path);
    if (flock(c->fd, LOCK_EX | LOCK_NB))
        return lst_fail(err, "tap cache %s is in use by another lst process", c->path);
    char hdr[HEADER + 1] = {0};
    const ssize_t got = sb.st_size ? pread(c->fd, hdr, HEADER, 0) : 0;
    char why[400] = "";
    cJSON *want = key_json(&c->k); /* hashes every example: once */
    if (got == HEADER) key_mismatch(hdr, want, why, sizeof why);
    int rc;
    if (got == HEADER && !why[0]) {
        rc = scan(c, (size_t)sb.st_size, note, nn);
        if (rc) lst_fail(err, "tap cache %s: truncating: %s", c->path, strerror(errno));
    } else {
        if (sb.st_size)
            snprintf(note, nn, "tap cache %s: built for another run (%s): rebuilding", c->path,
                     why[0] ? why : "its header is cut short");
        rc = start_over(c, want, err);
    }
    cJSON_Delete(want);
    if (!rc && remap(c)) rc = lst_fail(err, "tap cache %s: mmap: %s", c->path, strerror(errno));
    return rc;
}

lst_tapcache_t *lst_tc_open(const char *path, const lst_tc_key_t *k, char *note, size_t note_n,
                            lst_err_t *err) {
    note[0] = 0;
    lst_tapcache_t *c = lst_calloc(1, sizeof *c, err);
    if (!c) return NULL;
    c->k = *k;
    c->fd = -1;
    c->esize = dtype_bytes(k->dtype);
    const int n = k->data->n;
    c->off = lst_malloc(n ? n : 1, sizeof *c->off, err);
    c->mem = lst_calloc(n ? n : 1, sizeof *c->mem, err);
    c->path = path ? strdup(path) : NULL;
    if (!c->off || !c->mem || (path && !c->path)) {
        lst_tc_close(c);
        return NULL;
    }
    for (int e = 0; e < n; e++) c->off[e] = -1;
    if (path && open_file(c, note, note_n, err)) {
        lst_tc_close(c);
        return NULL;
    }
    return c;
}

void lst_tc_close(lst_tapcache_t *c) {
    if (!c) return;
    if (c->map) munmap(c->map, c->map_len);
    if (c->fd >= 0) close(c->fd); /* releases the lock */
    for (int e = 0; c->mem && e < c->k.data->n; e++) free(c->mem[e]);
    for (int i = 0; i < c->cap; i++) {
        XXH3_freeState(c->h[i]);
        free(c->buf[i]);
    }
    free(c->h);
    free(c->buf);
    free(c->row);
    free(c->ex);
    free(c->at);
    free(c->scratch);
    free(c->mem);
    free(c->off);
    free(c->path);
    free(c);
}

int lst_tc_count(const lst_tapcache_t *c) { return c->count; }
const lst_tc_key_t *lst_tc_key(const lst_tapcache_t *c) { return &c->k; }
int lst_tc_examples(const lst_tapcache_t *c) { return c->k.data->n; }

/* ---- reading ----------------------------------------------------------------- */

static int present(const lst_tapcache_t *c, int64_t e) {
    if (e < 0 || e >= c->k.data->n) return 0;
    return c->path ? c->off[e] >= 0 : c->mem[e] != NULL;
}

static const uint8_t *record(const lst_tapcache_t *c, int e) {
    return c->path ? c->map + c->off[e] : c->mem[e];
}

static void drop(lst_tapcache_t *c, int e) {
    if (c->path) c->off[e] = -1;
    else {
        free(c->mem[e]);
        c->mem[e] = NULL;
    }
    c->count--;
}

/* The mapped pages of example e's record leave the process (they stay in
 * the page cache): what the process holds is one batch. */
static void release(const lst_tapcache_t *c, int e) {
    if (!c->path) return;
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE), a = (size_t)c->off[e];
    const size_t lo = a / pg * pg, hi = (a + record_bytes(&c->k, e) + pg - 1) / pg * pg;
    madvise(c->map + lo, (hi < c->map_len ? hi : (c->map_len + pg - 1) / pg * pg) - lo, MADV_DONTNEED);
}

static void widen(float *dst, const uint8_t *src, size_t n, int dtype) {
    if (dtype == LST_TC_F32) {
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    const uint16_t *h = (const uint16_t *)src;
    if (dtype == LST_TC_BF16)
        for (size_t i = 0; i < n; i++) dst[i] = lst_bf16_to_float(h[i]);
    else
        for (size_t i = 0; i < n; i++) dst[i] = lst_f16_to_float(h[i]);
}

/* Example e's part p into row b of the padded [layers, B, T, d] buffer P. */
static void unpack_part(const lst_tapcache_t *c, const uint8_t *payload, int e, int p, int b,
                        int B, int T, float *P) {
    const lst_tc_key_t *k = &c->k;
    const size_t d = k->d, len = part_len(k, e, p);
    for (int l = 0; l < part_layers(k, p); l++) {
        float *dst = P + ((size_t)l * B + b) * T * d;
        widen(dst, payload + slot_offset(k, e, p, l), len * d, k->dtype);
        memset(dst + len * d, 0, sizeof(float) * (T - len) * d);
    }
}

int lst_tc_fill(lst_tapcache_t *c, const lst_batch_t *bt, float *part0, float *part1, char *note,
                size_t note_n) {
    note[0] = 0;
    if (!bt->example_ids) return 0;
    for (int b = 0; b < bt->B; b++)
        if (!present(c, bt->example_ids[b])) return 0;
    const int T1 = c->k.kind == LST_TC_EVAL ? bt->Ts : bt->Td;
    for (int b = 0; b < bt->B; b++) {
        const int e = (int)bt->example_ids[b];
        const rec_t *r = (const rec_t *)record(c, e);
        const uint8_t *payload = (const uint8_t *)(r + 1);
        if (!header_sound(c, r) || r->example != e || XXH3_64bits(payload, r->payload) != r->sum ||
            part_len(&c->k, e, 0) > bt->Ts || part_len(&c->k, e, 1) > T1) {
            snprintf(note, note_n, "tap cache %s: the record of example %d is damaged: dropped, "
                     "computed again", c->path ? c->path : "(memory)", e + 1);
            release(c, e);
            drop(c, e);
            return 0;
        }
        unpack_part(c, payload, e, 0, b, bt->B, bt->Ts, part0);
        unpack_part(c, payload, e, 1, b, bt->B, T1, part1);
        release(c, e);
    }
    return 1;
}

/* ---- writing ----------------------------------------------------------------- */

static int grow_stage(lst_tapcache_t *c, int B, lst_err_t *err) {
    if (B <= c->cap) return 0;
    int *row = realloc(c->row, sizeof *row * B);
    if (row) c->row = row;
    int64_t *ex = realloc(c->ex, sizeof *ex * B);
    if (ex) c->ex = ex;
    size_t *at = realloc(c->at, sizeof *at * B);
    if (at) c->at = at;
    uint8_t **buf = realloc(c->buf, sizeof *buf * B);
    if (buf) c->buf = buf;
    XXH3_state_t **h = realloc(c->h, sizeof *h * B);
    if (h) c->h = h;
    if (!row || !ex || !at || !buf || !h) return lst_fail(err, "out of memory (tap cache)");
    for (; c->cap < B; c->cap++) {
        c->buf[c->cap] = NULL;
        if (!(c->h[c->cap] = XXH3_createState())) return lst_fail(err, "out of memory (tap cache)");
    }
    return 0;
}

int lst_tc_stage(lst_tapcache_t *c, const lst_batch_t *bt, lst_err_t *err) {
    for (int n = 0; n < c->n_stage; n++) { /* a batch staged but never committed */
        free(c->buf[n]);
        c->buf[n] = NULL;
    }
    c->n_stage = 0;
    c->next = 0;
    c->werr = 0;
    if (c->stopped || !bt->example_ids) return 0;
    if (grow_stage(c, bt->B, err)) return -1;
    size_t at = c->end;
    for (int b = 0; b < bt->B; b++) {
        const int64_t e = bt->example_ids[b];
        if (e < 0 || e >= c->k.data->n || present(c, e)) continue;
        const int n = c->n_stage;
        c->row[n] = b;
        c->ex[n] = e;
        c->at[n] = at;
        at += record_bytes(&c->k, (int)e);
        if (!c->path && !(c->buf[n] = lst_calloc(1, record_bytes(&c->k, (int)e), err))) return -1;
        XXH3_64bits_reset(c->h[n]);
        c->n_stage++;
    }
    return c->n_stage;
}

/* The part and layer of a sink call (-1: not stored by this kind). */
static int sink_slot(const lst_tapcache_t *c, int st, int k, int *p, int *l) {
    const int eval = c->k.kind == LST_TC_EVAL;
    if (k >= 0 && (st == 0 || !eval)) {
        *p = st;
        *l = k;
    } else if (k < 0 && st == 0 && eval) {
        *p = 1;
        *l = 0;
    } else {
        return -1;
    }
    return *l < part_layers(&c->k, *p) ? 0 : -1;
}

static const void *narrow(lst_tapcache_t *c, const float *x, size_t n) {
    if (c->k.dtype == LST_TC_F32) return x;
    if (c->scratch_bytes < n * 2) {
        free(c->scratch);
        c->scratch_bytes = 0;
        if (!(c->scratch = malloc(n * 2))) return NULL;
        c->scratch_bytes = n * 2;
    }
    uint16_t *h = c->scratch;
    if (c->k.dtype == LST_TC_BF16) {
        for (size_t i = 0; i < n; i++) h[i] = lst_bf16_from_float(x[i]);
        return h;
    }
    int over = 0; /* past f16's 65504: it would be read back as infinity */
    for (size_t i = 0; i < n; i++) {
        h[i] = lst_f16_from_float(x[i]);
        over |= (h[i] & 0x7c00u) == 0x7c00u && isfinite(x[i]);
    }
    if (over) c->werr = ERANGE;
    return over ? NULL : h;
}

static void put(lst_tapcache_t *c, int n, size_t off, const void *src, size_t bytes) {
    if (!c->path) {
        memcpy(c->buf[n] + off, src, bytes);
        return;
    }
    const uint8_t *s = src;
    while (bytes && !c->werr) {
        const ssize_t w = pwrite(c->fd, s, bytes, (off_t)(c->at[n] + off));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) c->werr = w < 0 ? errno : ENOSPC;
        else {
            s += w;
            off += (size_t)w;
            bytes -= (size_t)w;
        }
    }
}

void lst_tc_sink(void *ctx, int st, int k, const float *x, int B, int T) {
    lst_tapcache_t *c = ctx;
    int p, l;
    if (!c->n_stage || c->werr || sink_slot(c, st, k, &p, &l)) return;
    const int slot = p ? part_layers(&c->k, 0) + l : l;
    if (slot != c->next++) { /* the payload's order is the forward's: a wiring error */
        c->werr = EINVAL;
        return;
    }
    const size_t d = c->k.d;
    for (int n = 0; n < c->n_stage && !c->werr; n++) {
        const int e = (int)c->ex[n];
        const size_t len = part_len(&c->k, e, p), bytes = len * d * c->esize;
        const void *src = narrow(c, x + (size_t)c->row[n] * T * d, len * d);
        if (!src) {
            if (!c->werr) c->werr = ENOMEM;
            return;
        }
        XXH3_64bits_update(c->h[n], src, bytes);
        put(c, n, sizeof(rec_t) + slot_offset(&c->k, e, p, l), src, bytes);
    }
}

/* The record headers, once every payload is written: a kill before them
 * leaves a tail the next open drops. */
static void write_headers(lst_tapcache_t *c) {
    for (int n = 0; n < c->n_stage && !c->werr; n++) {
        const int e = (int)c->ex[n];
        rec_t r;
        memset(&r, 0, sizeof r);
        memcpy(r.magic, REC_MAGIC, 8);
        r.example = e;
        r.len[0] = part_len(&c->k, e, 0);
        r.len[1] = part_len(&c->k, e, 1);
        r.payload = payload_bytes(&c->k, e);
        r.sum = XXH3_64bits_digest(c->h[n]);
        r.self = XXH3_64bits(&r, offsetof(rec_t, self));
        lst_fault_point("tapcache", 0);
        put(c, n, 0, &r, sizeof r);
    }
}

void lst_tc_commit(lst_tapcache_t *c, char *note, size_t note_n) {
    note[0] = 0;
    if (!c->n_stage) return;
    if (!c->werr && c->next != part_layers(&c->k, 0) + part_layers(&c->k, 1)) c->werr = EINVAL;
    write_headers(c);
    const int last = c->n_stage - 1;
    const size_t end = c->at[last] + record_bytes(&c->k, (int)c->ex[last]);
    if (!c->werr && c->path && ftruncate(c->fd, (off_t)end)) c->werr = errno; /* the last padding */
    for (int n = 0; n < c->n_stage; n++) {
        const int e = (int)c->ex[n];
        if (c->werr) free(c->buf[n]);
        else if (c->path) c->off[e] = (int64_t)c->at[n];
        else c->mem[e] = c->buf[n];
        c->buf[n] = NULL;
        if (!c->werr) c->count++;
    }
    if (!c->werr && c->path) c->end = end;
    if (!c->werr && c->path && remap(c)) { /* nothing can be read: start empty */
        c->werr = errno;
        for (int e = 0; e < c->k.data->n; e++) c->off[e] = -1;
        c->count = 0;
    }
    if (c->werr) {
        if (c->path && ftruncate(c->fd, (off_t)c->end)) { /* the whole records stay */ }
        c->stopped = 1;
        const char *why = c->werr == ERANGE ? "a tap is larger than f16's 65504: use "
                                              "--tap-cache-dtype bf16 or f32"
                                            : strerror(c->werr);
        snprintf(note, note_n, "tap cache %s: writing failed (%s): the cache stops growing, "
                 "training goes on (%d of %d examples stored)", c->path ? c->path : "(memory)",
                 why, c->count, c->k.data->n);
    }
    c->n_stage = 0;
}

/* ---- a batch through the cache ------------------------------------------------ */

static void say(const char *who, const char *note) {
    if (who && note[0]) fprintf(stderr, "\n%s: %s\n", who, note);
}

int lst_tc_batch_begin(lst_tapcache_t *c, const lst_batch_t *bt, float *part0, float *part1,
                       lst_side_taps_t *io, const char *who, lst_err_t *err) {
    memset(io, 0, sizeof *io);
    char note[400];
    if (lst_tc_fill(c, bt, part0, part1, note, sizeof note)) {
        io->tap[0] = part0;
        if (c->k.kind == LST_TC_EVAL) io->enc_out = part1;
        else io->tap[1] = part1;
        return 0;
    }
    say(who, note);
    const int n = lst_tc_stage(c, bt, err);
    if (n > 0) {
        io->sink = lst_tc_sink;
        io->ctx = c;
    }
    return n < 0 ? -1 : 0;
}

void lst_tc_batch_end(lst_tapcache_t *c, const lst_side_taps_t *io, int ok, const char *who) {
    if (!ok || !io->sink) return;
    char note[400];
    lst_tc_commit(c, note, sizeof note);
    say(who, note);
}
