/* fsfile.c: see fsfile.h. */
#include "fsfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *lst_file_kind(unsigned mode) {
    switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFSOCK: return "a socket";
    default: return "not a regular file";
    }
}

int lst_open_regular(const char *path, int flags, lst_err_t *err) {
    if (!path || !*path) return lst_fail(err, "empty file name");
    int fd;
    do fd = open(path, flags | O_NONBLOCK | O_CLOEXEC, 0644);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        /* a FIFO opened for writing without a reader, refused by O_NONBLOCK */
        if (errno == ENXIO)
            return lst_fail(err, "%s: cannot open: not a regular file (a FIFO or device without "
                            "a reader)", path);
        return lst_fail(err, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lst_fail(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lst_fail(err, "%s: is %s, not a regular file", path, lst_file_kind(st.st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return lst_fail(err, "%s: cannot open: %s", path, strerror(e));
    }
    return fd;
}

FILE *lst_fopen_regular(const char *path, lst_err_t *err) {
    int fd = lst_open_regular(path, O_RDONLY, err);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        lst_fail(err, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}
