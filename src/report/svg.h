/* svg.h: what the report's text and figures are built with: a growable
 * string (printf-like appends, an out-of-memory flag checked once at the
 * end), XML escaping, and round axis ticks. Shared by report.c (lst
 * compare's tables and Figure 6) and plot.c (a run's training curves). */
#ifndef LST_SVG_H
#define LST_SVG_H

#include <stddef.h>

typedef struct {
    char *p;
    size_t len, cap;
    int oom; /* an allocation failed: lst_sb_done returns NULL */
} lst_sb_t;

/* Room for need more bytes (and the terminator). */
void lst_sb_grow(lst_sb_t *b, size_t need);
void lst_sb_printf(lst_sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lst_sb_puts(lst_sb_t *b, const char *s);
/* XML text and attribute values, escaped (control characters as spaces). */
void lst_sb_xml(lst_sb_t *b, const char *s);
/* The NUL-terminated text (the caller frees it), or NULL after any failed
 * allocation (the buffer is freed). */
char *lst_sb_done(lst_sb_t *b);

/* A round tick step (1, 2 or 5 x 10^k) for about `want` ticks over span. */
double lst_nice_step(double span, int want);
/* Decimals that print ticks of this step exactly. */
int lst_tick_decimals(double step);
/* [*lo, *hi] rounded out to multiples of a round step for about `want`
 * ticks; returns the step. */
double lst_ticks_round_out(double *lo, double *hi, int want);

#endif
