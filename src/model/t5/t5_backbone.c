/* t5_backbone.c: T5's table of backbone operations (../backbone.h), each a
 * thin wrapper of t5.h: nothing here computes differently from calling
 * t5.h directly, so results through the interface are bitwise those of
 * the direct calls. */
#include "t5_backbone.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../side.h"

#define M(p) ((const lst_t5_t *)(p))

/* ---- the stack-by-stack forward ----------------------------------------- */

/* One set of transient buffers reused by every block of both stacks. */
struct lst_bb_run {
    float *bias[2];            /* [H, Ts, Ts], [H, Td, Td] relative biases */
    lst_t5_block_acts_t blk;   /* one forward-only block's scratch */
};

const lst_t5_block_acts_t *lst_t5_run_block(const lst_bb_run_t *run) { return &run->blk; }

static void t5_embed(const void *m, float *out, const int32_t *ids, int N) {
    lst_embedding_forward(out, ids, M(m)->w.shared, N, M(m)->cfg.d_model);
}

static void t5_run_carve(const void *m, lst_bb_run_t *run, lst_carve_t *c, int B, int Ts, int Td) {
    lst_bb_run_t sizing;
    if (!run) run = &sizing;
    const size_t H = M(m)->cfg.num_heads;
    run->bias[0] = lst_carve(c, H * Ts * Ts);
    run->bias[1] = lst_carve(c, H * Td * Td);
    lst_t5_block_acts_carve_fwd(c, &run->blk, &M(m)->cfg, B, Ts, Td);
}

static lst_bb_run_t *t5_run_new(const void *m, lst_err_t *err) {
    return lst_calloc(1, sizeof(lst_bb_run_t), err);
}

static void t5_run_free(lst_bb_run_t *run) { free(run); }

static void t5_stack_begin(const void *m, lst_bb_run_t *run, int st, int T) {
    const lst_t5_config_t *c = &M(m)->cfg;
    lst_relbias_forward(run->bias[st], st ? M(m)->w.dec_rel : M(m)->w.enc_rel, c->num_heads, T, T,
                        0, 0, !st, c->rel_buckets, c->rel_max_distance);
}

static void t5_block_forward(const void *m, lst_bb_run_t *run, int st, int i, float *y,
                             const float *x, const lst_batch_t *bt, const float *enc,
                             const lst_drop_t *drop, float *scratch) {
    const lst_t5_t *t = M(m);
    lst_t5_block_forward(&t->cfg, st ? &t->w.dec[i] : &t->w.enc[i], &run->blk, y, x, bt->B,
                         st ? bt->Td : bt->Ts, run->bias[st], st ? bt->dec_mask : bt->src_mask, st,
                         enc, bt->Ts, bt->src_mask, drop, scratch);
}

static void t5_final_norm(const void *m, int st, float *out, const float *x, int N) {
    const lst_t5_t *t = M(m);
    lst_rmsnorm_forward(out, NULL, x, st ? t->w.dec_final : t->w.enc_final, N, t->cfg.d_model,
                        t->cfg.layer_norm_eps);
}

static void t5_head_forward(const void *m, float *logits, const float *h, int N) {
    lst_matmul_forward(logits, h, M(m)->w.lm_head, NULL, N, M(m)->cfg.d_model, M(m)->vocab);
}

static void t5_head_backward(const void *m, float *dh, const float *dlogits, const float *h, int N) {
    lst_matmul_backward(dh, NULL, NULL, dlogits, h, M(m)->w.lm_head, N, M(m)->cfg.d_model,
                        M(m)->vocab);
}

/* ---- cached decoding ---------------------------------------------------- */

struct lst_bb_cache {
    lst_t5_cache_t c;
    const lst_t5_block_t **blk; /* [n_layers]: the decoder blocks the cache reads */
};

static const lst_t5_block_t **dec_blocks(const lst_t5_t *m, int n, lst_err_t *err) {
    const lst_t5_block_t **b = lst_malloc(n > 0 ? (size_t)n : 1, sizeof *b, err);
    for (int l = 0; b && l < n; l++) b[l] = &m->w.dec[l];
    return b;
}

static size_t t5_cache_bytes(const void *m, int n, int B, int Ts, int max_len, lst_wformat_t fmt) {
    lst_err_t err;
    const lst_t5_block_t **b = dec_blocks(M(m), n, &err);
    if (!b) return SIZE_MAX; /* no plan fits */
    const size_t bytes = lst_dec_cache_bytes(&M(m)->cfg, b, n, B, Ts, max_len, fmt);
    free(b);
    return bytes;
}

