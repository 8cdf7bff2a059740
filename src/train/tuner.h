/* tuner.h: what a run trains, whatever the method (LST-SPEC sections 2
 * and 6): the side network of LST and its two ablations, or parameters
 * inside the backbone (full fine-tuning and the baselines of peft.h). One
 * interface for the trainer and the memory plan: open, plan, allocate,
 * one training step, the trained parameters as a table. */
#ifndef LST_TUNER_H
#define LST_TUNER_H

#include <stddef.h>

#include "../model/backbone.h"
#include "../model/methods.h"
#include "../model/side.h"

/* Bytes of every buffer a training step needs, by kind (see docs/memory.md). */
typedef struct {
    size_t weights;     /* the backbone (with a method's additions) and the side network */
    size_t gradients;   /* one float per trained parameter */
    size_t optimizer;   /* AdamW's two moments per trained parameter */
    size_t activations; /* everything the forward keeps for the backward */
    size_t workspace;   /* the backward's own buffers (gradients of activations, scratch) */
    size_t best;        /* training only: the best epoch's copy of the trained parameters */
    size_t evaluation;  /* training only: evaluation's buffers, held in the place of the
                         * step's activations and workspace (the larger of the two counts) */
    size_t tap_cache;   /* training only: tap caches kept in memory (tapcache_run.h) */
    size_t total;
    size_t trainable;   /* trained parameters (floats) */
} lst_plan_t;

/* The plan of one step at batch [B, T source, D target], from shapes alone:
 * bb may be shape-only (lst_backbone_shape), opened for method m (its
 * additions and --freeze-layers are bb's). side: r, kept layers, mode (side
 * methods); dtype: the side methods' frozen backbone dtype (ops/wformat.h;
 * LST_WF_F32 for the methods that train the backbone). */
int lst_plan_compute(const lst_backbone_t *bb, const lst_method_t *m, const lst_side_opts_t *side,
                     lst_wformat_t dtype, int B, int T, int D, lst_plan_t *p, lst_err_t *err);

typedef struct {
    int backbone;              /* 1: the method trains inside the backbone */
    lst_backbone_t bb;         /* owned */
    lst_side_t side;           /* side-network methods */
    const lst_param_t *params; /* the trained table: the side's, or bb's trainable prefix */
    int n_params;
    float *flat;
    size_t n_floats;
    lst_side_acts_t sacts;
    lst_bb_acts_t *tacts;      /* backbone methods */
} lst_tuner_t;

/* Opens the backbone in dir (lst_backbone_open; vocab_limit as lst_t5_load) with the
 * method's additions (initialised from seed) or creates the side network
 * (zeroed: the trainer initialises it). load_dtype: load the side
 * methods' backbone straight into that frozen dtype (lst_t5_load_frozen;
 * when nothing needs its float32 weights), LST_WF_F32: as it is. */
int lst_tuner_open(lst_tuner_t *t, const char *dir, int vocab_limit, const lst_method_t *m,
                   int freeze_layers, const lst_side_opts_t *side, lst_wformat_t load_dtype,
                   uint64_t seed, lst_err_t *err);
void lst_tuner_free(lst_tuner_t *t);

/* The side network, or NULL when the backbone is what trains. */
const lst_side_t *lst_tuner_side(const lst_tuner_t *t);

/* Activations for batches up to [B, Ts, Td] (one allocation). */
int lst_tuner_alloc(lst_tuner_t *t, int B, int Ts, int Td, lst_err_t *err);
/* Frees the step's activations (lst_tuner_alloc allocates them again):
 * evaluation inside training runs in their place instead of beside them. */
void lst_tuner_release(lst_tuner_t *t);

/* Forward with dropout and backward into grads (n_floats, zeroed by the
 * caller). Returns the loss; *rc < 0 on failure (err says why). */
double lst_tuner_step(lst_tuner_t *t, const lst_batch_t *b, const lst_drop_t *bb_drop,
                      const lst_drop_t *side_drop, float *grads, int *rc, lst_err_t *err);

#endif
