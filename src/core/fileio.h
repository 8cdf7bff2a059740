/* fileio.h: the file layer every lst output goes through: the one atomic
 * writer (streaming: a temporary file in the same directory opened
 * close-on-exec, written, fsynced, renamed over the target, the directory
 * fsynced; the temporary removed on any failure), mkdir -p, whole-file
 * reads, and the fault-injection points of test builds.
 *
 * Temporary names are exactly "<target>.tmp.XXXXXX" (six characters from
 * mkostemp), so a cleaner can recognise lst's own leftovers and nothing
 * else (lst_is_own_temp). */
#ifndef LST_FILEIO_H
#define LST_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"

/* An atomic write in progress. */
typedef struct {
    char *path; /* the target */
    char *tmp;  /* the temporary being written */
    int fd;
} lst_atomic_t;

/* Creates the temporary next to `path`. On failure nothing is left behind. */
int lst_atomic_open(lst_atomic_t *a, const char *path, lst_err_t *err);
/* Appends len bytes; on failure the write is aborted (temporary removed). */
int lst_atomic_write(lst_atomic_t *a, const void *data, size_t len, lst_err_t *err);
/* fsync, close, rename over the target, fsync the directory. Releases `a`
 * whatever happens; on failure the target is untouched and the temporary gone. */
int lst_atomic_commit(lst_atomic_t *a, lst_err_t *err);
/* Gives up: closes and removes the temporary (safe on a released `a`). */
void lst_atomic_abort(lst_atomic_t *a);

/* The whole of data[0, len) to `path` through the writer above. */
int lst_write_atomic(const char *path, const void *data, size_t len, lst_err_t *err);

/* fflush + fsync of an append-only stream (the step log); reports the first
 * failed write of the stream too. */
int lst_sync_stream(FILE *f, const char *path, lst_err_t *err);

/* 1 when `name` is exactly "<base>.tmp.XXXXXX" (a temporary of the writer). */
int lst_is_own_temp(const char *name, const char *base);

int lst_mkdir_p(const char *path, lst_err_t *err);
/* Reads a whole file (NUL-terminated, malloc'ed); refuses files > max bytes. */
char *lst_read_file(const char *path, size_t max, size_t *len, lst_err_t *err);

/* Fault injection (test builds, compiled with -DLST_FAULT_INJECTION; a no-op
 * otherwise): with LST_FAULT="OP:N:before|after" in the environment the
 * process SIGKILLs itself just before or just after its N-th event OP
 * ("rename": every rename of the atomic writer; "sync": every
 * lst_sync_stream), so tests can kill exactly around each of them. */
void lst_fault_point(const char *op, int after);

#endif
