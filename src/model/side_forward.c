/* side_forward.c: the Ladder Side-Tuning step (LST-SPEC section 2).
 *
 * Per stack, layer by layer: the frozen backbone block i runs forward on a
 * transient buffer; if i is kept, its output (the tap) is kept, projected
 * by the ladder downsample[i] and mixed into the side stream through the
 * gate g = sigmoid(alpha_i / T): s = g*s + (1-g)*down(tap); then side block
 * i runs. Backward touches only the side network and the ladders: no
 * backbone activation besides the kept taps is alive at that point.
 *
 * The ablations (side.h) reuse the same loop: side-tuning runs the whole
 * backbone, feeds no tap to the side blocks and merges the backbone decoder
 * output into the LM head input through one gate; compression skips every
 * backbone block (only the frozen embedding and LM head are used). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ops/ops.h"
#include "side.h"

static lst_drop_t stack_site(const lst_drop_t *drop, int stack, int site) {
    lst_drop_t base = lst_drop_layer(drop, stack, 255);
    return lst_drop_site(&base, site);
}

/* A step's dropout with the batch's rows keyed by their examples (NULL if off). */
static const lst_drop_t *batch_drop(lst_drop_t *out, const lst_drop_t *drop,
                                    const lst_batch_t *bt) {
    *out = lst_drop_batch(drop, bt->B, bt->example_ids);
    return lst_drop_active(drop) ? out : NULL;
}


static void carve_acts(lst_carve_t *c, lst_side_acts_t *a, const lst_backbone_t *bb,
                       const lst_side_t *s) {
    const size_t B = a->B, Ts = a->Ts, Td = a->Td, Tm = Ts > Td ? Ts : Td;
    const size_t d = bb->d_model, ds = s->cfg.d_model, H = s->cfg.num_heads;
    const int ladder = s->opts.mode == LST_SIDE_LADDER;
    if (s->opts.mode != LST_SIDE_COMPRESSION) {
        a->bb_x = lst_carve(c, B * Tm * d);
        a->bb_y = lst_carve(c, B * Tm * d);
        a->bb_enc_out = lst_carve(c, B * Ts * d);
        lst_bb_run_carve(bb, a->bb_run, c, (int)B, (int)Ts, (int)Td); /* NULL: sizing */
    }
    for (int st = 0; st < 2; st++) {
        /* training keeps every kept layer's tap, ladder mix, output and
         * block activations for the backward; a forward alone (evaluation,
         * generation's encoder) needs one layer's, and two outputs in turn */
        const size_t T = st ? Td : Ts, nk = s->opts.n_keep[st];
        const size_t nl = a->backward || nk < 1 ? nk : 1, ns = a->backward || nk < 2 ? nk : 2;
        if (ladder) a->taps[st] = lst_carve(c, nl * B * T * d);
        a->s0[st] = lst_carve(c, B * T * ds);
        if (ladder) {
            a->D[st] = lst_carve(c, nl * B * T * ds);
            a->M[st] = lst_carve(c, nl * B * T * ds);
        }
        a->S[st] = lst_carve(c, ns * B * T * ds);
        for (size_t k = 0; k < nl; k++) {
            lst_t5_block_acts_t sizing; /* the sizing pass has no block array */
            lst_t5_block_acts_carve(c, a->blk[st] ? &a->blk[st][k] : &sizing, &s->cfg, (int)B,
                                    (int)T, (int)Ts, st);
        }
        a->rstd[st] = lst_carve(c, B * T);
        a->fin[st] = lst_carve(c, B * T * ds);
        a->bias[st] = lst_carve(c, H * T * T);
    }
    a->up = lst_carve(c, B * Td * d);
    if (s->opts.mode == LST_SIDE_TUNING) {
        a->bb_dec_out = lst_carve(c, B * Td * d);
        a->head = lst_carve(c, B * Td * d);
    }
    /* training keeps no [B, Td, V] logits: a chunk of rows at a time */
    a->logits = lst_carve(c, (a->backward ? (size_t)lst_side_logit_rows((int)(B * Td), bb->vocab) : B * Td) * bb->vocab);
    a->emb = lst_carve(c, B * Tm * d);
    a->attn_scratch = lst_carve(c, lst_attention_forward_workspace((int)B, (int)Tm, (int)Tm, (int)H));
    if (!a->backward) return;
    a->dup = lst_carve(c, B * Td * d);
    a->dfin = lst_carve(c, B * Tm * ds);
    a->ds_cur = lst_carve(c, B * Tm * ds);
    a->ds_next = lst_carve(c, B * Tm * ds);
    a->dD = lst_carve(c, B * Tm * ds);
    a->denc = lst_carve(c, B * Ts * ds);
    a->dbias = lst_carve(c, H * Tm * Tm);
    lst_t5_bwd_scratch_carve(c, &a->bwd, &s->cfg, (int)B, (int)Tm, (int)Ts, 1);
}

