/* t5.c: T5 forward (taps, hidden states, logits, loss) and the full
 * backward (a gradient for every parameter). Pre-norm residual blocks:
 * x + SelfAttn(RMSNorm(x)), [+ CrossAttn(RMSNorm(.))], + FFN(RMSNorm(.)).
 * The relative position bias is computed once per stack from block 0's
 * table and reused by every block. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../ops/ops.h"
#include "t5.h"
#include "t5_hooks.h"

int lst_t5_op_act(const lst_t5_config_t *c) {
    return c->act == LST_ACT_GELU_NEW ? LST_OP_GELU_NEW
           : c->act == LST_ACT_GELU   ? LST_OP_GELU
           : c->act == LST_ACT_SILU   ? LST_OP_SILU
                                      : LST_OP_RELU;
}

static lst_op_act_t op_act(const lst_t5_config_t *c) { return (lst_op_act_t)lst_t5_op_act(c); }

int lst_t5_check_batch(const lst_t5_t *m, const lst_batch_t *b,
                       lst_err_t *err) {
    if (lst_t5_enc_len(m, b->Ts) >= LST_DROP_MAX_POS || b->Td >= LST_DROP_MAX_POS)
        return lst_fail(err, "batch of %d source and %d target positions: at most %d each",
                        lst_t5_enc_len(m, b->Ts), b->Td, LST_DROP_MAX_POS - 1);
    for (int i = 0; i < b->B * b->Ts; i++)
        if (b->input_ids[i] < 0 || b->input_ids[i] >= m->vocab)
            return lst_fail(err, "input_ids[%d][%d] = %d is outside the vocabulary [0, %d)",
                            i / b->Ts, i % b->Ts, b->input_ids[i], m->vocab);
    for (int i = 0; i < b->B * b->Td; i++) {
        if (b->dec_ids[i] < 0 || b->dec_ids[i] >= m->vocab)
            return lst_fail(err,
                            "decoder_input_ids[%d][%d] = %d is outside the vocabulary [0, %d)",
                            i / b->Td, i % b->Td, b->dec_ids[i], m->vocab);
        if (b->labels && b->labels[i] != -100 && (b->labels[i] < 0 || b->labels[i] >= m->vocab))
            return lst_fail(err, "labels[%d][%d] = %d is outside the vocabulary [0, %d) and not -100",
                            i / b->Td, i % b->Td, b->labels[i], m->vocab);
    }
    return 0;
}

/* The loss of logits [N, V]: row losses summed / the batch's label count,
 * and with dlogits, its gradient. */
static double batch_loss(float *dlogits, const float *logits, const lst_batch_t *bt, int V) {
    const int64_t count = lst_batch_label_count(bt);
    const double total = lst_xent_sum(dlogits, logits, bt->labels, bt->B * bt->Td, V,
                                      count ? (float)(1.0 / (double)count) : 0.0f);
    return count ? total / (double)count : 0.0;
}

/* Dropout sites inside a block (derived from the block's base site); a
 * method's own follow from LST_T5_SITE_METHOD (t5_block_ext.h). */
enum { SITE_SA_PROBS, SITE_SA_OUT, SITE_CA_PROBS, SITE_CA_OUT, SITE_FF_HIDDEN, SITE_FF_OUT,
       SITE_END };
_Static_assert(SITE_END == LST_T5_SITE_METHOD, "the methods' dropout sites follow the block's");

lst_drop_t lst_drop_layer(const lst_drop_t *base, int stack, int layer) {
    lst_drop_t d = {0, 0, 0, 0, NULL};
    if (!lst_drop_active(base)) return d;
    d = *base;
    d.stream = (base->stream * 2 + (uint64_t)stack) * 256 + (uint64_t)(layer & 255);
    return d;
}

/* The folded cross-attention (a->fold: carved where it pays and the key
 * and value projections carry no bias or LoRA): from the float32 key and
 * value weights; for a bf16 backbone from float copies of the packed ones
 * and the encoder output rounded to bf16, the products the plain path's
 * bf16 key and value linears take (so generation, which runs them, agrees). */
