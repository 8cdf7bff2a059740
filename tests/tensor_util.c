/* tensor_util.c: see tensor_util.h. */
#include "tensor_util.h"

#include <math.h>
#include <stdlib.h>

float *test_randn(lst_rng_t *r, size_t n, float scale) {
    float *p = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; p && i < n; i++) p[i] = (float)lst_rng_normal(r) * scale;
    return p;
}

double test_maxdiff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        const double e = fabs((double)a[i] - b[i]);
        if (!(e <= m)) m = e;
    }
    return m;
}
