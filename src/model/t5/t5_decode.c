/* t5_decode.c: incremental decoding for greedy generation. Each step runs
 * a decoder stack on one new token per row, attending to cached keys and
 * values of the earlier positions; cross-attention keys/values are
 * computed once from the encoder output, or, for short generations, folded
 * into each step's query (cross_fold.c). The result equals the
 * full-sequence forward. The same cache serves the side decoder. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../ops/ops.h"
#include "t5.h"
#include "t5_hooks.h"

/* How many steps run with the cross-attention folded (no [B, Ts, I] keys
 * and values): all max_len when that costs less than half of projecting
 * the encoder output once plus max_len plain steps (per example and
 * layer); otherwise as many as stay below half of that projection, after
 * which the keys and values are projected (greedy generation mostly stops
 * at EOS long before max_len). 0: never fold (key and value projections
 * with a method's addition: a bias or LoRA). */
static int fold_steps(const lst_t5_config_t *cfg, const lst_t5_block_t *const *blocks, int L,
                      int Ts, int max_len) {
    if (L <= 0) return 0;
    for (int l = 0; l < L; l++)
        if (!lst_t5_lin_plain(blocks[l], LST_LIN_CK) || !lst_t5_lin_plain(blocks[l], LST_LIN_CV))
            return 0;
    const lst_cross_cost_t k = lst_cross_fold_cost(Ts, cfg->num_heads, cfg->d_kv, cfg->d_model);
    if (2.0 * k.folded * max_len < k.project + k.plain * max_len) return max_len;
    const double t = 0.5 * k.project / k.folded; /* folded steps worth half a projection */
    return t >= 1 ? (int)t : 0;
}

/* The cache's buffers, in floats (src_mask: bytes); lazy: the keys and
 * values projected when the folded steps run out (project_cross). */
enum { CACHE_STEP_BUFS = 16 };
typedef struct {
    size_t self_kv, cross_kv, fold, fold_w, enc16, src_mask;
    /* the step scratch, in the order of step_fields(); 0: not needed */
    size_t step[CACHE_STEP_BUFS];
    int fold_until, bf16;
} cache_sizes_t;

/* The step scratch buffers of c, in the order of cache_sizes_t.step. */
static void step_fields(lst_t5_cache_t *c, float **f[CACHE_STEP_BUFS]) {
    float **all[CACHE_STEP_BUFS] = {&c->x,  &c->n,     &c->tmp,  &c->q,  &c->kk, &c->vv,
                                    &c->ctx, &c->h,    &c->l,    &c->probs, &c->bias,
                                    &c->lu, &c->lx,    &c->ay,   &c->au, &c->ag};
    memcpy(f, all, sizeof all);
}

static cache_sizes_t cache_sizes(const lst_t5_config_t *cfg, const lst_t5_block_t *const *blocks,
                                 int n_layers, int B, int Ts, int max_len, int bf16) {
    const size_t L = n_layers, I = (size_t)cfg->num_heads * cfg->d_kv;
    const size_t d = cfg->d_model, F = cfg->d_ff, H = cfg->num_heads;
    const size_t nl = L ? L : 1, kmax = (size_t)(max_len > Ts ? max_len : Ts);
    cache_sizes_t z = {0};
    z.fold_until = fold_steps(cfg, blocks, n_layers, Ts, max_len);
    z.bf16 = z.fold_until > 0 && bf16;
    z.self_kv = nl * B * max_len * I;
    z.cross_kv = z.fold_until < max_len ? nl * B * Ts * I : 0;
    if (z.fold_until > 0) z.fold = lst_cross_fold_scratch(B, 1, Ts, (int)H, (int)d);
    if (z.bf16) {
        z.fold_w = nl * 2 * I * d;
        z.enc16 = (size_t)B * Ts * d;
    }
    /* the methods' step scratch (step_ext), over B x Ts rows at most */
    lst_t5_step_floats_t m = {0};
    if (L) lst_t5_parts_step_floats(&blocks[0]->ext, (size_t)B * (Ts > 1 ? Ts : 1), B, d, I, &m);
    const size_t step[CACHE_STEP_BUFS] = {
        B * d, B * d, B * d,             /* x, n, tmp */
        B * I, B * I, B * I, B * I,      /* q, kk, vv, ctx */
        B * F, B * F, H * kmax, H * max_len, /* h, l, probs, bias */
        m.lin, m.xs,                     /* lu, lx */
        m.sub[0], m.sub[1], m.sub[2]};   /* ay, au, ag */
    memcpy(z.step, step, sizeof step);
    z.src_mask = (size_t)B * Ts;
    return z;
}