static void cross_fold(const lst_t5_config_t *c, const lst_t5_block_t *w, lst_t5_block_acts_t *a,
                       const float *enc, int B, int T, int Ts, const uint8_t *src_mask,
                       const lst_drop_t *drop) {
    const int d = c->d_model, I = c->num_heads * c->d_kv;
    const float *Wk = w->ck, *Wv = w->cv;
    if (!Wk) {
        float *wk = a->fold_w, *wv = wk + (size_t)I * d, *e16 = wv + (size_t)I * d;
        lst_t5_unpack(wk, w->pck, I, d);
        lst_t5_unpack(wv, w->pcv, I, d);
        Wk = wk;
        Wv = wv;
        const lst_wformat_traits_t *tr = lst_wformat(w->pck.fmt);
        if (tr->round_input) {
            tr->round_input(e16, enc, (size_t)B * Ts, d);
            enc = e16;
        }
    }
    lst_cross_fold_forward(a->cctx, a->clse, a->cq, enc, Wk, Wv, src_mask, B, T, Ts, c->num_heads,
                           c->d_kv, d, drop, a->fold);
}

void lst_t5_block_forward(const lst_t5_config_t *c, const lst_t5_block_t *w,
                          lst_t5_block_acts_t *a, float *out, const float *x,
                          int B, int T, const float *bias, const uint8_t *self_mask,
                          int causal, const float *enc, int Ts,
                          const uint8_t *src_mask, const lst_drop_t *drop,
                          float *scratch) {
    const int d = c->d_model, I = c->num_heads * c->d_kv, F = c->d_ff, H = c->num_heads;
    const int N = B * T;
    const float eps = c->layer_norm_eps;
    const lst_t5_ext_acts_t *ea = &a->ext;

    lst_rmsnorm_forward(a->n_sa, a->rstd_sa, x, w->ln_sa, N, d, eps);
    lst_t5_norm_fwd(w, LST_T5_SELF, a->n_sa, N, d);
    lst_t5_lin_fwd(w, LST_LIN_Q, a->q, a->n_sa, N, d, I, drop, ea);
    lst_t5_lin_fwd(w, LST_LIN_K, a->k, a->n_sa, N, d, I, drop, ea);
    lst_t5_lin_fwd(w, LST_LIN_V, a->v, a->n_sa, N, d, I, drop, ea);
    const int on = lst_drop_active(drop);
    lst_drop_t site = lst_drop_site(drop, SITE_SA_PROBS);
    lst_attention_forward(a->ctx, NULL, a->lse, a->q, a->k, a->v, bias, self_mask,
                          causal, B, T, T, H, c->d_kv, on ? &site : NULL, scratch);
    /* xa = x + drop(sub-layer hook(ctx @ o^T)), and the next sub-layer's norm of it */
    lst_t5_lin_fwd(w, LST_LIN_O, a->xa, a->ctx, N, I, d, drop, ea);
    lst_t5_sub_fwd(w, LST_T5_SELF, a->xa, N, d, ea);
    site = lst_drop_site(drop, SITE_SA_OUT);
    lst_residual_rmsnorm_forward(a->xa, enc ? a->n_ca : a->n_ff, enc ? a->rstd_ca : a->rstd_ff, x,
                                 a->xa, enc ? w->ln_ca : w->ln_ff, N, d, eps, on ? &site : NULL);
    lst_t5_norm_fwd(w, enc ? LST_T5_CROSS : LST_T5_FFN, enc ? a->n_ca : a->n_ff, N, d);

    if (enc) {
        const int Ns = B * Ts;
        lst_t5_lin_fwd(w, LST_LIN_CQ, a->cq, a->n_ca, N, d, I, drop, ea);
        site = lst_drop_site(drop, SITE_CA_PROBS);
        if (a->fold) { /* forward-only: keys and values folded into the queries */
            cross_fold(c, w, a, enc, B, T, Ts, src_mask, on ? &site : NULL);
        } else {
            lst_t5_lin_fwd(w, LST_LIN_CK, a->ck, enc, Ns, d, I, drop, ea);
            lst_t5_lin_fwd(w, LST_LIN_CV, a->cv, enc, Ns, d, I, drop, ea);
            lst_attention_forward(a->cctx, NULL, a->clse, a->cq, a->ck, a->cv, NULL, src_mask, 0, B,
                                  T, Ts, H, c->d_kv, on ? &site : NULL, scratch);
        }
        lst_t5_lin_fwd(w, LST_LIN_CO, a->xb, a->cctx, N, I, d, drop, ea);
        lst_t5_sub_fwd(w, LST_T5_CROSS, a->xb, N, d, ea);
        site = lst_drop_site(drop, SITE_CA_OUT);
        lst_residual_rmsnorm_forward(a->xb, a->n_ff, a->rstd_ff, a->xa, a->xb, w->ln_ff, N, d, eps,
                                     on ? &site : NULL);
        lst_t5_norm_fwd(w, LST_T5_FFN, a->n_ff, N, d);
    }
    const float *res = enc ? a->xb : a->xa;

    lst_t5_lin_fwd(w, LST_LIN_WI, a->h, a->n_ff, N, d, F, drop, ea);
    if (c->gated) {
        lst_t5_lin_fwd(w, LST_LIN_WI1, a->l, a->n_ff, N, d, F, drop, ea);
        lst_gated_forward(a->act, a->h, a->l, (int64_t)N * F, op_act(c));
    } else {
        lst_act_forward(a->act, a->h, (int64_t)N * F, op_act(c));
    }
    if (on) {
        site = lst_drop_site(drop, SITE_FF_HIDDEN);
        lst_dropout_rows(a->act, a->act, (int64_t)N * F, &site);
    }
    lst_t5_lin_fwd(w, LST_LIN_WO, out, a->act, N, F, d, drop, ea);
    lst_t5_sub_fwd(w, LST_T5_FFN, out, N, d, ea);
    site = lst_drop_site(drop, SITE_FF_OUT);
    lst_residual_rmsnorm_forward(out, NULL, NULL, res, out, NULL, N, d, eps, on ? &site : NULL);
}