static void t5_cache_free(lst_bb_cache_t *c) {
    lst_t5_cache_free(&c->c);
    free(c->blk);
    free(c);
}

static lst_bb_cache_t *t5_cache_new(const void *m, int n, const float *enc_out,
                                    const uint8_t *src_mask, int B, int Ts, int max_len,
                                    lst_err_t *err) {
    lst_bb_cache_t *c = lst_calloc(1, sizeof *c, err);
    if (!c) return NULL;
    c->blk = dec_blocks(M(m), n, err);
    if (!c->blk || lst_dec_cache_init(&c->c, &M(m)->cfg, c->blk, n, enc_out, src_mask, B, Ts,
                                      max_len, err)) {
        t5_cache_free(c);
        return NULL;
    }
    return c;
}

static void t5_step_begin(const void *m, lst_bb_cache_t *c) {
    lst_dec_cache_bias(&c->c, M(m)->w.dec_rel);
}

static void t5_step_layer(const void *m, lst_bb_cache_t *c, int l) {
    lst_dec_cache_layer(&c->c, &M(m)->w.dec[l], l);
}

static void t5_step_end(lst_bb_cache_t *c) { c->c.len++; }

static float *t5_cache_x(lst_bb_cache_t *c) { return c->c.x; }

/* ---- the whole model ---------------------------------------------------- */

/* lst_bb_acts_t is lst_t5_acts_t */
static size_t t5_acts_floats(const void *m, int B, int Ts, int Td, int train) {
    return lst_t5_acts_floats(M(m), B, Ts, Td, train);
}

static size_t t5_acts_bwd_floats(const void *m, int B, int Ts, int Td) {
    return lst_t5_acts_bwd_floats(M(m), B, Ts, Td);
}

static lst_bb_acts_t *t5_acts_new(const void *m, int B, int Ts, int Td, int train, lst_err_t *err) {
    lst_t5_acts_t *a = lst_calloc(1, sizeof *a, err);
    if (a && lst_t5_acts_alloc(a, M(m), B, Ts, Td, train, err)) {
        free(a);
        return NULL;
    }
    return (lst_bb_acts_t *)a;
}

static void t5_acts_free(lst_bb_acts_t *a) {
    lst_t5_acts_free((lst_t5_acts_t *)a);
    free(a);
}

static double t5_forward(const void *m, const lst_batch_t *bt, lst_bb_acts_t *a,
                         const lst_drop_t *drop) {
    return lst_t5_forward(M(m), bt, (lst_t5_acts_t *)a, drop);
}

static int t5_backward(const void *m, const lst_batch_t *bt, const lst_bb_acts_t *a,
                       const lst_drop_t *drop, float *grads, lst_err_t *err) {
    return lst_t5_backward(M(m), bt, (const lst_t5_acts_t *)a, drop, grads, err);
}

static size_t t5_generate_bytes(const void *m, int B, int Ts, int max_len) {
    return lst_t5_generate_bytes(M(m), B, Ts, max_len);
}

static int t5_generate(const void *m, const lst_batch_t *bt, int max_len, int32_t *out,
                       int *out_len, const int32_t *teacher, float *logits, lst_err_t *err) {
    return lst_t5_generate(M(m), bt, max_len, out, out_len, teacher, logits, err);
}

static int t5_check_batch(const void *m, const lst_batch_t *bt, lst_err_t *err) {
    return lst_t5_check_batch(M(m), bt, err);
}

/* ---- parameters ----------------------------------------------------------- */

static lst_bb_table_t t5_table(const void *m) {
    const lst_t5_t *t = M(m);
    lst_bb_table_t tb = {t->params, t->n_params, t->n_trainable, t->flat, t->n_floats,
                         t->n_trainable_floats};
    return tb;
}

/* fmt: a user's dtype (ops/wformat.h), stored in its frozen row */
static int t5_freeze(void *m, lst_wformat_t fmt, lst_err_t *err) {
    return lst_t5_freeze((lst_t5_t *)m, fmt, err);
}

static size_t t5_weight_bytes(const void *m, lst_wformat_t fmt) {
    const lst_t5_t *t = M(m);
    return lst_t5_weight_bytes(&t->cfg, t->vocab, lst_wformat(fmt)->frozen);
}

