/* compare_child.c: runs this binary as a child of `lst compare` and
 * measures it (see compare.h). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/clock.h"
#include "../core/fileio.h"
#include "../core/fsfile.h"
#include "../core/rss.h"
#include "compare.h"

/* ---- children ---------------------------------------------------------------- */


void lst_cmp_join_args(const char *const *argv, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; argv[i] && len + 1 < cap; i++) {
        const int quote = strpbrk(argv[i], " \t'\"\\$") != NULL || !*argv[i];
        int k = snprintf(buf + len, cap - len, "%s%s%s%s", i ? " " : "", quote ? "'" : "", argv[i],
                         quote ? "'" : "");
        if (k < 0) break;
        len += (size_t)k;
        if (len >= cap) len = cap - 1;
    }
}

/* This binary: /proc/self/exe, resolved (so that it also works under a
 * tool such as valgrind, which resolves it to the program it runs) unless
 * the file is gone (rebuilt while we run): then the link itself. */
static const char *self_exe(void) {
    static char path[4096];
    if (!path[0]) {
        ssize_t k = readlink("/proc/self/exe", path, sizeof path - 1);
        if (k <= 0 || k >= (ssize_t)sizeof path - 1) k = 0;
        path[k] = 0;
        if (!k || strstr(path, " (deleted)") || access(path, X_OK) != 0)
            snprintf(path, sizeof path, "/proc/self/exe");
    }
    return path;
}

/* Runs this binary with argv (argv[0] "lst"): stdout to out_path (or
 * /dev/null), stderr appended to err_path after a header line. */
void lst_cmp_run_child(const char *const *argv, const char *out_path, const char *err_path, child_t *res) {
    memset(res, 0, sizeof *res);
    res->rss_mib = NAN;
    char cmd[4096];
    lst_cmp_join_args(argv, cmd, sizeof cmd);
    /* the run directory's files: a FIFO put there must not block compare */
    lst_err_t oerr;
    int efd = lst_open_regular(err_path, O_WRONLY | O_CREAT | O_APPEND, &oerr);
    int ofd = efd < 0 ? -1
              : out_path ? lst_open_regular(out_path, O_WRONLY | O_CREAT | O_TRUNC, &oerr)
                         : open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (efd < 0 || ofd < 0) {
        fprintf(stderr, "lst compare: %s\n", out_path || efd < 0 ? oerr.msg : strerror(errno));
        if (efd >= 0) close(efd);
        if (ofd >= 0) close(ofd);
        return;
    }
    time_t t = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&t));
    dprintf(efd, "==== lst compare, %s: %s\n", when, cmd);
    const char *exe = self_exe();
    fflush(stdout);
    fflush(stderr);
    const double t0 = lst_now_s();
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        dup2(ofd, 1);
        dup2(efd, 2);
        execv(exe, (char *const *)argv);
        dprintf(2, "lst compare: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    close(efd);
    close(ofd);
    if (pid < 0) {
        fprintf(stderr, "lst compare: cannot start '%s': %s\n", cmd, strerror(errno));
        return;
    }
    struct rusage ru;
    int st = 0;
    pid_t w;
    do w = wait4(pid, &st, 0, &ru);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
        fprintf(stderr, "lst compare: waiting for '%s': %s\n", cmd, strerror(errno));
        return;
    }
    res->started = 1;
    res->status = st;
    res->rss_mib = lst_rusage_peak_bytes(&ru) / 1048576.0;
    res->wall_s = lst_now_s() - t0;
}

int lst_cmp_child_ok(const child_t *c) { return c->started && WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0; }

void lst_cmp_describe(const child_t *c, char *buf, size_t cap) {
    if (!c->started) snprintf(buf, cap, "could not be started");
    else if (WIFEXITED(c->status)) snprintf(buf, cap, "exited with status %d", WEXITSTATUS(c->status));
    else if (WIFSIGNALED(c->status))
        snprintf(buf, cap, "was killed by signal %d (%s)", WTERMSIG(c->status), strsignal(WTERMSIG(c->status)));
    else snprintf(buf, cap, "ended with wait status %d", c->status);
}

/* The last `want` lines the child wrote into log from byte `from` on. */
void lst_cmp_print_tail(const char *log, long from, int want) {
    lst_err_t err;
    size_t len = 0;
    char *t = lst_read_file(log, 1 << 26, &len, &err);
    if (!t) return;
    if (from < 0 || (size_t)from > len) from = 0;
    char *s = t + from;
    /* skip compare's own header line */
    if (!strncmp(s, "==== lst compare", 16)) {
        char *nl = strchr(s, '\n');
        s = nl ? nl + 1 : s + strlen(s);
    }
    size_t n = strlen(s);
    while (n && s[n - 1] == '\n') s[--n] = 0;
    char *p = s + n;
    int lines = 0;
    while (p > s && lines < want) {
        p--;
        if (*p == '\n') lines++;
    }
    if (*p == '\n') p++;
    if (!*p) fprintf(stderr, "    (it wrote nothing to stderr)\n");
    while (*p) {
        char *nl = strchr(p, '\n');
        const int k = nl ? (int)(nl - p) : (int)strlen(p);
        fprintf(stderr, "    | %.*s\n", k, p);
        p += k + (nl != NULL);
    }
    free(t);
}

long lst_cmp_file_size(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : 0;
}
