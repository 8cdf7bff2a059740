/* t5_tensors.c: the T5 tensor table and the walk over a model (see
 * t5_tensors.h). Row order is the checkpoint's (named_parameters() as
 * save_pretrained writes it), which fixes parameter offsets and the
 * per-tensor random streams of the presets. */
#include "t5_tensors.h"

#include <math.h>
#include <stdio.h>

#include "t5.h"

#define F(m) offsetof(lst_t5_block_t, m)
#define NONE LST_T5_NO_FIELD
#define SA LST_T5_SELF
#define CA LST_T5_CROSS
#define FF LST_T5_FFN

/* sub, name, field, packed, rows, cols, decoder_only, ffn, first_block, role, init a x b, cross_kv */
const lst_t5_tensor_t lst_t5_block_tensors[] = {
    {SA, "SelfAttention.q.weight", F(q), F(pq), LST_T5_I, LST_T5_D, 0, 0, 0, LST_T5_IN, LST_T5_D, LST_T5_KV, 0},
    {SA, "SelfAttention.k.weight", F(k), F(pk), LST_T5_I, LST_T5_D, 0, 0, 0, LST_T5_IN, LST_T5_D, LST_T5_ONE, 0},
    {SA, "SelfAttention.v.weight", F(v), F(pv), LST_T5_I, LST_T5_D, 0, 0, 0, LST_T5_IN, LST_T5_D, LST_T5_ONE, 0},
    {SA, "SelfAttention.o.weight", F(o), F(po), LST_T5_D, LST_T5_I, 0, 0, 0, LST_T5_OUT, LST_T5_I, LST_T5_ONE, 0},
    {SA, "SelfAttention.relative_attention_bias.weight", NONE, NONE, LST_T5_BUCKETS, LST_T5_HEADS, 0, 0, 1,
     LST_T5_REL, LST_T5_D, LST_T5_ONE, 0},
    {SA, "layer_norm.weight", F(ln_sa), NONE, LST_T5_D, LST_T5_ONE, 0, 0, 0, LST_T5_NORM, LST_T5_ONE, LST_T5_ONE, 0},
    {CA, "EncDecAttention.q.weight", F(cq), F(pcq), LST_T5_I, LST_T5_D, 1, 0, 0, LST_T5_IN, LST_T5_D, LST_T5_KV, 0},
    {CA, "EncDecAttention.k.weight", F(ck), F(pck), LST_T5_I, LST_T5_D, 1, 0, 0, LST_T5_IN, LST_T5_D, LST_T5_ONE, 1},
    {CA, "EncDecAttention.v.weight", F(cv), F(pcv), LST_T5_I, LST_T5_D, 1, 0, 0, LST_T5_IN, LST_T5_D, LST_T5_ONE, 1},
    {CA, "EncDecAttention.o.weight", F(co), F(pco), LST_T5_D, LST_T5_I, 1, 0, 0, LST_T5_OUT, LST_T5_I, LST_T5_ONE, 0},
    {CA, "layer_norm.weight", F(ln_ca), NONE, LST_T5_D, LST_T5_ONE, 1, 0, 0, LST_T5_NORM, LST_T5_ONE, LST_T5_ONE, 0},
    {FF, "DenseReluDense.wi.weight", F(wi), F(pwi), LST_T5_F, LST_T5_D, 0, LST_T5_PLAIN, 0, LST_T5_IN, LST_T5_D,
     LST_T5_ONE, 0},
    {FF, "DenseReluDense.wi_0.weight", F(wi), F(pwi), LST_T5_F, LST_T5_D, 0, LST_T5_GATED, 0, LST_T5_IN, LST_T5_D,
     LST_T5_ONE, 0},
    {FF, "DenseReluDense.wi_1.weight", F(wi1), F(pwi1), LST_T5_F, LST_T5_D, 0, LST_T5_GATED, 0, LST_T5_IN, LST_T5_D,
     LST_T5_ONE, 0},
    {FF, "DenseReluDense.wo.weight", F(wo), F(pwo), LST_T5_D, LST_T5_F, 0, 0, 0, LST_T5_OUT, LST_T5_F, LST_T5_ONE, 0},
    {FF, "layer_norm.weight", F(ln_ff), NONE, LST_T5_D, LST_T5_ONE, 0, 0, 0, LST_T5_NORM, LST_T5_ONE, LST_T5_ONE, 0},
};
const int lst_t5_n_block_tensors = sizeof lst_t5_block_tensors / sizeof lst_t5_block_tensors[0];

