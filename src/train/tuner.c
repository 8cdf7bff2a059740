/* tuner.c: see tuner.h. */
#include "tuner.h"

#include <stdio.h>
#include <string.h>

#include "../model/backbone_open.h"
#include "trainer.h"

const lst_side_t *lst_tuner_side(const lst_tuner_t *t) { return t->backbone ? NULL : &t->side; }

int lst_tuner_open(lst_tuner_t *t, const char *dir, int vocab_limit, const lst_method_t *m,
                   int freeze_layers, const lst_side_opts_t *side, lst_wformat_t load_dtype,
                   uint64_t seed, lst_err_t *err) {
    memset(t, 0, sizeof *t);
    t->backbone = lst_method_trains_backbone(m->name);
    if (t->backbone) {
        if (lst_backbone_open(&t->bb, dir, vocab_limit, m, freeze_layers, LST_WF_F32, seed, err))
            return -1;
        const lst_bb_table_t tb = lst_bb_table(&t->bb);
        t->params = tb.params;
        t->n_params = tb.n_trainable;
        t->flat = tb.flat;
        t->n_floats = tb.n_trainable_floats;
        return 0;
    }
    int mode;
    if (lst_method_side_mode(m->name, &mode))
        return lst_fail(err, "unknown method '%s' (%s)", m->name, lst_method_names());
    if (freeze_layers)
        return lst_fail(err, "--freeze-layers applies to the baselines, not to %s (its backbone is "
                        "frozen already)", m->name);
    if (lst_backbone_open(&t->bb, dir, vocab_limit, m, 0, load_dtype, seed,
                          err))
        return -1;
    lst_side_opts_t so = *side;
    so.mode = mode;
    if (lst_side_create(&t->side, &t->bb, &so, err)) return -1;
    t->params = t->side.params;
    t->n_params = t->side.n_params;
    t->flat = t->side.flat;
    t->n_floats = t->side.n_floats;
    return 0;
}

void lst_tuner_free(lst_tuner_t *t) {
    lst_tuner_release(t);
    lst_side_free(&t->side);
    lst_bb_free(&t->bb);
    memset(t, 0, sizeof *t);
}

void lst_tuner_release(lst_tuner_t *t) {
    lst_side_acts_free(&t->sacts);
    if (t->tacts) lst_bb_acts_free(&t->bb, t->tacts);
    t->tacts = NULL;
}

int lst_tuner_alloc(lst_tuner_t *t, int B, int Ts, int Td, lst_err_t *err) {
    if (t->backbone) return (t->tacts = lst_bb_acts_new(&t->bb, B, Ts, Td, 1, err)) ? 0 : -1;
    return lst_side_acts_alloc(&t->sacts, &t->bb, &t->side, B, Ts, Td, 1, err);
}

double lst_tuner_step(lst_tuner_t *t, const lst_batch_t *b, const lst_drop_t *bb_drop,
                      const lst_drop_t *side_drop, float *grads, int *rc, lst_err_t *err) {
    double loss;
    if (t->backbone) {
        loss = lst_bb_forward(&t->bb, b, t->tacts, bb_drop);
        *rc = lst_bb_backward(&t->bb, b, t->tacts, bb_drop, grads, err);
    } else {
        loss = lst_side_forward(&t->bb, &t->side, b, &t->sacts, bb_drop, side_drop);
        *rc = lst_side_backward(&t->bb, &t->side, b, &t->sacts, side_drop, grads, err);
    }
    return loss;
}

int lst_plan_compute(const lst_backbone_t *bb, const lst_method_t *m, const lst_side_opts_t *side,
                     lst_wformat_t dtype, int B, int T, int D, lst_plan_t *p, lst_err_t *err) {
    memset(p, 0, sizeof *p);
    if (dtype != LST_WF_F32 && lst_method_trains_backbone(m->name))
        return lst_fail(err, "a %s backbone is for the side-network methods (frozen backbone), "
                        "not for %s", lst_wformat_dtype(dtype), m->name);
    if (B < 1 || T < 1 || D < 1) return lst_fail(err, "batch shape [%d, %d, %d] must be positive", B, T, D);
    if (lst_method_trains_backbone(m->name)) {
        const lst_bb_table_t tb = lst_bb_table(bb); /* with the method's additions */
        const size_t all = lst_bb_acts_floats(bb, B, T, D, 1);
        const size_t bwd = lst_bb_acts_bwd_floats(bb, B, T, D);
        p->weights = 4 * tb.n_floats;
        p->trainable = tb.n_trainable_floats;
        p->activations = 4 * (all - bwd);
        p->workspace = 4 * bwd;
    } else {
        int mode;
        if (lst_method_side_mode(m->name, &mode))
            return lst_fail(err, "unknown method '%s' (%s)", m->name, lst_method_names());
        lst_side_opts_t so = *side;
        so.mode = mode;
        lst_side_t s;
        if (lst_side_shape_for(&s, bb, &so, err)) return -1;
        /* the forward's buffers as training carves them: inference keeps the
         * whole [B, D, V] logits, training one chunk of rows */
        const size_t V = (size_t)bb->vocab, rows = (size_t)B * D;
        const size_t fwd = lst_side_acts_floats(bb, &s, B, T, D, 0) - rows * V +
                           (size_t)lst_side_logit_rows((int)rows, bb->vocab) * V;
        const size_t all = lst_side_acts_floats(bb, &s, B, T, D, 1);
        p->weights = lst_bb_weight_bytes(bb, dtype) + 4 * s.n_floats;
        p->trainable = s.n_floats;
        p->activations = 4 * fwd;
        p->workspace = 4 * (all - fwd) + lst_bb_frozen_workspace(bb, dtype);
        lst_side_free(&s);
    }
    p->gradients = 4 * p->trainable;
    p->optimizer = 8 * p->trainable;
    p->total = p->weights + p->gradients + p->optimizer + p->activations + p->workspace;
    return 0;
}
