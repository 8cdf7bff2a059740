/* test_tapcache.c: the tap cache (issue 15). The store on its own (records
 * read back as written, the padding rows zero, the half formats' rounding,
 * a damaged record dropped and never read, a cut-short tail truncated, a
 * header of another run rebuilt with the differing field named, the lock
 * against a second process), the 16-bit conversions against exhaustive and
 * double-precision references, and `lst train --tap-cache` end to end: bit
 * for bit the run without the cache (weights, metrics, log), in a
 * directory and in memory, again from a whole cache, after a kill in the
 * middle of writing it, and the option errors and the size refusal. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/core/fileio.h"
#include "../src/core/half.h"
#include "../src/io/safetensors.h"
#include "../src/train/tapcache.h"
#include "test.h"

static const char *tmp(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", lst_test_tmpdir(), name);
    return buf[k];
}

/* ---- the 16-bit formats ---------------------------------------------------- */

/* Nearest binary16 of x by search over every finite half, ties to even. */
static uint16_t f16_nearest(float x) {
    if (isnan(x)) return 0x7e00;
    const double ax = fabs((double)x);
    uint16_t best = 0;
    double bd = INFINITY;
    for (uint32_t h = 0; h < 0x7c00; h++) {
        const double d = fabs((double)lst_f16_to_float((uint16_t)h) - ax);
        if (d < bd || (d == bd && !(h & 1))) {
            bd = d;
            best = (uint16_t)h;
        }
    }
    /* beyond the largest finite half by half an ulp (65520) or more: inf */
    if (ax >= 65520.0) best = 0x7c00;
    return (uint16_t)(best | (signbit(x) ? 0x8000 : 0));
}

TEST(half_f16_round_trip_and_rounding) {
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        const float f = lst_f16_to_float((uint16_t)h);
        if (isnan(f)) continue;
        if (lst_f16_from_float(f) != h) bad++;
    }
    CHECK(bad == 0, "%d halves do not survive a round trip through float", bad);
    /* random floats over the half range and the midpoints between halves */
    uint32_t s = 7;
    int wrong = 0;
    for (int i = 0; i < 300; i++) {
        s = s * 1664525u + 1013904223u;
        float x;
        if (i % 3 == 0) { /* an exact midpoint: ties to even */
            const uint16_t h = (uint16_t)(s >> 17) % 0x7bff;
            x = (float)(((double)lst_f16_to_float(h) + lst_f16_to_float((uint16_t)(h + 1))) / 2);
        } else {
            x = ldexpf((float)(s >> 8) / 16777216.0f, (int)(s % 44) - 28);
        }
        if (s & 0x100) x = -x;
        if (lst_f16_from_float(x) != f16_nearest(x)) wrong++;
    }
    CHECK(wrong == 0, "%d of 300 floats round to another half than the nearest (ties to even)", wrong);
    CHECK(lst_f16_from_float(65519.0f) == 0x7bff && lst_f16_from_float(65520.0f) == 0x7c00,
          "overflow threshold");
    CHECK(lst_f16_from_float(NAN) == 0x7e00 || (lst_f16_from_float(NAN) & 0x7c00) == 0x7c00, "NaN");
}

/* ---- the store ----------------------------------------------------------- */

enum { NEX = 5, D = 8 };

typedef struct {
    lst_tokdata_t data;
    int src_len[NEX], tgt_len[NEX];
    int32_t *src[NEX], *tgt[NEX], ids[NEX][16];
    int keep0[2], keep1[1];
    lst_tc_key_t key;
} store_t;

static void store_setup(store_t *s, int kind, int dtype) {
    memset(s, 0, sizeof *s);
    static const int sl[NEX] = {3, 7, 1, 5, 4}, tl[NEX] = {2, 1, 3, 2, 2};
    for (int e = 0; e < NEX; e++) {
        s->src_len[e] = sl[e];
        s->tgt_len[e] = tl[e];
        for (int t = 0; t < 16; t++) s->ids[e][t] = 2 + e + t;
        s->src[e] = s->tgt[e] = s->ids[e];
    }
    s->data.n = NEX;
    s->data.src = s->src;
    s->data.tgt = s->tgt;
    s->data.src_len = s->src_len;
    s->data.tgt_len = s->tgt_len;
    s->keep0[0] = 1;
    s->keep0[1] = 3;
    s->keep1[0] = 2;
    lst_tc_key_t k = {kind, dtype, D, {2, 1}, {s->keep0, s->keep1}, 128, 128, 11, 12, 13, &s->data};
    s->key = k;
}

