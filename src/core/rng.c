/* rng.c: Philox4x32-10 counter-based random numbers (see rng.h).
 *
 * Philox4x32-10 exactly as in Salmon et al. 2011 / Random123, checked
 * against its known-answer vectors in tests/test_rng.c. Everything above
 * the block function is a fixed mapping of (seed, counter) to values, so a
 * number can always be regenerated from where it sits in its stream:
 *   sequential: key = seed, counter = {block lo, block hi, 0, 0}
 *   stateless:  key = seed, counter = {(index/4) lo, hi, stream lo, hi},
 *               word index % 4.
 * Both layouts share the key, but the sequential one always has a zero
 * upper counter half, so it coincides only with stream 0 of the stateless
 * one; callers keep stream 0 for themselves if that matters. */
#include "rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* golden ratio */
#define PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */
#define PHILOX_ROUNDS 10

/* 2^-24 and 2^-32, exact in float / double. */
#define TWO_M24 (1.0f / 16777216.0f)
#define TWO_M32 (1.0 / 4294967296.0)

void lst_philox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]) {
    uint32_t k0 = key[0], k1 = key[1];
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    for (int r = 0; r < PHILOX_ROUNDS; r++) {
        if (r > 0) { /* the key is bumped between rounds, not before the first */
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

void lst_rng_seed(lst_rng_t *r, uint64_t seed) {
    r->seed = seed;
    r->counter = 0;
    r->buf[0] = r->buf[1] = r->buf[2] = r->buf[3] = 0;
    r->avail = 0;
}

uint32_t lst_rng_u32(lst_rng_t *r) {
    if (r->avail <= 0 || r->avail > 4) {
        const uint32_t key[2] = {(uint32_t)r->seed, (uint32_t)(r->seed >> 32)};
        const uint32_t ctr[4] = {(uint32_t)r->counter, (uint32_t)(r->counter >> 32), 0, 0};
        lst_philox4x32(key, ctr, r->buf);
        r->counter++;
        r->avail = 4;
    }
    return r->buf[4 - r->avail--];
}

float lst_rng_uniform(lst_rng_t *r) {
    /* 24 bits: every value is exactly representable, and 1.0 is unreachable. */
    return (float)(lst_rng_u32(r) >> 8) * TWO_M24;
}

double lst_rng_normal(lst_rng_t *r) {
    /* u1 in (0, 1] so log(u1) is finite; u2 in [0, 1). Only the cosine
     * branch is used: one normal per two words keeps the stream stateless
     * beyond (seed, counter, position in block). */
    double u1 = ((double)lst_rng_u32(r) + 1.0) * TWO_M32;
    double u2 = (double)lst_rng_u32(r) * TWO_M32;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

uint32_t lst_rng_u32_at(uint64_t seed, uint64_t stream, uint64_t index) {
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint64_t block = index / 4;
    const uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream,
                             (uint32_t)(stream >> 32)};
    uint32_t out[4];
    lst_philox4x32(key, ctr, out);
    return out[index % 4];
}

float lst_rng_uniform_at(uint64_t seed, uint64_t stream, uint64_t index) {
    return (float)(lst_rng_u32_at(seed, stream, index) >> 8) * TWO_M24;
}
