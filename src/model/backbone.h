/* backbone.h: the frozen (or fine-tuned) backbone as the rest of lst sees
 * it: a table of operations, one static table per implementation (T5:
 * t5/t5_backbone.c), the implementation's model, and the few dimensions
 * every caller needs. The side network, Fisher, the trainer, evaluation
 * and the bench speak only through this header; a second backbone is a
 * new folder next to t5/ with its own table, and a case in backbone.c.
 *
 * What the side network drives (side_forward.c, side_decode.c):
 *   embed ids -> [N, d]; per stack stack_begin, then block_forward layer
 *   by layer on a transient "run" state (sized by run_carve's sizing pass
 *   for the memory plan, carved out of the side network's one allocation
 *   before the first step), the final norm; the LM head on an input
 *   already scaled by head_scale, and its input gradient. Generation: a
 *   decoder cache stepped one layer at a time on its running hidden state.
 * What trains inside the backbone (full fine-tuning, LoRA, adapters,
 * BitFit, prompt tuning) and Fisher use the whole model: activations,
 * forward (loss), backward (gradients), generation, the parameter table.
 *
 * The side network's blocks ARE T5 blocks (t5/t5.h's block functions and
 * lst_t5_config_t), whatever the backbone: LST only needs some small
 * transformer block per kept layer, and T5's is the one the paper uses.
 * A backbone therefore supplies the side blocks' config at reduction r
 * (side_config; T5: d_model, d_ff and d_kv divided by r) and, if it can,
 * the pruning initialisation of those blocks from its own weights
 * (side_prune; T5: t5/prune.c). A backbone whose blocks are not T5 blocks
 * returns an error from side_prune (the random initialisation still works).
 *
 * Dropout sites are the caller's: block_forward takes the block's site
 * (lst_drop_layer of the step's site, rows keyed by the batch), or NULL. */
#ifndef LST_BACKBONE_H
#define LST_BACKBONE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "../io/t5_config.h"
#include "../ops/ops.h"
#include "../ops/wformat.h"
#include "batch.h"
#include "carve.h"
#include "layout.h"

struct lst_side;                          /* side.h */
typedef struct lst_bb_run lst_bb_run_t;   /* the stack-by-stack forward's buffers */
typedef struct lst_bb_cache lst_bb_cache_t; /* a decoder key/value cache */
typedef struct lst_bb_acts lst_bb_acts_t; /* the whole model's activations */

/* The parameter table: params[0, n_trainable) fill flat[0,
 * n_trainable_floats), so gradients and optimizer state cover exactly them.
 * params/flat are NULL for a shape-only backbone (lst_backbone_shape). */
typedef struct {
    const lst_param_t *params;
    int n_params, n_trainable;
    float *flat;
    size_t n_floats, n_trainable_floats;
} lst_bb_table_t;