/* The tap value the sink is shown: a function of (stack, layer, example, row, column). */
static float tap_value(int st, int k, int e, int t, int j) {
    return (float)(st * 1000 + k * 100 + e * 10 + t) + 0.001f * j + 1.0f / 3.0f;
}

/* A padded batch of examples ex[0..B) with the sink fed as a forward would. */
typedef struct {
    int B, Ts, Td;
    int64_t ex[NEX];
    lst_batch_t bt;
    float x[2][NEX * 16 * D];
} fakebatch_t;

static void batch_of(fakebatch_t *f, const store_t *s, const int *ex, int B) {
    memset(f, 0, sizeof *f);
    f->B = B;
    f->Ts = f->Td = 1;
    for (int b = 0; b < B; b++) {
        f->ex[b] = ex[b];
        if (s->src_len[ex[b]] > f->Ts) f->Ts = s->src_len[ex[b]];
        if (s->tgt_len[ex[b]] > f->Td) f->Td = s->tgt_len[ex[b]];
    }
    lst_batch_t bt = {B, f->Ts, f->Td, NULL, NULL, NULL, NULL, NULL};
    bt.example_ids = f->ex;
    f->bt = bt;
}

static void feed(lst_tapcache_t *c, fakebatch_t *f, int kind) {
    const int T[2] = {f->Ts, kind == LST_TC_EVAL ? f->Ts : f->Td};
    const int n_layers[2] = {2, 1};
    for (int st = 0; st < 2; st++) {
        /* evaluation: no decoder taps (generation steps the backbone decoder) */
        for (int k = 0; k < n_layers[st] && !(kind == LST_TC_EVAL && st == 1); k++) {
            for (int b = 0; b < f->B; b++)
                for (int t = 0; t < T[st]; t++)
                    for (int j = 0; j < D; j++)
                        f->x[st][((size_t)b * T[st] + t) * D + j] = tap_value(st, k, (int)f->ex[b], t, j);
            lst_tc_sink(c, st, k, f->x[st], f->B, T[st]);
        }
        if (st == 0) { /* the encoder's output, after its taps */
            for (int b = 0; b < f->B; b++)
                for (int t = 0; t < f->Ts; t++)
                    for (int j = 0; j < D; j++)
                        f->x[0][((size_t)b * f->Ts + t) * D + j] = tap_value(1, 0, (int)f->ex[b], t, j);
            lst_tc_sink(c, 0, -1, f->x[0], f->B, f->Ts);
        }
    }
}

/* Reads the batch back: every row as fed (rounded as the dtype rounds),
 * padding rows zero. Returns the number of wrong floats. */
static int check_fill(lst_tapcache_t *c, const store_t *s, fakebatch_t *f, int kind, int dtype,
                      int *filled) {
    static float p0[2 * NEX * 16 * D], p1[2 * NEX * 16 * D];
    char note[400];
    *filled = lst_tc_fill(c, &f->bt, p0, p1, note, sizeof note);
    if (!*filled) return 0;
    const int T1 = kind == LST_TC_EVAL ? f->Ts : f->Td;
    int wrong = 0;
    for (int part = 0; part < 2; part++) {
        const int T = part ? T1 : f->Ts, layers = part ? 1 : 2;
        for (int l = 0; l < layers; l++)
            for (int b = 0; b < f->B; b++) {
                const int e = (int)f->ex[b];
                const int len = part ? (kind == LST_TC_EVAL ? s->src_len[e] : s->tgt_len[e]) : s->src_len[e];
                for (int t = 0; t < T; t++)
                    for (int j = 0; j < D; j++) {
                        const float got = (part ? p1 : p0)[(((size_t)l * f->B + b) * T + t) * D + j];
                        float want = t < len ? tap_value(part, l, e, t, j) : 0.0f;
                        if (dtype == LST_TC_BF16) want = lst_bf16_to_float(lst_bf16_from_float(want));
                        if (dtype == LST_TC_F16) want = lst_f16_to_float(lst_f16_from_float(want));
                        wrong += memcmp(&got, &want, sizeof got) != 0;
                    }
            }
    }
    return wrong;
}

static void write_batch(lst_tapcache_t *c, const store_t *s, const int *ex, int B, int kind) {
    fakebatch_t f;
    batch_of(&f, s, ex, B);
    lst_err_t err;
    const int n = lst_tc_stage(c, &f.bt, &err);
    CHECK(n >= 0, "stage: %s", err.msg);
    feed(c, &f, kind);
    char note[400];
    lst_tc_commit(c, note, sizeof note);
    CHECK(!note[0], "commit: %s", note);
}

