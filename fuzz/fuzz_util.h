/* fuzz_util.h: what the libFuzzer targets in fuzz/ share.
 *
 * The library reads paths, not buffers, so each target writes its input to a
 * scratch file in a per-process directory (on /dev/shm when there is one: the
 * writers fsync). The library's error messages are sent to /dev/null by
 * pointing `stderr` at it; sanitizer reports and libFuzzer's own output write
 * to fd 2 directly and still show. FUZZ_VERBOSE=1 keeps the messages.
 * FZ_CHECK aborts (a crash libFuzzer records) when a contract is broken on an
 * input the library accepted or refused. */
#ifndef LST_FUZZ_UTIL_H
#define LST_FUZZ_UTIL_H

#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FZ_CHECK(cond, ...)                                                        \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(fz_real_stderr(), "FZ_CHECK failed at %s:%d: %s: ", __FILE__,  \
                    __LINE__, #cond);                                              \
            fprintf(fz_real_stderr(), __VA_ARGS__);                                \
            fputc('\n', fz_real_stderr());                                         \
            abort();                                                               \
        }                                                                          \
    } while (0)

static FILE *fz_saved_stderr;

static inline FILE *fz_real_stderr(void) { return fz_saved_stderr ? fz_saved_stderr : stderr; }

/* Silences the library's fprintf(stderr, ...) (and stdout if asked). */
static inline void fz_quiet(int also_stdout) {
    if (getenv("FUZZ_VERBOSE")) return;
    FILE *null = fopen("/dev/null", "w");
    if (!null) return;
    fz_saved_stderr = stderr;
    stderr = null;
    if (also_stdout) stdout = null;
}

static char fz_dir[256];

static inline int fz_rm(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static inline void fz_cleanup(void) {
    if (fz_dir[0]) nftw(fz_dir, fz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* The scratch directory of this process (created on first use). */
static inline const char *fz_scratch(void) {
    if (fz_dir[0]) return fz_dir;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fz_dir, sizeof fz_dir, "%s/lst-fuzz.XXXXXX", base);
    if (!mkdtemp(fz_dir)) {
        perror("mkdtemp");
        abort();
    }
    atexit(fz_cleanup);
    return fz_dir;
}

/* "<scratch>/<name>" in a static buffer (one of 8, reused in turn). */
static inline const char *fz_path(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", fz_scratch(), name);
    return buf[k];
}

static inline void fz_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

static inline void fz_mkdir(const char *path) {
    if (mkdir(path, 0755) != 0 && access(path, F_OK) != 0) {
        perror(path);
        abort();
    }
}

/* A NUL-terminated copy of the input (caller frees). */
static inline char *fz_cstr(const uint8_t *data, size_t n) {
    char *s = malloc(n + 1);
    if (!s) abort();
    memcpy(s, data, n);
    s[n] = 0;
    return s;
}

/* A failed call must leave a message, and it must fit in lst_err_t. */
#define FZ_CHECK_MSG(err)                                                          \
    FZ_CHECK((err).msg[0] && memchr((err).msg, 0, sizeof (err).msg),               \
             "error without a message")

/* The library's OpenMP / OpenBLAS threads only slow a fuzzer down. */
void openblas_set_num_threads(int);
void omp_set_num_threads(int);
static inline void fz_one_thread(void) {
    openblas_set_num_threads(1);
    omp_set_num_threads(1);
}

#endif
