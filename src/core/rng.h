/* rng.h: counter-based random numbers (Philox4x32-10).
 *
 * Counter-based so that any element's random value can be regenerated from
 * (seed, stream, index) alone: dropout masks are recomputed in backward
 * instead of stored, and a run resumes bit-exactly from (seed, counter). */
#ifndef LST_RNG_H
#define LST_RNG_H

#include <stdint.h>

/* One Philox4x32-10 block: key (2 x 32 bit) and counter (4 x 32 bit). */
void lst_philox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]);

/* A sequential stream on top of Philox: key = seed, counter increments. */
typedef struct {
    uint64_t seed;
    uint64_t counter; /* blocks consumed */
    uint32_t buf[4];
    int avail;        /* unread words in buf */
} lst_rng_t;

void lst_rng_seed(lst_rng_t *r, uint64_t seed);
uint32_t lst_rng_u32(lst_rng_t *r);
/* Uniform in [0, 1) with 24 random bits. */
float lst_rng_uniform(lst_rng_t *r);
/* Standard normal (Box-Muller on two uniforms, in double). */
double lst_rng_normal(lst_rng_t *r);

/* Stateless: word number `index` of stream `stream` under `seed` (word
 * index % 4 of block index / 4; dropout masks are built from these), and
 * the uniform [0,1) value made of its top 24 bits. */
uint32_t lst_rng_u32_at(uint64_t seed, uint64_t stream, uint64_t index);
float lst_rng_uniform_at(uint64_t seed, uint64_t stream, uint64_t index);

#endif