static void round_trip(const char *path, int kind, int dtype) {
    store_t s;
    store_setup(&s, kind, dtype);
    lst_err_t err;
    char note[600];
    lst_tapcache_t *c = lst_tc_open(path, &s.key, note, sizeof note, &err);
    CHECK(c != NULL, "open: %s", err.msg);
    if (!c) return;
    const int first[3] = {3, 0, 1}, second[2] = {4, 2};
    write_batch(c, &s, first, 3, kind);
    CHECK(lst_tc_count(c) == 3, "3 examples stored, not %d", lst_tc_count(c));
    fakebatch_t f;
    const int mixed[3] = {2, 0, 1}; /* 2 is not stored yet */
    batch_of(&f, &s, mixed, 3);
    int filled;
    check_fill(c, &s, &f, kind, dtype, &filled);
    CHECK(!filled, "a batch with an unstored example was filled");
    write_batch(c, &s, second, 2, kind);
    if (path) { /* everything survives a reopen */
        lst_tc_close(c);
        c = lst_tc_open(path, &s.key, note, sizeof note, &err);
        CHECK(c && !note[0], "reopen: %s %s", c ? "" : err.msg, note);
        if (!c) return;
    }
    CHECK(lst_tc_count(c) == NEX, "all stored, not %d", lst_tc_count(c));
    const int all[NEX] = {1, 4, 0, 2, 3};
    batch_of(&f, &s, all, NEX);
    const int wrong = check_fill(c, &s, &f, kind, dtype, &filled);
    CHECK(filled && wrong == 0, "%s %s: filled %d, %d floats differ from what was stored",
          path ? "file" : "memory", lst_tc_dtype_name(dtype), filled, wrong);
    lst_tc_close(c);
    if (path) {
        struct stat sb;
        CHECK(stat(path, &sb) == 0 && (size_t)sb.st_size == lst_tc_bytes(&s.key),
              "the file's size is not lst_tc_bytes (%zu)", lst_tc_bytes(&s.key));
    }
}

TEST(tapcache_round_trip_every_kind_and_dtype) {
    for (int kind = 0; kind < 2; kind++)
        for (int dt = 0; dt < 3; dt++) {
            char name[64];
            snprintf(name, sizeof name, "rt_%d_%d.taps", kind, dt);
            unlink(tmp(name));
            round_trip(tmp(name), kind, dt);
            round_trip(NULL, kind, dt);
        }
}

/* Byte `at` of path xor mask; 0 (and a failed check) if the file cannot be changed. */
static int flip_byte(const char *path, long at, int mask) {
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL, "open %s", path);
    if (!f) return 0;
    int ok = fseek(f, at, SEEK_SET) == 0;
    const int ch = ok ? fgetc(f) : EOF;
    ok = ok && ch != EOF && fseek(f, at, SEEK_SET) == 0 && fputc(ch ^ mask, f) != EOF;
    ok = (fclose(f) == 0) && ok;
    CHECK(ok, "changing byte %ld of %s", at, path);
    return ok;
}

/* A tap past f16's range is not stored as infinity: the cache stops, and says why. */
TEST(tapcache_f16_overflow_stops_the_cache) {
    store_t s;
    store_setup(&s, LST_TC_TRAIN, LST_TC_F16);
    lst_err_t err;
    char note[600];
    lst_tapcache_t *c = lst_tc_open(NULL, &s.key, note, sizeof note, &err);
    CHECK(c != NULL, "open: %s", err.msg);
    if (!c) return;
    fakebatch_t f;
    const int ex[2] = {0, 1};
    batch_of(&f, &s, ex, 2);
    CHECK(lst_tc_stage(c, &f.bt, &err) == 2, "stage");
    feed(c, &f, LST_TC_TRAIN);
    lst_tc_commit(c, note, sizeof note);
    CHECK(!note[0] && lst_tc_count(c) == 2, "in range: stored (%s)", note);
    const int ex2[1] = {2};
    batch_of(&f, &s, ex2, 1);
    lst_tc_stage(c, &f.bt, &err);
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < sizeof f.x[0] / sizeof(float); i++) f.x[0][i] = k ? 1e5f : 1.0f;
        lst_tc_sink(c, 0, k, f.x[0], 1, f.Ts);
    }
    lst_tc_sink(c, 1, 0, f.x[1], 1, f.Td);
    lst_tc_commit(c, note, sizeof note);
    CHECK(strstr(note, "65504") && strstr(note, "bf16") && lst_tc_count(c) == 2,
          "an f16 overflow: '%s', %d stored", note, lst_tc_count(c));
    lst_tc_close(c);
}

