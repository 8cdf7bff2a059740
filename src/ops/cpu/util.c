/* util.c: small elementwise helpers used between ops. */
#include "../ops.h"

void lst_add_inplace(float *y, const float *x, int64_t N) {
    for (int64_t i = 0; i < N; i++) y[i] += x[i];
}

void lst_scale_inplace(float *y, float s, int64_t N) {
    for (int64_t i = 0; i < N; i++) y[i] *= s;
}
