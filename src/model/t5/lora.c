/* lora.c: LoRA (LST-SPEC section 6) as a method part (t5_hooks.h): rank-r
 * A, B beside q and v of every attention (encoder self, decoder self and
 * cross), y += (alpha / r) drop(x) A^T B^T after the base product, with
 * its own dropout on x. Names: <attention>.{q,v}.lora_A.weight [r, d],
 * lora_B.weight [I, r]; A Kaiming-uniform, B 0. The products are
 * lst_lora_forward / lst_lora_backward (t5_ext.c). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "t5_ext.h"
#include "t5_hooks.h"

/* The linears LoRA adapts, in layout order, and each one's dropout site
 * (LST_T5_SITE_METHOD + its index here). */
static const lst_t5_lin_t lora_lins[] = {LST_LIN_Q, LST_LIN_V, LST_LIN_CQ, LST_LIN_CV};
#define N_LORA ((int)(sizeof lora_lins / sizeof lora_lins[0]))

static int site_of(lst_t5_lin_t id) {
    for (int k = 0; k < N_LORA; k++)
        if (lora_lins[k] == id) return LST_T5_SITE_METHOD + k;
    return -1;
}

/* alpha 32 and dropout 0.1, as the reference. */
static int enable(lst_t5_ext_t *e, const lst_method_t *m, const lst_t5_config_t *c,
                  int freeze_layers, lst_err_t *err) {
    if (m->lora_rank < 1) return lst_fail(err, "--lora-rank %d must be positive", m->lora_rank);
    e->lora_rank = m->lora_rank;
    e->lora_alpha = 32.0f;
    e->lora_dropout = 0.1f;
    return 0;
}

/* A [r, d] and B [I, r] on q and v of every attention (the decoder's two). */
static int count(const lst_method_t *m, const lst_t5_config_t *c, int vocab, int64_t *n,
                 lst_err_t *err) {
    const int64_t r = m->lora_rank, d = c->d_model, I = (int64_t)c->num_heads * c->d_kv;
    if (r < 1) return lst_fail(err, "lora: rank %lld must be positive", (long long)r);
    *n = ((int64_t)c->num_layers + 2 * (int64_t)c->num_decoder_layers) * 2 * (r * d + I * r);
    return 0;
}

static int layout_block(lst_layout_t *L, const lst_t5_config_t *c, const lst_t5_ext_t *e,
                        const char *prefix, int decoder, lst_err_t *err) {
    if (!e->lora_rank) return 0;
    const int64_t r = e->lora_rank, d = c->d_model, I = (int64_t)c->num_heads * c->d_kv;
    char nm[160];
    for (int k = 0; k < N_LORA; k++) {
        if (lst_t5_lin_name(nm, sizeof nm, c, prefix, decoder, lora_lins[k])) continue;
        if (lst_t5_part_add(L, &lst_t5_part_lora, err, r, d, "%s.lora_A.weight", nm) ||
            lst_t5_part_add(L, &lst_t5_part_lora, err, I, r, "%s.lora_B.weight", nm))
            return -1;
    }
    return 0;
}

static void bind(lst_t5_block_ext_t *x, const lst_t5_ext_t *e, const lst_t5_config_t *c,
                 const char *prefix, int decoder, lst_t5_pick_fn pick, void *ctx) {
    char lin[160], nm[200];
    for (int k = 0; k < N_LORA; k++) {
        if (lst_t5_lin_name(lin, sizeof lin, c, prefix, decoder, lora_lins[k])) continue;
        snprintf(nm, sizeof nm, "%s.lora_A.weight", lin);
        x->lora.A[lora_lins[k]] = pick(ctx, nm);
        snprintf(nm, sizeof nm, "%s.lora_B.weight", lin);
        x->lora.B[lora_lins[k]] = pick(ctx, nm);
    }
    x->lora.r = e->lora_rank;
    x->lora.scale = e->lora_rank ? e->lora_alpha / e->lora_rank : 0.0f;
    x->lora.p = e->lora_dropout;
}