size_t lst_dec_cache_bytes(const lst_t5_config_t *cfg, const lst_t5_block_t *const *blocks,
                           int n_layers, int B, int Ts, int max_len, lst_wformat_t dtype) {
    if (B <= 0 || Ts <= 0 || max_len <= 0 || n_layers < 0) return 0;
    /* a store of its own: the cross-attention's k, v as float copies */
    const int packed = lst_t5_streams(dtype);
    const cache_sizes_t z = cache_sizes(cfg, blocks, n_layers, B, Ts, max_len, packed);
    size_t n = 2 * z.self_kv + 2 * z.cross_kv + z.fold + z.fold_w + z.enc16;
    for (int i = 0; i < CACHE_STEP_BUFS; i++) n += z.step[i];
    return sizeof(float) * n + z.src_mask;
}

/* n floats, counted in c->bytes */
static float *cache_floats(lst_t5_cache_t *c, size_t n, lst_err_t *err) {
    float *p = lst_malloc(n ? n : 1, sizeof(float), err);
    if (p) c->bytes += sizeof(float) * n;
    return p;
}

/* The methods' buffers of a step (inference: nothing is kept for a
 * backward, so every linear's and sub-layer's share the step scratch). */
static lst_t5_ext_acts_t step_ext(const lst_t5_cache_t *c) {
    lst_t5_ext_acts_t a;
    for (int i = 0; i < LST_N_LIN; i++) a.lin[i] = c->lu;
    for (int i = 0; i < LST_N_SUB; i++) {
        a.sub[i][0] = c->ay;
        a.sub[i][1] = c->au;
        a.sub[i][2] = c->ag;
    }
    a.xs = c->lx;
    return a;
}

