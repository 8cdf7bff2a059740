/* cpu_features.c: which vector instructions this CPU and OS can run, asked
 * once (the kernels that need AVX-512 are chosen at run time, so the build
 * runs on any x86-64). */
#include <cpuid.h>

#include "gemm_sched.h"

/* need: 0 AVX-512 F/BW/VL, 1 also AVX512_BF16, 2 also AVX512_VNNI */
static int detect(int need) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const unsigned max_sub = a;
    const int f = (b >> 16) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    if (!f || !bw || !vl) return 0;
    if (need == 2 && !((c >> 11) & 1)) return 0; /* AVX512_VNNI */
    if (need == 1) {
        if (max_sub < 1) return 0;
        __cpuid_count(7, 1, a, b, c, d);
        if (!((a >> 5) & 1)) return 0; /* AVX512_BF16 */
    }
    __cpuid(1, a, b, c, d);
    if (!((c >> 27) & 1)) return 0; /* OSXSAVE */
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 0xe6) == 0xe6; /* the OS saves SSE, AVX and all AVX-512 state */
}

static int cached_detect(int i) {
    static int cached[3] = {-1, -1, -1}; /* benign race: every thread stores the same value */
    int v = __atomic_load_n(&cached[i], __ATOMIC_RELAXED);
    if (v < 0) {
        v = detect(i);
        __atomic_store_n(&cached[i], v, __ATOMIC_RELAXED);
    }
    return v;
}

int lst_cpu_avx512(int need_bf16) { return cached_detect(need_bf16 ? 1 : 0); }

int lst_cpu_avx512_vnni(void) { return cached_detect(2); }
