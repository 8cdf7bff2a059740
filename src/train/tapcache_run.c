/* tapcache_run.c: see tapcache_run.h. */
#define XXH_INLINE_ALL
#include "tapcache_run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <xxhash.h>

#include "../core/fileio.h"

static const char *split_name[LST_TC_SPLITS] = {"train", "validation", "test"};
static const double MiB = 1048576.0;

static int check_options(const lst_train_opts_t *o, const lst_side_t *s, lst_err_t *err) {
    if (strcmp(o->method.name, "lst") || !s || s->opts.mode != LST_SIDE_LADDER)
        return lst_fail(err, "--tap-cache needs --method lst: '%s' reads no ladder taps",
                        o->method.name);
    if (o->bb_dropout)
        return lst_fail(err, "--tap-cache needs --no-backbone-dropout: with the backbone's "
                        "dropout on, its taps differ every epoch");
    return 0;
}

/* XXH3-64 of the tokenizer model's bytes. */
static int tokenizer_hash(const char *spm, uint64_t *out, lst_err_t *err) {
    size_t len = 0;
    char *text = lst_read_file(spm, (size_t)1 << 30, &len, err);
    if (!text) return lst_fail_ctx(err, "the tap cache's key");
    *out = XXH3_64bits(text, len);
    free(text);
    return 0;
}

static void fmt_bytes(char *b, size_t n, double v) {
    if (v >= 1024 * MiB) snprintf(b, n, "%.2f GiB", v / (1024 * MiB));
    else snprintf(b, n, "%.1f MiB", v / MiB);
}

/* statvfs of dir, or of its nearest existing ancestor (not made yet). */
static int statvfs_up(const char *dir, struct statvfs *v) {
    char p[LST_PATH_MAX];
    snprintf(p, sizeof p, "%s", dir);
    for (;;) {
        if (!statvfs(p, v)) return 0;
        if (errno != ENOENT) return -1;
        char *slash = strrchr(p, '/');
        if (!slash) {
            if (!strcmp(p, ".")) return -1;
            snprintf(p, sizeof p, ".");
        } else if (slash == p) {
            if (!p[1]) return -1;
            p[1] = 0;
        } else {
            *slash = 0;
        }
    }
}

/* Free bytes for the caches in dir; what its caches already hold counts as
 * free (they are reused or rewritten). */
static int disk_room(const lst_tc_run_t *t, const char *dir, double *free_b, lst_err_t *err) {
    struct statvfs v;
    if (statvfs_up(dir, &v)) return lst_fail(err, "--tap-cache %s: %s", dir, strerror(errno));
    *free_b = (double)v.f_bavail * v.f_frsize;
    for (int i = 0; i < LST_TC_SPLITS; i++) {
        char f[LST_PATH_MAX + 32];
        struct stat sb;
        snprintf(f, sizeof f, "%s/%s.taps", dir, split_name[i]);
        if (t->bytes[i] && !stat(f, &sb) && S_ISREG(sb.st_mode)) *free_b += (double)sb.st_size;
    }
    return 0;
}

static int check_room(const lst_tc_run_t *t, const lst_train_opts_t *o, lst_err_t *err) {
    const double need = (double)t->bytes[0] + t->bytes[1] + t->bytes[2];
    char a[32], b[32], c[32], d[32], lim[32];
    fmt_bytes(a, sizeof a, need);
    fmt_bytes(b, sizeof b, (double)t->bytes[0]);
    fmt_bytes(c, sizeof c, (double)t->bytes[1]);
    fmt_bytes(d, sizeof d, (double)t->bytes[2]);
    if (o->tap_cache_max > 0 && need > (double)o->tap_cache_max) {
        fmt_bytes(lim, sizeof lim, (double)o->tap_cache_max);
        return lst_fail(err, "the tap cache needs %s (train %s, validation %s, test %s at %s) but "
                        "--tap-cache-max is %s: use --tap-cache-dtype bf16, or a larger limit",
                        a, b, c, d, lst_tc_dtype_name(o->tap_cache_dtype), lim);
    }
    if (t->memory) return 0;
    double room;
    if (disk_room(t, o->tap_cache, &room, err)) return -1;
    fmt_bytes(lim, sizeof lim, room);
    if (need > room)
        return lst_fail(err, "the tap cache needs %s in %s (train %s, validation %s, test %s at "
                        "%s) but its disk has %s free", a, o->tap_cache, b, c, d,
                        lst_tc_dtype_name(o->tap_cache_dtype), lim);
    return 0;
}

