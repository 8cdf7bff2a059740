/* tapcache_run.h: a training run's tap caches (tapcache.h): one for the
 * training split (both stacks' taps) and one per evaluation split (the
 * encoder's taps and output), their sizes checked before training, and
 * the step's wiring: a batch whose examples are all stored is read from
 * the cache and the backbone does not run; otherwise the backbone runs
 * and its taps of the new examples are stored.
 *
 * --tap-cache DIR keeps train.taps, validation.taps and test.taps in DIR;
 * --tap-cache memory keeps them in the process (counted by the memory
 * plan). */
#ifndef LST_TAPCACHE_RUN_H
#define LST_TAPCACHE_RUN_H

#include "../io/tokenizer.h"
#include "../model/side.h"
#include "tapcache.h"
#include "trainer.h"

enum { LST_TC_SPLITS = 3 }; /* train, validation, test */

typedef struct {
    int on;                          /* --tap-cache given */
    int memory;                      /* in memory (else files in o->tap_cache) */
    lst_tc_key_t key[LST_TC_SPLITS];
    size_t bytes[LST_TC_SPLITS];     /* each cache when whole */
    lst_tapcache_t *c[LST_TC_SPLITS]; /* NULL: that split is absent */
    lst_side_taps_t io;              /* the step's wiring */
} lst_tc_run_t;

/* Checks the options (LST only, backbone dropout off) and sizes every
 * cache for the run's splits (test may be NULL); refuses a cache over
 * --tap-cache-max or, for a directory, over its disk's free space. Opens
 * nothing. Off (t->on 0) without --tap-cache. */
int lst_tc_run_plan(lst_tc_run_t *t, const lst_train_opts_t *o, const lst_backbone_t *bb,
                    const lst_side_t *s, const lst_tokdata_t *const split[LST_TC_SPLITS],
                    lst_err_t *err);
/* Bytes the memory caches take when whole (0 for files; evaluation counts
 * the buffers its given taps are read into: lst_evaluate_bytes). */
size_t lst_tc_run_memory(const lst_tc_run_t *t);
/* Opens the planned caches (creating the directory), printing each note
 * unless quiet. */
int lst_tc_run_open(lst_tc_run_t *t, const lst_train_opts_t *o, lst_err_t *err);
void lst_tc_run_close(lst_tc_run_t *t);

/* Around a training step on acts a (allocated for training): wires a->io
 * to the cache's taps or to its sink (lst_tc_batch_begin); after the step
 * (ok: it went through), stores what the sink saw and unwires. Notes go to
 * stderr unless quiet. */
int lst_tc_run_step_begin(lst_tc_run_t *t, lst_side_acts_t *a, const lst_batch_t *bt, int quiet,
                          lst_err_t *err);
void lst_tc_run_step_end(lst_tc_run_t *t, lst_side_acts_t *a, int ok, int quiet);

/* "taps 37% cached" for the progress line ("" when off). */
void lst_tc_run_status(const lst_tc_run_t *t, char *buf, size_t n);

#endif
