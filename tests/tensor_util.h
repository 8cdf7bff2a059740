/* tensor_util.h: float-array helpers shared by the tests of the ops. */
#ifndef LST_TENSOR_UTIL_H
#define LST_TENSOR_UTIL_H

#include <stddef.h>

#include "../src/core/rng.h"

/* n values N(0, scale^2) from r (malloc'ed; at least one element). */
float *test_randn(lst_rng_t *r, size_t n, float scale);

/* max |a[i] - b[i]|; a NaN on either side makes it NaN (never passes a
 * "< tol" check). */
double test_maxdiff(const float *a, const float *b, size_t n);

#endif
