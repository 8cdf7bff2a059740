/* side.c: the side network's configuration, parameter layout (per mode:
 * LST's ladders and gates, or side-tuning's single merge gate, or neither
 * for compression), loading and the simple initialisations (ladders,
 * random ablation). The pruning initialisation lives in prune.c, the
 * forward/backward in side_forward.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"
#include "../core/streams.h"
#include "../io/safetensors.h"
#include "side.h"

static const char *stack_name[2] = {"side_encoder", "side_decoder"};

void lst_side_opts_default(lst_side_opts_t *o) {
    memset(o, 0, sizeof *o);
    o->r = 8;
    o->gate_T = 0.1f;
    o->n_keep[0] = o->n_keep[1] = -1;
}

int lst_side_opts_set(lst_side_opts_t *o, int st, const int *keep, int n, lst_err_t *err) {
    int *k = lst_malloc(n > 0 ? (size_t)n : 1, sizeof *k, err);
    if (!k) return -1;
    if (n > 0) memcpy(k, keep, sizeof *k * (size_t)n);
    free(o->keep[st]);
    o->keep[st] = k;
    o->n_keep[st] = n;
    return 0;
}

int lst_side_opts_copy(lst_side_opts_t *dst, const lst_side_opts_t *src, lst_err_t *err) {
    lst_side_opts_t o = *src;
    o.keep[0] = o.keep[1] = NULL;
    for (int st = 0; st < 2; st++)
        if (src->n_keep[st] >= 0 && lst_side_opts_set(&o, st, src->keep[st], src->n_keep[st], err)) {
            lst_side_opts_free(&o);
            return -1;
        }
    lst_side_opts_free(dst);
    *dst = o;
    return 0;
}

void lst_side_opts_free(lst_side_opts_t *o) {
    for (int st = 0; st < 2; st++) {
        free(o->keep[st]);
        o->keep[st] = NULL;
    }
}

const char *lst_side_mode_name(int mode) {
    switch (mode) {
    case LST_SIDE_LADDER: return "ladder";
    case LST_SIDE_TUNING: return "side-tuning";
    case LST_SIDE_COMPRESSION: return "compression";
    }
    return "unknown";
}

static int is_kept(const lst_side_opts_t *o, int s, int layer) {
    for (int k = 0; k < o->n_keep[s]; k++)
        if (o->keep[s][k] == layer) return 1;
    return 0;
}

static int check_opts(const lst_backbone_t *bb, const lst_side_opts_t *o, lst_t5_config_t *side,
                      lst_err_t *err) {
    if (o->mode != LST_SIDE_LADDER && o->mode != LST_SIDE_TUNING && o->mode != LST_SIDE_COMPRESSION)
        return lst_fail(err, "side network: mode %d is not ladder (0), side-tuning (1) or "
                        "compression (2)", o->mode);
    if (o->r < 1) return lst_fail(err, "side network: r = %d must be a positive integer", o->r);
    if (lst_bb_side_config(bb, o->r, side, err)) return -1;
    if (!(o->gate_T > 0) || !isfinite(o->gate_T))
        return lst_fail(err, "side network: gate temperature %g must be positive", o->gate_T);
    const int *L = bb->L;
    for (int s = 0; s < 2; s++) {
        const char *which = s ? "decoder" : "encoder";
        if (o->n_keep[s] < 1)
            return lst_fail(err, "side network: keep at least one %s layer", which);
        for (int k = 0; k < o->n_keep[s]; k++) {
            int i = o->keep[s][k];
            if (i < 0 || i >= L[s])
                return lst_fail(err, "side network: %s side layer %d is outside the backbone's 0..%d",
                                which, i, L[s] - 1);
            if (k && i <= o->keep[s][k - 1])
                return lst_fail(err, "side network: %s side layers must be ascending and unique "
                                "(%d after %d)", which, i, o->keep[s][k - 1]);
        }
    }
    return 0;
}

/* s->opts: o with explicit lists of s's own (n_keep < 0: every layer). */
static int resolve_opts(lst_side_t *s, const lst_backbone_t *bb, const lst_side_opts_t *o,
                        lst_err_t *err) {
    s->opts = *o;
    s->opts.keep[0] = s->opts.keep[1] = NULL;
    for (int st = 0; st < 2; st++) {
        if (o->n_keep[st] >= 0) {
            if (lst_side_opts_set(&s->opts, st, o->keep[st], o->n_keep[st], err)) return -1;
            continue;
        }
        const int n = bb->L[st];
        int *all = lst_malloc(n > 0 ? (size_t)n : 1, sizeof *all, err);
        if (!all) return -1;
        for (int i = 0; i < n; i++) all[i] = i;
        s->opts.keep[st] = all;
        s->opts.n_keep[st] = n;
    }
    return 0;
}

