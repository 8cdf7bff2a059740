/* test_blas_core.c: lst runs OpenBLAS's AVX2 (Haswell) kernels on AMD Zen 4
 * by executing itself again with OPENBLAS_CORETYPE set (blas_core.c), and
 * never overrides a core type the user set; the same re-execution sets
 * OPENBLAS_NUM_THREADS=1 on every CPU, so that OpenBLAS starts no worker
 * threads, and none happens when both are set already.
 * OPENBLAS_VERBOSE=2 makes OpenBLAS print "Core: <name>" each time it
 * loads. The CPU is read from /proc/cpuinfo here, independently of the
 * CPUID test in the program. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static int cpuinfo_zen4(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return 0;
    char line[4096];
    int amd = 0, family = 0, avx512 = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "vendor_id", 9)) amd = strstr(line, "AuthenticAMD") != NULL;
        if (!strncmp(line, "cpu family", 10)) sscanf(strchr(line, ':') + 1, "%d", &family);
        if (!strncmp(line, "flags", 5)) {
            avx512 = strstr(line, " avx512f") != NULL;
            break; /* the first processor is enough */
        }
    }
    fclose(f);
    return amd && family == 25 && avx512;
}

static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

TEST(blas_core_choice) {
    setenv("OPENBLAS_VERBOSE", "2", 1);
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("OPENBLAS_NUM_THREADS");
    char *log = NULL;
    int rc = lst_test_run(&log, "--help");
    CHECK(rc == 0, "lst --help: %s", log ? log : "");
    if (log) {
        /* loaded again on every CPU, with OPENBLAS_NUM_THREADS=1 */
        CHECK(count(log, "Core: ") == 2, "lst should load OpenBLAS again:\n%s", log);
        if (cpuinfo_zen4())
            CHECK(strstr(log, "Core: Haswell"),
                  "on Zen 4 lst should load OpenBLAS again with the Haswell kernels:\n%s", log);
    }
    free(log);
    log = NULL;
    setenv("OPENBLAS_CORETYPE", "Sandybridge", 1);
    rc = lst_test_run(&log, "--help");
    CHECK(rc == 0 && log && count(log, "Core: Sandybridge") == 2 && count(log, "Core: ") == 2,
          "a core type the user set must be kept:\n%s", log ? log : "");
    free(log);
    log = NULL;
    /* both set: nothing to do, a single load */
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    rc = lst_test_run(&log, "--help");
    CHECK(rc == 0 && log && count(log, "Core: ") == 1 && strstr(log, "Core: Sandybridge"),
          "with OPENBLAS_NUM_THREADS=1 and a core type lst should run once:\n%s", log ? log : "");
    free(log);
    unsetenv("OPENBLAS_NUM_THREADS");
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("OPENBLAS_VERBOSE");
}

/* OpenBLAS is loaded with OPENBLAS_NUM_THREADS=1, so it starts no worker
 * threads of its own: each took a 128 MiB buffer at once and, under an
 * address-space limit, retried it for ever while exit waited on it. The
 * program's own threads are counted from /proc while it waits on stdin. */
TEST(blas_core_no_openblas_workers) {
    unsetenv("OPENBLAS_NUM_THREADS");
    char *log = NULL;
    int rc = lst_test_run(&log, "tokenize --spm data/t5/spiece.model < /dev/null; "
                                "(sleep 2 | %s tokenize --spm data/t5/spiece.model & "
                                "sleep 1; ls /proc/$!/task | wc -l; wait)", lst_test_bin());
    const int tasks = log ? atoi(log) : -1;
    CHECK(rc == 0 && tasks == 1, "lst tokenize should run as one thread, not %d:\n%s", tasks,
          log ? log : "");
    free(log);
}
