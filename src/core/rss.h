/* rss.h: the one peak-memory probe: the process's peak resident set size
 * (getrusage ru_maxrss), the figure metrics.json and lst bench report and
 * that lst plan is compared against. */
#ifndef LST_RSS_H
#define LST_RSS_H

#include <stddef.h>

struct rusage;

/* Peak RSS of this process so far, in bytes and in MiB. */
size_t lst_peak_rss_bytes(void);
double lst_peak_rss_mib(void);
/* The same figure from a rusage already taken (e.g. wait4 of a child). */
size_t lst_rusage_peak_bytes(const struct rusage *ru);

#endif