/* A file with all five records, written afresh. */
static void write_all(const char *path, store_t *s) {
    unlink(path);
    lst_err_t err;
    char note[600];
    lst_tapcache_t *c = lst_tc_open(path, &s->key, note, sizeof note, &err);
    CHECK(c != NULL, "open: %s", err.msg);
    if (!c) return;
    const int all[NEX] = {0, 1, 2, 3, 4};
    write_batch(c, s, all, NEX, s->key.kind);
    lst_tc_close(c);
}

TEST(tapcache_damage_is_detected_never_read) {
    store_t s;
    store_setup(&s, LST_TC_TRAIN, LST_TC_F32);
    const char *path = tmp("damage.taps");
    write_all(path, &s);
    /* one payload byte of the third record flipped */
    size_t at = 4096;
    for (int e = 0; e < 2; e++) {
        const size_t rows = 2 * s.src_len[e] + s.tgt_len[e];
        at += 64 + (rows * D * 4 + 63) / 64 * 64;
    }
    if (!flip_byte(path, (long)(at + 64 + 17), 0x10)) return;
    lst_err_t err;
    char note[600];
    lst_tapcache_t *c = lst_tc_open(path, &s.key, note, sizeof note, &err);
    CHECK(c && lst_tc_count(c) == NEX, "the damage is in a payload: the headers all index");
    if (!c) return;
    fakebatch_t fb;
    const int rows[2] = {0, 2};
    batch_of(&fb, &s, rows, 2);
    int filled;
    check_fill(c, &s, &fb, LST_TC_TRAIN, LST_TC_F32, &filled);
    CHECK(!filled, "a damaged record was read as taps");
    CHECK(lst_tc_count(c) == NEX - 1, "the damaged record is dropped (%d stored)", lst_tc_count(c));
    /* recomputed and stored again: then it reads back right */
    const int again[1] = {2};
    write_batch(c, &s, again, 1, LST_TC_TRAIN);
    const int wrong = check_fill(c, &s, &fb, LST_TC_TRAIN, LST_TC_F32, &filled);
    CHECK(filled && !wrong, "the recomputed record reads back (filled %d, %d wrong)", filled, wrong);
    lst_tc_close(c);
}

TEST(tapcache_cut_short_tail_is_dropped) {
    store_t s;
    store_setup(&s, LST_TC_EVAL, LST_TC_BF16);
    const char *path = tmp("cut.taps");
    write_all(path, &s);
    struct stat sb;
    CHECK(stat(path, &sb) == 0, "stat");
    CHECK(truncate(path, sb.st_size - 40) == 0, "truncate");
    lst_err_t err;
    char note[600];
    lst_tapcache_t *c = lst_tc_open(path, &s.key, note, sizeof note, &err);
    CHECK(c && lst_tc_count(c) == NEX - 1, "the cut record is not indexed (%d)", c ? lst_tc_count(c) : -1);
    CHECK(strstr(note, "cut short") != NULL, "the note says so: '%s'", note);
    lst_tc_close(c);
    CHECK(stat(path, &sb) == 0 && (size_t)sb.st_size < lst_tc_bytes(&s.key) - 64,
          "the partial record is truncated away");
    /* a header written over garbage (a kill between payload and header) */
    CHECK(truncate(path, 4096 + 30) == 0, "truncate");
    c = lst_tc_open(path, &s.key, note, sizeof note, &err);
    CHECK(c && lst_tc_count(c) == 0 && strstr(note, "cut short"), "a header cut short: '%s'", note);
    lst_tc_close(c);
}

