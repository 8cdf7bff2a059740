/* adapter.c: Houlsby adapters (LST-SPEC section 6) as a method part
 * (t5_hooks.h): y + up(gelu_new(down(y))) on the output of every
 * self-attention and FFN sub-layer of both stacks, before its dropout and
 * residual add (the cross-attention has none, as in the reference).
 * Names: <block>.layer.{0|FFN}.adapter.{down,up}.{weight,bias}; init as
 * torch.nn.Linear. The products are lst_adapter_forward / _backward
 * (t5_ext.c). What else the method trains (the layer norms) is
 * lst_t5_ext_t.train_norms. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "t5_ext.h"
#include "t5_hooks.h"

/* The sub-layers with an adapter, in layout order. */
static const lst_t5_sub_t subs[2] = {LST_T5_SELF, LST_T5_FFN};
static const char *const part[4] = {"down.weight", "down.bias", "up.weight", "up.bias"};

/* Hidden size d_model / 16 unless given; the layer norms train too. */
static int enable(lst_t5_ext_t *e, const lst_method_t *m, const lst_t5_config_t *c,
                  int freeze_layers, lst_err_t *err) {
    e->adapter_dim = m->adapter_dim > 0 ? m->adapter_dim : c->d_model / 16;
    if (e->adapter_dim < 1)
        return lst_fail(err, "adapters: hidden size d_model/16 is 0 for d_model %d; give --adapter-dim",
                        c->d_model);
    e->train_norms = 1;
    return 0;
}

/* Two adapters per block, and every layer norm weight (the final two too). */
static int count(const lst_method_t *m, const lst_t5_config_t *c, int vocab, int64_t *n,
                 lst_err_t *err) {
    const int64_t d = c->d_model, L = c->num_layers, Ld = c->num_decoder_layers;
    const int64_t h = m->adapter_dim > 0 ? m->adapter_dim : d / 16;
    if (h < 1) return lst_fail(err, "adapters: hidden size %lld must be positive", (long long)h);
    const int64_t adapter = d * h + h + h * d + d;
    const int64_t norms = (2 * L + 3 * Ld + 2) * d;
    *n = 2 * (L + Ld) * adapter + norms;
    return 0;
}

static int hf_layer(lst_t5_sub_t sub, int decoder) {
    return sub == LST_T5_FFN ? (decoder ? 2 : 1) : (int)sub;
}

static int layout_block(lst_layout_t *L, const lst_t5_config_t *c, const lst_t5_ext_t *e,
                        const char *prefix, int decoder, lst_err_t *err) {
    if (!e->adapter_dim) return 0;
    const int64_t A = e->adapter_dim, d = c->d_model;
    const int64_t shape[4][2] = {{A, d}, {A, 0}, {d, A}, {d, 0}};
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 4; j++)
            if (lst_t5_part_add(L, &lst_t5_part_adapter, err, shape[j][0], shape[j][1],
                                "%s.layer.%d.adapter.%s", prefix, hf_layer(subs[k], decoder),
                                part[j]))
                return -1;
    return 0;
}

static void bind(lst_t5_block_ext_t *x, const lst_t5_ext_t *e, const lst_t5_config_t *c,
                 const char *prefix, int decoder, lst_t5_pick_fn pick, void *ctx) {
    char nm[200];
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 4; j++) {
            snprintf(nm, sizeof nm, "%s.layer.%d.adapter.%s", prefix, hf_layer(subs[k], decoder),
                     part[j]);
            x->adapter.w[subs[k]][j] = pick(ctx, nm);
        }
    x->adapter.dim = e->adapter_dim;
}

/* torch.nn.Linear: U(-b, b), b = 1/sqrt(fan_in), weight and bias. */
static void init(const lst_param_t *p, float *x, const lst_t5_t *m, lst_rng_t *r) {
    const int64_t fan_in = strstr(p->name, ".down.") ? m->cfg.d_model : (int64_t)m->ext.adapter_dim;
    const float b = 1.0f / sqrtf((float)fan_in);
    for (size_t j = 0; j < p->numel; j++) x[j] = (2.0f * lst_rng_uniform(r) - 1.0f) * b;
}

/* The backward's dg, du [rows, A]. */
static void needs(const lst_t5_ext_t *e, lst_t5_needs_t *n) {
    if ((size_t)e->adapter_dim > n->bwd_width) n->bwd_width = (size_t)e->adapter_dim;
}

/* Per adapter: its input [N, d], the down projection and its activation [N, A]. */
static void carve_acts(lst_carve_t *cv, lst_t5_ext_acts_t *a, const lst_t5_ext_t *e, size_t N,
                       size_t Ns, size_t d, int decoder) {
    const size_t A = e->adapter_dim;
    if (!A) return;
    for (int k = 0; k < 2; k++) {
        float **s = a->sub[subs[k]];
        s[0] = lst_carve(cv, N * d);
        s[1] = lst_carve(cv, N * A);
        s[2] = lst_carve(cv, N * A);
    }
}

/* One position per row: the input [B, d], the hidden [B, A] x 2. */
static void step_floats(const lst_t5_block_ext_t *x, size_t rows, size_t B, size_t d, size_t I,
                        lst_t5_step_floats_t *f) {
    const size_t A = x->adapter.dim, need[3] = {A ? B * d : 0, B * A, B * A};
    for (int k = 0; k < 3; k++)
        if (need[k] > f->sub[k]) f->sub[k] = need[k];
}

static void sub_fwd(const lst_t5_block_t *w, lst_t5_sub_t sub, float *y, int N, int d,
                    const lst_t5_ext_acts_t *a) {
    const lst_adapter_block_t *ad = &w->ext.adapter;
    if (!ad->dim || !ad->w[sub][0]) return;
    lst_adapter_forward(y, a->sub[sub][0], a->sub[sub][1], a->sub[sub][2], ad->w[sub], N, d,
                        ad->dim);
}

static void sub_bwd(const lst_t5_block_t *w, const lst_t5_block_t *g, lst_t5_sub_t sub, float *dy,
                    int N, int d, const lst_t5_ext_acts_t *a, lst_t5_bwd_scratch_t *s) {
    const lst_adapter_block_t *ad = &w->ext.adapter;
    if (!ad->dim || !ad->w[sub][0]) return;
    lst_adapter_backward(dy, g->ext.adapter.w[sub], a->sub[sub][0], a->sub[sub][1],
                         a->sub[sub][2], ad->w[sub], N, d, ad->dim, s->ext_a, s->ext_b);
}

const lst_t5_part_t lst_t5_part_adapter = {
    .name = "adapter",
    .enable = enable,
    .count = count,
    .layout_block = layout_block,
    .bind = bind,
    .init = init,
    .needs = needs,
    .carve_acts = carve_acts,
    .step_floats = step_floats,
    .sub_fwd = sub_fwd,
    .sub_bwd = sub_bwd,
};
