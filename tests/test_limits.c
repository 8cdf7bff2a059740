/* test_limits.c: every command under an address-space limit (ulimit -v)
 * either works or stops within seconds with "lst <cmd>: ..." naming the
 * memory it could not get; it never hangs or dies of a signal.
 *
 * OpenBLAS's buffer allocator used to retry a failed 128 MiB allocation for
 * ever, so dump and train hung at 150-450 MB though t5-tiny plans 24 MiB,
 * and every command hung at exit, joining an OpenBLAS worker stuck there
 * (blas_core.c, blas_buffers.c). The limits below land in every phase: before the
 * libraries' buffers, between them and lst's own allocations, and, with one
 * thread, inside the loaders, the tokenizer and the training plan; one is
 * set just below what a dump needs, worked out from the program's own
 * report of what it has in use.
 *
 * Skipped under AddressSanitizer (make sanitize): its shadow memory
 * reserves terabytes of address space, so no limit leaves it room to run. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "../src/cli/cli.h"
#include "test.h"

#if defined(__SANITIZE_ADDRESS__)
#define LST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LST_ASAN 1
#endif
#endif

/* seconds a run may take; every run here takes a few at most */
#ifndef LIMITS_TIMEOUT_S
#define LIMITS_TIMEOUT_S 60
#endif

/* Runs `sh -c "(ulimit -v KIB; exec timeout 60 lst ARGS) 2>&1"`, KIB 0 for
 * no limit; the output in *out (caller frees), the exit status returned
 * (128 + n for signal n; timeout's 124 for a run that did not end). */