int lst_side_shape_for(lst_side_t *s, const lst_backbone_t *bb, const lst_side_opts_t *opts,
                       lst_err_t *err) {
    memset(s, 0, sizeof *s);
    const lst_side_opts_t *o = &s->opts;
    s->d_backbone = bb->d_model;
    s->L[0] = bb->L[0];
    s->L[1] = bb->L[1];
    if (resolve_opts(s, bb, opts, err) || check_opts(bb, o, &s->cfg, err) ||
        lst_side_weights_alloc(s, &s->w, err)) {
        lst_side_free(s);
        return -1;
    }
    const int64_t d = bb->d_model, ds = s->cfg.d_model;
    const int ladder = o->mode == LST_SIDE_LADDER;
    lst_layout_t L = {0};
    char prefix[96];
    int rc = 0;
    for (int st = 0; st < 2 && !rc; st++) {
        const char *sn = stack_name[st];
        rc |= lst_layout_add(&L, err, ds, d, "%s.first_downsample.weight", sn);
        rc |= lst_layout_add(&L, err, ds, 0, "%s.first_downsample.bias", sn);
        for (int i = 0; i < s->L[st] && ladder && !rc; i++) {
            rc |= lst_layout_add(&L, err, 1, 0, "%s.gates.%d", sn, i);
            if (!rc && !is_kept(o, st, i)) L.p[L.n - 1].trainable = 0; /* counted, never used */
        }
        for (int k = 0; k < o->n_keep[st] && !rc; k++) {
            int i = o->keep[st][k];
            if (ladder) {
                rc |= lst_layout_add(&L, err, ds, d, "%s.downsamples.%d.weight", sn, i);
                rc |= lst_layout_add(&L, err, ds, 0, "%s.downsamples.%d.bias", sn, i);
            }
            snprintf(prefix, sizeof prefix, "%s.block.%d", sn, i);
            rc |= lst_t5_layout_block(&L, &s->cfg, prefix, st, k == 0, err);
        }
        if (!rc) rc = lst_layout_add(&L, err, ds, 0, "%s.final_layer_norm.weight", sn);
    }
    if (!rc) rc = lst_layout_add(&L, err, d, ds, "upsample.weight");
    if (!rc) rc = lst_layout_add(&L, err, d, 0, "upsample.bias");
    if (!rc && o->mode == LST_SIDE_TUNING) rc = lst_layout_add(&L, err, 1, 0, "merge_gate");
    if (rc) {
        lst_layout_free(&L);
        lst_side_free(s);
        return lst_fail_ctx(err, "side network layout");
    }
    s->params = L.p;
    s->n_params = L.n;
    s->n_floats = L.total;
    return 0;
}

int lst_side_create(lst_side_t *s, const lst_backbone_t *bb, const lst_side_opts_t *opts,
                    lst_err_t *err) {
    if (lst_side_shape_for(s, bb, opts, err)) return -1;
    s->flat = lst_calloc(s->n_floats, sizeof(float), err);
    if (!s->flat) {
        lst_side_free(s);
        return lst_fail_ctx(err, "side network parameters");
    }
    lst_side_bind(s, s->flat, &s->w);
    return 0;
}

void lst_side_free(lst_side_t *s) {
    free(s->params);
    free(s->flat);
    lst_side_weights_free(&s->w);
    lst_side_opts_free(&s->opts);
    memset(s, 0, sizeof *s);
}

int lst_side_weights_alloc(const lst_side_t *s, lst_side_weights_t *w, lst_err_t *err) {
    memset(w, 0, sizeof *w);
    /* per stack: three pointer arrays and the blocks [L], the kept list [n_keep] */
    size_t bytes = 0;
    for (int st = 0; st < 2; st++)
        bytes += (size_t)s->L[st] * (3 * sizeof(float *) + sizeof(lst_t5_block_t)) +
                 (size_t)s->opts.n_keep[st] * sizeof(lst_t5_block_t *);
    char *p = lst_calloc(bytes ? bytes : 1, 1, err);
    if (!p) return -1;
    w->store = p;
    for (int st = 0; st < 2; st++) {
        lst_side_stack_t *S = &w->st[st];
        const size_t L = (size_t)s->L[st];
        S->blk = (lst_t5_block_t *)p;
        p += L * sizeof(lst_t5_block_t);
        S->down_w = (float **)p;
        S->down_b = S->down_w + L;
        S->gate = S->down_b + L;
        p += 3 * L * sizeof(float *);
        S->kept = (const lst_t5_block_t **)p;
        p += (size_t)s->opts.n_keep[st] * sizeof(lst_t5_block_t *);
        for (int k = 0; k < s->opts.n_keep[st]; k++) S->kept[k] = &S->blk[s->opts.keep[st][k]];
    }
    return 0;
}

void lst_side_weights_free(lst_side_weights_t *w) {
    free(w->store);
    memset(w, 0, sizeof *w);
}

void lst_side_gate(const float *alpha, float T, float *g, float *one_minus_g) {
    lst_gate_values(alpha, T, g, one_minus_g);
}