typedef struct lst_backbone_ops {
    const char *name;
    void (*free)(void *model);

    /* ---- the frozen forward, stack by stack (stack 0 encoder, 1 decoder) */
    void (*embed)(const void *m, float *out, const int32_t *ids, int N);   /* -> [N, d] */
    /* run == NULL: the sizing pass (c->base NULL); else carves run's buffers
     * for batches up to [B, Ts source, Td target]. */
    void (*run_carve)(const void *m, lst_bb_run_t *run, lst_carve_t *c, int B, int Ts, int Td);
    lst_bb_run_t *(*run_new)(const void *m, lst_err_t *err);
    void (*run_free)(lst_bb_run_t *run);
    /* Before the stack's first block at T positions (T5: the relative bias). */
    void (*stack_begin)(const void *m, lst_bb_run_t *run, int stack, int T);
    /* x [B, T, d] -> y [B, T, d] (T = the batch's Ts or Td); enc [B, Ts, d]:
     * the encoder output for a decoder block (NULL in the encoder); drop:
     * the block's site or NULL; scratch: attention scratch of
     * LST_MAX_THREADS * 2 * max(Ts, Td)^2 floats, shared with the side blocks. */
    void (*block_forward)(const void *m, lst_bb_run_t *run, int stack, int layer, float *y,
                          const float *x, const lst_batch_t *bt, const float *enc,
                          const lst_drop_t *drop, float *scratch);
    void (*final_norm)(const void *m, int stack, float *out, const float *x, int N); /* [N, d] */
    /* logits [N, V] = h [N, d] through the frozen head (h already scaled by
     * head_scale); dh [N, d] += d(logits) back through it. */
    void (*head_forward)(const void *m, float *logits, const float *h, int N);
    void (*head_backward)(const void *m, float *dh, const float *dlogits, const float *h, int N);

    /* ---- cached decoding of the first n_layers decoder layers */
    size_t (*cache_bytes)(const void *m, int n_layers, int B, int Ts, int max_len,
                          lst_wformat_t fmt); /* fmt: the weights' format (now or once frozen) */
    /* enc_out [B, Ts, d] and src_mask [B, Ts] must outlive the cache. */
    lst_bb_cache_t *(*cache_new)(const void *m, int n_layers, const float *enc_out,
                                 const uint8_t *src_mask, int B, int Ts, int max_len,
                                 lst_err_t *err);
    void (*cache_free)(lst_bb_cache_t *c);
    void (*step_begin)(const void *m, lst_bb_cache_t *c);          /* a new position */
    void (*step_layer)(const void *m, lst_bb_cache_t *c, int layer); /* on cache_x */
    void (*step_end)(lst_bb_cache_t *c);                           /* the position is cached */
    float *(*cache_x)(lst_bb_cache_t *c);                          /* [B, d] running state */

    /* ---- the whole model (Fisher; the methods that train the backbone) */
    /* train: keep what the backward needs, and its buffers */
    size_t (*acts_floats)(const void *m, int B, int Ts, int Td, int train);
    size_t (*acts_bwd_floats)(const void *m, int B, int Ts, int Td); /* of the train floats */
    lst_bb_acts_t *(*acts_new)(const void *m, int B, int Ts, int Td, int train, lst_err_t *err);
    void (*acts_free)(lst_bb_acts_t *a);
    /* The loss over the batch's label count if labels, else 0. */
    double (*forward)(const void *m, const lst_batch_t *bt, lst_bb_acts_t *a,
                      const lst_drop_t *drop);
    /* Accumulates into grads (n_trainable_floats); the forward's dropout. */
    int (*backward)(const void *m, const lst_batch_t *bt, const lst_bb_acts_t *a,
                    const lst_drop_t *drop, float *grads, lst_err_t *err);
    size_t (*generate_bytes)(const void *m, int B, int Ts, int max_len);
    /* Greedy: out [B, max_len] (EOS included, 0 after), out_len; teacher and
     * logits [B, max_len, V] for tests (as lst_side_generate). */
    int (*generate)(const void *m, const lst_batch_t *bt, int max_len, int32_t *out, int *out_len,
                    const int32_t *teacher, float *logits, lst_err_t *err);
    int (*check_batch)(const void *m, const lst_batch_t *bt, lst_err_t *err);

    /* ---- parameters */
    lst_bb_table_t (*table)(const void *m);
    /* A frozen backbone, once nothing needs its float32 weights: stored in
     * fmt for its forward (LST_WF_F32: packed float32 where that pays). */
    int (*freeze)(void *m, lst_wformat_t fmt, lst_err_t *err);
    size_t (*weight_bytes)(const void *m, lst_wformat_t fmt); /* the plain backbone's */
    /* bytes of the frozen products' workspace in dtype fmt (the plan's workspace) */
    size_t (*frozen_workspace)(const void *m, lst_wformat_t fmt);
    int64_t (*param_count)(const void *m); /* the plain backbone's (the share's denominator) */

    /* ---- the side network's T5 blocks */
    int (*side_config)(const void *m, int r, lst_t5_config_t *out, lst_err_t *err);
    int (*side_prune)(const void *m, struct lst_side *s, const float *importance,
                      lst_err_t *err);
} lst_backbone_ops_t;