static size_t t5_frozen_workspace(const void *m, lst_wformat_t fmt) {
    const lst_t5_t *t = M(m);
    return lst_t5_pack_workspace(&t->cfg, t->vocab, lst_wformat(fmt)->frozen);
}

static int64_t t5_param_count(const void *m) { return lst_t5_param_count(&M(m)->cfg, M(m)->vocab); }

/* ---- the side network's blocks ------------------------------------------- */

static int t5_side_config(const void *m, int r, lst_t5_config_t *out, lst_err_t *err) {
    const lst_t5_config_t *bb = &M(m)->cfg;
    if (bb->d_model / r < 1 || bb->d_ff / r < 1 || bb->d_kv / r < 1)
        return lst_fail(err, "side network: r = %d leaves no width (d_model %d, d_ff %d, d_kv %d)",
                        r, bb->d_model, bb->d_ff, bb->d_kv);
    *out = *bb;
    out->d_model = bb->d_model / r;
    out->d_ff = bb->d_ff / r;
    out->d_kv = bb->d_kv / r;
    return 0;
}

static int t5_side_prune(const void *m, struct lst_side *s, const float *imp, lst_err_t *err) {
    return lst_t5_side_prune(M(m), s, imp, err);
}

static void t5_free(void *m) {
    lst_t5_free(m);
    free(m);
}

const lst_backbone_ops_t lst_t5_backbone_ops = {
    .name = "t5",
    .free = t5_free,
    .embed = t5_embed,
    .run_carve = t5_run_carve,
    .run_new = t5_run_new,
    .run_free = t5_run_free,
    .stack_begin = t5_stack_begin,
    .block_forward = t5_block_forward,
    .final_norm = t5_final_norm,
    .head_forward = t5_head_forward,
    .head_backward = t5_head_backward,
    .cache_bytes = t5_cache_bytes,
    .cache_new = t5_cache_new,
    .cache_free = t5_cache_free,
    .step_begin = t5_step_begin,
    .step_layer = t5_step_layer,
    .step_end = t5_step_end,
    .cache_x = t5_cache_x,
    .acts_floats = t5_acts_floats,
    .acts_bwd_floats = t5_acts_bwd_floats,
    .acts_new = t5_acts_new,
    .acts_free = t5_acts_free,
    .forward = t5_forward,
    .backward = t5_backward,
    .generate_bytes = t5_generate_bytes,
    .generate = t5_generate,
    .check_batch = t5_check_batch,
    .table = t5_table,
    .freeze = t5_freeze,
    .weight_bytes = t5_weight_bytes,
    .frozen_workspace = t5_frozen_workspace,
    .param_count = t5_param_count,
    .side_config = t5_side_config,
    .side_prune = t5_side_prune,
};

void lst_t5_backbone_wrap(lst_backbone_t *bb, lst_t5_t *m) {
    const lst_t5_config_t *c = &m->cfg;
    memset(bb, 0, sizeof *bb);
    bb->ops = &lst_t5_backbone_ops;
    bb->model = m;
    bb->L[0] = c->num_layers;
    bb->L[1] = c->num_decoder_layers;
    bb->d_model = c->d_model;
    bb->vocab = m->vocab;
    /* tied embeddings: the LM head reads the decoder output scaled by d^-0.5 */
    bb->head_scale = c->tie_word_embeddings ? 1.0f / sqrtf((float)c->d_model) : 1.0f;
    bb->dropout = c->dropout_rate;
    bb->dec_start = c->decoder_start_token_id;
    bb->eos = c->eos_token_id;
    bb->fp_config = m->fp_config;
    bb->fp_weights = m->fp_weights;
    bb->n_unused = m->n_unused;
    bb->unused = m->unused;
}

void lst_t5_backbone_own(lst_backbone_t *bb, lst_t5_t *m) {
    lst_t5_backbone_wrap(bb, m);
    bb->owned = 1;
}

lst_t5_t *lst_t5_of(const lst_backbone_t *bb) {
    return bb->ops == &lst_t5_backbone_ops ? bb->model : NULL;
}

int lst_side_shape(lst_side_t *s, const lst_t5_config_t *c, const lst_side_opts_t *o,
                   lst_err_t *err) {
    lst_t5_t m; /* a stand-in: shapes only */
    memset(&m, 0, sizeof m);
    m.cfg = *c;
    m.vocab = c->vocab_size;
    lst_backbone_t bb;
    lst_t5_backbone_wrap(&bb, &m);
    return lst_side_shape_for(s, &bb, o, err);
}