/* Stack-level dropout sites: the embedding output and the final norm output. */
static lst_drop_t stack_site(const lst_drop_t *drop, int stack, int site) {
    lst_drop_t base = lst_drop_layer(drop, stack, 255);
    return lst_drop_site(&base, site);
}

/* The encoder's input: prompt vectors (prompt tuning) then the embedded
 * ids, per row: x: [B, P + Ts, d]; the extended mask goes to a. */
static void encoder_input(const lst_t5_t *m, const lst_batch_t *bt, lst_t5_acts_t *a,
                          float *x) {
    const int B = bt->B, Ts = bt->Ts, d = m->cfg.d_model, P = m->w.prompt ? m->w.prompt_len : 0;
    if (!P) {
        lst_embedding_forward(x, bt->input_ids, m->w.shared, B * Ts, d);
        return;
    }
    const int Te = P + Ts;
    for (int b = 0; b < B; b++) {
        memcpy(x + (size_t)b * Te * d, m->w.prompt, sizeof(float) * (size_t)P * d);
        lst_embedding_forward(x + ((size_t)b * Te + P) * d, bt->input_ids + (size_t)b * Ts,
                              m->w.shared, Ts, d);
        memset(a->src_mask_ext + (size_t)b * Te, 1, P);
        memcpy(a->src_mask_ext + (size_t)b * Te + P, bt->src_mask + (size_t)b * Ts, Ts);
    }
}

int lst_t5_enc_len(const lst_t5_t *m, int Ts) { return Ts + (m->w.prompt ? m->w.prompt_len : 0); }

const uint8_t *lst_t5_enc_mask(const lst_t5_t *m, const lst_batch_t *bt,
                               const lst_t5_acts_t *a) {
    return m->w.prompt ? a->src_mask_ext : bt->src_mask;
}