int lst_tc_run_plan(lst_tc_run_t *t, const lst_train_opts_t *o, const lst_backbone_t *bb,
                    const lst_side_t *s, const lst_tokdata_t *const split[LST_TC_SPLITS],
                    lst_err_t *err) {
    memset(t, 0, sizeof *t);
    if (!o->tap_cache[0]) return 0;
    if (check_options(o, s, err)) return -1;
    uint64_t tok = 0;
    if (tokenizer_hash(o->spm, &tok, err)) return -1;
    t->on = 1;
    t->memory = !strcmp(o->tap_cache, "memory");
    for (int i = 0; i < LST_TC_SPLITS; i++) {
        if (!split[i] || split[i]->n <= 0) continue;
        lst_tc_key_t *k = &t->key[i];
        k->kind = i ? LST_TC_EVAL : LST_TC_TRAIN;
        k->dtype = o->tap_cache_dtype;
        k->d = bb->d_model;
        for (int st = 0; st < 2; st++) {
            k->n_keep[st] = s->opts.n_keep[st];
            k->keep[st] = s->opts.keep[st];
        }
        k->max_src = o->max_src;
        k->max_tgt = LST_MAX_TARGET_IDS;
        k->fp_config = bb->fp_config;
        k->fp_weights = bb->fp_weights;
        k->tokenizer = tok;
        k->data = split[i];
        t->bytes[i] = lst_tc_bytes(k);
    }
    return check_room(t, o, err);
}

size_t lst_tc_run_memory(const lst_tc_run_t *t) {
    return t->on && t->memory ? t->bytes[0] + t->bytes[1] + t->bytes[2] : 0;
}

int lst_tc_run_open(lst_tc_run_t *t, const lst_train_opts_t *o, lst_err_t *err) {
    if (!t->on) return 0;
    if (!t->memory && lst_mkdir_p(o->tap_cache, err)) return lst_fail_ctx(err, "--tap-cache");
    for (int i = 0; i < LST_TC_SPLITS; i++) {
        if (!t->bytes[i]) continue;
        char path[LST_PATH_MAX + 32], note[600];
        snprintf(path, sizeof path, "%s/%s.taps", o->tap_cache, split_name[i]);
        t->c[i] = lst_tc_open(t->memory ? NULL : path, &t->key[i], note, sizeof note, err);
        if (!t->c[i]) return -1;
        if (!o->quiet && note[0]) fprintf(stderr, "lst train: %s\n", note);
        if (!o->quiet && !i) {
            char b[32];
            fmt_bytes(b, sizeof b, (double)t->bytes[0]);
            fprintf(stderr, "lst train: tap cache %s: %d of %d training examples stored (%s %s when "
                    "whole)\n", t->memory ? "in memory" : path, lst_tc_count(t->c[0]),
                    lst_tc_examples(t->c[0]), b, lst_tc_dtype_name(o->tap_cache_dtype));
        }
    }
    return 0;
}

void lst_tc_run_close(lst_tc_run_t *t) {
    for (int i = 0; i < LST_TC_SPLITS; i++) lst_tc_close(t->c[i]);
    memset(t, 0, sizeof *t);
}

int lst_tc_run_step_begin(lst_tc_run_t *t, lst_side_acts_t *a, const lst_batch_t *bt, int quiet,
                          lst_err_t *err) {
    a->io = NULL;
    if (!t->c[0]) return 0;
    if (lst_tc_batch_begin(t->c[0], bt, lst_side_tap_buffer(a, 0), lst_side_tap_buffer(a, 1), &t->io,
                           quiet ? NULL : "lst train", err))
        return -1;
    a->io = &t->io;
    return 0;
}

void lst_tc_run_step_end(lst_tc_run_t *t, lst_side_acts_t *a, int ok, int quiet) {
    a->io = NULL;
    if (t->c[0]) lst_tc_batch_end(t->c[0], &t->io, ok, quiet ? NULL : "lst train");
}

void lst_tc_run_status(const lst_tc_run_t *t, char *buf, size_t n) {
    buf[0] = 0;
    if (t->c[0])
        snprintf(buf, n, "  taps %.0f%% cached", 100.0 * lst_tc_count(t->c[0]) / lst_tc_examples(t->c[0]));
}
