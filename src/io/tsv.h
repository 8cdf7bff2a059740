/* tsv.h: a strict line reader for the text data files (GLUE TSV, custom
 * TSV and JSONL).
 *
 * The whole file is read into memory and handed out one line at a time,
 * NUL-terminated in place, so that callers can split on TAB without copies
 * and report "path:line: ..." for anything wrong. Strict on purpose: GLUE
 * TSVs are split on TAB only (no CSV quoting, their sentences contain raw
 * '"'), a leading UTF-8 BOM (MRPC) is dropped, a missing final newline
 * (CoLA/dev.tsv) is fine, and NUL bytes or invalid UTF-8 are errors rather
 * than text silently handed to the tokenizer. */
#ifndef LST_TSV_H
#define LST_TSV_H

#include <stddef.h>

#include "../core/error.h"

typedef struct {
    char *path; /* copy, for messages */
    char *buf;  /* the whole file, edited in place by lst_lines_next */
    size_t len, pos;
    int line;   /* 1-based number of the line last returned */
} lst_lines_t;

/* Reads `path` whole; fails with "cannot open PATH: reason". */
int lst_lines_open(lst_lines_t *r, const char *path, lst_err_t *err);

/* Next line without its "\n" (or "\r\n"). Returns 1 and sets *line, 0 at
 * the end of the file, -1 (message "PATH:LINE: ...") on a NUL byte or
 * invalid UTF-8. An empty last line (the file ends with "\n") is not a line. */
int lst_lines_next(lst_lines_t *r, char **line, lst_err_t *err);

void lst_lines_close(lst_lines_t *r);

/* Splits `line` in place at every TAB. Stores at most `max` field pointers
 * and returns the number of fields there are (which may exceed max). */
int lst_tsv_split(char *line, char **fields, int max);

/* Reads a whole file into a malloc'ed NUL-terminated buffer. */
int lst_read_text_file(const char *path, char **buf, size_t *len, lst_err_t *err);

/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, surrogates or values
 * above U+10FFFF), else 0. */
int lst_utf8_valid(const char *s, size_t n);

#endif