void lst_t5_encode(const lst_t5_t *m, const lst_batch_t *bt, lst_t5_acts_t *a,
                   const lst_drop_t *drop_in) {
    const lst_t5_config_t *c = &m->cfg;
    const int B = bt->B, Ts = lst_t5_enc_len(m, bt->Ts), d = c->d_model;
    const size_t tap = (size_t)B * Ts * d;
    const int on = lst_drop_active(drop_in);
    const lst_drop_t rows = lst_drop_batch(drop_in, B, bt->example_ids), *drop = on ? &rows : NULL;
    encoder_input(m, bt, a, a->enc_taps);
    const uint8_t *mask = lst_t5_enc_mask(m, bt, a);
    if (on) {
        lst_drop_t e = stack_site(drop, 0, 0);
        lst_dropout_rows(a->enc_taps, a->enc_taps, (int64_t)tap, &e);
    }
    lst_relbias_forward(a->enc_bias, m->w.enc_rel, c->num_heads, Ts, Ts, 0, 0, 1,
                        c->rel_buckets, c->rel_max_distance);
    for (int i = 0; i < c->num_layers; i++) {
        lst_drop_t bd = lst_drop_layer(drop, 0, i);
        lst_t5_block_forward(c, &m->w.enc[i], &a->enc_blk[i], a->enc_taps + (i + 1) * tap,
                             a->enc_taps + i * tap, B, Ts, a->enc_bias, mask, 0,
                             NULL, 0, NULL, on ? &bd : NULL, a->attn_scratch);
    }
    lst_rmsnorm_forward(a->enc_out, a->enc_rstd, a->enc_taps + c->num_layers * tap,
                        m->w.enc_final, B * Ts, d, c->layer_norm_eps);
    if (on) {
        lst_drop_t f = stack_site(drop, 0, 1);
        lst_dropout_rows(a->enc_out, a->enc_out, (int64_t)tap, &f);
    }
}

double lst_t5_forward(const lst_t5_t *m, const lst_batch_t *bt, lst_t5_acts_t *a,
                      const lst_drop_t *drop_in) {
    const lst_t5_config_t *c = &m->cfg;
    const int B = bt->B, Ts = lst_t5_enc_len(m, bt->Ts), Td = bt->Td, d = c->d_model;
    const size_t tap = (size_t)B * Td * d;
    const int on = lst_drop_active(drop_in);
    const lst_drop_t rows = lst_drop_batch(drop_in, B, bt->example_ids), *drop = on ? &rows : NULL;
    lst_t5_encode(m, bt, a, drop_in);
    const uint8_t *mask = lst_t5_enc_mask(m, bt, a);

    lst_embedding_forward(a->dec_taps, bt->dec_ids, m->w.shared, B * Td, d);
    if (on) {
        lst_drop_t e = stack_site(drop, 1, 0);
        lst_dropout_rows(a->dec_taps, a->dec_taps, (int64_t)tap, &e);
    }
    lst_relbias_forward(a->dec_bias, m->w.dec_rel, c->num_heads, Td, Td, 0, 0, 0,
                        c->rel_buckets, c->rel_max_distance);
    for (int i = 0; i < c->num_decoder_layers; i++) {
        lst_drop_t bd = lst_drop_layer(drop, 1, i);
        lst_t5_block_forward(c, &m->w.dec[i], &a->dec_blk[i], a->dec_taps + (i + 1) * tap,
                             a->dec_taps + i * tap, B, Td, a->dec_bias, bt->dec_mask, 1,
                             a->enc_out, Ts, mask, on ? &bd : NULL, a->attn_scratch);
    }
    lst_rmsnorm_forward(a->dec_out, a->dec_rstd, a->dec_taps + c->num_decoder_layers * tap,
                        m->w.dec_final, B * Td, d, c->layer_norm_eps);
    if (on) {
        lst_drop_t f = stack_site(drop, 1, 1);
        lst_dropout_rows(a->dec_out, a->dec_out, (int64_t)tap, &f);
    }

    /* LM head; tied embeddings scale the input by d_model^-0.5 first. */
    memcpy(a->head_in, a->dec_out, sizeof(float) * tap);
    if (c->tie_word_embeddings) lst_scale_inplace(a->head_in, 1.0f / sqrtf((float)d), (int64_t)tap);
    lst_matmul_forward(a->logits, a->head_in, m->w.lm_head, m->w.lm_bias, B * Td, d, m->vocab);
    if (!bt->labels) return 0.0;
    return batch_loss(NULL, a->logits, bt, m->vocab);
}

