/* fileio.h: small file-system helpers: atomic whole-file writes (temp
 * file in the same directory, fsync, rename) and mkdir -p. */
#ifndef LST_FILEIO_H
#define LST_FILEIO_H

#include <stddef.h>

#include "error.h"

int lst_write_atomic(const char *path, const void *data, size_t len, lst_err_t *err);
int lst_mkdir_p(const char *path, lst_err_t *err);
/* Reads a whole file (NUL-terminated, malloc'ed); refuses files > max bytes. */
char *lst_read_file(const char *path, size_t max, size_t *len, lst_err_t *err);

#endif