TEST(tapcache_other_run_rebuilds_and_lock) {
    store_t s;
    store_setup(&s, LST_TC_TRAIN, LST_TC_F32);
    const char *path = tmp("key.taps");
    write_all(path, &s);
    lst_err_t err;
    char note[600];
    s.keep0[1] = 2; /* other kept layers */
    lst_tapcache_t *c = lst_tc_open(path, &s.key, note, sizeof note, &err);
    CHECK(c && lst_tc_count(c) == 0, "another run's cache is not used");
    CHECK(strstr(note, "encoder_layers was [1,3], now [1,2]") && strstr(note, "rebuilding"),
          "the note names the field: '%s'", note);
    /* a second open of the same file (another process would be the same) */
    lst_tapcache_t *d = lst_tc_open(path, &s.key, note, sizeof note, &err);
    CHECK(!d && strstr(err.msg, "in use"), "a second user is refused: %s", d ? "opened" : err.msg);
    lst_tc_close(d);
    lst_tc_close(c);
    s.ids[3][0] = 99; /* other data */
    c = lst_tc_open(path, &s.key, note, sizeof note, &err);
    CHECK(c && strstr(note, "data was"), "other data rebuilds: '%s'", note);
    lst_tc_close(c);
    /* not a cache at all */
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("hello", f);
        fclose(f);
    }
    c = lst_tc_open(path, &s.key, note, sizeof note, &err);
    CHECK(c && lst_tc_count(c) == 0 && strstr(note, "rebuilding"), "garbage rebuilds: '%s'", note);
    lst_tc_close(c);
    c = lst_tc_open(lst_test_tmpdir(), &s.key, note, sizeof note, &err);
    CHECK(!c && strstr(err.msg, "tap cache"), "a directory as the file: %s", c ? "opened" : err.msg);
    lst_tc_close(c);
}

/* ---- lst train --tap-cache --------------------------------------------------- */

static int setup(void) {
    static int done = 0, ok = 0;
    if (done) return ok;
    done = 1;
    char *log = NULL;
    int rc = lst_test_run(&log, "init --preset t5-tiny --out %s --seed 4", tmp("tc_tiny"));
    CHECK(rc == 0, "init: %s", log ? log : "");
    free(log);
    /* sources of 2..13 words: batches padded to different lengths */
    const char *words[2][4] = {{"good", "great", "fine", "nice"}, {"bad", "awful", "poor", "sad"}};
    const char *names[2] = {"tc_train.jsonl", "tc_valid.jsonl"};
    for (int f = 0; f < 2; f++) {
        FILE *o = fopen(tmp(names[f]), "w");
        if (!o) return 0;
        for (int i = 0; i < (f ? 12 : 30); i++) {
            int y = (i * 7 + f) % 2;
            fprintf(o, "{\"source\": \"review:");
            for (int w = 0; w < 2 + (i * 5 + f) % 12; w++) fprintf(o, " %s", w % 3 ? "the" : "film");
            fprintf(o, " %s\", \"target\": \"%s\"}\n", words[y][(i / 2) % 4], y ? "no" : "yes");
        }
        fclose(o);
    }
    ok = rc == 0;
    return ok;
}

static const char *args(void) {
    static char a[2048];
    snprintf(a, sizeof a,
             "--model %s --task custom --train %s --valid %s --test %s --r 4 --epochs 3 --batch 7 "
             "--eval-batch 5 --warmup 2 --fisher-samples 6 --gen-validation 3 --checkpoint-every 1 "
             "--seed 9 --no-backbone-dropout --quiet",
             tmp("tc_tiny"), tmp("tc_train.jsonl"), tmp("tc_valid.jsonl"), tmp("tc_valid.jsonl"));
    return a;
}

static int same_file(const char *a, const char *b) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", a, b);
    return system(cmd) == 0;
}

/* The final training state (parameters and AdamW moments of the last step:
 * the best epoch's weights alone may be an early epoch's) bit for bit. */
static int same_state(const char *a, const char *b) {
    char x[700], y[700];
    snprintf(x, sizeof x, "%s/checkpoint.safetensors", a);
    snprintf(y, sizeof y, "%s/checkpoint.safetensors", b);
    lst_st_file_t f = {0}, g = {0};
    lst_err_t err;
    int same = !lst_st_open(&f, x, &err) && !lst_st_open(&g, y, &err), n = 0;
    for (int i = 0; same && i < f.n; i++) {
        const lst_st_tensor_t *t = &f.tensors[i], *u = lst_st_find(&g, t->name);
        if (!strncmp(t->name, "param.", 6) || !strncmp(t->name, "adam_", 5)) {
            same = u && u->nbytes == t->nbytes && !memcmp(u->data, t->data, t->nbytes);
            n++;
        }
    }
    lst_st_close(&f);
    lst_st_close(&g);
    return same && n > 0;
}

