/* streams.h: every random stream of lst, named in one place.
 *
 * All randomness is Philox (rng.h) keyed by the run's seed, so a stream is
 * a (seed, counter) mapping fixed by its constant here; two uses of
 * randomness that shared a stream would draw the same numbers. The values
 * are the ones the code used before they were named: initialisations stay
 * bit-identical across the renaming.
 *
 * Dropout (ops.h lst_drop_t) is keyed by (seed ^ lst_stream_example(e),
 * site stream, element index inside the example): the site stream starts
 * from LST_STREAM_DROP_* of the step and is expanded per (stack, layer) and
 * site by lst_drop_layer / lst_drop_site, and e is the example's global
 * index in the training set, so a mask never depends on the example's row
 * in a padded batch nor on the padding. */
#ifndef LST_STREAMS_H
#define LST_STREAMS_H

#include <stdint.h>

/* ---- dropout: base site stream of a training step --------------------- */
/* step * 4 + role: roles 0 (backbone, also a backbone method's own
 * dropout) and 1 (side network); 2 and 3 are free. */
#define LST_STREAM_DROP_BACKBONE 0
#define LST_STREAM_DROP_SIDE 1
static inline uint64_t lst_stream_drop(int64_t step, int role) {
    return (uint64_t)step * 4 + (uint64_t)role;
}

/* The key offset of example e's dropout masks: the splitmix64 output
 * function of e + golden ratio, a bijection of 64-bit integers. Within a run
 * the seed is fixed, so seed ^ lst_stream_example(e) takes a different
 * value for every example: distinct examples never share a Philox key, and
 * inside one key the site streams (distinct by their mixed-radix
 * construction) and element indices are distinct counters, so no two
 * (example, site, element) triples of a run draw the same bits. Across two
 * seeds a key can recur only for the one pair with s1 ^ s2 ==
 * mix(e1) ^ mix(e2), a 2^-32 chance per example for ids < 2^32. */
static inline uint64_t lst_stream_example(uint64_t e) {
    uint64_t z = e + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* ---- data order ------------------------------------------------------- */
/* Epoch e's shuffle is Philox(seed * 1000003 + e + LST_STREAM_EPOCH_BASE);
 * the Fisher importance samples are drawn as "epoch" LST_EPOCH_FISHER. */
#define LST_STREAM_EPOCH_MUL 1000003ULL
#define LST_STREAM_EPOCH_BASE 0x9E3779B97F4A7C15ULL
#define LST_EPOCH_FISHER (-1)

/* ---- initialisation --------------------------------------------------- */
/* Ladder (downsample, first, upsample) weights: the seed itself. */
#define LST_STREAM_LADDER_INIT 0ULL
/* The random-init ablation's side blocks: seed ^ this. */
#define LST_STREAM_SIDE_RANDOM_INIT 0x5eed5eed5eedULL
/* A method's extension (LoRA, adapters, prompt) weights: seed ^ this. */
#define LST_STREAM_EXT_INIT 0x5eedf00dULL
/* Preset weights (lst init): tensor i's seed is Philox(seed) of counter
 * {i, 0, these two words} ("lst ", "init"): the upper counter half never
 * zero, so never a sequential stream's block. */
#define LST_STREAM_PRESET_W2 0x6c737420u
#define LST_STREAM_PRESET_W3 0x696e6974u

/* ---- bench (synthetic data, not seeded by the user) ------------------- */
#define LST_STREAM_BENCH_TOKENS 7ULL   /* token ids and labels */
#define LST_STREAM_BENCH_DROP_SEED 11ULL /* dropout seed of the timed steps */
#define LST_STREAM_BENCH_SIDE_INIT 3ULL  /* the side network's random init */
/* bench parameter i's chunk c of 4096 values: seed (i << 32) ^ c */

#endif
