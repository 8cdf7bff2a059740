/* blas_core.c: which OpenBLAS kernels the lst program runs on.
 *
 * On AMD Zen 4 (family 19h with AVX-512), AVX-512 runs as two 256-bit
 * halves, and OpenBLAS's AVX2 (Haswell) SGEMM kernels beat the AVX-512 ones
 * it picks by default: about 6% on a training step on the 2-core
 * development machine (bench/README.md). OpenBLAS reads its core type from
 * OPENBLAS_CORETYPE once, when it is loaded, so the choice is made by
 * executing the program again with the variable set. A value the user set
 * is kept, other CPUs are left alone, and if the re-execution fails the
 * program goes on with the default kernels.
 *
 * The same re-execution sets OPENBLAS_NUM_THREADS=1 on every CPU: Debian's
 * pthread OpenBLAS starts one worker thread per core when it is loaded, and
 * each worker takes its own 128 MiB work buffer at once, retrying for ever
 * when the address space is short (ulimit -v); exit then waits on it, so
 * even `lst params` hung. lst never runs OpenBLAS's workers (matmul.c sets
 * one thread; ops split products over lst's own threads), and with the
 * variable set before the library loads there are none (blas_buffers.c
 * takes the buffers lst's threads need). */
#include <cpuid.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int zen4(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    if (b != 0x68747541u || d != 0x69746e65u || c != 0x444d4163u) return 0; /* AuthenticAMD */
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const unsigned family = ((a >> 8) & 0xf) == 0xf ? 0xf + ((a >> 20) & 0xff) : (a >> 8) & 0xf;
    if (family != 0x19) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 16) & 1; /* AVX-512F: Zen 4, not Zen 3 */
}

void lst_cli_blas_core(char **argv) {
    const char *nt = getenv("OPENBLAS_NUM_THREADS");
    const int threads_set = nt && !strcmp(nt, "1");
    const int core_set = getenv("OPENBLAS_CORETYPE") || !zen4();
    if (threads_set && core_set) return;
    if (!threads_set && setenv("OPENBLAS_NUM_THREADS", "1", 1)) return;
    if (!core_set && setenv("OPENBLAS_CORETYPE", "Haswell", 1)) return;
    execv("/proc/self/exe", argv);
    /* not re-executed: children keep the default kernels too, and load
     * OpenBLAS without workers */
    if (!core_set) unsetenv("OPENBLAS_CORETYPE");
}