int lst_dec_cache_init(lst_t5_cache_t *c, const lst_t5_config_t *cfg,
                       const lst_t5_block_t *const *blocks, int n_layers,
                       const float *enc_out, const uint8_t *src_mask, int B, int Ts,
                       int max_len, lst_err_t *err) {
    const size_t L = n_layers, I = (size_t)cfg->num_heads * cfg->d_kv, d = cfg->d_model;
    memset(c, 0, sizeof *c);
    if (B <= 0 || Ts <= 0 || max_len <= 0 || n_layers < 0)
        return lst_fail(err, "decode cache shape [%d, %d, %d] must be positive", B, Ts, max_len);
    c->cfg = cfg;
    c->B = B;
    c->Ts = Ts;
    c->max_len = max_len;
    c->n_layers = n_layers;
    const cache_sizes_t z = cache_sizes(cfg, blocks, n_layers, B, Ts, max_len, L && !blocks[0]->ck);
    c->self_k = cache_floats(c, z.self_kv, err);
    c->self_v = cache_floats(c, z.self_kv, err);
    c->fold_until = z.fold_until;
    const int fold = c->fold_until > 0, bf16 = z.bf16; /* bf16: packed weights, float copies */
    c->enc = enc_out;
    if (fold) {
        c->fold = cache_floats(c, z.fold, err);
        if (bf16) {
            c->fold_w = cache_floats(c, z.fold_w, err);
            c->enc16 = cache_floats(c, z.enc16, err);
        }
    } else {
        c->cross_k = cache_floats(c, z.cross_kv, err);
        c->cross_v = cache_floats(c, z.cross_kv, err);
    }
    c->src_mask = lst_malloc(z.src_mask, 1, err);
    if (c->src_mask) c->bytes += z.src_mask;
    float **step[CACHE_STEP_BUFS];
    step_fields(c, step);
    int step_ok = 1;
    for (int i = 0; i < CACHE_STEP_BUFS; i++)
        if (z.step[i]) step_ok &= (*step[i] = cache_floats(c, z.step[i], err)) != NULL;
    const int cross_ok = fold ? c->fold && (!bf16 || (c->fold_w && c->enc16))
                              : c->cross_k && c->cross_v;
    if (!c->self_k || !c->self_v || !cross_ok || !c->src_mask || !step_ok) {
        lst_t5_cache_free(c);
        return lst_fail_ctx(err, "decode cache for batch %d, %d source tokens, %d steps", B, Ts,
                            max_len);
    }
    memcpy(c->src_mask, src_mask, (size_t)B * Ts);
    if (fold) {
        if (bf16) { /* the products the plain path's bf16 linears take */
            for (size_t l = 0; l < L; l++) {
                lst_t5_unpack(c->fold_w + l * 2 * I * d, blocks[l]->pck, (int)I, (int)d);
                lst_t5_unpack(c->fold_w + (l * 2 + 1) * I * d, blocks[l]->pcv, (int)I,
                                        (int)d);
            }
            const lst_wformat_traits_t *tr = lst_wformat(blocks[0]->pck.fmt);
            if (tr->round_input) tr->round_input(c->enc16, enc_out, (size_t)B * Ts, d);
            else memcpy(c->enc16, enc_out, sizeof(float) * (size_t)B * Ts * d);
        }
        return 0;
    }
    const lst_t5_ext_acts_t ea = step_ext(c);
    for (size_t l = 0; l < L; l++) {
        const lst_t5_block_t *w = blocks[l];
        lst_t5_lin_fwd(w, LST_LIN_CK, c->cross_k + l * B * Ts * I, enc_out, B * Ts, (int)d, (int)I,
                       NULL, &ea);
        lst_t5_lin_fwd(w, LST_LIN_CV, c->cross_v + l * B * Ts * I, enc_out, B * Ts, (int)d, (int)I,
                       NULL, &ea);
    }
    return 0;
}

/* After sub-layer sub's norm of c->x: c->n, with the methods' hook. */
static void norm(lst_t5_cache_t *c, const lst_t5_block_t *w, const float *ln, lst_t5_sub_t sub,
                 int B, int d, float eps) {
    lst_rmsnorm_forward(c->n, NULL, c->x, ln, B, d, eps);
    lst_t5_norm_fwd(w, sub, c->n, B, d);
}

void lst_t5_cache_free(lst_t5_cache_t *c) {
    float *bufs[] = {c->self_k, c->self_v, c->cross_k, c->cross_v, c->fold, c->fold_w, c->enc16};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    float **step[CACHE_STEP_BUFS];
    step_fields(c, step);
    for (int i = 0; i < CACHE_STEP_BUFS; i++) free(*step[i]);
    free(c->src_mask);
    memset(c, 0, sizeof *c);
}

void lst_dec_cache_bias(lst_t5_cache_t *c, const float *rel_table) {
    const lst_t5_config_t *cfg = c->cfg;
    lst_relbias_forward(c->bias, rel_table, cfg->num_heads, 1, c->len + 1, c->len, 0, 0,
                        cfg->rel_buckets, cfg->rel_max_distance);
}

/* Switches layer l from the folded cross-attention to projected keys and
 * values (the step c->fold_until; every layer passes here in order). Returns
 * 0 when they are in place, -1 when they cannot be allocated: the layer
 * then keeps folding (fold_until moves past max_len). */
