/* svg.c: see svg.h. */
#include "svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void lst_sb_grow(lst_sb_t *b, size_t need) {
    if (b->oom || b->len + need + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + need + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

void lst_sb_printf(lst_sb_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0) {
        b->oom = 1;
        return;
    }
    lst_sb_grow(b, (size_t)k);
    if (b->oom) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)k;
}

void lst_sb_puts(lst_sb_t *b, const char *s) { lst_sb_printf(b, "%s", s); }

char *lst_sb_done(lst_sb_t *b) {
    if (!b->oom) lst_sb_grow(b, 0);
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    b->p[b->len] = 0;
    return b->p;
}

void lst_sb_xml(lst_sb_t *b, const char *s) {
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '&') lst_sb_puts(b, "&amp;");
        else if (c == '<') lst_sb_puts(b, "&lt;");
        else if (c == '>') lst_sb_puts(b, "&gt;");
        else if (c == '"') lst_sb_puts(b, "&quot;");
        else if (c == '\'') lst_sb_puts(b, "&apos;");
        else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') lst_sb_puts(b, " "); /* not allowed in XML 1.0 */
        else lst_sb_printf(b, "%c", *s);
    }
}

double lst_nice_step(double span, int want) {
    if (!(span > 0) || !isfinite(span)) return 1;
    const double raw = span / want, e = pow(10, floor(log10(raw))), f = raw / e;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * e;
}

double lst_ticks_round_out(double *lo, double *hi, int want) {
    const double step = lst_nice_step(*hi - *lo, want);
    *lo = floor(*lo / step + 1e-9) * step;
    *hi = ceil(*hi / step - 1e-9) * step;
    return step;
}

int lst_tick_decimals(double step) {
    if (step >= 1) return 0;
    int d = (int)ceil(-log10(step) - 1e-9);
    return d < 0 ? 0 : d > 6 ? 6 : d;
}