/* A: kaiming_uniform_(a = sqrt(5)), bound 1/sqrt(fan_in); B: 0. */
static void init(const lst_param_t *p, float *x, const lst_t5_t *m, lst_rng_t *r) {
    if (!strstr(p->name, ".lora_A.")) {
        memset(x, 0, sizeof(float) * p->numel);
        return;
    }
    const float b = 1.0f / sqrtf((float)p->shape[1]);
    for (size_t j = 0; j < p->numel; j++) x[j] = (2.0f * lst_rng_uniform(r) - 1.0f) * b;
}

/* The shared scratch, the cross-attention's value, the backward's x, dx, du. */
static void needs(const lst_t5_ext_t *e, lst_t5_needs_t *n) {
    if (!e->lora_rank) return;
    n->xs = n->cross_kv = 1;
    if ((size_t)e->lora_rank > n->bwd_width) n->bwd_width = (size_t)e->lora_rank;
}

/* u per adapted linear: [N, r], the cross-attention value's over Ns rows. */
static void carve_acts(lst_carve_t *cv, lst_t5_ext_acts_t *a, const lst_t5_ext_t *e, size_t N,
                       size_t Ns, size_t d, int decoder) {
    const size_t r = e->lora_rank;
    if (!r) return;
    a->lin[LST_LIN_Q] = lst_carve(cv, N * r);
    a->lin[LST_LIN_V] = lst_carve(cv, N * r);
    if (decoder) {
        a->lin[LST_LIN_CQ] = lst_carve(cv, N * r);
        a->lin[LST_LIN_CV] = lst_carve(cv, Ns * r);
    }
}

/* u over up to rows rows, and the shared scratch [rows, max(d, I)]. */
static void step_floats(const lst_t5_block_ext_t *x, size_t rows, size_t B, size_t d, size_t I,
                        lst_t5_step_floats_t *f) {
    const size_t r = x->lora.r, lin = rows * r, xs = r ? rows * (d > I ? d : I) : 0;
    if (lin > f->lin) f->lin = lin;
    if (xs > f->xs) f->xs = xs;
}

/* The dropout of linear id's path: the block's site, at LoRA's own rate. */
static const lst_drop_t *path_drop(const lst_t5_block_t *w, lst_t5_lin_t id,
                                   const lst_drop_t *drop, lst_drop_t *d) {
    *d = lst_drop_site(drop, site_of(id));
    if (!lst_drop_active(drop)) return NULL;
    d->p = w->ext.lora.p;
    return d;
}

static void lin_fwd(const lst_t5_block_t *w, lst_t5_lin_t id, float *y, const float *x, int N,
                    int in, int out, const lst_drop_t *drop, const lst_t5_ext_acts_t *a) {
    const lst_lora_block_t *l = &w->ext.lora;
    if (!l->A[id]) return;
    lst_drop_t d;
    lst_lora_forward(y, a->lin[id], x, l->A[id], l->B[id], N, in, out, l->r, l->scale,
                     path_drop(w, id, drop, &d), a->xs);
}

static void lin_bwd(const lst_t5_block_t *w, const lst_t5_block_t *g, lst_t5_lin_t id, float *dx,
                    const float *dy, const float *x, int N, int in, int out,
                    const lst_drop_t *drop, const lst_t5_ext_acts_t *a, lst_t5_bwd_scratch_t *s) {
    const lst_lora_block_t *l = &w->ext.lora;
    if (!l->A[id]) return;
    lst_drop_t d;
    lst_lora_backward(dx, g->ext.lora.A[id], g->ext.lora.B[id], dy, x, a->lin[id], l->A[id],
                      l->B[id], N, in, out, l->r, l->scale, path_drop(w, id, drop, &d), s->ext_x,
                      s->ext_dx, s->ext_a);
}

static int lin_touches(const lst_t5_block_ext_t *x, lst_t5_lin_t id) { return x->lora.A[id] != NULL; }

const lst_t5_part_t lst_t5_part_lora = {
    .name = "lora",
    .enable = enable,
    .count = count,
    .layout_block = layout_block,
    .bind = bind,
    .init = init,
    .needs = needs,
    .carve_acts = carve_acts,
    .step_floats = step_floats,
    .lin_fwd = lin_fwd,
    .lin_bwd = lin_bwd,
    .lin_touches = lin_touches,
};
