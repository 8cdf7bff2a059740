/* side_decode.c: greedy generation with the LST model. The encoder stacks
 * (backbone and side) run once; then each step feeds one token to the
 * backbone decoder (cached, up to the last kept layer) and, layer by
 * layer, its outputs through the ladders into the cached side decoder.
 * Side-tuning steps every backbone decoder layer (its final-norm output is
 * merged into the LM head input); compression has no backbone decoder. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/ops.h"
#include "side.h"

/* The decoder layers generation steps: the backbone's up to the last kept
 * layer (LST), all of them (side-tuning) or none (compression). */
static int backbone_steps(const lst_side_t *s) {
    const int nk = s->opts.n_keep[1];
    if (s->opts.mode == LST_SIDE_LADDER) return s->opts.keep[1][nk - 1] + 1;
    return s->opts.mode == LST_SIDE_TUNING ? s->L[1] : 0;
}

size_t lst_side_generate_bytes(const lst_backbone_t *bb, const lst_side_t *s, int B, int Ts,
                               int max_len, lst_wformat_t fmt) {
    const lst_t5_config_t *cs = &s->cfg;
    const int nk = s->opts.n_keep[1], n_bb = backbone_steps(s);
    const size_t d = bb->d_model, ds = cs->d_model;
    size_t n = sizeof(float) * (lst_side_acts_floats(bb, s, B, Ts, 1, 0) +
                                (size_t)B * (2 * d + ds + (size_t)bb->vocab)) +
               (size_t)B * (sizeof(int32_t) + sizeof(int));
    if (n_bb) n += lst_bb_cache_bytes(bb, n_bb, B, Ts, max_len, fmt);
    return n + lst_dec_cache_bytes(cs, s->w.st[1].kept, nk, B, Ts, max_len, LST_WF_F32);
}

static int generate(const lst_backbone_t *bb, const lst_side_t *s, const lst_batch_t *bt,
                    const lst_side_taps_t *io, int max_len, int32_t *out, int *out_len,
                    const int32_t *teacher, float *logits, lst_err_t *err) {
    const lst_t5_config_t *cs = &s->cfg;
    const int B = bt->B, Ts = bt->Ts, d = bb->d_model, ds = cs->d_model, V = bb->vocab;
    const lst_side_stack_t *W = &s->w.st[1];
    const int ladder = s->opts.mode == LST_SIDE_LADDER, tuning = s->opts.mode == LST_SIDE_TUNING;
    const int nk = s->opts.n_keep[1], Ld = s->L[1];
    /* backbone decoder layers stepped: LST up to the last kept layer,
     * side-tuning all of them, compression none */
    const int n_bb = backbone_steps(s);
    if (max_len <= 0) return lst_fail(err, "generation length %d must be positive", max_len);
    lst_side_acts_t a;
    lst_bb_cache_t *cbb = NULL;
    lst_t5_cache_t cside = {0};
    lst_batch_t enc = *bt;
    enc.Td = 1;
    enc.dec_ids = NULL;
    enc.dec_mask = NULL;
    enc.labels = NULL;
    if (lst_side_acts_alloc(&a, bb, s, B, Ts, 1, 0, err)) return -1;
    a.io = io;
    lst_side_encode(bb, s, &enc, &a);

    int32_t *ids = lst_malloc(B, sizeof *ids, err);
    int *done = lst_calloc(B, sizeof *done, err);
    float *emb = lst_malloc((size_t)B * d, sizeof(float), err);
    float *D = lst_malloc((size_t)B * ds, sizeof(float), err);
    float *up = lst_malloc((size_t)B * d, sizeof(float), err);
    float *lg = lst_malloc((size_t)B * V, sizeof(float), err);
    int rc = -1;
    if (!ids || !done || !emb || !D || !up || !lg) goto out;
    if ((n_bb && !(cbb = lst_bb_cache_new(bb, n_bb, a.bb_enc_out, bt->src_mask, B, Ts, max_len,
                                          err))) ||
        lst_dec_cache_init(&cside, cs, W->kept, nk, a.fin[0], bt->src_mask, B, Ts, max_len, err))
        goto out;
    lst_greedy_begin(B, max_len, bb->dec_start, out, out_len, done, ids);
    for (int t = 0; t < max_len; t++) {
        /* the backbone decoder's running hidden state [B, d] (asked each step:
         * the cache owns it) */
        float *bx = cbb ? lst_bb_cache_x(bb, cbb) : NULL;
        /* embedding -> backbone x and side first_downsample */
        lst_bb_embed(bb, emb, ids, B);
        if (n_bb) memcpy(bx, emb, sizeof(float) * B * d);
        lst_matmul_forward(cside.x, emb, W->first_w, W->first_b, B, d, ds);
        if (n_bb) lst_bb_step_begin(bb, cbb);
        lst_dec_cache_bias(&cside, W->rel);
        int k = 0;
        for (int i = 0; i < Ld; i++) {
            if (i < n_bb) lst_bb_step_layer(bb, cbb, i);
            if (k >= nk || s->opts.keep[1][k] != i) continue;
            if (ladder) {
                lst_matmul_forward(D, bx, W->down_w[i], W->down_b[i], B, d, ds);
                lst_gate_forward(cside.x, cside.x, D, W->gate[i], s->opts.gate_T, (int64_t)B * ds);
            }
            lst_dec_cache_layer(&cside, &W->blk[i], k);
            k++;
        }
        if (n_bb) lst_bb_step_end(bb, cbb);
        cside.len++;
        lst_rmsnorm_forward(cside.n, NULL, cside.x, W->final_ln, B, ds, cs->layer_norm_eps);
        lst_matmul_forward(up, cside.n, s->w.up_w, s->w.up_b, B, ds, d);
        if (tuning) { /* head = g*dec_out + (1-g)*up, dec_out after the final norm
                       * (into emb: this step is done with the embedding) */
            lst_bb_final_norm(bb, 1, emb, bx, B);
            lst_gate_forward(up, emb, up, s->w.merge, s->opts.gate_T, (int64_t)B * d);
        }
        if (bb->head_scale != 1.0f) lst_scale_inplace(up, bb->head_scale, (int64_t)B * d);
        lst_bb_head_forward(bb, lg, up, B);
        if (logits) memcpy(logits + (size_t)t * B * V, lg, sizeof(float) * B * V);
        if (lst_greedy_pick(lg, B, V, t, max_len, bb->eos, teacher, out, out_len, done, ids))
            break;
    }
    rc = 0;
out:
    free(ids);
    free(done);
    free(emb);
    free(D);
    free(up);
    free(lg);
    lst_bb_cache_free(bb, cbb);
    lst_t5_cache_free(&cside);
    lst_side_acts_free(&a);
    return rc;
}

int lst_side_generate(const lst_backbone_t *bb, const lst_side_t *s, const lst_batch_t *bt,
                      int max_len, int32_t *out, int *out_len, const int32_t *teacher,
                      float *logits, lst_err_t *err) {
    return generate(bb, s, bt, NULL, max_len, out, out_len, teacher, logits, err);
}

int lst_side_generate_io(const lst_backbone_t *bb, const lst_side_t *s, const lst_batch_t *bt,
                         const lst_side_taps_t *io, int max_len, int32_t *out, int *out_len,
                         lst_err_t *err) {
    return generate(bb, s, bt, io, max_len, out, out_len, NULL, NULL, err);
}
