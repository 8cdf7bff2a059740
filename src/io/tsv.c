/* tsv.c: strict line reader for TSV/JSONL data files (see tsv.h). */
#include "tsv.h"

#include "../core/fsfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lst_read_text_file(const char *path, char **buf, size_t *len, lst_err_t *err) {
    *buf = NULL;
    *len = 0;
    FILE *f = lst_fopen_regular(path, err);
    if (!f) return -1;
    size_t cap = 1 << 16, n = 0;
    char *b = lst_malloc(cap, 1, err);
    if (!b) {
        fclose(f);
        return -1;
    }
    for (;;) {
        if (cap - n < 2) {
            char *nb = (cap > ((size_t)-1) / 2) ? NULL : realloc(b, cap * 2);
            if (!nb) {
                free(b);
                fclose(f);
                return lst_fail(err, "%s: out of memory reading the file", path);
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        int e = errno;
        free(b);
        fclose(f);
        return lst_fail(err, "cannot read %s: %s", path, strerror(e ? e : EIO));
    }
    fclose(f);
    b[n] = 0;
    *buf = b;
    *len = n;
    return 0;
}

int lst_utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int k;
        unsigned cp, min;
        if ((c & 0xE0) == 0xC0) k = 1, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) k = 2, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) k = 3, cp = c & 0x07, min = 0x10000;
        else return 0;
        if (n - i <= (size_t)k) return 0;
        for (int j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (p[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += (size_t)k + 1;
    }
    return 1;
}

int lst_lines_open(lst_lines_t *r, const char *path, lst_err_t *err) {
    memset(r, 0, sizeof *r);
    r->path = strdup(path);
    if (!r->path) return lst_fail(err, "out of memory");
    if (lst_read_text_file(path, &r->buf, &r->len, err) != 0) {
        free(r->path);
        r->path = NULL;
        return -1;
    }
    if (r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0) r->pos = 3;
    return 0;
}

int lst_lines_next(lst_lines_t *r, char **line, lst_err_t *err) {
    if (r->pos >= r->len) return 0;
    char *s = r->buf + r->pos;
    size_t rest = r->len - r->pos;
    char *nl = memchr(s, '\n', rest);
    size_t n = nl ? (size_t)(nl - s) : rest;
    r->line++;
    r->pos += n + (nl ? 1 : 0);
    if (memchr(s, 0, n)) return lst_fail(err, "%s:%d: NUL byte in line", r->path, r->line);
    if (n > 0 && s[n - 1] == '\r') n--;
    s[n] = 0;
    if (!lst_utf8_valid(s, n))
        return lst_fail(err, "%s:%d: invalid UTF-8", r->path, r->line);
    *line = s;
    return 1;
}

void lst_lines_close(lst_lines_t *r) {
    free(r->buf);
    free(r->path);
    memset(r, 0, sizeof *r);
}

int lst_tsv_split(char *line, char **fields, int max) {
    int n = 0;
    char *s = line;
    for (;;) {
        if (n < max) fields[n] = s;
        n++;
        char *t = strchr(s, '\t');
        if (!t) break;
        *t = 0;
        s = t + 1;
    }
    return n;
}
