/* dropout.c: inverted dropout whose mask is a pure function of (seed,
 * stream, element index), so backward regenerates it instead of storing
 * it, and a resumed run draws exactly the masks it would have drawn. */
#include "../../core/rng.h"
#include "../ops.h"

void lst_dropout_apply(float *out, const float *x, int64_t N, const lst_drop_t *d,
                       uint64_t first) {
    if (!lst_drop_active(d)) {
        if (out != x)
            for (int64_t i = 0; i < N; i++) out[i] = x[i];
        return;
    }
    const float scale = 1.0f / (1.0f - d->p);
    for (int64_t i = 0; i < N; i++) {
        float u = lst_rng_uniform_at(d->seed, d->stream, first + (uint64_t)i);
        out[i] = u >= d->p ? x[i] * scale : 0.0f;
    }
}