size_t lst_side_acts_floats(const lst_backbone_t *bb, const lst_side_t *s, int B, int Ts, int Td,
                            int backward) {
    lst_side_acts_t a;
    memset(&a, 0, sizeof a); /* no bb_run or block arrays: the sizing pass */
    a.backward = backward;
    a.B = B;
    a.Ts = Ts;
    a.Td = Td;
    lst_carve_t c = {0};
    carve_acts(&c, &a, bb, s);
    return c.used;
}

int lst_side_acts_alloc(lst_side_acts_t *a, const lst_backbone_t *bb, const lst_side_t *s, int B,
                        int Ts, int Td, int backward, lst_err_t *err) {
    memset(a, 0, sizeof *a);
    a->backward = backward;
    if (B <= 0 || Ts <= 0 || Td <= 0)
        return lst_fail(err, "batch shape [%d, %d, %d] must be positive", B, Ts, Td);
    a->B = B;
    a->Ts = Ts;
    a->Td = Td;
    for (int st = 0; st < 2; st++) {
        a->blk[st] = lst_calloc(s->opts.n_keep[st], sizeof *a->blk[st], err);
        if (!a->blk[st]) {
            lst_side_acts_free(a);
            return -1;
        }
    }
    if ((s->opts.mode != LST_SIDE_COMPRESSION && !(a->bb_run = lst_bb_run_new(bb, err))) ||
        (backward && lst_side_weights_alloc(s, &a->grad_w, err))) {
        lst_side_acts_free(a);
        return -1;
    }
    a->bb_ops = bb->ops;
    lst_carve_t c = {0};
    carve_acts(&c, a, bb, s);
    a->arena_floats = c.used;
    a->arena = lst_calloc(c.used, sizeof(float), err);
    if (!a->arena) {
        lst_side_acts_free(a);
        return lst_fail_ctx(err, "LST activations for batch [%d, %d, %d]", B, Ts, Td);
    }
    c.base = a->arena;
    c.used = 0;
    carve_acts(&c, a, bb, s);
    return 0;
}

float *lst_side_tap_buffer(lst_side_acts_t *a, int st) { return a->taps[st]; }

void lst_side_acts_free(lst_side_acts_t *a) {
    if (a->bb_run) a->bb_ops->run_free(a->bb_run);
    lst_side_weights_free(&a->grad_w);
    free(a->arena);
    free(a->blk[0]);
    free(a->blk[1]);
    memset(a, 0, sizeof *a);
}

/* Example b's own rows: its source up to the last visible position, its
 * target up to the last label (a batch without labels: all of Td). */
static int source_rows(const lst_batch_t *bt, int b) {
    if (!bt->src_mask) return bt->Ts;
    int n = bt->Ts;
    while (n > 1 && !bt->src_mask[(size_t)b * bt->Ts + n - 1]) n--;
    return n;
}

static int target_rows(const lst_batch_t *bt, int b) {
    if (!bt->labels) return bt->Td;
    int n = bt->Td;
    while (n > 1 && bt->labels[(size_t)b * bt->Td + n - 1] == -100) n--;
    return n;
}

/* The frozen backbone's stack st one example at a time, each unpadded
 * (training with the backbone in eval mode, LST): every kept layer's
 * output of example b into its rows of the tap slots [n_keep, B, T, d],
 * the padding rows zero, and the encoder's output into bb_enc_out, which
 * the decoder's examples read. Every call has the example's own shapes,
 * so its taps are the same bits whatever batch it is in and however that
 * batch is padded: a tap cache, which stores them once and gives them to
 * other batches, is then exact (tapcache.h). It also skips the padding. */