static int run_limited(char **out, long kib, const char *threads, const char *fmt, ...) {
    char args[4096], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char pre[128] = "";
    if (kib > 0) snprintf(pre, sizeof pre, "ulimit -v %ld; ", kib);
    if (threads)
        snprintf(pre + strlen(pre), sizeof pre - strlen(pre), "export OMP_NUM_THREADS=%s; ", threads);
    snprintf(cmd, sizeof cmd, "(%sexec timeout -s KILL %d %s %s) 2>&1", pre, LIMITS_TIMEOUT_S,
             lst_test_bin(), args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t cap = 4096, len = 0, k;
    char *buf = malloc(cap);
    while (buf && (k = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += k;
        if (cap - len < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb, cap *= 2;
        }
    }
    if (buf) buf[len] = 0;
    const int st = pclose(p);
    *out = buf;
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* the outcome an address-space limit allows: success, or status 1 with
 * "lst <cmd>:" and a message that says memory ran out */
static void expect_ok_or_oom(const char *cmd, long kib, const char *threads, int rc, const char *out) {
    const char *o = out ? out : "";
    char prefix[64];
    snprintf(prefix, sizeof prefix, "lst %s:", cmd);
    CHECK(rc >= 0 && rc < 124, "%s under ulimit -v %ld (threads %s): status %d (%s):\n%s", cmd, kib,
          threads ? threads : "default", rc,
          rc == 124 || rc == 137 ? "did not finish in time" : "a signal or exec failure", o);
    if (rc == 0 || rc >= 124) return;
    CHECK(rc == 1 && strstr(o, prefix) &&
              (strstr(o, "out of memory") || strstr(o, "Cannot allocate memory")),
          "%s under ulimit -v %ld (threads %s): status %d without \"%s ... out of memory\":\n%s", cmd,
          kib, threads ? threads : "default", rc, prefix, o);
}

struct cmd {
    const char *name, *args;
};

TEST(limits_every_command_ends_or_reports_oom) {
#ifdef LST_ASAN
    return;
#else
    const char *d = lst_test_tmpdir();
    char *out = NULL;
    int rc = lst_test_run(&out, "init --preset t5-tiny --out %s/lim_m", d);
    CHECK(rc == 0, "init: %s", out ? out : "");
    free(out);
    char path[512];
    snprintf(path, sizeof path, "%s/lim_t.jsonl", d);
    FILE *f = fopen(path, "w");
    if (!f) {
        CHECK(0, "cannot write %s", path);
        return;
    }
    fputs("{\"source\": \"a b c\", \"target\": \"x\"}\n{\"source\": \"d e\", \"target\": \"y\"}\n", f);
    fclose(f);
    rc = lst_test_run(&out, "train --model %s/lim_m --task custom --train %s --valid %s --out %s/lim_r "
                      "--max-steps 1 --init random --quiet", d, path, path, d);
    CHECK(rc == 0, "train: %s", out ? out : "");
    free(out);
    if (rc) return;

    char a[9][2048];
    snprintf(a[0], sizeof a[0], "--model tests/data/t5-tiny-relu --batch "
             "tests/data/t5-tiny-relu/batch.safetensors --out %s/lim_d.st", d);
    snprintf(a[1], sizeof a[1], "--model %s/lim_m --task custom --train %s --valid %s --out %s/lim_r2 "
             "--max-steps 1 --init random --quiet", d, path, path, d);
    snprintf(a[2], sizeof a[2], "--run %s/lim_r --split validation", d);
    snprintf(a[3], sizeof a[3], "--run %s/lim_r < %s", d, path);
    snprintf(a[4], sizeof a[4], "--spm data/t5/spiece.model < %s", path);
    snprintf(a[5], sizeof a[5], "--preset t5-tiny --out %s/lim_m2", d);
    snprintf(a[6], sizeof a[6], "--model t5-tiny --batch 2 --src-len 8 --tgt-len 2 --steps 1");
    snprintf(a[7], sizeof a[7], "--model t5-small --batch 8 --src-len 64 --tgt-len 3");
    snprintf(a[8], sizeof a[8], "--model t5-tiny --method lst");
    const struct cmd cmds[9] = {{"dump", a[0]}, {"train", a[1]}, {"eval", a[2]},
                                {"predict", a[3]}, {"tokenize", a[4]}, {"init", a[5]},
                                {"bench", a[6]}, {"plan", a[7]}, {"params", a[8]}};
    static const struct {
        long kib;
        const char *threads;
    } limits[] = {{60000, NULL}, {150000, NULL}, {300000, NULL}, {450000, NULL},
                  {186000, "1"}, {212000, "1"}};
    for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
        for (int c = 0; c < 9; c++) {
            char clean[2048];
            snprintf(clean, sizeof clean, "rm -rf %s/lim_r2 %s/lim_m2 %s/lim_d.st", d, d, d);
            if (system(clean) != 0) CHECK(0, "%s failed", clean);
            rc = run_limited(&out, limits[l].kib, limits[l].threads, "%s %s", cmds[c].name,
                             cmds[c].args);
            expect_ok_or_oom(cmds[c].name, limits[l].kib, limits[l].threads, rc, out);
            free(out);
        }
    }
#endif
}

/* What a dump takes: the program's report at a limit it cannot meet says
 * how much it has in use and how much its buffers need; a limit 1 MiB
 * short of that plus the dump's own allocations fails in lst's allocator,
 * which must say so, and a generous one works. */
TEST(limits_just_below_what_dump_needs) {
#ifdef LST_ASAN
    return;
#else
    const char *d = lst_test_tmpdir();
    char *out = NULL;
    const char *args = "dump --model tests/data/t5-tiny-relu --batch "
                       "tests/data/t5-tiny-relu/batch.safetensors --out";
    int rc = run_limited(&out, 60000, "1", "%s %s/below.st", args, d);
    double need = 0, lim = 0, used = 0;
    const char *p = out ? strstr(out, " need ") : NULL, *q = out ? strstr(out, "ulimit -v: ") : NULL;
    if (p) need = atof(p + 6);
    if (q && sscanf(q, "ulimit -v: %lf MiB, %lf MiB in use", &lim, &used) != 2) used = 0;
    CHECK(rc == 1 && need > 100 && used > 0,
          "at 60 MB with one thread the dump should report its buffers (status %d):\n%s", rc,
          out ? out : "");
    free(out);
    if (!(need > 100 && used > 0)) return;
    /* the dump's own tensors: a few MiB for t5-tiny-relu; the limit
     * leaves room for the buffers but not for them */
    const long kib = (long)((used + need + 1.0) * 1024);
    rc = run_limited(&out, kib, "1", "%s %s/below.st", args, d);
    CHECK(rc == 1 && out && strstr(out, "lst dump:") && !strstr(out, "OpenBLAS") &&
              (strstr(out, "out of memory") || strstr(out, "Cannot allocate memory")),
          "1 MiB above the buffers the dump's own allocation should fail with its message "
          "(status %d, ulimit -v %ld):\n%s", rc, kib, out ? out : "");
    free(out);
    rc = run_limited(&out, kib + 200 * 1024, "1", "%s %s/below.st", args, d);
    CHECK(rc == 0, "with 200 MiB more the dump should work (status %d):\n%s", rc, out ? out : "");
    free(out);
#endif
}

/* blas_buffers.c checks the address space for its buffers before OpenBLAS
 * makes them, at LST_BLAS_BUFFER_BYTES each, a constant of the OpenBLAS
 * build: one more buffer from the pool (all the ones before held, so it is
 * a new one) must grow the address space by that much and no more. */
extern void *blas_memory_alloc(int procpos);
extern void blas_memory_free(void *buffer);

static double vm_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmSize:", 7)) kib = atof(line + 7);
    if (f) fclose(f);
    return kib;
}

TEST(limits_blas_buffer_size_is_known) {
#ifdef LST_ASAN
    return;
#else
    enum { n = 24 };
    void *b[n];
    double grew = 0;
    for (int i = 0; i < n; i++) {
        const double before = vm_kib();
        b[i] = blas_memory_alloc(0);
        const double d = vm_kib() - before;
        if (d > grew) grew = d;
    }
    for (int i = 0; i < n; i++) blas_memory_free(b[i]);
    const double want = (double)LST_BLAS_BUFFER_BYTES / 1024;
    CHECK(grew > 0.9 * want && grew <= want + 4,
          "a new OpenBLAS buffer took %.0f KiB of address space, LST_BLAS_BUFFER_BYTES says %.0f",
          grew, want);
#endif
}