int64_t lst_t5_dim(const lst_t5_config_t *c, int vocab, lst_t5_dim_t d) {
    switch (d) {
    case LST_T5_ONE: return 1;
    case LST_T5_D: return c->d_model;
    case LST_T5_KV: return c->d_kv;
    case LST_T5_I: return (int64_t)c->num_heads * c->d_kv;
    case LST_T5_F: return c->d_ff;
    case LST_T5_BUCKETS: return c->rel_buckets;
    case LST_T5_HEADS: return c->num_heads;
    case LST_T5_VOCAB: return vocab;
    }
    return 0;
}

int lst_t5_tensor_in(const lst_t5_tensor_t *t, const lst_t5_config_t *c, int decoder, int with_rel) {
    if (t->decoder_only && !decoder) return 0;
    if (t->first_block && !with_rel) return 0;
    if (t->ffn == LST_T5_PLAIN && c->gated) return 0;
    if (t->ffn == LST_T5_GATED && !c->gated) return 0;
    return 1;
}

void lst_t5_tensor_name(char *buf, size_t cap, const char *prefix, const lst_t5_tensor_t *t,
                        int decoder) {
    const int layer = t->sub == LST_T5_FFN ? (decoder ? 2 : 1) : (int)t->sub;
    snprintf(buf, cap, "%s.layer.%d.%s", prefix, layer, t->name);
}

double lst_t5_tensor_std(const lst_t5_tensor_t *t, const lst_t5_config_t *c) {
    if (t->role == LST_T5_NORM) return -1.0;
    return 1.0 / sqrt((double)lst_t5_dim(c, 0, t->init_a) * (double)lst_t5_dim(c, 0, t->init_b));
}

/* A model-level tensor: the shared embedding / LM head (std 1) or a
 * stack's final norm (ones). */
static int visit_model(lst_t5_visit_fn fn, void *ctx, const char *name, int64_t rows, int64_t cols,
                       double std, lst_err_t *err) {
    const lst_t5_visit_t v = {name, NULL, -1, -1, rows, cols, std};
    return fn(ctx, &v, NULL, -1, -1, err);
}

static int walk_block(const lst_t5_config_t *c, const char *prefix, int stack, int layer,
                      int with_rel, lst_t5_visit_fn fn, void *ctx, lst_err_t *err) {
    char name[192];
    for (int i = 0; i < lst_t5_n_block_tensors; i++) {
        const lst_t5_tensor_t *t = &lst_t5_block_tensors[i];
        if (!lst_t5_tensor_in(t, c, stack, with_rel)) continue;
        lst_t5_tensor_name(name, sizeof name, prefix, t, stack);
        const int64_t cols = t->cols == LST_T5_ONE ? 0 : lst_t5_dim(c, 0, t->cols);
        const lst_t5_visit_t v = {name, t, stack, layer, lst_t5_dim(c, 0, t->rows), cols,
                                  lst_t5_tensor_std(t, c)};
        if (fn(ctx, &v, prefix, stack, layer, err)) return -1;
    }
    return 0;
}

int lst_t5_walk_block(const lst_t5_config_t *c, const char *prefix, int decoder, int with_rel,
                      lst_t5_visit_fn fn, void *ctx, lst_err_t *err) {
    return walk_block(c, prefix, decoder, -1, with_rel, fn, ctx, err);
}