static int project_cross(lst_t5_cache_t *c, const lst_t5_block_t *w, int l) {
    const lst_t5_config_t *cfg = c->cfg;
    const size_t B = c->B, Ts = c->Ts, d = cfg->d_model, I = (size_t)cfg->num_heads * cfg->d_kv;
    if (!c->cross_k) {
        const size_t nl = c->n_layers;
        c->cross_k = malloc(sizeof(float) * nl * B * Ts * I);
        c->cross_v = malloc(sizeof(float) * nl * B * Ts * I);
        if (c->cross_k && c->cross_v) c->bytes += 2 * sizeof(float) * nl * B * Ts * I;
        if (!c->cross_k || !c->cross_v) {
            free(c->cross_k);
            free(c->cross_v);
            c->cross_k = c->cross_v = NULL;
            c->fold_until = c->max_len;
            return -1;
        }
    }
    if (c->len == c->fold_until) { /* plain key and value linears (fold_steps) */
        const lst_t5_ext_acts_t ea = step_ext(c);
        lst_t5_lin_fwd(w, LST_LIN_CK, c->cross_k + l * B * Ts * I, c->enc, (int)(B * Ts), (int)d,
                       (int)I, NULL, &ea);
        lst_t5_lin_fwd(w, LST_LIN_CV, c->cross_v + l * B * Ts * I, c->enc, (int)(B * Ts), (int)d,
                       (int)I, NULL, &ea);
    }
    return 0;
}

/* x: [B, d] -> x after decoder block l at position c->len */
void lst_dec_cache_layer(lst_t5_cache_t *c, const lst_t5_block_t *w, int l) {
    const lst_t5_config_t *cfg = c->cfg;
    const int B = c->B, d = cfg->d_model, H = cfg->num_heads, D = cfg->d_kv;
    const int I = H * D, F = cfg->d_ff, Ts = c->Ts, t = c->len, Tk = t + 1;
    const float eps = cfg->layer_norm_eps;
    float *K = c->self_k + (size_t)l * B * c->max_len * I;
    float *Vc = c->self_v + (size_t)l * B * c->max_len * I;

    const lst_t5_ext_acts_t ea = step_ext(c);

    norm(c, w, w->ln_sa, LST_T5_SELF, B, d, eps);
    lst_t5_lin_fwd(w, LST_LIN_Q, c->q, c->n, B, d, I, NULL, &ea);
    lst_t5_lin_fwd(w, LST_LIN_K, c->kk, c->n, B, d, I, NULL, &ea);
    lst_t5_lin_fwd(w, LST_LIN_V, c->vv, c->n, B, d, I, NULL, &ea);
    for (int b = 0; b < B; b++) {
        float *Kb = K + (size_t)b * c->max_len * I, *Vb = Vc + (size_t)b * c->max_len * I;
        memcpy(Kb + (size_t)t * I, c->kk + (size_t)b * I, sizeof(float) * I);
        memcpy(Vb + (size_t)t * I, c->vv + (size_t)b * I, sizeof(float) * I);
        lst_attention_forward(c->ctx + (size_t)b * I, c->probs, NULL, c->q + (size_t)b * I, Kb, Vb,
                              c->bias, NULL, 0, 1, 1, Tk, H, D, NULL, NULL);
    }
    lst_t5_lin_fwd(w, LST_LIN_O, c->tmp, c->ctx, B, I, d, NULL, &ea);
    lst_t5_sub_fwd(w, LST_T5_SELF, c->tmp, B, d, &ea);
    lst_add_inplace(c->x, c->tmp, (int64_t)B * d);

    norm(c, w, w->ln_ca, LST_T5_CROSS, B, d, eps);
    lst_t5_lin_fwd(w, LST_LIN_CQ, c->q, c->n, B, d, I, NULL, &ea);
    /* folded for the first fold_until steps, then (a long generation) with
     * projected keys and values, unless those cannot be allocated */
    if (c->fold && (t < c->fold_until || project_cross(c, w, l) != 0)) {
        const float *wk = c->fold_w ? c->fold_w + (size_t)l * 2 * I * d : w->ck;
        const float *wv = c->fold_w ? wk + (size_t)I * d : w->cv;
        lst_cross_fold_forward(c->ctx, NULL, c->q, c->enc16 ? c->enc16 : c->enc, wk, wv,
                               c->src_mask, B, 1, Ts, H, D, d, NULL, c->fold);
    } else {
        const float *CK = c->cross_k + (size_t)l * B * Ts * I;
        const float *CV = c->cross_v + (size_t)l * B * Ts * I;
        for (int b = 0; b < B; b++)
            lst_attention_forward(c->ctx + (size_t)b * I, c->probs, NULL, c->q + (size_t)b * I,
                                  CK + (size_t)b * Ts * I, CV + (size_t)b * Ts * I, NULL,
                                  c->src_mask + (size_t)b * Ts, 0, 1, 1, Ts, H, D, NULL, NULL);
    }
    lst_t5_lin_fwd(w, LST_LIN_CO, c->tmp, c->ctx, B, I, d, NULL, &ea);
    lst_t5_sub_fwd(w, LST_T5_CROSS, c->tmp, B, d, &ea);
    lst_add_inplace(c->x, c->tmp, (int64_t)B * d);

    norm(c, w, w->ln_ff, LST_T5_FFN, B, d, eps);
    lst_t5_lin_fwd(w, LST_LIN_WI, c->h, c->n, B, d, F, NULL, &ea);
    lst_op_act_t act = (lst_op_act_t)lst_t5_op_act(cfg);
    if (cfg->gated) {
        lst_t5_lin_fwd(w, LST_LIN_WI1, c->l, c->n, B, d, F, NULL, &ea);
        lst_gated_forward(c->h, c->h, c->l, (int64_t)B * F, act);
    } else {
        lst_act_forward(c->h, c->h, (int64_t)B * F, act);
    }
    lst_t5_lin_fwd(w, LST_LIN_WO, c->tmp, c->h, B, F, d, NULL, &ea);
    lst_t5_sub_fwd(w, LST_T5_FFN, c->tmp, B, d, &ea);
    lst_add_inplace(c->x, c->tmp, (int64_t)B * d);
}

