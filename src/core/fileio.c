/* fileio.c: see fileio.h. */
#include "fileio.h"
#include "fsfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef LST_FAULT_INJECTION
void lst_fault_point(const char *op, int after) {
    static int parsed, target_n, target_after, seen;
    static char target_op[16];
    if (!parsed) {
        parsed = 1;
        const char *s = getenv("LST_FAULT");
        char when[16] = "";
        if (!s || sscanf(s, "%15[^:]:%d:%15s", target_op, &target_n, when) != 3) target_op[0] = 0;
        target_after = !strcmp(when, "after");
    }
    if (!target_op[0] || strcmp(op, target_op)) return;
    if (!after) seen++;
    if (seen == target_n && after == target_after) raise(SIGKILL);
}
#else
void lst_fault_point(const char *op, int after) {
    (void)op;
    (void)after;
}
#endif

void lst_atomic_abort(lst_atomic_t *a) {
    if (a->fd >= 0) close(a->fd);
    if (a->tmp) unlink(a->tmp);
    free(a->tmp);
    free(a->path);
    a->tmp = a->path = NULL;
    a->fd = -1;
}

int lst_atomic_open(lst_atomic_t *a, const char *path, lst_err_t *err) {
    a->fd = -1;
    a->tmp = NULL;
    a->path = NULL;
    if (!path || !*path) return lst_fail(err, "empty output path");
    size_t n = strlen(path);
    a->path = malloc(n + 1);
    a->tmp = malloc(n + 12);
    if (!a->path || !a->tmp) {
        free(a->path);
        free(a->tmp);
        a->path = a->tmp = NULL;
        return lst_fail(err, "%s: out of memory", path);
    }
    memcpy(a->path, path, n + 1);
    memcpy(a->tmp, path, n);
    memcpy(a->tmp + n, ".tmp.XXXXXX", 12);
    /* close-on-exec: lst compare forks children that must not inherit it */
    a->fd = mkostemp(a->tmp, O_CLOEXEC);
    if (a->fd < 0) {
        int e = errno;
        free(a->tmp);
        a->tmp = NULL; /* nothing was created */
        lst_atomic_abort(a);
        return lst_fail(err, "%s: cannot create a temporary file next to it: %s", path, strerror(e));
    }
    (void)fchmod(a->fd, 0644); /* mkostemp makes it 0600 */
    return 0;
}

int lst_atomic_write(lst_atomic_t *a, const void *data, size_t len, lst_err_t *err) {
    const char *p = data;
    while (len > 0) {
        size_t chunk = len > ((size_t)1 << 30) ? ((size_t)1 << 30) : len;
        ssize_t w = write(a->fd, p, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            lst_fail(err, "%s: write failed: %s", a->path, strerror(e));
            lst_atomic_abort(a);
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* The rename is durable only once the directory entry is on disk. Some
 * file systems refuse fsync on a directory (EINVAL): nothing to do there. */
static int sync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir) snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else return 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return 0;
    int rc = fsync(fd) != 0 && errno == EIO ? -1 : 0;
    close(fd);
    return rc;
}

int lst_atomic_commit(lst_atomic_t *a, lst_err_t *err) {
    if (a->fd < 0) return lst_fail(err, "%s: write already abandoned", a->path ? a->path : "?");
    if (fsync(a->fd) != 0) {
        lst_fail(err, "%s: fsync failed: %s", a->path, strerror(errno));
        lst_atomic_abort(a);
        return -1;
    }
    int fd = a->fd;
    a->fd = -1;
    if (close(fd) != 0) {
        lst_fail(err, "%s: close failed: %s", a->path, strerror(errno));
        lst_atomic_abort(a);
        return -1;
    }
    lst_fault_point("rename", 0);
    if (rename(a->tmp, a->path) != 0) {
        lst_fail(err, "%s: cannot rename into place: %s", a->path, strerror(errno));
        lst_atomic_abort(a);
        return -1;
    }
    lst_fault_point("rename", 1);
    free(a->tmp);
    a->tmp = NULL; /* in place: nothing to remove any more */
    int rc = sync_dir(a->path) ? lst_fail(err, "%s: fsync of its directory failed", a->path) : 0;
    lst_atomic_abort(a);
    return rc;
}

int lst_write_atomic(const char *path, const void *data, size_t len, lst_err_t *err) {
    lst_atomic_t a;
    if (lst_atomic_open(&a, path, err) || lst_atomic_write(&a, data, len, err)) return -1;
    return lst_atomic_commit(&a, err);
}

int lst_sync_stream(FILE *f, const char *path, lst_err_t *err) {
    lst_fault_point("sync", 0);
    if (fflush(f) != 0 || ferror(f)) return lst_fail(err, "%s: write failed: %s", path, strerror(errno));
    if (fsync(fileno(f)) != 0) return lst_fail(err, "%s: fsync failed: %s", path, strerror(errno));
    lst_fault_point("sync", 1);
    return 0;
}

int lst_is_own_temp(const char *name, const char *base) {
    size_t n = strlen(base);
    if (strncmp(name, base, n) || strncmp(name + n, ".tmp.", 5)) return 0;
    const char *x = name + n + 5;
    for (int i = 0; i < 6; i++)
        if (!((x[i] >= 'a' && x[i] <= 'z') || (x[i] >= 'A' && x[i] <= 'Z') || (x[i] >= '0' && x[i] <= '9')))
            return 0;
    return x[6] == 0;
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
    FILE *f = lst_fopen_regular(path, err); /* close-on-exec (lst compare forks); no FIFO */
    if (!f) return NULL;
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
