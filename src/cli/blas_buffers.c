/* blas_buffers.c: OpenBLAS's work buffers and lst's OpenMP threads, taken
 * before a command allocates anything.
 *
 * OpenBLAS's SGEMM packs into a buffer from a pool of fixed-size buffers
 * (BUFFER_SIZE plus a page: 128 MiB + 4 KiB in Debian 12's x86_64 build,
 * whatever the product's size), one per SGEMM running at that moment, made
 * on first use and kept until exit. When the address space is exhausted
 * its allocator retries for ever (driver/others/memory.c, 0.3.21): under
 * `ulimit -v` lst hung without a word once its own plan had taken what was
 * left. So every command that multiplies first checks that the address
 * space for one buffer per thread and the OpenMP threads' stacks is there,
 * then has OpenBLAS make those buffers and starts the thread pool. At most
 * lst_threads() SGEMMs run at once (ops split their work over that many
 * threads, each calling a single-threaded SGEMM), so later SGEMMs only
 * reuse the buffers, and a later shortage falls on lst's own allocations,
 * which report it. Only address space is taken here: an SGEMM touches the
 * pages it packs into (docs/memory.md). The OpenMP threads are started
 * here, for init's random weights too, for the same reason: libgomp exits
 * with its own message when it cannot create one.
 *
 * Debian's serial OpenBLAS would have no worker threads of its own, but it
 * is not safe to call from several threads at once (wrong products in
 * tests/test_cross_fold.c), so lst keeps the pthread build; lst sets its
 * thread count to 1 (matmul.c), and its workers never run a product. */
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "../ops/ops.h"

/* OpenBLAS's pool, exported by libopenblas but declared only in its
 * internal common.h */
extern void *blas_memory_alloc(int procpos);
extern void blas_memory_free(void *buffer);

/* the commands that run OpenMP loops, and whether they run products; the
 * others call neither (compare runs lst train and lst eval as programs of
 * their own) */
static const struct {
    const char *name;
    int multiplies;
} threaded[] = {{"dump", 1}, {"train", 1}, {"eval", 1}, {"predict", 1}, {"bench", 1}, {"init", 0}};

static double mib(double bytes) { return bytes / (1024.0 * 1024.0); }

/* bytes of address space in use now, from /proc/self/statm; 0 if unknown */
static double address_space_used(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f) return 0;
    if (fscanf(f, "%lu", &pages) != 1) pages = 0;
    fclose(f);
    return (double)pages * (double)sysconf(_SC_PAGESIZE);
}

/* the stack each OpenMP worker thread gets: OMP_STACKSIZE (or
 * GOMP_STACKSIZE) as libgomp reads it, a size in KiB or with a B, K, M or G
 * suffix, else the default thread attributes' */
static size_t thread_stack_bytes(void) {
    const size_t guard = 2 * (size_t)sysconf(_SC_PAGESIZE); /* guard page, rounding */
    const char *env = getenv("OMP_STACKSIZE");
    if (!env || !*env) env = getenv("GOMP_STACKSIZE");
    if (env && *env) {
        char *end;
        const double v = strtod(env, &end);
        while (*end == ' ') end++;
        const int c = *end | 0x20;
        const double unit = c == 'b' ? 1 : c == 'm' ? 1 << 20 : c == 'g' ? 1 << 30 : 1024;
        if (v > 0 && v * unit < 1e15) return (size_t)(v * unit) + guard;
    }
    pthread_attr_t a;
    size_t s = 8u << 20;
    if (pthread_getattr_default_np(&a) == 0) {
        pthread_attr_getstacksize(&a, &s);
        pthread_attr_destroy(&a);
    }
    return s + guard;
}

/* Maps `need` bytes and lets them go: whether that much address space is
 * free now (the limits count writable mappings, not touched pages). */
static int address_space_free(size_t need) {
    void *p = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) return 0;
    munmap(p, need);
    return 1;
}

static void report(const char *cmd, int threads, size_t need, int buffers) {
    char msg[512];
    struct rlimit as = {RLIM_INFINITY, RLIM_INFINITY};
    getrlimit(RLIMIT_AS, &as);
    int n = snprintf(msg, sizeof msg,
                     "out of memory: %s%d thread%s and %s stacks need %.1f MiB of address space, "
                     "which is not free",
                     buffers ? "OpenBLAS's work buffers for " : "", threads, threads == 1 ? "" : "s",
                     threads == 1 ? "its" : "their", mib((double)need));
    if (as.rlim_cur != RLIM_INFINITY && n > 0 && (size_t)n < sizeof msg)
        snprintf(msg + n, sizeof msg - (size_t)n,
                 " (address-space limit, ulimit -v: %.1f MiB, %.1f MiB in use; fewer threads, "
                 "OMP_NUM_THREADS, need less)",
                 mib((double)as.rlim_cur), mib(address_space_used()));
    lst_cli_error(cmd, msg);
}

int lst_cli_reserve(int argc, char **argv) {
    int multiplies = -1;
    for (size_t i = 0; i < sizeof threaded / sizeof threaded[0]; i++)
        if (!strcmp(argv[0], threaded[i].name)) multiplies = threaded[i].multiplies;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 0;
    if (multiplies < 0) return 0;

    /* ops use at most lst_threads() threads; plain `omp parallel` loops
     * (init's random weights) the runtime's maximum */
    const int T = lst_threads(), W = omp_get_max_threads() > T ? omp_get_max_threads() : T;
    const size_t need = (multiplies ? (size_t)T * LST_BLAS_BUFFER_BYTES : 0) +
                        (size_t)(W - 1) * thread_stack_bytes();
    if (need > 0 && !address_space_free(need)) {
        report(argv[0], W, need, multiplies);
        return -1;
    }
    /* each thread takes a buffer and holds it until all have one: the
     * pool keeps one table per thread (Debian's pthread build) or one for
     * all, and either way a buffer is made for every thread that may call
     * SGEMM at the same time as the others. libgomp keeps these threads for
     * its later teams; one it cannot create ends the process with its own
     * message. */
    int started = 0;
#pragma omp parallel num_threads(W)
    {
        void *buf = multiplies && omp_get_thread_num() < T ? blas_memory_alloc(0) : NULL;
#pragma omp barrier
        if (buf) blas_memory_free(buf);
#pragma omp atomic
        started++; /* a region with no effect is compiled away */
    }
    (void)started;
    return 0;
}
