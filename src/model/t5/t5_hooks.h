/* t5_hooks.h: how a fine-tuning method reaches inside a T5 block.
 *
 * The block forward, backward and the decoding step compute every linear
 * through lst_t5_lin_fwd / lst_t5_lin_bwd, apply lst_t5_norm_* after each
 * block layer norm and lst_t5_sub_* to each sub-layer's output before the
 * residual add. Those hooks ask every method part (lst_t5_parts) for its
 * share; a part with no tensors in the block does nothing, so a plain block
 * costs a few calls per linear.
 *
 * A method part is one file (bitfit.c, lora.c, adapter.c, prompt.c) with
 * what it sets in lst_t5_ext_t and its parameter count, its tensors'
 * names, shapes and initialisation, how they bind into lst_t5_block_ext_t,
 * and its hooks. A method's registry row (methods.c) lists its parts
 * (lora: LoRA + BitFit). */
#ifndef LST_T5_HOOKS_H
#define LST_T5_HOOKS_H

#include "../../core/rng.h"
#include "../methods.h"
#include "t5.h"

/* The pointer to the tensor `name` in the buffer being bound (NULL when the
 * table has none, or it is frozen and only gradients are bound). */
typedef float *(*lst_t5_pick_fn)(void *ctx, const char *name);

/* Floats of a decoding step's method scratch (inference, one new position
 * per row: every linear shares one save buffer, every sub-layer one of each
 * kind; lst_t5_ext_acts_t's slots). */
typedef struct {
    size_t lin, xs, sub[3];
} lst_t5_step_floats_t;

/* What a model's methods need of its activations beyond each block's own
 * saves (lst_t5_parts_needs: the parts' answers combined). */
typedef struct {
    int xs;            /* the shared scratch [B * max(T, Ts), max(d, I)] (lst_t5_ext_acts_t.xs) */
    int cross_kv;      /* adds to the cross-attention's keys or values: no folding */
    size_t bwd_width;  /* the backward's extension scratch: x, dx [rows, max(d, I)] and a, b
                          [rows, bwd_width] (lst_t5_bwd_scratch_t.ext_*); 0: none */
} lst_t5_needs_t;

typedef struct lst_t5_part {
    const char *name;
    /* what it adds to the extension for method m (its options checked),
     * and how many parameters that trains (lst_method_params) */
    int (*enable)(lst_t5_ext_t *e, const lst_method_t *m, const lst_t5_config_t *c,
                  int freeze_layers, lst_err_t *err);
    int (*count)(const lst_method_t *m, const lst_t5_config_t *c, int vocab, int64_t *n,
                 lst_err_t *err);
    /* its tensors: appended after a block's own (prefix "encoder.block.3")
     * and after the model's; NULL: none there */
    int (*layout_block)(lst_layout_t *L, const lst_t5_config_t *c, const lst_t5_ext_t *e,
                        const char *prefix, int decoder, lst_err_t *err);
    int (*layout_model)(lst_layout_t *L, const lst_t5_config_t *c, const lst_t5_ext_t *e,
                        int vocab, lst_err_t *err);
    /* fills its member of x from the names under prefix and from e */
    void (*bind)(lst_t5_block_ext_t *x, const lst_t5_ext_t *e, const lst_t5_config_t *c,
                 const char *prefix, int decoder, lst_t5_pick_fn pick, void *ctx);
    /* initial values of one of its tensors (x: p->numel floats), drawing from r */
    void (*init)(const lst_param_t *p, float *x, const lst_t5_t *m, lst_rng_t *r);
    /* its saved activations of one block: N rows of the block, Ns of the
     * encoder output (cross-attention keys and values) */
    void (*carve_acts)(lst_carve_t *cv, lst_t5_ext_acts_t *a, const lst_t5_ext_t *e, size_t N,
                       size_t Ns, size_t d, int decoder);
    /* raises n to what it needs under e */
    void (*needs)(const lst_t5_ext_t *e, lst_t5_needs_t *n);
    /* raises f to what its hooks need in a decoding step over up to rows
     * rows (the cross-attention's keys and values: B x Ts) */
    void (*step_floats)(const lst_t5_block_ext_t *x, size_t rows, size_t B, size_t d, size_t I,
                        lst_t5_step_floats_t *f);
    /* hooks (NULL: the part has none of that kind); see the lst_t5_* below */
    float *(*lin_bias)(const lst_t5_block_ext_t *x, lst_t5_lin_t id);
    void (*lin_fwd)(const lst_t5_block_t *w, lst_t5_lin_t id, float *y, const float *x, int N,
                    int in, int out, const lst_drop_t *drop, const lst_t5_ext_acts_t *a);
    void (*lin_bwd)(const lst_t5_block_t *w, const lst_t5_block_t *g, lst_t5_lin_t id, float *dx,
                    const float *dy, const float *x, int N, int in, int out,
                    const lst_drop_t *drop, const lst_t5_ext_acts_t *a, lst_t5_bwd_scratch_t *s);
    int (*lin_touches)(const lst_t5_block_ext_t *x, lst_t5_lin_t id);
    void (*norm_fwd)(const lst_t5_block_t *w, lst_t5_sub_t sub, float *n, int N, int d);
    void (*norm_bwd)(const lst_t5_block_t *g, lst_t5_sub_t sub, const float *dn, int N, int d);
    void (*sub_fwd)(const lst_t5_block_t *w, lst_t5_sub_t sub, float *y, int N, int d,
                    const lst_t5_ext_acts_t *a);
    void (*sub_bwd)(const lst_t5_block_t *w, const lst_t5_block_t *g, lst_t5_sub_t sub, float *dy,
                    int N, int d, const lst_t5_ext_acts_t *a, lst_t5_bwd_scratch_t *s);
} lst_t5_part_t;