typedef struct {
    const lst_backbone_ops_t *ops;
    void *model;       /* the implementation's (T5: lst_t5_t) */
    int owned;         /* lst_bb_free releases the model */
    int L[2];          /* layers per stack: [0] encoder, [1] decoder */
    int d_model, vocab;
    float head_scale;  /* the LM head's input scale (T5, tied: d^-0.5) */
    float dropout;     /* the backbone's dropout rate */
    int dec_start, eos; /* decoder start and end-of-sequence ids */
    uint64_t fp_config, fp_weights; /* the loaded checkpoint's fingerprint (0, 0: not from disk) */
    int n_unused;       /* checkpoint tensors the model does not use, and their first names */
    const char *unused;
} lst_backbone_t;

/* Opening one (from a directory, as shapes for the plan, for the bench):
 * backbone_open.h, which knows the methods. Releases what it owns. */
void lst_bb_free(lst_backbone_t *bb);

/* ---- call wrappers, so that callers read lst_bb_embed(bb, ...) ---------- */

static inline void lst_bb_embed(const lst_backbone_t *bb, float *out, const int32_t *ids, int N) {
    bb->ops->embed(bb->model, out, ids, N);
}
static inline void lst_bb_run_carve(const lst_backbone_t *bb, lst_bb_run_t *run, lst_carve_t *c,
                                    int B, int Ts, int Td) {
    bb->ops->run_carve(bb->model, run, c, B, Ts, Td);
}
static inline lst_bb_run_t *lst_bb_run_new(const lst_backbone_t *bb, lst_err_t *err) {
    return bb->ops->run_new(bb->model, err);
}
static inline void lst_bb_run_free(const lst_backbone_t *bb, lst_bb_run_t *run) {
    if (run) bb->ops->run_free(run);
}
static inline void lst_bb_stack_begin(const lst_backbone_t *bb, lst_bb_run_t *run, int stack,
                                      int T) {
    bb->ops->stack_begin(bb->model, run, stack, T);
}
static inline void lst_bb_block_forward(const lst_backbone_t *bb, lst_bb_run_t *run, int stack,
                                        int layer, float *y, const float *x,
                                        const lst_batch_t *bt, const float *enc,
                                        const lst_drop_t *drop, float *scratch) {
    bb->ops->block_forward(bb->model, run, stack, layer, y, x, bt, enc, drop, scratch);
}
static inline void lst_bb_final_norm(const lst_backbone_t *bb, int stack, float *out,
                                     const float *x, int N) {
    bb->ops->final_norm(bb->model, stack, out, x, N);
}
static inline void lst_bb_head_forward(const lst_backbone_t *bb, float *logits, const float *h,
                                       int N) {
    bb->ops->head_forward(bb->model, logits, h, N);
}
static inline void lst_bb_head_backward(const lst_backbone_t *bb, float *dh,
                                        const float *dlogits, const float *h, int N) {
    bb->ops->head_backward(bb->model, dh, dlogits, h, N);
}
static inline size_t lst_bb_cache_bytes(const lst_backbone_t *bb, int n_layers, int B, int Ts,
                                        int max_len, lst_wformat_t fmt) {
    return bb->ops->cache_bytes(bb->model, n_layers, B, Ts, max_len, fmt);
}
static inline lst_bb_cache_t *lst_bb_cache_new(const lst_backbone_t *bb, int n_layers,
                                               const float *enc_out, const uint8_t *src_mask,
                                               int B, int Ts, int max_len, lst_err_t *err) {
    return bb->ops->cache_new(bb->model, n_layers, enc_out, src_mask, B, Ts, max_len, err);
}
static inline void lst_bb_cache_free(const lst_backbone_t *bb, lst_bb_cache_t *c) {
    if (c) bb->ops->cache_free(c);
}
static inline void lst_bb_step_begin(const lst_backbone_t *bb, lst_bb_cache_t *c) {
    bb->ops->step_begin(bb->model, c);
}
static inline void lst_bb_step_layer(const lst_backbone_t *bb, lst_bb_cache_t *c, int layer) {
    bb->ops->step_layer(bb->model, c, layer);
}
static inline void lst_bb_step_end(const lst_backbone_t *bb, lst_bb_cache_t *c) {
    bb->ops->step_end(c);
}
static inline float *lst_bb_cache_x(const lst_backbone_t *bb, lst_bb_cache_t *c) {
    return bb->ops->cache_x(c);
}
static inline size_t lst_bb_acts_floats(const lst_backbone_t *bb, int B, int Ts, int Td,
                                        int train) {
    return bb->ops->acts_floats(bb->model, B, Ts, Td, train);
}
static inline size_t lst_bb_acts_bwd_floats(const lst_backbone_t *bb, int B, int Ts, int Td) {
    return bb->ops->acts_bwd_floats(bb->model, B, Ts, Td);
}
static inline lst_bb_acts_t *lst_bb_acts_new(const lst_backbone_t *bb, int B, int Ts, int Td,
                                             int train, lst_err_t *err) {
    return bb->ops->acts_new(bb->model, B, Ts, Td, train, err);
}
static inline void lst_bb_acts_free(const lst_backbone_t *bb, lst_bb_acts_t *a) {
    if (a) bb->ops->acts_free(a);
}
static inline double lst_bb_forward(const lst_backbone_t *bb, const lst_batch_t *bt,
                                    lst_bb_acts_t *a, const lst_drop_t *drop) {
    return bb->ops->forward(bb->model, bt, a, drop);
}
static inline int lst_bb_backward(const lst_backbone_t *bb, const lst_batch_t *bt,
                                  const lst_bb_acts_t *a, const lst_drop_t *drop, float *grads,
                                  lst_err_t *err) {
    return bb->ops->backward(bb->model, bt, a, drop, grads, err);
}
static inline size_t lst_bb_generate_bytes(const lst_backbone_t *bb, int B, int Ts, int max_len) {
    return bb->ops->generate_bytes(bb->model, B, Ts, max_len);
}
static inline int lst_bb_generate(const lst_backbone_t *bb, const lst_batch_t *bt, int max_len,
                                  int32_t *out, int *out_len, const int32_t *teacher,
                                  float *logits, lst_err_t *err) {
    return bb->ops->generate(bb->model, bt, max_len, out, out_len, teacher, logits, err);
}
static inline int lst_bb_check_batch(const lst_backbone_t *bb, const lst_batch_t *bt,
                                     lst_err_t *err) {
    return bb->ops->check_batch(bb->model, bt, err);
}
static inline lst_bb_table_t lst_bb_table(const lst_backbone_t *bb) {
    return bb->ops->table(bb->model);
}
static inline int lst_bb_freeze(lst_backbone_t *bb, lst_wformat_t fmt, lst_err_t *err) {
    return bb->ops->freeze(bb->model, fmt, err);
}
static inline size_t lst_bb_weight_bytes(const lst_backbone_t *bb, lst_wformat_t fmt) {
    return bb->ops->weight_bytes(bb->model, fmt);
}
static inline size_t lst_bb_frozen_workspace(const lst_backbone_t *bb, lst_wformat_t fmt) {
    return bb->ops->frozen_workspace(bb->model, fmt);
}
static inline int64_t lst_bb_param_count(const lst_backbone_t *bb) {
    return bb->ops->param_count(bb->model);
}
static inline int lst_bb_side_config(const lst_backbone_t *bb, int r, lst_t5_config_t *out,
                                     lst_err_t *err) {
    return bb->ops->side_config(bb->model, r, out, err);
}

#endif
