/* error.h: how every fallible lst function reports failure.
 *
 * Functions return 0 on success and -1 on failure, after filling an
 * lst_err_t with one human-readable line that names the file, tensor,
 * option or line that is wrong. Nothing in the library aborts on bad input;
 * the CLI prints the message and exits non-zero. */
#ifndef LST_ERROR_H
#define LST_ERROR_H

#include <stddef.h>

typedef struct {
    char msg[1024];
} lst_err_t;

/* Formats a message into err (if err is non-NULL) and returns -1, so that
 * callers can write `return lst_fail(err, "...", ...);`. */
int lst_fail(lst_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepends context ("while reading X: ") to an existing message; returns -1. */
int lst_fail_ctx(lst_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Checked allocation helpers: refuse sizes that overflow, report failures
 * through err instead of crashing. Return NULL (and fill err) on failure. */
void *lst_malloc(size_t n, size_t size, lst_err_t *err);
void *lst_calloc(size_t n, size_t size, lst_err_t *err);

/* a * b without overflow; returns -1 if it would overflow. */
int lst_mul_size(size_t a, size_t b, size_t *out);

#endif
