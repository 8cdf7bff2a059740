/* fsfile.h: opening files that lst reads as data (models, configs, data
 * sets, tokenizer models, run files) only when they are regular files.
 *
 * A plain open() of a FIFO blocks until a writer appears, so a FIFO given
 * as model.safetensors or --train hung lst forever; a directory or a
 * device read as a file gives confusing parse errors. These functions open
 * without blocking (O_NONBLOCK), check the file type with fstat, refuse
 * anything that is not a regular file with a message naming the path and
 * its type, and then clear O_NONBLOCK so that reads behave as usual. */
#ifndef LST_FSFILE_H
#define LST_FSFILE_H

#include <stdio.h>

#include "error.h"

/* open(path, flags | O_CLOEXEC, 0644) for a regular file: returns the fd,
 * or -1 with err = "<path>: cannot open: <reason>" or "<path>: is a FIFO,
 * not a regular file" (and the like). flags may include O_CREAT. */
int lst_open_regular(const char *path, int flags, lst_err_t *err);

/* The same as a stdio stream opened for reading ("rb"); NULL on failure. */
FILE *lst_fopen_regular(const char *path, lst_err_t *err);

/* "a directory", "a FIFO", ... for an st_mode (for messages). */
const char *lst_file_kind(unsigned mode);

#endif
