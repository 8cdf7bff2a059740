/* version.h: which lst this is, for `lst --version` and every run's
 * run.json and metrics.json (a result says what produced it). */
#ifndef LST_VERSION_H
#define LST_VERSION_H

#include <stddef.h>

/* "0.5.0": the release line this tree is on. */
const char *lst_version(void);
/* The source tree's git commit when built ("a1b2c3d4e5f6", "+dirty" when
 * it had uncommitted changes), or "unknown" outside a git checkout. */
const char *lst_commit(void);
/* The current UTC time as "2026-12-04T21:50:07Z" into buf (cap >= 21). */
void lst_utc_now(char *buf, size_t cap);

#endif