int lst_t5_cache_init(lst_t5_cache_t *c, const lst_t5_t *m, const float *enc_out,
                      const uint8_t *src_mask, int B, int Ts, int max_len, lst_err_t *err) {
    const int L = m->cfg.num_decoder_layers;
    const lst_t5_block_t **blocks = lst_malloc(L ? L : 1, sizeof *blocks, err);
    if (!blocks) return -1;
    for (int l = 0; l < L; l++) blocks[l] = &m->w.dec[l];
    int rc = lst_dec_cache_init(c, &m->cfg, blocks, L, enc_out, src_mask, B, Ts, max_len, err);
    free(blocks);
    return rc;
}

/* ids: [B]  logits: [B, V] */
int lst_t5_decode_step(const lst_t5_t *m, lst_t5_cache_t *c, const int32_t *ids,
                       float *logits, lst_err_t *err) {
    const lst_t5_config_t *cfg = &m->cfg;
    const int B = c->B, d = cfg->d_model;
    if (c->len >= c->max_len)
        return lst_fail(err, "decode cache is full (%d steps)", c->max_len);
    for (int b = 0; b < B; b++)
        if (ids[b] < 0 || ids[b] >= m->vocab)
            return lst_fail(err, "decoder token %d of row %d is outside the vocabulary [0, %d)",
                            ids[b], b, m->vocab);
    lst_embedding_forward(c->x, ids, m->w.shared, B, d);
    lst_dec_cache_bias(c, m->w.dec_rel);
    for (int l = 0; l < cfg->num_decoder_layers; l++) lst_dec_cache_layer(c, &m->w.dec[l], l);
    lst_rmsnorm_forward(c->n, NULL, c->x, m->w.dec_final, B, d, cfg->layer_norm_eps);
    if (cfg->tie_word_embeddings) lst_scale_inplace(c->n, 1.0f / sqrtf((float)d), (int64_t)B * d);
    lst_matmul_forward(logits, c->n, m->w.lm_head, m->w.lm_bias, B, d, m->vocab);
    c->len++;
    return 0;
}