/* metrics.json minus what measures the machine; log.csv minus its wall-time column */
static int same_run(const char *run_a, const char *run_b, const char *what) {
    char a[600], b[600], x[640], y[640], cmd[2048];
    snprintf(a, sizeof a, "%s", run_a); /* tmp()'s buffers rotate */
    snprintf(b, sizeof b, "%s", run_b);
    snprintf(x, sizeof x, "%s/side.safetensors", a);
    snprintf(y, sizeof y, "%s/side.safetensors", b);
    const int w = same_file(x, y);
    CHECK(w, "%s: the side weights differ from the run without the cache", what);
    const int st = same_state(a, b);
    CHECK(st, "%s: the last step's parameters and moments differ from the run without the cache", what);
    const char *strip = "grep -v -e peak_rss_mib -e wall_s -e step_ms_median -e planned_mib "
                        "-e finished_utc -e _mib\\\"";
    snprintf(cmd, sizeof cmd, "%s %s/metrics.json > %s && %s %s/metrics.json > %s && cmp -s %s %s",
             strip, a, tmp("m1"), strip, b, tmp("m2"), tmp("m1"), tmp("m2"));
    const int m = system(cmd) == 0;
    CHECK(m, "%s: metrics.json differs from the run without the cache", what);
    snprintf(cmd, sizeof cmd, "cut -d, -f1-5 %s/log.csv > %s && cut -d, -f1-5 %s/log.csv > %s && cmp -s %s %s",
             a, tmp("l1"), b, tmp("l2"), tmp("l1"), tmp("l2"));
    const int l = system(cmd) == 0;
    CHECK(l, "%s: log.csv's losses differ from the run without the cache", what);
    return w && st && m && l;
}

static int train(const char *out, const char *extra) {
    char *log = NULL;
    int rc = lst_test_run(&log, "train %s %s --out %s", args(), extra, out);
    CHECK(rc == 0, "train %s: %d %s", extra, rc, log ? log : "");
    free(log);
    return rc == 0;
}

TEST(train_tap_cache_is_exact) {
    if (!setup()) return;
    char dir[600];
    snprintf(dir, sizeof dir, "%s", tmp("tc_dir"));
    if (!train(tmp("tc_plain"), "")) return;
    char extra[800];
    snprintf(extra, sizeof extra, "--tap-cache %s", dir);
    if (train(tmp("tc_file"), extra)) same_run(tmp("tc_plain"), tmp("tc_file"), "--tap-cache DIR");
    char f[700];
    snprintf(f, sizeof f, "%s/train.taps", dir);
    CHECK(lst_test_file_exists(f), "no %s", f);
    snprintf(f, sizeof f, "%s/validation.taps", dir);
    CHECK(lst_test_file_exists(f), "no %s", f);
    /* a whole cache from the start: every step reads it */
    if (train(tmp("tc_again"), extra)) same_run(tmp("tc_plain"), tmp("tc_again"), "a whole cache");
    /* a damaged validation record: the evaluation notices it (so it reads the cache) */
    snprintf(f, sizeof f, "%s/validation.taps", dir);
    if (flip_byte(f, 4096 + 64 + 5, 0x40)) {
        char *log = NULL;
        const int rc = lst_test_run(&log, "train %s %s --out %s", args(), extra, tmp("tc_damaged"));
        CHECK(rc == 0 && log && strstr(log, "validation.taps: the record of example"),
              "a damaged validation record went unnoticed: %d %s", rc, log ? log : "");
        free(log);
        if (!rc) same_run(tmp("tc_plain"), tmp("tc_damaged"), "a damaged validation record");
    }
    if (train(tmp("tc_mem"), "--tap-cache memory"))
        same_run(tmp("tc_plain"), tmp("tc_mem"), "--tap-cache memory");
    /* the half formats change the taps, so (a little) the run */
    if (train(tmp("tc_bf16"), "--tap-cache memory --tap-cache-dtype bf16"))
        CHECK(!same_state(tmp("tc_plain"), tmp("tc_bf16")),
              "a bf16 cache left the training state bitwise unchanged: were taps read?");
}

/* Killed while appending records (LST_FAULT: before the n-th record
 * header), then resumed: the cut-short tail is dropped and the run ends
 * exactly as the run without the cache. */
