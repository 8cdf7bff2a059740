/* tapcache.h: the frozen backbone's ladder taps, computed once per example
 * instead of once per epoch (issue 15, LST-SPEC section 9).
 *
 * With the backbone in eval mode (--no-backbone-dropout) its taps are a
 * pure function of the example, so a run stores them the first time an
 * example is seen and later reads them instead of running the backbone.
 * A record holds one example's rows, unpadded (its own lengths Ts_e,
 * Td_e, so dynamic padding still works), in the cache's dtype:
 *   LST_TC_TRAIN  the kept layers' taps of both stacks:
 *                 [n_keep0, Ts_e, d] then [n_keep1, Td_e, d]
 *   LST_TC_EVAL   the encoder's kept taps and the encoder's output (the
 *                 backbone decoder still steps during generation):
 *                 [n_keep0, Ts_e, d] then [1, Ts_e, d]
 *
 * A cache is a file (DIR/<split>.taps) or memory. The file: a 4096-byte
 * header ("LSTTAPS1\n" and the key as one line of JSON, zero-padded), then
 * the records in the order the examples were first seen, each a 64-byte
 * record header (example, lengths, payload bytes, XXH3-64 of the payload,
 * XXH3-64 of the header itself) and the payload padded to 64 bytes. It is
 * read through mmap, a batch's pages released from the process once read
 * (the resident set stays one batch, whatever the cache's size), and
 * locked (flock) against a second process.
 *
 * Trust: a header whose key differs from the run's (another backbone,
 * tokenizer, data, kept layers, length limits, dtype, kind) makes the
 * cache start over, and the note says which field differed; a record
 * cut short (a kill while writing) ends the cache there (the tail is
 * truncated away and the examples are computed again); a record whose
 * checksum fails when read is dropped and recomputed, never used. A write
 * that fails (a full disk) stops the cache growing; training goes on. */
#ifndef LST_TAPCACHE_H
#define LST_TAPCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "../model/batch.h"
#include "../model/side.h" /* lst_side_taps_t */
#include "data.h"

enum { LST_TC_TRAIN = 0, LST_TC_EVAL = 1 };
enum { LST_TC_F32 = 0, LST_TC_BF16 = 1, LST_TC_F16 = 2 };

/* "f32", "bf16", "f16" -> LST_TC_*; -1 for anything else. */
int lst_tc_dtype_parse(const char *name);
const char *lst_tc_dtype_name(int dtype);

/* What a cache is valid for. */
typedef struct {
    int kind;                 /* LST_TC_TRAIN or LST_TC_EVAL */
    int dtype;                /* LST_TC_F32, _BF16, _F16 */
    int d;                    /* backbone d_model */
    int n_keep[2];            /* the side network's kept layers per stack */
    const int *keep[2];
    int max_src, max_tgt;     /* the run's length limits */
    uint64_t fp_config, fp_weights; /* the backbone's fingerprint */
    uint64_t tokenizer;       /* XXH3-64 of the tokenizer model file */
    const lst_tokdata_t *data; /* the split: lengths per example (and its ids, hashed) */
} lst_tc_key_t;

/* Bytes of the whole cache once every example is stored (header included). */
size_t lst_tc_bytes(const lst_tc_key_t *k);
/* Float rows a batch's given taps take: part 0 [n0, B, Ts, d] + part 1. */
size_t lst_tc_part_floats(const lst_tc_key_t *k, int part, int B, int Ts, int Td);

typedef struct lst_tapcache lst_tapcache_t;

/* Opens (creating, resuming or starting over) the cache at path, or in
 * memory when path is NULL. k and its data must outlive the cache. note:
 * a line for the user about what was found (empty: nothing to say). */
lst_tapcache_t *lst_tc_open(const char *path, const lst_tc_key_t *k, char *note, size_t note_n,
                            lst_err_t *err);
void lst_tc_close(lst_tapcache_t *c);
/* Examples stored, and the key's example count. */
int lst_tc_count(const lst_tapcache_t *c);
int lst_tc_examples(const lst_tapcache_t *c);
const lst_tc_key_t *lst_tc_key(const lst_tapcache_t *c);

/* Reading a batch (its rows' example_ids index the key's data): when every
 * row is stored and sound, fills part0 [n_keep0, B, Ts, d] and part1
 * ([n_keep1, B, Td, d] train, [B, Ts, d] eval), padding rows zero, and
 * returns 1. Returns 0 when some row is not stored, or its record failed
 * its checksum (dropped: note says so; the caller runs the backbone). */
int lst_tc_fill(lst_tapcache_t *c, const lst_batch_t *bt, float *part0, float *part1, char *note,
                size_t note_n);

/* Writing: lst_tc_stage picks the batch's rows that are not stored yet
 * (returns how many); the forward then hands every tap to lst_tc_sink
 * (lst_side_taps_t.sink with ctx = c); lst_tc_commit appends their
 * records. A failed write (note says why) stops the cache growing. */
int lst_tc_stage(lst_tapcache_t *c, const lst_batch_t *bt, lst_err_t *err);
void lst_tc_sink(void *c, int st, int k, const float *x, int B, int T);
void lst_tc_commit(lst_tapcache_t *c, char *note, size_t note_n);

/* One batch through the cache, as training and evaluation both use it:
 * io (zeroed first) is given the stored taps, read into part0 and part1
 * (tap[1] for training, enc_out for evaluation), or else the sink for the
 * batch's rows not stored yet; lst_tc_batch_end stores what the sink saw
 * when the forward went through (ok). Notes go to stderr as "<who>: ...",
 * or nowhere when who is NULL. */
int lst_tc_batch_begin(lst_tapcache_t *c, const lst_batch_t *bt, float *part0, float *part1,
                       lst_side_taps_t *io, const char *who, lst_err_t *err);
void lst_tc_batch_end(lst_tapcache_t *c, const lst_side_taps_t *io, int ok, const char *who);

#endif