void lst_greedy_begin(int B, int max_len, int start, int32_t *out, int *out_len, int *done,
                      int32_t *ids) {
    memset(out, 0, sizeof(int32_t) * (size_t)B * max_len);
    for (int b = 0; b < B; b++) {
        ids[b] = start;
        out_len[b] = 0;
        done[b] = 0;
    }
}

int lst_greedy_pick(const float *lg, int B, int V, int t, int max_len, int eos,
                    const int32_t *teacher, int32_t *out, int *out_len, int *done, int32_t *ids) {
    int all_done = 1;
    lst_argmax_rows(ids, lg, B, V); /* ids[b] is read before it is rewritten below */
    for (int b = 0; b < B; b++) {
        const int best = ids[b];
        if (!done[b]) {
            out[(size_t)b * max_len + t] = best;
            if (best == eos) done[b] = 1;
            else out_len[b]++;
        }
        all_done &= done[b];
        ids[b] = teacher ? teacher[(size_t)b * max_len + t] : best;
    }
    return all_done && !teacher;
}

size_t lst_t5_generate_bytes(const lst_t5_t *m, int B, int Ts, int max_len) {
    const int L = m->cfg.num_decoder_layers;
    lst_err_t err;
    const lst_t5_block_t **blocks = lst_malloc(L ? L : 1, sizeof *blocks, &err);
    if (!blocks) return SIZE_MAX; /* no plan can be made: nothing fits */
    for (int l = 0; l < L; l++) blocks[l] = &m->w.dec[l];
    const size_t n = sizeof(float) * (lst_t5_acts_floats(m, B, Ts, 1, 0) + (size_t)B * m->vocab) +
                     (size_t)B * (sizeof(int32_t) + sizeof(int)) +
                     lst_dec_cache_bytes(&m->cfg, blocks, L, B, lst_t5_enc_len(m, Ts), max_len, LST_WF_F32);
    free(blocks);
    return n;
}

int lst_t5_generate(const lst_t5_t *m, const lst_batch_t *bt, int max_len, int32_t *out,
                    int *out_len, const int32_t *teacher, float *logits, lst_err_t *err) {
    const lst_t5_config_t *cfg = &m->cfg;
    const int B = bt->B, V = m->vocab;
    if (max_len <= 0) return lst_fail(err, "generation length %d must be positive", max_len);
    lst_t5_acts_t a;
    lst_t5_cache_t c = {0};
    if (lst_t5_acts_alloc(&a, m, B, bt->Ts, 1, 0, err)) return -1;
    lst_t5_encode(m, bt, &a, NULL);
    int32_t *ids = lst_malloc(B, sizeof *ids, err);
    int *done = lst_calloc(B, sizeof *done, err);
    float *lg = lst_malloc((size_t)B * V, sizeof(float), err);
    int rc = -1;
    if (!ids || !done || !lg ||
        lst_t5_cache_init(&c, m, a.enc_out, lst_t5_enc_mask(m, bt, &a), B,
                          lst_t5_enc_len(m, bt->Ts), max_len, err))
        goto out;
    lst_greedy_begin(B, max_len, cfg->decoder_start_token_id, out, out_len, done, ids);
    for (int t = 0; t < max_len; t++) {
        if (lst_t5_decode_step(m, &c, ids, lg, err)) goto out;
        if (logits) memcpy(logits + (size_t)t * B * V, lg, sizeof(float) * B * V);
        if (lst_greedy_pick(lg, B, V, t, max_len, cfg->eos_token_id, teacher, out, out_len, done, ids))
            break;
    }
    rc = 0;
out:
    free(ids);
    free(done);
    free(lg);
    lst_t5_cache_free(&c);
    lst_t5_acts_free(&a);
    return rc;
}
