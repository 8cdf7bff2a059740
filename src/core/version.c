/* version.c: see version.h. LST_COMMIT comes from the Makefile (-D, the
 * commit of the tree being built; build/commit.txt records it so that a new
 * commit rebuilds this file). */
#include "version.h"

#include <stdio.h>
#include <time.h>

#ifndef LST_COMMIT
#define LST_COMMIT "unknown"
#endif

const char *lst_version(void) { return "0.5.0"; }

const char *lst_commit(void) { return LST_COMMIT; }

void lst_utc_now(char *buf, size_t cap) {
    const time_t t = time(NULL);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, cap, "unknown");
}