extern const lst_t5_part_t lst_t5_part_bitfit, lst_t5_part_adapter, lst_t5_part_lora,
    lst_t5_part_prompt;

/* Every part, in the order their tensors follow a block's (and the
 * model's): that order fixes parameter offsets and the initialisation's
 * draws. lst_param_t.ext of a method's tensor is its part's index + 1. */
extern const lst_t5_part_t *const lst_t5_parts[];
extern const int lst_t5_n_parts;

/* y: [N, out] = x: [N, in] W^T of linear id, from its packed weight when
 * packed (lst_t5_linear), with a method's bias inside the product (BitFit),
 * then each method's addition to it (LoRA, its dropout at the block's site
 * under drop, u saved in a->lin[id]). drop: the block's base site or NULL. */
void lst_t5_lin_fwd(const lst_t5_block_t *w, lst_t5_lin_t id, float *y, const float *x, int N,
                    int in, int out, const lst_drop_t *drop, const lst_t5_ext_acts_t *a);
/* The backward of n linears reading one input x: [N, in], ids[i] with the
 * output gradient dy[i]: [N, out]. dx (may be NULL) accumulates every base
 * product's gradient first, then every method's, in the order of ids (the
 * order the gradients have always been summed in); g's non-NULL members
 * accumulate the weight gradients. */
void lst_t5_lin_bwd(const lst_t5_block_t *w, const lst_t5_block_t *g, const lst_t5_lin_t *ids,
                    int n, float *dx, float *const *dy, const float *x, int N, int in, int out,
                    const lst_drop_t *drop, const lst_t5_ext_acts_t *a, lst_t5_bwd_scratch_t *s);
/* 1 when no method adds to linear id of w (the folded cross-attention
 * needs plain keys and values). */
int lst_t5_lin_plain(const lst_t5_block_t *w, lst_t5_lin_t id);

/* After sub-layer sub's norm: n: [N, d] in place (BitFit's bias); the
 * backward accumulates g's gradients from dn: [N, d]. */
void lst_t5_norm_fwd(const lst_t5_block_t *w, lst_t5_sub_t sub, float *n, int N, int d);
void lst_t5_norm_bwd(const lst_t5_block_t *g, lst_t5_sub_t sub, const float *dn, int N, int d);

/* Sub-layer sub's output y: [N, d] before its dropout and residual add, in
 * place (adapters); the backward turns dy into the gradient of the
 * sub-layer's own output, in place. */
void lst_t5_sub_fwd(const lst_t5_block_t *w, lst_t5_sub_t sub, float *y, int N, int d,
                    const lst_t5_ext_acts_t *a);
void lst_t5_sub_bwd(const lst_t5_block_t *w, const lst_t5_block_t *g, lst_t5_sub_t sub, float *dy,
                    int N, int d, const lst_t5_ext_acts_t *a, lst_t5_bwd_scratch_t *s);

/* The parts' tensors of a block and of the model (t5_params.c, peft.c). */
int lst_t5_parts_layout_block(lst_layout_t *L, const lst_t5_config_t *c, const lst_t5_ext_t *e,
                              const char *prefix, int decoder, lst_err_t *err);
int lst_t5_parts_layout_model(lst_layout_t *L, const lst_t5_config_t *c, const lst_t5_ext_t *e,
                              int vocab, lst_err_t *err);
void lst_t5_parts_bind(lst_t5_block_ext_t *x, const lst_t5_ext_t *e, const lst_t5_config_t *c,
                       const char *prefix, int decoder, lst_t5_pick_fn pick, void *ctx);
void lst_t5_parts_needs(const lst_t5_ext_t *e, lst_t5_needs_t *n);
void lst_t5_parts_step_floats(const lst_t5_block_ext_t *x, size_t rows, size_t B, size_t d,
                              size_t I, lst_t5_step_floats_t *f);
void lst_t5_parts_carve_acts(lst_carve_t *cv, lst_t5_ext_acts_t *a, const lst_t5_ext_t *e,
                             size_t N, size_t Ns, size_t d, int decoder, float *xs);

/* For the parts' files: appends a tensor of the part (its ext mark set). */
int lst_t5_part_add(lst_layout_t *L, const lst_t5_part_t *part, lst_err_t *err, int64_t d0,
                    int64_t d1, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* "<prefix>.layer.<N>.<linear>" of linear id (e.g. "...layer.0.SelfAttention.q";
 * wi is wi_0 in a gated FFN) into buf; 0, or -1 when the block has no such
 * linear (cross-attention in the encoder, wi_1 in a plain FFN). */
int lst_t5_lin_name(char *buf, size_t cap, const lst_t5_config_t *c, const char *prefix,
                    int decoder, lst_t5_lin_t id);

#endif