void lst_t5_bwd_scratch_carve(lst_carve_t *cv, lst_t5_bwd_scratch_t *s, const lst_t5_config_t *c,
                              int B, int T, int Ts, int cross_kv) {
    const size_t d = c->d_model, I = (size_t)c->num_heads * c->d_kv, F = c->d_ff;
    const size_t Tm = (size_t)(T > Ts ? T : Ts), N = (size_t)B * Tm;
    const size_t Ns = cross_kv ? (size_t)B * Ts : 0;
    size_t sizes[] = {N * d, N * d, N * d, N * I, N * F, N * F, N * F, N * I, N * I, N * I,
                      Ns * I, Ns * I, lst_attention_backward_workspace(B, (int)Tm, (int)Tm, c->num_heads)};
    float **slots[] = {&s->dres, &s->dn, &s->dtmp, &s->dI, &s->dF, &s->dF2, &s->dF3, &s->dq,
                       &s->dk, &s->dv, &s->dck, &s->dcv, &s->attn};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) *slots[i] = lst_carve(cv, sizes[i]);
    s->base = NULL;
}

int lst_t5_bwd_scratch_alloc(lst_t5_bwd_scratch_t *s, const lst_t5_config_t *c, int B,
                             int T, int Ts, lst_err_t *err) {
    lst_carve_t cv = {0};
    lst_t5_bwd_scratch_carve(&cv, s, c, B, T, Ts, 1);
    float *base = lst_calloc(cv.used, sizeof(float), err);
    if (!base) return lst_fail_ctx(err, "backward scratch");
    cv.base = base;
    cv.used = 0;
    lst_t5_bwd_scratch_carve(&cv, s, c, B, T, Ts, 1);
    s->base = base;
    return 0;
}

void lst_t5_bwd_scratch_free(lst_t5_bwd_scratch_t *s) {
    free(s->base);
    memset(s, 0, sizeof *s);
}

/* Applies dropout site `site` of block `drop` to a gradient in place. */
static void drop_grad(float *g, int64_t n, const lst_drop_t *drop, int site) {
    if (!lst_drop_active(drop)) return;
    lst_drop_t d = lst_drop_site(drop, site);
    lst_dropout_rows(g, g, n, &d);
}

/* dout: [B, T, d] gradient of the block output -> dx: [B, T, d] (overwritten;
 * may be NULL when nothing below needs it). denc: [B, Ts, d] accumulates the
 * cross-attention's gradient of enc (may be NULL). g: gradient pointers
 * (NULL members skip that weight's gradient). */
