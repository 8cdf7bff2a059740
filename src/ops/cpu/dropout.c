/* dropout.c: inverted dropout whose mask is a pure function of (seed,
 * stream, element index), so backward regenerates it instead of storing
 * it, and a resumed run draws exactly the masks it would have drawn.
 *
 * Element i keeps iff lst_rng_uniform_at(seed, stream, i) >= p. That value
 * is word i % 4 of the Philox block i / 4, as 24 bits: the fast path below
 * draws each block once and compares the top 24 bits against
 * ceil(p * 2^24), which is the same test exactly. */
#include <math.h>

#include "../../core/rng.h"
#include "../ops.h"

#define CHUNK 4096 /* elements per chunk; a multiple of 4 */

void lst_dropout_apply(float *out, const float *x, int64_t N, const lst_drop_t *d,
                       uint64_t first) {
    if (!lst_drop_active(d)) {
        if (out != x)
            for (int64_t i = 0; i < N; i++) out[i] = x[i];
        return;
    }
    const float scale = 1.0f / (1.0f - d->p);
    const uint32_t thresh = (uint32_t)ceil((double)d->p * 16777216.0);
    const uint32_t key[2] = {(uint32_t)d->seed, (uint32_t)(d->seed >> 32)};
    const uint32_t s_lo = (uint32_t)d->stream, s_hi = (uint32_t)(d->stream >> 32);
    /* chunks aligned to global indices (ready to be split across threads) */
    const uint64_t lo = first & ~(uint64_t)(CHUNK - 1), hi = first + (uint64_t)N;
    const int64_t n_chunks = (int64_t)((hi - lo + CHUNK - 1) / CHUNK);
    for (int64_t c = 0; c < n_chunks; c++) {
        uint64_t a = lo + (uint64_t)c * CHUNK, b = a + CHUNK;
        if (a < first) a = first;
        if (b > hi) b = hi;
        uint32_t w[4];
        uint64_t blk = UINT64_MAX;
        for (uint64_t g = a; g < b; g++) {
            if (g / 4 != blk) {
                blk = g / 4;
                const uint32_t ctr[4] = {(uint32_t)blk, (uint32_t)(blk >> 32), s_lo, s_hi};
                lst_philox4x32(key, ctr, w);
            }
            const int64_t i = (int64_t)(g - first);
            out[i] = (w[g % 4] >> 8) >= thresh ? x[i] * scale : 0.0f;
        }
    }
}

/* The plain definition, element by element: the reference for the above. */
void lst_dropout_apply_ref(float *out, const float *x, int64_t N, const lst_drop_t *d,
                           uint64_t first) {
    const float scale = 1.0f / (1.0f - d->p);
    for (int64_t i = 0; i < N; i++) {
        float u = lst_rng_uniform_at(d->seed, d->stream, first + (uint64_t)i);
        out[i] = u >= d->p ? x[i] * scale : 0.0f;
    }
}