void lst_side_bind(const lst_side_t *s, float *flat, lst_side_weights_t *w) {
    char nm[160];
    for (int st = 0; st < 2; st++) { /* the arrays stay; every pointer is set below or NULL */
        lst_side_stack_t *S = &w->st[st];
        const size_t L = (size_t)s->L[st];
        memset(S->blk, 0, L * sizeof *S->blk);
        memset(S->down_w, 0, 3 * L * sizeof *S->down_w);
    }
#define PTR(...) (snprintf(nm, sizeof nm, __VA_ARGS__), lst_layout_ptr(s->params, s->n_params, flat, nm))
    for (int st = 0; st < 2; st++) {
        lst_side_stack_t *S = &w->st[st];
        const char *sn = stack_name[st];
        S->first_w = PTR("%s.first_downsample.weight", sn);
        S->first_b = PTR("%s.first_downsample.bias", sn);
        S->final_ln = PTR("%s.final_layer_norm.weight", sn);
        for (int i = 0; i < s->L[st]; i++) S->gate[i] = PTR("%s.gates.%d", sn, i);
        for (int k = 0; k < s->opts.n_keep[st]; k++) {
            int i = s->opts.keep[st][k];
            S->down_w[i] = PTR("%s.downsamples.%d.weight", sn, i);
            S->down_b[i] = PTR("%s.downsamples.%d.bias", sn, i);
            snprintf(nm, sizeof nm, "%s.block.%d", sn, i);
            char prefix[96];
            memcpy(prefix, nm, sizeof prefix);
            lst_t5_bind_block(s->params, s->n_params, flat, &s->cfg, prefix, st, &S->blk[i]);
            if (k == 0)
                S->rel = PTR("%s.block.%d.layer.0.SelfAttention.relative_attention_bias.weight", sn, i);
        }
    }
    w->up_w = PTR("upsample.weight");
    w->up_b = PTR("upsample.bias");
    w->merge = PTR("merge_gate"); /* NULL unless side-tuning */
#undef PTR
}

int lst_side_load(lst_side_t *s, const char *path, lst_err_t *err) {
    lst_st_file_t f = {0};
    if (lst_st_open(&f, path, err)) return -1;
    for (int i = 0; i < s->n_params; i++) {
        const lst_param_t *p = &s->params[i];
        if (lst_st_read_f32(&f, p->name, p->ndim, p->shape, s->flat + p->offset, err)) {
            lst_st_close(&f);
            return lst_fail_ctx(err, "%s side weights (do r, the kept layers and the mode "
                                "match the file?)", lst_side_mode_name(s->opts.mode));
        }
    }
    lst_st_close(&f);
    return 0;
}

static void fill_normal(lst_rng_t *r, float *p, size_t n, double std) {
    for (size_t i = 0; i < n; i++) p[i] = (float)(lst_rng_normal(r) * std);
}

void lst_side_init_ladders(lst_side_t *s, uint64_t seed, float gate_init) {
    lst_rng_t r;
    lst_rng_seed(&r, seed ^ LST_STREAM_LADDER_INIT);
    const size_t d = s->d_backbone, ds = s->cfg.d_model;
    for (int st = 0; st < 2; st++) {
        lst_side_stack_t *S = &s->w.st[st];
        fill_normal(&r, S->first_w, ds * d, 0.01);
        memset(S->first_b, 0, sizeof(float) * ds);
        for (int i = 0; i < s->L[st]; i++) {
            if (S->gate[i]) S->gate[i][0] = gate_init;
            if (!S->down_w[i]) continue;
            fill_normal(&r, S->down_w[i], ds * d, 0.01);
            memset(S->down_b[i], 0, sizeof(float) * ds);
        }
    }
    fill_normal(&r, s->w.up_w, d * ds, 0.01);
    memset(s->w.up_b, 0, sizeof(float) * d);
    if (s->w.merge) s->w.merge[0] = gate_init;
}

void lst_side_init_random(lst_side_t *s, uint64_t seed) {
    lst_side_init_ladders(s, seed, 0.0f);
    lst_rng_t r;
    lst_rng_seed(&r, seed ^ LST_STREAM_SIDE_RANDOM_INIT);
    for (int i = 0; i < s->n_params; i++) {
        const lst_param_t *p = &s->params[i];
        if (!strstr(p->name, ".block.")) continue;
        float *x = s->flat + p->offset;
        if (strstr(p->name, "layer_norm"))
            for (size_t j = 0; j < p->numel; j++) x[j] = 1.0f;
        else
            fill_normal(&r, x, p->numel, 0.01);
    }
    for (int st = 0; st < 2; st++)
        for (size_t j = 0; j < (size_t)s->cfg.d_model; j++) s->w.st[st].final_ln[j] = 1.0f;
}

int lst_side_init_prune(lst_side_t *s, const lst_backbone_t *bb, const float *importance,
                        lst_err_t *err) {
    return bb->ops->side_prune(bb->model, s, importance, err);
}