static void backbone_by_example(const lst_backbone_t *bb, const lst_side_t *s,
                                const lst_batch_t *bt, lst_side_acts_t *a, int st) {
    const int B = bt->B, T = st ? bt->Td : bt->Ts, d = bb->d_model, nk = s->opts.n_keep[st];
    const int last = st ? s->opts.keep[st][nk - 1] : s->L[st] - 1;
    const int32_t *ids = st ? bt->dec_ids : bt->input_ids;
    for (int b = 0; b < B; b++) {
        const int ts = source_rows(bt, b), len = st ? target_rows(bt, b) : ts;
        const size_t so = (size_t)b * bt->Ts, to = (size_t)b * bt->Td;
        const lst_batch_t one = {1, ts, st ? len : 1, bt->input_ids + so,
                                 bt->src_mask ? bt->src_mask + so : NULL, st ? bt->dec_ids + to : NULL,
                                 st && bt->dec_mask ? bt->dec_mask + to : NULL, NULL,
                                 bt->example_ids ? bt->example_ids + b : NULL, 0};
        lst_bb_embed(bb, a->bb_x, ids + (size_t)b * T, len);
        lst_bb_stack_begin(bb, a->bb_run, st, len);
        for (int i = 0, k = 0; i <= last; i++) {
            lst_bb_block_forward(bb, a->bb_run, st, i, a->bb_y, a->bb_x, &one,
                                 st ? a->bb_enc_out + so * d : NULL, NULL, a->attn_scratch);
            float *t = a->bb_x; a->bb_x = a->bb_y; a->bb_y = t;
            if (k >= nk || s->opts.keep[st][k] != i) continue;
            float *tap = a->taps[st] + ((size_t)k++ * B + b) * T * d;
            memcpy(tap, a->bb_x, sizeof(float) * len * d);
            memset(tap + (size_t)len * d, 0, sizeof(float) * (T - len) * d);
        }
        if (st) continue;
        float *enc = a->bb_enc_out + so * d;
        lst_bb_final_norm(bb, 0, enc, a->bb_x, ts);
        memset(enc + (size_t)ts * d, 0, sizeof(float) * (bt->Ts - ts) * d);
    }
    const lst_side_taps_t *io = a->io;
    if (!io || !io->sink) return;
    for (int k = 0; k < nk; k++) io->sink(io->ctx, st, k, a->taps[st] + (size_t)k * B * T * d, B, T);
    if (!st) io->sink(io->ctx, 0, -1, a->bb_enc_out, B, T);
}

