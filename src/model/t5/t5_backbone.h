/* t5_backbone.h: T5 as a backbone (../backbone.h). The table's functions
 * wrap t5.h's; this header is what a caller that holds an lst_t5_t (the
 * T5 tests, lst dump's T5 path) uses to speak to the interface. */
#ifndef LST_T5_BACKBONE_H
#define LST_T5_BACKBONE_H

#include "../backbone.h"
#include "../methods.h"
#include "t5.h"

extern const lst_backbone_ops_t lst_t5_backbone_ops;

/* bb speaks for m, which stays the caller's (lst_bb_free leaves it);
 * the dimensions are read now: wrap a loaded or created model. */
void lst_t5_backbone_wrap(lst_backbone_t *bb, lst_t5_t *m);
/* The same, bb owning m (heap-allocated: lst_bb_free frees both). */
void lst_t5_backbone_own(lst_backbone_t *bb, lst_t5_t *m);
/* The model behind a T5 backbone (NULL for another backbone). */
lst_t5_t *lst_t5_of(const lst_backbone_t *bb);

/* The one block scratch of a run state (tests: whether it folds). */
const lst_t5_block_acts_t *lst_t5_run_block(const lst_bb_run_t *run);

/* A shape-only T5 backbone of cfg and vocab with a method's additions (m
 * NULL: none): the memory plan's queries work, nothing holds weights. */
int lst_t5_backbone_shape(lst_backbone_t *bb, const lst_t5_config_t *cfg, int vocab,
                          const lst_method_t *m, int freeze_layers, lst_err_t *err);

/* A checkpoint with a backbone method's additions (lst_method_ext with
 * freeze_layers), each initialised as lst train initialises it (seed). On
 * failure *t is freed. */
int lst_t5_load_method(lst_t5_t *t, const char *dir, int vocab_limit, const lst_method_t *m,
                       int freeze_layers, uint64_t seed, lst_err_t *err);

/* backbone_open.h's three, for T5 (t5_open.c). */
int lst_t5_backbone_open(lst_backbone_t *bb, const char *dir, int vocab_limit,
                         const lst_method_t *m, int freeze_layers, lst_wformat_t fmt,
                         uint64_t seed, lst_err_t *err);
int lst_t5_backbone_named(lst_backbone_t *bb, const char *model, int vocab,
                          const lst_method_t *m, int freeze_layers, lst_err_t *err);
int lst_t5_backbone_bench(lst_backbone_t *bb, const char *model, int vocab,
                          const lst_method_t *m, int freeze_layers, lst_wformat_t fmt,
                          lst_err_t *err);

/* The pruning initialisation of the side blocks (prune.c; see side.h). */
int lst_t5_side_prune(const lst_t5_t *bb, struct lst_side *s, const float *importance,
                      lst_err_t *err);

#endif
