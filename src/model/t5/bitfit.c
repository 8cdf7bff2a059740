/* bitfit.c: BitFit (LST-SPEC section 6) as a method part (t5_hooks.h): a
 * bias on every block linear, added inside its product as nn.Linear's
 * (lst_t5_lin_fwd), on every block layer norm's output, and on the LM
 * head. Names: <linear>.bias [out], <block>.layer.N.layer_norm.bias [d],
 * lm_head.bias [V]; all start at 0. */
#include <stdio.h>
#include <string.h>

#include "../../ops/ops.h"
#include "t5_hooks.h"

static int enable(lst_t5_ext_t *e, const lst_method_t *m, const lst_t5_config_t *c,
                  int freeze_layers, lst_err_t *err) {
    e->bitfit = 1;
    return 0;
}

/* Every linear's output width, every block layer norm, the LM head. */
static int count(const lst_method_t *m, const lst_t5_config_t *c, int vocab, int64_t *n,
                 lst_err_t *err) {
    const int64_t d = c->d_model, I = (int64_t)c->num_heads * c->d_kv, F = c->d_ff;
    const int64_t ffn = (c->gated ? 2 : 1) * F + d;
    const int64_t enc = 3 * I + d + ffn + 2 * d;          /* q k v o, FFN, 2 norms */
    const int64_t dec = 2 * (3 * I + d) + ffn + 3 * d;    /* self, cross, FFN, 3 norms */
    *n = c->num_layers * enc + c->num_decoder_layers * dec + vocab; /* + LM head bias */
    return 0;
}

/* Output width of linear id: I for the attentions' q, k, v, d for o and
 * wo, F for wi and wi_1. */
static int64_t lin_out(const lst_t5_config_t *c, lst_t5_lin_t id) {
    switch (id) {
    case LST_LIN_O: case LST_LIN_CO: case LST_LIN_WO: return c->d_model;
    case LST_LIN_WI: case LST_LIN_WI1: return c->d_ff;
    default: return (int64_t)c->num_heads * c->d_kv;
    }
}

/* The norm of sub-layer sub sits in Hugging Face layer N (the FFN's: 1 in
 * the encoder, 2 in the decoder). */
static int norm_layer(lst_t5_sub_t sub, int decoder) {
    return sub == LST_T5_FFN ? (decoder ? 2 : 1) : (int)sub;
}

/* Linears first (q, k, v, o of each attention, then the FFN's), then the
 * norms: the checkpoint order of the reference. */
static int layout_block(lst_layout_t *L, const lst_t5_config_t *c, const lst_t5_ext_t *e,
                        const char *prefix, int decoder, lst_err_t *err) {
    if (!e->bitfit) return 0;
    char nm[160];
    for (int id = 0; id < LST_N_LIN; id++)
        if (!lst_t5_lin_name(nm, sizeof nm, c, prefix, decoder, id) &&
            lst_t5_part_add(L, &lst_t5_part_bitfit, err, lin_out(c, id), 0, "%s.bias", nm))
            return -1;
    for (int s = 0; s < LST_N_SUB; s++)
        if ((s != LST_T5_CROSS || decoder) &&
            lst_t5_part_add(L, &lst_t5_part_bitfit, err, c->d_model, 0, "%s.layer.%d.layer_norm.bias",
                            prefix, norm_layer(s, decoder)))
            return -1;
    return 0;
}

static int layout_model(lst_layout_t *L, const lst_t5_config_t *c, const lst_t5_ext_t *e,
                        int vocab, lst_err_t *err) {
    return e->bitfit ? lst_t5_part_add(L, &lst_t5_part_bitfit, err, vocab, 0, "lm_head.bias") : 0;
}

static void bind(lst_t5_block_ext_t *x, const lst_t5_ext_t *e, const lst_t5_config_t *c,
                 const char *prefix, int decoder, lst_t5_pick_fn pick, void *ctx) {
    char nm[200];
    for (int id = 0; id < LST_N_LIN; id++) {
        if (lst_t5_lin_name(nm, sizeof nm - 8, c, prefix, decoder, id)) continue;
        strcat(nm, ".bias");
        x->bitfit.lin[id] = pick(ctx, nm);
    }
    for (int s = 0; s < LST_N_SUB; s++) {
        if (s == LST_T5_CROSS && !decoder) continue;
        snprintf(nm, sizeof nm, "%s.layer.%d.layer_norm.bias", prefix, norm_layer(s, decoder));
        x->bitfit.norm[s] = pick(ctx, nm);
    }
}

static void init(const lst_param_t *p, float *x, const lst_t5_t *m, lst_rng_t *r) {
    memset(x, 0, sizeof(float) * p->numel);
}

/* Biases on the cross-attention's keys and values. */
static void needs(const lst_t5_ext_t *e, lst_t5_needs_t *n) {
    if (e->bitfit) n->cross_kv = 1;
}

static float *lin_bias(const lst_t5_block_ext_t *x, lst_t5_lin_t id) { return x->bitfit.lin[id]; }

static int lin_touches(const lst_t5_block_ext_t *x, lst_t5_lin_t id) {
    return x->bitfit.lin[id] != NULL;
}

static void norm_fwd(const lst_t5_block_t *w, lst_t5_sub_t sub, float *n, int N, int d) {
    if (w->ext.bitfit.norm[sub]) lst_add_rows(n, w->ext.bitfit.norm[sub], N, d);
}

static void norm_bwd(const lst_t5_block_t *g, lst_t5_sub_t sub, const float *dn, int N, int d) {
    if (g->ext.bitfit.norm[sub]) lst_colsum_acc(g->ext.bitfit.norm[sub], dn, N, d);
}

const lst_t5_part_t lst_t5_part_bitfit = {
    .name = "bitfit",
    .enable = enable,
    .count = count,
    .layout_block = layout_block,
    .layout_model = layout_model,
    .bind = bind,
    .init = init,
    .needs = needs,
    .lin_bias = lin_bias,
    .lin_touches = lin_touches,
    .norm_fwd = norm_fwd,
    .norm_bwd = norm_bwd,
};