void lst_t5_block_backward(const lst_t5_config_t *c, const lst_t5_block_t *w,
                           const lst_t5_block_t *g, const lst_t5_block_acts_t *a,
                           float *dx, const float *dout, const float *x, int B,
                           int T, const float *bias, const uint8_t *self_mask,
                           int causal, float *dbias, const float *enc, float *denc,
                           int Ts, const uint8_t *src_mask, const lst_drop_t *drop,
                           lst_t5_bwd_scratch_t *s) {
    const int d = c->d_model, I = c->num_heads * c->d_kv, F = c->d_ff, H = c->num_heads;
    const int N = B * T;
    const int64_t Nd = (int64_t)N * d, NF = (int64_t)N * F;
    const float *res = enc ? a->xb : a->xa;
    const int on = lst_drop_active(drop);
    const lst_t5_ext_acts_t *ea = &a->ext;
    lst_drop_t site;

    /* FFN: out = res + drop(hook(drop(act) @ wo^T)); dres = d(out) = d(res) so far */
    memcpy(s->dres, dout, sizeof(float) * Nd);
    site = lst_drop_site(drop, SITE_FF_OUT);
    lst_residual_rmsnorm_backward(s->dres, s->dtmp, NULL, NULL, NULL, NULL, NULL, N, d,
                                  on ? &site : NULL);
    lst_t5_sub_bwd(w, g, LST_T5_FFN, s->dtmp, N, d, ea, s);
    memset(s->dF, 0, sizeof(float) * NF);
    const lst_t5_lin_t wo = LST_LIN_WO;
    lst_t5_lin_bwd(w, g, &wo, 1, s->dF, &s->dtmp, a->act, N, F, d, drop, ea, s);
    drop_grad(s->dF, NF, drop, SITE_FF_HIDDEN);
    memset(s->dn, 0, sizeof(float) * Nd);
    memset(s->dF2, 0, sizeof(float) * NF);
    const lst_t5_lin_t wi[2] = {LST_LIN_WI, LST_LIN_WI1};
    float *dwi[2] = {s->dF2, s->dF3};
    if (c->gated) {
        memset(s->dF3, 0, sizeof(float) * NF);
        lst_gated_backward(s->dF2, s->dF3, s->dF, a->h, a->l, NF, op_act(c));
    } else {
        lst_act_backward(s->dF2, s->dF, a->h, NF, op_act(c));
    }
    lst_t5_lin_bwd(w, g, wi, c->gated ? 2 : 1, s->dn, dwi, a->n_ff, N, d, F, drop, ea, s);
    lst_t5_norm_bwd(g, LST_T5_FFN, s->dn, N, d);
    /* seam: res = prev + drop(sub-layer output), n_ff = norm(res) */
    site = lst_drop_site(drop, enc ? SITE_CA_OUT : SITE_SA_OUT);
    lst_residual_rmsnorm_backward(s->dres, s->dtmp, g->ln_ff, s->dn, res, w->ln_ff, a->rstd_ff, N,
                                  d, on ? &site : NULL);

    if (enc) {
        const int Ns = B * Ts;
        /* Cross-attention: dtmp = d(hook(cctx @ co^T)); dres = d(xa) so far. */
        lst_t5_sub_bwd(w, g, LST_T5_CROSS, s->dtmp, N, d, ea, s);
        memset(s->dI, 0, sizeof(float) * (size_t)N * I);
        const lst_t5_lin_t co = LST_LIN_CO, cq = LST_LIN_CQ, ckv[2] = {LST_LIN_CK, LST_LIN_CV};
        lst_t5_lin_bwd(w, g, &co, 1, s->dI, &s->dtmp, a->cctx, N, I, d, drop, ea, s);
        memset(s->dq, 0, sizeof(float) * (size_t)N * I);
        site = lst_drop_site(drop, SITE_CA_PROBS);
        if (a->fold) { /* float32 weights: a bf16 backbone never runs backward */
            lst_cross_fold_backward(s->dq, denc, g->ck, g->cv, s->dI, a->cq, enc, w->ck, w->cv,
                                    a->clse, src_mask, B, T, Ts, H, c->d_kv, d, on ? &site : NULL,
                                    a->fold);
        } else {
            memset(s->dck, 0, sizeof(float) * (size_t)Ns * I);
            memset(s->dcv, 0, sizeof(float) * (size_t)Ns * I);
            lst_attention_backward(s->dq, s->dck, s->dcv, NULL, s->dI, a->cctx, a->clse, a->cq,
                                   a->ck, a->cv, NULL, src_mask, 0, B, T, Ts, H, c->d_kv,
                                   on ? &site : NULL, s->attn);
            float *dkv[2] = {s->dck, s->dcv};
            lst_t5_lin_bwd(w, g, ckv, 2, denc, dkv, enc, Ns, d, I, drop, ea, s);
        }
        memset(s->dn, 0, sizeof(float) * Nd);
        lst_t5_lin_bwd(w, g, &cq, 1, s->dn, &s->dq, a->n_ca, N, d, I, drop, ea, s);
        lst_t5_norm_bwd(g, LST_T5_CROSS, s->dn, N, d);
        /* seam: xa = x + drop(self-attention output), n_ca = norm(xa) */
        site = lst_drop_site(drop, SITE_SA_OUT);
        lst_residual_rmsnorm_backward(s->dres, s->dtmp, g->ln_ca, s->dn, a->xa, w->ln_ca,
                                      a->rstd_ca, N, d, on ? &site : NULL);
    }

    /* Self-attention: dtmp = d(hook(ctx @ o^T)); dres = d(x) so far. */
    lst_t5_sub_bwd(w, g, LST_T5_SELF, s->dtmp, N, d, ea, s);
    memset(s->dI, 0, sizeof(float) * (size_t)N * I);
    const lst_t5_lin_t o = LST_LIN_O, qkv[3] = {LST_LIN_Q, LST_LIN_K, LST_LIN_V};
    lst_t5_lin_bwd(w, g, &o, 1, s->dI, &s->dtmp, a->ctx, N, I, d, drop, ea, s);
    memset(s->dq, 0, sizeof(float) * (size_t)N * I);
    memset(s->dk, 0, sizeof(float) * (size_t)N * I);
    memset(s->dv, 0, sizeof(float) * (size_t)N * I);
    site = lst_drop_site(drop, SITE_SA_PROBS);
    lst_attention_backward(s->dq, s->dk, s->dv, dbias, s->dI, a->ctx, a->lse, a->q, a->k, a->v,
                           bias, self_mask, causal, B, T, T, H, c->d_kv, on ? &site : NULL,
                           s->attn);
    memset(s->dn, 0, sizeof(float) * Nd);
    float *dqkv[3] = {s->dq, s->dk, s->dv};
    lst_t5_lin_bwd(w, g, qkv, 3, s->dn, dqkv, a->n_sa, N, d, I, drop, ea, s);
    lst_t5_norm_bwd(g, LST_T5_SELF, s->dn, N, d);
    if (!dx) {
        if (g->ln_sa) lst_rmsnorm_backward(NULL, g->ln_sa, s->dn, x, w->ln_sa, a->rstd_sa, N, d);
        return;
    }
    memcpy(dx, s->dres, sizeof(float) * Nd);
    lst_rmsnorm_backward(dx, g->ln_sa, s->dn, x, w->ln_sa, a->rstd_sa, N, d);
}