int lst_t5_walk(const lst_t5_config_t *c, int vocab, lst_t5_visit_fn fn, void *ctx,
                lst_err_t *err) {
    static const char *const stack_name[2] = {"encoder", "decoder"};
    char prefix[64], name[96];
    if (visit_model(fn, ctx, "shared.weight", vocab, c->d_model, 1.0, err)) return -1;
    for (int s = 0; s < 2; s++) {
        const int nl = s ? c->num_decoder_layers : c->num_layers;
        for (int i = 0; i < nl; i++) {
            snprintf(prefix, sizeof prefix, "%s.block.%d", stack_name[s], i);
            if (walk_block(c, prefix, s, i, i == 0, fn, ctx, err) ||
                fn(ctx, NULL, prefix, s, i, err))
                return -1;
        }
        snprintf(name, sizeof name, "%s.final_layer_norm.weight", stack_name[s]);
        if (visit_model(fn, ctx, name, c->d_model, 0, -1.0, err)) return -1;
    }
    if (!c->tie_word_embeddings && visit_model(fn, ctx, "lm_head.weight", vocab, c->d_model, 1.0, err))
        return -1;
    return 0;
}

/* Counting visitor: every tensor, block linears apart. */
typedef struct {
    int64_t linears, rest;
    int overflow;
} count_t;

static int count_one(void *vctx, const lst_t5_visit_t *v, const char *prefix, int stack, int layer,
                     lst_err_t *err) {
    count_t *n = vctx;
    if (!v) return 0;
    int64_t numel;
    int64_t *sum = v->row && v->row->packed != LST_T5_NO_FIELD ? &n->linears : &n->rest;
    if (__builtin_mul_overflow(v->rows, v->cols ? v->cols : 1, &numel) ||
        __builtin_add_overflow(*sum, numel, sum))
        n->overflow = 1;
    return 0;
}

/* n += k * x, flagging overflow. */
static void add_times(int64_t *n, int64_t k, int64_t x, int *overflow) {
    int64_t p;
    if (__builtin_mul_overflow(k, x, &p) || __builtin_add_overflow(*n, p, n)) *overflow = 1;
}

int lst_t5_count_split(const lst_t5_config_t *c, int vocab, int64_t *linears, int64_t *rest) {
    *linears = *rest = -1;
    if (!c || vocab <= 0 || c->d_model <= 0 || c->d_kv <= 0 || c->d_ff <= 0 || c->num_heads <= 0 ||
        c->num_layers <= 0 || c->num_decoder_layers <= 0 || c->rel_buckets <= 0)
        return -1;
    /* the model with one block per stack (block 0, with its relative
     * bias), then the other blocks, all alike: no walk over every layer */
    lst_t5_config_t one = *c;
    one.num_layers = one.num_decoder_layers = 1;
    count_t n = {0, 0, 0}, blk[2] = {{0, 0, 0}, {0, 0, 0}};
    if (lst_t5_walk(&one, vocab, count_one, &n, NULL) ||
        lst_t5_walk_block(c, "block", 0, 0, count_one, &blk[0], NULL) ||
        lst_t5_walk_block(c, "block", 1, 0, count_one, &blk[1], NULL))
        return -1;
    const int64_t more[2] = {(int64_t)c->num_layers - 1, (int64_t)c->num_decoder_layers - 1};
    for (int s = 0; s < 2; s++) {
        add_times(&n.linears, more[s], blk[s].linears, &n.overflow);
        add_times(&n.rest, more[s], blk[s].rest, &n.overflow);
    }
    if (n.overflow || blk[0].overflow || blk[1].overflow) return -1;
    *linears = n.linears;
    *rest = n.rest;
    return 0;
}

int lst_t5_count(const lst_t5_config_t *c, int vocab, int64_t *total) {
    int64_t lin, rest;
    *total = -1;
    if (lst_t5_count_split(c, vocab, &lin, &rest) || __builtin_add_overflow(lin, rest, total)) {
        *total = -1;
        return -1;
    }
    return 0;
}
