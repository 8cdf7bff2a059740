/* fileio.c: see fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int lst_write_atomic(const char *path, const void *data, size_t len, lst_err_t *err) {
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
        return lst_fail(err, "%s: path too long", path);
    int fd = mkstemp(tmp);
    if (fd < 0) return lst_fail(err, "%s: cannot create: %s", path, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return lst_fail(err, "%s: write failed: %s", path, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fchmod(fd, 0644) != 0 || fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return lst_fail(err, "%s: cannot finish writing: %s", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return lst_fail(err, "%s: cannot rename into place: %s", path, strerror(e));
    }
    return 0;
}

int lst_mkdir_p(const char *path, lst_err_t *err) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return lst_fail(err, "%s: path too long", path);
    for (char *p = buf + 1; ; p++) {
        char c = *p;
        if (c == '/' || c == 0) {
            *p = 0;
            struct stat st;
            if (stat(buf, &st) == 0) {
                if (!S_ISDIR(st.st_mode)) return lst_fail(err, "%s: exists and is not a directory", buf);
            } else if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
                return lst_fail(err, "%s: cannot create directory: %s", buf, strerror(errno));
            }
            *p = c;
        }
        if (c == 0) break;
    }
    return 0;
}

char *lst_read_file(const char *path, size_t max, size_t *len, lst_err_t *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        lst_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (cap - n < 2) {
            if (cap > max) {
                free(buf);
                fclose(f);
                lst_fail(err, "%s: larger than %zu bytes", path, max);
                return NULL;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
        if (k == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) {
        lst_fail(err, "%s: out of memory", path);
        return NULL;
    }
    if (bad) {
        free(buf);
        lst_fail(err, "%s: read error", path);
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}