/* One stack (st 0 encoder, 1 decoder) of backbone + side, layer by layer. */
static void stack_forward(const lst_backbone_t *bb, const lst_side_t *s, const lst_batch_t *bt,
                          lst_side_acts_t *a, int st, const lst_drop_t *bb_drop,
                          const lst_drop_t *side_drop) {
    const lst_t5_config_t *cs = &s->cfg;
    const lst_side_stack_t *W = &s->w.st[st];
    const int B = bt->B, Ts = bt->Ts, T = st ? bt->Td : bt->Ts;
    const int d = bb->d_model, ds = cs->d_model, L = s->L[st];
    const size_t N = (size_t)B * T;
    const int32_t *ids = st ? bt->dec_ids : bt->input_ids;
    const uint8_t *self_mask = st ? bt->dec_mask : bt->src_mask;
    const int bon = lst_drop_active(bb_drop), son = lst_drop_active(side_drop);
    const int ladder = s->opts.mode == LST_SIDE_LADDER;
    const int backbone = s->opts.mode != LST_SIDE_COMPRESSION;
    const int nk = s->opts.n_keep[st];
    const lst_side_taps_t *io = a->io;
    const float *given = ladder && io ? io->tap[st] : NULL; /* a tap cache's */
    if (!given && ladder && !bon && a->backward) { /* exact to any batching */
        backbone_by_example(bb, s, bt, a, st);
        given = a->taps[st];
    }
    const int run_bb = backbone && !given;

    /* Backbone embedding (with its dropout) and the side's first downsample
     * of the embedding under an independent dropout mask. */
    lst_bb_embed(bb, a->emb, ids, (int)N);
    if (run_bb) {
        memcpy(a->bb_x, a->emb, sizeof(float) * N * d);
        if (bon) {
            lst_drop_t e = stack_site(bb_drop, st, 0);
            lst_dropout_rows(a->bb_x, a->bb_x, (int64_t)(N * d), &e);
        }
    }
    if (son) {
        lst_drop_t e = stack_site(side_drop, st, 0);
        lst_dropout_rows(a->emb, a->emb, (int64_t)(N * d), &e);
    }
    lst_matmul_forward(a->s0[st], a->emb, W->first_w, W->first_b, (int)N, d, ds);

    if (run_bb) lst_bb_stack_begin(bb, a->bb_run, st, T);
    lst_relbias_forward(a->bias[st], W->rel, cs->num_heads, T, T, 0, 0, !st, cs->rel_buckets,
                        cs->rel_max_distance);

    /* The backbone layers that run: LST's decoder need not go past the last
     * kept layer; side-tuning needs the whole backbone (its decoder output
     * feeds the merge); compression runs none. */
    const int last = !run_bb ? -1 : ladder && st ? s->opts.keep[st][nk - 1] : L - 1;
    const float *cur_s = a->s0[st];
    int k = 0;
    for (int i = 0; i < L; i++) {
        if (i <= last) {
            lst_drop_t bd = lst_drop_layer(bb_drop, st, i);
            lst_bb_block_forward(bb, a->bb_run, st, i, a->bb_y, a->bb_x, bt,
                                 st ? a->bb_enc_out : NULL, bon ? &bd : NULL, a->attn_scratch);
            float *t = a->bb_x; a->bb_x = a->bb_y; a->bb_y = t;
        }
        if (k >= nk || s->opts.keep[st][k] != i) continue;

        /* slots (carve_acts): every layer's when training, else one (two
         * for the side outputs, which feed the next layer) */
        const size_t kl = a->backward ? (size_t)k : 0, ks = a->backward ? (size_t)k : (size_t)(k & 1);
        float *S = a->S[st] + ks * N * ds;
        const float *in = cur_s; /* the side block's input: s itself without ladders */
        if (ladder) {
            const float *tap = given ? given + (size_t)k * N * d : a->taps[st] + kl * N * d;
            float *D = a->D[st] + kl * N * ds, *M = a->M[st] + kl * N * ds;
            if (!given) memcpy(a->taps[st] + kl * N * d, a->bb_x, sizeof(float) * N * d);
            if (!given && io && io->sink) io->sink(io->ctx, st, k, tap, B, T);
            lst_matmul_forward(D, tap, W->down_w[i], W->down_b[i], (int)N, d, ds);
            lst_gate_forward(M, cur_s, D, W->gate[i], s->opts.gate_T, (int64_t)(N * ds));
            in = M;
        }
        lst_drop_t sd = lst_drop_layer(side_drop, st, i);
        lst_t5_block_forward(cs, &W->blk[i], &a->blk[st][kl], S, in, B, T, a->bias[st], self_mask,
                             st, st ? a->fin[0] : NULL, Ts, bt->src_mask, son ? &sd : NULL,
                             a->attn_scratch);
        cur_s = S;
        k++;
    }
    if (!st && run_bb) {
        /* The backbone encoder output feeds the backbone decoder. */
        lst_bb_final_norm(bb, 0, a->bb_enc_out, a->bb_x, (int)N);
        if (bon) {
            lst_drop_t f = stack_site(bb_drop, 0, 1);
            lst_dropout_rows(a->bb_enc_out, a->bb_enc_out, (int64_t)(N * d), &f);
        }
        if (io && io->sink) io->sink(io->ctx, 0, -1, a->bb_enc_out, B, T);
    } else if (!st && given && io && io->enc_out) {
        memcpy(a->bb_enc_out, io->enc_out, sizeof(float) * N * d);
    }
    if (st && s->opts.mode == LST_SIDE_TUNING) {
        /* dec_out: the backbone's own LM head input (before the tied scale) */
        lst_bb_final_norm(bb, 1, a->bb_dec_out, a->bb_x, (int)N);
        if (bon) {
            lst_drop_t f = stack_site(bb_drop, 1, 1);
            lst_dropout_rows(a->bb_dec_out, a->bb_dec_out, (int64_t)(N * d), &f);
        }
    }
    lst_rmsnorm_forward(a->fin[st], a->rstd[st], cur_s, W->final_ln, (int)N, ds,
                        cs->layer_norm_eps);
    if (son) {
        lst_drop_t f = stack_site(side_drop, st, 1);
        lst_dropout_rows(a->fin[st], a->fin[st], (int64_t)(N * ds), &f);
    }
}

void lst_side_encode(const lst_backbone_t *bb, const lst_side_t *s, const lst_batch_t *bt,
                     lst_side_acts_t *a) {
    stack_forward(bb, s, bt, a, 0, NULL, NULL);
}

