/* softmax_rows.h: the row kernels of the attention softmax and its
 * backward (softmax_rows.c), for attention.c and cross_fold.c. Internal to
 * src/ops/cpu. A key j of a row is visible when j <= limit and km[j] != 0
 * (km may be NULL). */
#ifndef LST_SOFTMAX_ROWS_H
#define LST_SOFTMAX_ROWS_H

#include <stdint.h>

/* max of s[j] over visible j; -inf if none.  s: [n] */
float lst_row_max(const float *s, int n, int limit, const uint8_t *km);
/* s[j] = visible(j) ? exp(s[j] - shift) : 0; returns the sum.  s: [n] */
double lst_row_exp(float *s, int n, float shift, int limit, const uint8_t *km);
/* s[j] *= a.  s: [n] */
void lst_row_scale(float *s, int n, float a);
/* g = p * (g - di), the softmax backward of one row (di = sum g p).  g, p: [n] */
void lst_row_dsoftmax(float *g, const float *p, int n, float di);
/* g = pd != 0 ? g * keep_scale : 0: the dropout mask read back off the
 * dropped probabilities.  g, pd: [n] */
void lst_row_dropped_grad(float *g, const float *pd, int64_t n, float keep_scale);

#endif