int lst_t5_backward(const lst_t5_t *m, const lst_batch_t *bt, const lst_t5_acts_t *a,
                    const lst_drop_t *drop_in, float *grads, lst_err_t *err) {
    const lst_drop_t rows = lst_drop_batch(drop_in, bt->B, bt->example_ids);
    const lst_drop_t *drop = lst_drop_active(drop_in) ? &rows : NULL;
    const lst_t5_config_t *c = &m->cfg;
    const int B = bt->B, Ts = lst_t5_enc_len(m, bt->Ts), Td = bt->Td, d = c->d_model, V = m->vocab;
    const int H = c->num_heads, P = m->w.prompt ? m->w.prompt_len : 0;
    if (!a->keep_all || !bt->labels)
        return lst_fail(err, "T5 backward needs a forward with saved activations and labels");
    /* every buffer comes from the activations' allocation; frozen
     * parameters have no gradient pointer */
    lst_t5_weights_t g = a->grad_w;
    lst_t5_bind_grads(m, grads, &g);
    lst_t5_bwd_scratch_t s = a->bwd;
    float *dlogits = a->dlogits, *dcur = a->dcur, *dnext = a->dnext;
    float *denc = m->enc_need ? a->denc : NULL;
    float *dbias_enc = g.enc_rel ? a->dbias_enc : NULL, *dbias_dec = g.dec_rel ? a->dbias_dec : NULL;
    if (denc) memset(denc, 0, sizeof(float) * (size_t)B * Ts * d);
    if (dbias_enc) memset(dbias_enc, 0, sizeof(float) * (size_t)H * Ts * Ts);
    if (dbias_dec) memset(dbias_dec, 0, sizeof(float) * (size_t)H * Td * Td);
    const int on = lst_drop_active(drop);
    const uint8_t *mask = lst_t5_enc_mask(m, bt, a);

    /* Loss -> logits -> LM head. */
    batch_loss(dlogits, a->logits, bt, V);
    const int Nd = B * Td;
    memset(s.dn, 0, sizeof(float) * (size_t)Nd * d);
    lst_matmul_backward(s.dn, g.lm_head, g.lm_bias, dlogits, a->head_in, m->w.lm_head, Nd, d, V);
    if (c->tie_word_embeddings) lst_scale_inplace(s.dn, 1.0f / sqrtf((float)d), (int64_t)Nd * d);

    /* Decoder final norm (and its dropout) and blocks, last to first, down
     * to the lowest one anything trainable needs. */
    const size_t dtap = (size_t)Nd * d;
    lst_drop_t site = stack_site(drop, 1, 1);
    if (on) lst_dropout_rows(s.dn, s.dn, (int64_t)dtap, &site);
    memset(dcur, 0, sizeof(float) * dtap);
    lst_rmsnorm_backward(dcur, g.dec_final, s.dn, a->dec_taps + c->num_decoder_layers * dtap,
                         m->w.dec_final, a->dec_rstd, Nd, d);
    for (int i = c->num_decoder_layers - 1; i >= m->dec_stop; i--) {
        lst_drop_t bd = lst_drop_layer(drop, 1, i);
        lst_t5_block_backward(c, &m->w.dec[i], &g.dec[i], &a->dec_blk[i], dnext, dcur,
                              a->dec_taps + i * dtap, B, Td, a->dec_bias, bt->dec_mask, 1,
                              dbias_dec, a->enc_out, denc, Ts, mask, on ? &bd : NULL, &s);
        float *t = dcur; dcur = dnext; dnext = t;
    }
    if (m->dec_stop == 0) {
        site = stack_site(drop, 1, 0);
        if (g.shared) {
            if (on) lst_dropout_rows(dcur, dcur, (int64_t)dtap, &site);
            lst_embedding_backward(g.shared, dcur, bt->dec_ids, Nd, d);
        }
        if (dbias_dec)
            lst_relbias_backward(g.dec_rel, dbias_dec, H, Td, Td, 0, c->rel_buckets,
                                 c->rel_max_distance);
    }
    if (!m->enc_need) return 0;

    /* Encoder: its output's gradient came from every cross-attention. */
    const int Ns = B * Ts;
    const size_t etap = (size_t)Ns * d;
    site = stack_site(drop, 0, 1);
    if (on) lst_dropout_rows(denc, denc, (int64_t)etap, &site);
    memset(dcur, 0, sizeof(float) * etap);
    lst_rmsnorm_backward(dcur, g.enc_final, denc, a->enc_taps + c->num_layers * etap,
                         m->w.enc_final, a->enc_rstd, Ns, d);
    for (int i = c->num_layers - 1; i >= m->enc_stop; i--) {
        lst_drop_t bd = lst_drop_layer(drop, 0, i);
        lst_t5_block_backward(c, &m->w.enc[i], &g.enc[i], &a->enc_blk[i], dnext, dcur,
                              a->enc_taps + i * etap, B, Ts, a->enc_bias, mask, 0,
                              dbias_enc, NULL, NULL, 0, NULL, on ? &bd : NULL, &s);
        float *t = dcur; dcur = dnext; dnext = t;
    }
    if (m->enc_stop > 0) return 0;
    site = stack_site(drop, 0, 0);
    if (on) lst_dropout_rows(dcur, dcur, (int64_t)etap, &site);
    const int Tb = bt->Ts;
    for (int b = 0; b < B; b++) { /* per row: prompt rows, then the ids */
        const float *row = dcur + (size_t)b * Ts * d;
        if (g.prompt) lst_add_inplace(g.prompt, row, (int64_t)P * d);
        if (g.shared)
            lst_embedding_backward(g.shared, row + (size_t)P * d, bt->input_ids + (size_t)b * Tb,
                                   Tb, d);
    }
    if (dbias_enc)
        lst_relbias_backward(g.enc_rel, dbias_enc, H, Ts, Ts, 1, c->rel_buckets,
                             c->rel_max_distance);
    return 0;
}
