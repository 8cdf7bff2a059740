/* dropout.c: inverted dropout whose mask is a pure function of (seed,
 * stream, element index), so backward regenerates it instead of storing
 * it, and a resumed run draws exactly the masks it would have drawn.
 *
 * Element i keeps iff u(i) >= p, where u(i) is the top 24 bits (over 2^24)
 * of one word of a Philox4x32-10 block (key = seed, counter = {block,
 * stream}): elements come in groups of 64, and element 64 G + 16 k + j is
 * word k of block 16 G + j. This word-major order lets the fast path below
 * compare 16 words of one kind at once; it draws each block once and
 * compares the top 24 bits against ceil(p * 2^24), the same test exactly. */
#include <math.h>
#include <string.h>

#include "../../core/rng.h"
#include "../ops.h"

#define CHUNK 4096 /* elements per chunk; a multiple of 4 */
#define PB 16      /* Philox blocks drawn together (64 elements) */

/* PB consecutive Philox4x32-10 blocks (counters blk0.., stream) in
 * structure-of-arrays form, so the compiler vectorises the rounds; cloned
 * for AVX-512 / AVX2 / baseline and picked at run time. Same numbers as
 * lst_philox4x32 (tested through lst_dropout_apply_ref). */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void
philox_many(uint32_t k0, uint32_t k1, uint32_t s_lo, uint32_t s_hi, uint64_t blk0,
            uint32_t out[4][PB]) {
    uint32_t c0[PB], c1[PB], c2[PB], c3[PB];
    for (int i = 0; i < PB; i++) {
        c0[i] = (uint32_t)(blk0 + (uint64_t)i);
        c1[i] = (uint32_t)((blk0 + (uint64_t)i) >> 32);
        c2[i] = s_lo;
        c3[i] = s_hi;
    }
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        for (int i = 0; i < PB; i++) {
            uint64_t p0 = (uint64_t)0xD2511F53u * c0[i];
            uint64_t p1 = (uint64_t)0xCD9E8D57u * c2[i];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[i] ^ k0;
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[i] ^ k1;
            c1[i] = (uint32_t)p1;
            c3[i] = (uint32_t)p0;
            c0[i] = n0;
            c2[i] = n2;
        }
    }
    for (int i = 0; i < PB; i++) {
        out[0][i] = c0[i];
        out[1][i] = c1[i];
        out[2][i] = c2[i];
        out[3][i] = c3[i];
    }
}

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
    /* chunks aligned to global indices so every block is drawn by one thread */
    const uint64_t lo = first & ~(uint64_t)(CHUNK - 1), hi = first + (uint64_t)N;
    const int64_t n_chunks = (int64_t)((hi - lo + CHUNK - 1) / CHUNK);
    const int nt = N > 8 * CHUNK ? lst_threads() : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t c = 0; c < n_chunks; c++) {
        uint64_t a = lo + (uint64_t)c * CHUNK, b = a + CHUNK;
        if (a < first) a = first;
        if (b > hi) b = hi;
        /* groups of 4 * PB elements: draw their PB blocks, one keep mask per
         * element (element 16 k + j of the group is word k of block j), then a
         * branch-free select over the group's part of [a, b) */
        uint32_t w[4][PB], keep[4 * PB];
        for (uint64_t g0 = a & ~(uint64_t)(4 * PB - 1); g0 < b; g0 += 4 * PB) {
            philox_many(key[0], key[1], s_lo, s_hi, g0 / 4, w);
            for (int k = 0; k < 4; k++)
                for (int j = 0; j < PB; j++) keep[PB * k + j] = -(uint32_t)((w[k][j] >> 8) >= thresh);
            const uint64_t s0 = g0 > a ? g0 : a, s1 = g0 + 4 * PB < b ? g0 + 4 * PB : b;
            const uint32_t *kp = keep + (s0 - g0);
            const float *xp = x + (s0 - first);
            float *op = out + (s0 - first);
            const int n = (int)(s1 - s0);
#pragma omp simd
            for (int e = 0; e < n; e++) { /* kept: x * scale; dropped: +0.0 */
                float v = xp[e] * scale;
                uint32_t u;
                memcpy(&u, &v, 4);
                u &= kp[e];
                memcpy(&op[e], &u, 4);
            }
        }
    }
}

/* The plain definition, element by element: the reference for the above. */
void lst_dropout_apply_ref(float *out, const float *x, int64_t N, const lst_drop_t *d,
                           uint64_t first) {
    const float scale = 1.0f / (1.0f - d->p);
    for (int64_t i = 0; i < N; i++) {
        const uint64_t g = first + (uint64_t)i, e = g % 64;
        /* word e / 16 of block 16 (g / 64) + e % 16, through the stateless
         * form (index = 4 block + word) */
        const uint64_t idx = 4 * (16 * (g / 64) + e % 16) + e / 16;
        float u = lst_rng_uniform_at(d->seed, d->stream, idx);
        out[i] = u >= d->p ? x[i] * scale : 0.0f;
    }
}
