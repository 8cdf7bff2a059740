/* rss.c: see rss.h. */
#include "rss.h"

#include <sys/resource.h>

size_t lst_rusage_peak_bytes(const struct rusage *ru) {
    return (size_t)ru->ru_maxrss * 1024; /* Linux reports KiB */
}

size_t lst_peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return lst_rusage_peak_bytes(&ru);
}

double lst_peak_rss_mib(void) { return lst_peak_rss_bytes() / 1048576.0; }