TEST(train_tap_cache_kill_while_writing) {
    if (!setup()) return;
    if (!lst_test_file_exists(tmp("tc_plain/metrics.json")) && !train(tmp("tc_plain"), "")) return;
    const char *fb = getenv("LST_FAULT_BIN");
    const int points[2] = {3, 12};
    for (int i = 0; i < 2; i++) {
        char run[600], dir[600], cmd[4096];
        snprintf(run, sizeof run, "%s/tc_kill%d", lst_test_tmpdir(), i);
        snprintf(dir, sizeof dir, "%s/tc_kdir%d", lst_test_tmpdir(), i);
        snprintf(cmd, sizeof cmd, "LST_FAULT=tapcache:%d:before %s train %s --tap-cache %s --out %s "
                 "> /dev/null 2>&1", points[i], fb && *fb ? fb : "build/lst-fault", args(), dir, run);
        const int st = system(cmd);
        CHECK(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) == 137),
              "the fault point was not reached (status %d)", st);
        char ck[700], *log = NULL;
        snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", run);
        int rc = lst_test_file_exists(ck) ? lst_test_run(&log, "train --resume %s", run)
                                          : lst_test_run(&log, "train %s --tap-cache %s --out %s",
                                                         args(), dir, run);
        CHECK(rc == 0, "after the kill: %d %s", rc, log ? log : "");
        free(log);
        if (!rc) same_run(tmp("tc_plain"), run, i ? "killed at record 12" : "killed at record 3");
    }
}