double lst_side_forward(const lst_backbone_t *bb, const lst_side_t *s, const lst_batch_t *bt,
                        lst_side_acts_t *a, const lst_drop_t *bb_drop,
                        const lst_drop_t *side_drop) {
    const int d = bb->d_model, Nd = bt->B * bt->Td;
    const int tuning = s->opts.mode == LST_SIDE_TUNING;
    lst_drop_t bb_rows, side_rows;
    bb_drop = batch_drop(&bb_rows, bb_drop, bt);
    side_drop = batch_drop(&side_rows, side_drop, bt);
    stack_forward(bb, s, bt, a, 0, bb_drop, side_drop);
    stack_forward(bb, s, bt, a, 1, bb_drop, side_drop);
    /* upsample, then the frozen LM head (its input scaled: T5 tied, d^-0.5);
     * side-tuning first merges: head = g*dec_out + (1-g)*up */
    lst_matmul_forward(a->up, a->fin[1], s->w.up_w, s->w.up_b, Nd, s->cfg.d_model, d);
    float *head = a->up;
    if (tuning) {
        lst_gate_forward(a->head, a->bb_dec_out, a->up, s->w.merge, s->opts.gate_T, (int64_t)Nd * d);
        head = a->head;
    }
    if (bb->head_scale != 1.0f) lst_scale_inplace(head, bb->head_scale, (int64_t)Nd * d);
    const int V = bb->vocab;
    if (!a->backward) {
        lst_bb_head_forward(bb, a->logits, head, Nd);
        if (!bt->labels) return 0.0;
        const int64_t count = lst_batch_label_count(bt);
        const double total = lst_xent_sum(NULL, a->logits, bt->labels, Nd, V, 0.0f);
        return count ? total / (double)count : 0.0;
    }
    /* Training: LM head, loss and the head's backward a chunk of rows at a
     * time; what survives is d(up), the gradient of the head's input. The
     * loss is normalised by the whole batch's label count. */
    const int64_t count = lst_batch_label_count(bt);
    const int R = lst_side_logit_rows(a->B * a->Td, V);
    const float scale = count ? 1.0f / (float)count : 0.0f;
    double total = 0;
    memset(a->dup, 0, sizeof(float) * (size_t)Nd * d);
    for (int r0 = 0; r0 < Nd; r0 += R) {
        const int n = Nd - r0 < R ? Nd - r0 : R;
        lst_bb_head_forward(bb, a->logits, head + (size_t)r0 * d, n);
        total += lst_xent_chunk_inplace(a->logits, bt->labels + r0, n, V, scale);
        lst_bb_head_backward(bb, a->dup + (size_t)r0 * d, a->logits, head + (size_t)r0 * d, n);
    }
    if (bb->head_scale != 1.0f) lst_scale_inplace(a->dup, bb->head_scale, (int64_t)Nd * d);
    if (tuning) {
        /* through the merge: d(alpha_m) and d(up) = (1-g) d(head) */
        a->dmerge = 0;
        lst_gate_backward(NULL, a->dup, &a->dmerge, a->dup, a->bb_dec_out, a->up, s->w.merge,
                          s->opts.gate_T, (int64_t)Nd * d);
    }
    return count ? total / (double)count : 0.0;
}

int lst_side_logit_rows(int rows, int V) {
    /* about 8 MiB of logits: each chunk reads the whole LM head twice (forward,
     * backward), so fewer chunks read less (t5-small, batch 16 x 3: one) */
    int r = (1 << 21) / (V > 0 ? V : 1);
    if (r < 1) r = 1;
    return r < rows ? r : rows;
}

/* Backward of one side stack. dfin: gradient of the stack output
 * [B, T, ds] (consumed). denc: for the decoder, accumulates the gradient of
 * the side encoder output. */
