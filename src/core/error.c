/* error.c: message formatting and checked allocation (see error.h). */
#include "error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lst_fail(lst_err_t *err, const char *fmt, ...) {
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int lst_fail_ctx(lst_err_t *err, const char *fmt, ...) {
    if (!err) return -1;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* Keep as much of both as fits; the original cause goes last. */
    size_t pl = strlen(prefix);
    if (pl > sizeof err->msg - 3) pl = sizeof err->msg - 3;
    memcpy(err->msg, prefix, pl);
    memcpy(err->msg + pl, ": ", 2);
    size_t room = sizeof err->msg - pl - 3, ol = strnlen(old, sizeof old);
    if (ol > room) ol = room;
    memcpy(err->msg + pl + 2, old, ol);
    err->msg[pl + 2 + ol] = 0;
    return -1;
}

int lst_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

void *lst_malloc(size_t n, size_t size, lst_err_t *err) {
    size_t bytes;
    if (lst_mul_size(n, size, &bytes) != 0) {
        lst_fail(err, "allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    void *p = malloc(bytes ? bytes : 1);
    if (!p) lst_fail(err, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *lst_calloc(size_t n, size_t size, lst_err_t *err) {
    size_t bytes;
    if (lst_mul_size(n, size, &bytes) != 0) {
        lst_fail(err, "allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    void *p = calloc(bytes ? n : 1, bytes ? size : 1);
    if (!p) lst_fail(err, "out of memory allocating %zu bytes", bytes);
    return p;
}