TEST(train_tap_cache_refusals) {
    if (!setup()) return;
    struct {
        const char *extra, *want;
    } cases[] = {
        {"--tap-cache-dtype bf16", "need --tap-cache"},
        {"--tap-cache memory --tap-cache-dtype f8", "f32, bf16 or f16"},
        {"--tap-cache memory --method side-tuning", "needs --method lst"},
        {"--tap-cache memory --tap-cache-max 1K", "--tap-cache-max is"},
        {"--tap-cache memory --tap-cache-max lots", "tap-cache-max"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *log = NULL;
        char out[600];
        snprintf(out, sizeof out, "%s/tc_refused%zu", lst_test_tmpdir(), i);
        int rc = lst_test_run(&log, "train %s %s --out %s", args(), cases[i].extra, out);
        CHECK(rc != 0 && log && strstr(log, cases[i].want), "%s: rc %d, wanted '%s' in: %s",
              cases[i].extra, rc, cases[i].want, log ? log : "");
        CHECK(!lst_test_file_exists(out), "%s: a refused run left %s", cases[i].extra, out);
        free(log);
    }
    /* backbone dropout on: the taps would differ every epoch */
    char a[2200], *log = NULL;
    snprintf(a, sizeof a, "%s", args());
    char *p = strstr(a, "--no-backbone-dropout");
    if (p) memset(p, ' ', strlen("--no-backbone-dropout"));
    int rc = lst_test_run(&log, "train %s --tap-cache memory --out %s/tc_drop", a, lst_test_tmpdir());
    CHECK(rc != 0 && log && strstr(log, "--no-backbone-dropout"), "dropout on: rc %d %s", rc, log ? log : "");
    free(log);
}

/* ---- what exactness rests on -------------------------------------------------- */

#include "../src/model/side.h"
#include "../src/model/t5/t5.h"
#include "../src/train/data.h"
#include "bb_util.h"

enum { PEX = 6, PMAXL = 16 };

/* Every example's taps as the sink sees them: [st][k] -> rows of example e. */
typedef struct {
    const lst_batch_t *bt;
    int d;
    float *rows[2][8][PEX]; /* [st][k][example]: [len, d] */
    int len[2][PEX];
} capture_t;

static void capture_sink(void *ctx, int st, int k, const float *x, int B, int T) {
    capture_t *c = ctx;
    if (k < 0 || k >= 8) return;
    for (int b = 0; b < B; b++) {
        const int e = (int)c->bt->example_ids[b], len = c->len[st][e];
        free(c->rows[st][k][e]);
        c->rows[st][k][e] = malloc(sizeof(float) * len * c->d);
        memcpy(c->rows[st][k][e], x + (size_t)b * T * c->d, sizeof(float) * len * c->d);
    }
}

/* The backbone's taps of an example are the same bits whatever batch it is
 * padded in (the cache stores them once and gives them to batches of other
 * lengths); a tap cache could not be exact otherwise. */
TEST(backbone_taps_do_not_depend_on_padding) {
    lst_t5_t m;
    lst_side_t s;
    lst_err_t err;
    if (lst_t5_load(&m, "tests/data/t5-tiny-relu", 0, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    lst_backbone_t bb = test_bb(&m);
    lst_side_opts_t o;
    lst_side_opts_default(&o);
    o.r = 2;
    CHECK(lst_side_create(&s, &bb, &o, &err) == 0, "%s", err.msg);
    lst_side_init_random(&s, 5);
    static const int sl[PEX] = {5, 13, 3, 9, 7, 11}, tl[PEX] = {2, 1, 4, 3, 2, 4};
    int32_t ids[PEX][PMAXL], *sp[PEX];
    int srcl[PEX], tgtl[PEX];
    for (int e = 0; e < PEX; e++) {
        for (int t = 0; t < PMAXL; t++) ids[e][t] = 2 + (e * 37 + t * 11) % (m.vocab - 2);
        ids[e][sl[e] - 1] = 1;
        sp[e] = ids[e];
        srcl[e] = sl[e];
        tgtl[e] = tl[e];
    }
    lst_tokdata_t d = {PEX, sp, sp, srcl, tgtl, NULL};
    capture_t cap[2];
    memset(cap, 0, sizeof cap);
    const int order[2][PEX] = {{0, 1, 2, 3, 4, 5}, {2, 4, 0, 5, 3, 1}};
    const int sizes[2][3] = {{6, 0, 0}, {1, 2, 3}}; /* one batch; three of other paddings */
    for (int run = 0; run < 2; run++) {
        int at = 0;
        for (int j = 0; j < 3 && sizes[run][j]; j++) {
            lst_padded_batch_t pb;
            CHECK(lst_batch_make(&pb, &d, order[run] + at, sizes[run][j], 0, &err) == 0, "%s", err.msg);
            at += sizes[run][j];
            capture_t *c = &cap[run];
            c->bt = &pb.view;
            c->d = m.cfg.d_model;
            for (int e = 0; e < PEX; e++) {
                c->len[0][e] = sl[e];
                c->len[1][e] = tl[e];
            }
            lst_side_taps_t io = {{NULL, NULL}, NULL, capture_sink, c};
            lst_side_acts_t a;
            CHECK(lst_side_acts_alloc(&a, &bb, &s, pb.view.B, pb.view.Ts, pb.view.Td, 1, &err) == 0,
                  "%s", err.msg);
            a.io = &io;
            lst_side_forward(&bb, &s, &pb.view, &a, NULL, NULL);
            lst_side_acts_free(&a);
            lst_batch_release(&pb);
        }
    }
    int differ = 0, compared = 0;
    for (int st = 0; st < 2; st++)
        for (int k = 0; k < s.opts.n_keep[st]; k++)
            for (int e = 0; e < PEX; e++) {
                const float *x = cap[0].rows[st][k][e], *y = cap[1].rows[st][k][e];
                const size_t n = (size_t)(st ? tl[e] : sl[e]) * m.cfg.d_model;
                if (!x || !y) {
                    CHECK(0, "stack %d layer %d example %d: no tap captured", st, k, e);
                    continue;
                }
                compared++;
                if (memcmp(x, y, sizeof(float) * n)) {
                    differ++;
                    if (differ < 6) CHECK(0, "stack %d kept layer %d example %d: the taps differ", st, k, e);
                }
            }
    CHECK(differ == 0 && compared > 0, "%d of %d taps depend on the padding", differ, compared);
    for (int r = 0; r < 2; r++)
        for (int st = 0; st < 2; st++)
            for (int k = 0; k < 8; k++)
                for (int e = 0; e < PEX; e++) free(cap[r].rows[st][k][e]);
    lst_side_free(&s);
    lst_t5_free(&m);
}

/* lst bench --cached-taps: the timed steps take the warm-up step's taps
 * (the backbone not run again) and still train: the loss falls; the option
 * is refused for methods without a tap cache. */
TEST(bench_cached_taps) {
    char *log = NULL;
    int rc = lst_test_run(&log, "bench --model t5-tiny --batch 4 --src-len 16 --tgt-len 2 --steps 6 "
                          "--cached-taps --json");
    double first = 0, last = 0, med = -1;
    const char *p = log ? strstr(log, "\"loss_first\":") : NULL;
    if (p) sscanf(p, "\"loss_first\":%lf", &first);
    p = log ? strstr(log, "\"loss_last\":") : NULL;
    if (p) sscanf(p, "\"loss_last\":%lf", &last);
    p = log ? strstr(log, "\"step_ms_median\":") : NULL;
    if (p) sscanf(p, "\"step_ms_median\":%lf", &med);
    CHECK(rc == 0 && med > 0 && last < first && last > 0, "rc %d, loss %g -> %g, median %g: %s", rc,
          first, last, med, log);
    free(log);
    log = NULL;
    rc = lst_test_run(&log, "bench --model t5-tiny --method full --batch 4 --src-len 16 --tgt-len 2 "
                      "--steps 1 --cached-taps");
    CHECK(rc == 2 && strstr(log, "--cached-taps applies to lst bench --method lst"), "full: rc %d: %s",
          rc, log);
    free(log);
}