static void stack_backward(const lst_backbone_t *bb, const lst_side_t *s, const lst_batch_t *bt,
                           const lst_side_acts_t *a, int st, const lst_drop_t *side_drop,
                           const lst_side_weights_t *G, float *dfin, float *denc,
                           float *ds_cur, float *ds_next, float *dbias, float *dD,
                           lst_t5_bwd_scratch_t *scr, float *emb) {
    const lst_t5_config_t *cs = &s->cfg;
    const lst_side_stack_t *W = &s->w.st[st];
    const lst_side_stack_t *g = &G->st[st];
    const int B = bt->B, Ts = bt->Ts, T = st ? bt->Td : bt->Ts;
    const int d = bb->d_model, ds = cs->d_model, H = cs->num_heads;
    const size_t N = (size_t)B * T;
    const int son = lst_drop_active(side_drop);
    const int nk = s->opts.n_keep[st];
    const int ladder = s->opts.mode == LST_SIDE_LADDER;

    if (son) {
        lst_drop_t f = stack_site(side_drop, st, 1);
        lst_dropout_rows(dfin, dfin, (int64_t)(N * ds), &f);
    }
    const float *last_s = a->S[st] + (size_t)(nk - 1) * N * ds;
    memset(ds_cur, 0, sizeof(float) * N * ds);
    lst_rmsnorm_backward(ds_cur, g->final_ln, dfin, last_s, W->final_ln, a->rstd[st], (int)N, ds);
    memset(dbias, 0, sizeof(float) * (size_t)H * T * T);

    for (int k = nk - 1; k >= 0; k--) {
        const int i = s->opts.keep[st][k];
        const float *prev = k ? a->S[st] + (k - 1) * N * ds : a->s0[st];
        const float *M = ladder ? a->M[st] + k * N * ds : prev;
        lst_drop_t sd = lst_drop_layer(side_drop, st, i);
        /* side block: ds_cur = d(block output) -> ds_next = d(M) */
        lst_t5_block_backward(cs, &W->blk[i], &g->blk[i], &a->blk[st][k], ds_next, ds_cur, M, B, T,
                              a->bias[st], st ? bt->dec_mask : bt->src_mask, st, dbias,
                              st ? a->fin[0] : NULL, denc, Ts, bt->src_mask, son ? &sd : NULL, scr);
        if (!ladder) { /* no ladder: d(M) is d(prev) */
            float *t = ds_cur; ds_cur = ds_next; ds_next = t;
            continue;
        }
        const float *given = a->io ? a->io->tap[st] : NULL; /* the forward's taps */
        const float *tap = (given ? given : a->taps[st]) + k * N * d;
        const float *D = a->D[st] + k * N * ds;
        /* gate: M = g*prev + (1-g)*D */
        lst_gate_backward(ds_cur, dD, g->gate[i], ds_next, prev, D, W->gate[i], s->opts.gate_T,
                          (int64_t)(N * ds));
        lst_matmul_backward(NULL, g->down_w[i], g->down_b[i], dD, tap, W->down_w[i], (int)N, d, ds);
    }
    /* first_downsample of the (side-dropped) embedding, recomputed */
    const int32_t *ids = st ? bt->dec_ids : bt->input_ids;
    lst_bb_embed(bb, emb, ids, (int)N);
    if (son) {
        lst_drop_t e = stack_site(side_drop, st, 0);
        lst_dropout_rows(emb, emb, (int64_t)(N * d), &e);
    }
    lst_matmul_backward(NULL, g->first_w, g->first_b, ds_cur, emb, W->first_w, (int)N, d, ds);
    lst_relbias_backward(g->rel, dbias, H, T, T, !st, cs->rel_buckets, cs->rel_max_distance);
}

int lst_side_backward(const lst_backbone_t *bb, const lst_side_t *s, const lst_batch_t *bt,
                      const lst_side_acts_t *a, const lst_drop_t *side_drop, float *grads,
                      lst_err_t *err) {
    if (!bt->labels) return lst_fail(err, "LST backward needs labels");
    if (!a->backward) return lst_fail(err, "LST backward needs activations allocated for training");
    lst_drop_t side_rows;
    side_drop = batch_drop(&side_rows, side_drop, bt);
    const int B = bt->B, Td = bt->Td, d = bb->d_model;
    const int ds = s->cfg.d_model, Nd = B * Td;
    lst_side_weights_t G = a->grad_w; /* its arrays, allocated with the acts */
    lst_side_bind(s, grads, &G);
    lst_t5_bwd_scratch_t scr = a->bwd;

    /* the forward left d(up) in a->dup (the head was done chunk by chunk),
     * and side-tuning's merge gate gradient in a->dmerge */
    if (s->opts.mode == LST_SIDE_TUNING) G.merge[0] += a->dmerge;
    memset(a->dfin, 0, sizeof(float) * (size_t)Nd * ds);
    lst_matmul_backward(a->dfin, G.up_w, G.up_b, a->dup, a->fin[1], s->w.up_w, Nd, ds, d);
    memset(a->denc, 0, sizeof(float) * (size_t)B * bt->Ts * ds);
    stack_backward(bb, s, bt, a, 1, side_drop, &G, a->dfin, a->denc, a->ds_cur, a->ds_next,
                   a->dbias, a->dD, &scr, a->emb);
    stack_backward(bb, s, bt, a, 0, side_drop, &G, a->denc, NULL, a->ds_cur, a->ds_next,
                   a->dbias, a->dD, &scr, a->emb);
    return 0;
}
