/* ops.h: the op layer. Every op is a forward/backward pair of plain
 * functions over contiguous float32 buffers, shapes given in the comment.
 *
 * Conventions (as in llm.c): backward functions ACCUMULATE (+=) into the
 * gradient buffers they are given, and skip any gradient pointer that is
 * NULL (a frozen weight, or an input that needs no gradient). Row-major
 * everywhere; weights are [out, in] as in Hugging Face checkpoints.
 *
 * Scratch: an op that needs any takes it as an argument (`ws`), sized by
 * the caller with the op's workspace query (lst_<op>_workspace, in floats)
 * for the largest shapes it will call it with, planned once with the rest
 * of the memory: no op allocates, and no op keeps scratch of its own. How
 * a backend divides the workspace (the CPU one: among its threads) is its
 * own business; contracts name no threads.
 *
 * The functions declared here dispatch to the active backend (backend.h:
 * one indirect call each); the CPU backend (src/ops/cpu) is the default and
 * also the reference: its fast entries are tested against its plain-C
 * instance (the *_ref functions, tests/test_backend_ops.c). */
#ifndef LST_OPS_H
#define LST_OPS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* Threads the CPU backend's ops split their work over (OpenBLAS runs single-
 * threaded inside each piece, so there is no oversubscription): what the CLI
 * sizes OpenBLAS's buffers for. */
int lst_threads(void);

/* ---- dropout.c: inverted dropout with regenerated masks ----------------- */
/* The primitive, lst_dropout_apply: element i = 64 G + 16 k + 2 j + h of a
 * stream (seed, stream) is kept iff u >= ceil(p * 65536), where u is bits
 * [16 h, 16 h + 16) of word k of Philox block 8 G + j (key = seed, counter
 * = {block, stream}; word 4 block + k of lst_rng_u32_at), so with
 * probability 1 - ceil(p * 65536) / 65536, and scaled by 1/(1-p). The mask
 * is never stored: forward and backward regenerate it. p == 0 (or a NULL
 * site) is the identity.
 *
 * A site of a batch keys each row by its example instead of its position
 * (core/streams.h): row b of the batch (of B rows) is example e = rows[b]
 * (rows NULL: e = b), drawn from the primitive with seed ^
 * lst_stream_example(e) (lst_drop_example) and an element index that
 * does not depend on the padded lengths: t * C + c for a [B, T, C] site
 * (lst_dropout_rows), (h << 40) + (i << 20) + j for attention probability
 * (query i, key j) of head h (lst_dropout_probs; positions < 2^20). So a
 * real position gets the same mask whatever the batch it is in, its row
 * and the padding. */
typedef struct {
    float p;
    uint64_t seed;
    uint64_t stream;
    int B;               /* rows of the batch the site belongs to (0: 1) */
    const int64_t *rows; /* [B] global example index of each row, or NULL */
} lst_drop_t;

/* out = x * mask / (1-p) (out may equal x) under (d->seed, d->stream),
 * ignoring d->rows. Backward is the same call on the gradient. `first` is
 * the element index of x[0] within the stream. */
void lst_dropout_apply(float *out, const float *x, int64_t N, const lst_drop_t *d,
                       uint64_t first);
void lst_dropout_apply_ref(float *out, const float *x, int64_t N, const lst_drop_t *d,
                           uint64_t first);
static inline int lst_drop_active(const lst_drop_t *d) { return d && d->p > 0; }
/* A derived site: stream = base * 16 + site (site < 16). */
static inline lst_drop_t lst_drop_site(const lst_drop_t *base, int site) {
    lst_drop_t d = {0, 0, 0, 0, NULL};
    if (base) {
        d = *base;
        d.stream = base->stream * 16 + (uint64_t)site;
    }
    return d;
}
/* The site with its batch rows set (B rows, example ids or NULL). */
static inline lst_drop_t lst_drop_batch(const lst_drop_t *base, int B, const int64_t *rows) {
    lst_drop_t d = {0, 0, 0, 0, NULL};
    if (base) {
        d = *base;
        d.B = B;
        d.rows = rows;
    }
    return d;
}
/* Row b's own stream: one example, for lst_dropout_apply. */
lst_drop_t lst_drop_example(const lst_drop_t *d, int b);
/* x, out: [B, L] (B = d->B, or 1 when 0; N = B * L), row b keyed by its
 * example, element l of a row at index l. Threads split by (row, chunk). */
void lst_dropout_rows(float *out, const float *x, int64_t N, const lst_drop_t *d);
/* One attention block: x, out: [Tq, Tk] probabilities of head h of batch
 * row b, element (i, j) at index (h << 40) + (i << 20) + j of row b's
 * example (Tq, Tk < 2^20). */
void lst_dropout_probs(float *out, const float *x, int Tq, int Tk, const lst_drop_t *d, int b,
                       int h);
#define LST_DROP_MAX_POS (1 << 20)

/* ---- matmul.c: y = x @ W^T + b ---------------------------------------- */
/* out: [N, OC]  x: [N, IC]  W: [OC, IC]  b: [OC] or NULL */
void lst_matmul_forward(float *out, const float *x, const float *W,
                        const float *b, int N, int IC, int OC);
/* dx: [N, IC] or NULL  dW: [OC, IC] or NULL  db: [OC] or NULL  dout: [N, OC] */
void lst_matmul_backward(float *dx, float *dW, float *db, const float *dout,
                         const float *x, const float *W, int N, int IC, int OC);
void lst_matmul_forward_ref(float *out, const float *x, const float *W,
                            const float *b, int N, int IC, int OC);
void lst_matmul_backward_ref(float *dx, float *dW, float *db, const float *dout,
                             const float *x, const float *W, int N, int IC,
                             int OC);

/* ---- rmsnorm.c: T5 layer norm, y = w * x / sqrt(mean(x^2) + eps) ------- */
/* out, x: [N, C]  w: [C]  rstd: [N] (saved for backward; may be NULL) */
void lst_rmsnorm_forward(float *out, float *rstd, const float *x,
                         const float *w, int N, int C, float eps);
/* dx: [N, C] or NULL  dw: [C] or NULL */
void lst_rmsnorm_backward(float *dx, float *dw, const float *dout,
                          const float *x, const float *w, const float *rstd,
                          int N, int C);

/* Fused residual + dropout + RMSNorm, the seam between two sub-layers:
 *   res = x + drop(y)           (res may equal y; y is the sub-layer output)
 *   norm = w * res * rstd(res)  (skipped when norm is NULL)
 * res, x, y, norm: [N, C]; rstd: [N]. The dropout is lst_dropout_rows' (rows of
 * N / drop->B positions: element (t, c) of a row at index t * C + c). */
void lst_residual_rmsnorm_forward(float *res, float *norm, float *rstd, const float *x,
                                  const float *y, const float *w, int N, int C, float eps,
                                  const lst_drop_t *drop);
/* Backward of the above: dres holds the residual stream's gradient from
 * above and gets the norm's contribution added (it is then d(x)); dy =
 * drop(dres) (overwritten, may be NULL); dw accumulates (may be NULL);
 * dnorm may be NULL (no norm). */
void lst_residual_rmsnorm_backward(float *dres, float *dy, float *dw, const float *dnorm,
                                   const float *res, const float *w, const float *rstd, int N,
                                   int C, const lst_drop_t *drop);

/* ---- activation.c: FFN nonlinearities ----------------------------------- */
/* relu; gelu_new (tanh approximation); gelu (exact, erf); silu (x sigmoid(x)) */
typedef enum { LST_OP_RELU = 0, LST_OP_GELU_NEW = 1, LST_OP_GELU = 2, LST_OP_SILU = 3 } lst_op_act_t;
/* out, x: [N] (elementwise; out may equal x) */
void lst_act_forward(float *out, const float *x, int64_t N, lst_op_act_t act);
/* dx += dout * act'(x) */
void lst_act_backward(float *dx, const float *dout, const float *x, int64_t N,
                      lst_op_act_t act);
/* Gated FFN: out = act(g) * l   (g = wi_0 x, l = wi_1 x), all [N] */
void lst_gated_forward(float *out, const float *g, const float *l, int64_t N,
                       lst_op_act_t act);
void lst_gated_backward(float *dg, float *dl, const float *dout, const float *g,
                        const float *l, int64_t N, lst_op_act_t act);

/* ---- embedding.c --------------------------------------------------------- */
/* out: [N, C]  table: [V, C]  ids: [N] (all in [0, V), checked by caller) */
void lst_embedding_forward(float *out, const int32_t *ids, const float *table,
                           int N, int C);
/* dtable: [V, C] += scatter of dout */
void lst_embedding_backward(float *dtable, const float *dout,
                            const int32_t *ids, int N, int C);

/* ---- relbias.c: T5 relative position buckets and the bias tensor --------- */
/* The bucket of relative position (key - query), transformers' formula. */
int lst_relpos_bucket(int rel, int bidirectional, int num_buckets,
                      int max_distance);
/* bias: [H, Tq, Tk], bias[h,i,j] = table[bucket(j + k_off - (i + q_off)), h]
 * table: [buckets, H]. q_off / k_off give absolute positions (decoding). */
void lst_relbias_forward(float *bias, const float *table, int H, int Tq,
                         int Tk, int q_off, int k_off, int bidirectional,
                         int num_buckets, int max_distance);
/* dtable[bucket, h] += dbias[h, i, j] */
void lst_relbias_backward(float *dtable, const float *dbias, int H, int Tq,
                          int Tk, int bidirectional, int num_buckets,
                          int max_distance);

/* ---- attention.c: T5 attention core (no 1/sqrt(d) scaling) -------------- */
/* q: [B, Tq, H*D]  k, v: [B, Tk, H*D]  bias: [H, Tq, Tk] or NULL (shared over
 * the batch)  kmask: [B, Tk] (nonzero = attend) or NULL  causal: key j is
 * visible to query i only if j <= i + (Tk - Tq) (decoding with a cache).
 * out: [B, Tq, H*D]; lse: [B, H, Tq] log-sum-exp per query row, what the
 * backward needs (or NULL); probs: [B, H, Tq, Tk] before dropout, only if
 * asked for (never needed by the backward). Masked keys get probability
 * exactly 0; a query that sees no key gets a zero output. drop (or NULL):
 * dropout on the probabilities, lst_dropout_probs' mask for each (b, h).
 * ws: lst_attention_forward_workspace(B, Tq, Tk, H) floats (any shapes no
 * larger serve: the CPU's grows with Tq * Tk only). */
size_t lst_attention_forward_workspace(int B, int Tq, int Tk, int H);
void lst_attention_forward(float *out, float *probs, float *lse, const float *q,
                           const float *k, const float *v, const float *bias,
                           const uint8_t *kmask, int causal, int B, int Tq, int Tk,
                           int H, int D, const lst_drop_t *drop, float *ws);
/* Recomputes the probabilities from q, k, bias, masks and lse; out: the
 * forward's output. dq, dk, dv (like q, k, v) and dbias ([H, Tq, Tk])
 * accumulate; any may be NULL. drop: the forward's. ws:
 * lst_attention_backward_workspace(B, Tq, Tk, H) floats. */
size_t lst_attention_backward_workspace(int B, int Tq, int Tk, int H);
void lst_attention_backward(float *dq, float *dk, float *dv, float *dbias,
                            const float *dout, const float *out, const float *lse,
                            const float *q, const float *k, const float *v,
                            const float *bias, const uint8_t *kmask, int causal,
                            int B, int Tq, int Tk, int H, int D,
                            const lst_drop_t *drop, float *ws);
void lst_attention_forward_ref(float *out, float *probs, const float *q,
                               const float *k, const float *v,
                               const float *bias, const uint8_t *kmask,
                               int causal, int B, int Tq, int Tk, int H, int D);

/* ---- cross_fold.c: cross-attention with folded projections ------------ */
/* The decoder cross-attention from its queries and the encoder output,
 * without projecting keys and values:
 *   out = attention(q, enc Wk^T, enc Wv^T) (as lst_attention_forward, no
 *   bias, not causal), computed as softmax((q_h Wk_h) enc^T) enc Wv_h^T.
 * For the key and value weights without bias or LoRA only.
 * lst_cross_fold_pays says whether that is at least twice cheaper for these
 * shapes (few queries T against Ts keys), with a [B, H, T, dm] buffer no
 * larger than a [B, Ts, H*D] key buffer (the scratch holds four, against
 * the key and value buffers it replaces).
 * q: [B, T, H*D]  enc: [B, Ts, dm]  Wk, Wv: [H*D, dm]  kmask: [B, Ts] or NULL
 * out: [B, T, H*D]  lse: [B, H, T] or NULL (what the backward needs)
 * drop: on the probabilities, the mask of lst_attention_forward's
 * ws: lst_cross_fold_workspace(B, T, Ts, H, dm) floats (either pass) */
int lst_cross_fold_pays(int T, int Ts, int H, int D, int dm);
/* The cost model behind that and the decoder cache's choice (multiply-adds
 * per example and decoder layer): projecting Ts encoder positions to keys
 * and values, and one query's attention over them, plain or folded. */
typedef struct {
    double project, plain, folded;
} lst_cross_cost_t;
lst_cross_cost_t lst_cross_fold_cost(int Ts, int H, int D, int dm);
size_t lst_cross_fold_workspace(int B, int T, int Ts, int H, int dm);
/* The earlier name of lst_cross_fold_workspace, kept for the model's callers. */
static inline size_t lst_cross_fold_scratch(int B, int T, int Ts, int H, int dm) {
    return lst_cross_fold_workspace(B, T, Ts, H, dm);
}
void lst_cross_fold_forward(float *out, float *lse, const float *q, const float *enc,
                            const float *Wk, const float *Wv, const uint8_t *kmask, int B, int T,
                            int Ts, int H, int D, int dm, const lst_drop_t *drop, float *ws);
/* dq: [B, T, H*D]  denc: [B, Ts, dm]  dWk, dWv: [H*D, dm] accumulate (any
 * may be NULL); dout: the output's gradient; lse and drop: the forward's. */
void lst_cross_fold_backward(float *dq, float *denc, float *dWk, float *dWv, const float *dout,
                             const float *q, const float *enc, const float *Wk, const float *Wv,
                             const float *lse, const uint8_t *kmask, int B, int T, int Ts, int H,
                             int D, int dm, const lst_drop_t *drop, float *ws);

/* ---- xent.c: mean cross-entropy over labels != -100 --------------------- */
/* logits: [N, V]  labels: [N]. Returns the mean loss (0 if no label counts);
 * if dlogits is non-NULL it receives (softmax - onehot) * dloss / count
 * (overwritten, not accumulated; 0 on ignored rows). */
double lst_xent_forward_backward(float *dlogits, const float *logits,
                                 const int32_t *labels, int N, int V,
                                 float dloss);

/* The same over a share of a batch: returns the SUM of the row losses and,
 * if dlogits is non-NULL, writes (softmax - onehot) * grad_scale. With
 * grad_scale = 1 / count and the sum divided by count it is
 * lst_xent_forward_backward for any normaliser count (a label count over a
 * batch larger than these rows). */
double lst_xent_sum(float *dlogits, const float *logits, const int32_t *labels, int N, int V,
                    float grad_scale);

/* The chunked form for training: z: [N, V] logits of a chunk of rows,
 * overwritten in place by their gradient (softmax - onehot) * grad_scale
 * (0 on ignored rows); returns the SUM of the chunk's row losses. With
 * grad_scale = 1 / (labels counted over the whole batch) the chunks add up
 * to lst_xent_forward_backward. */
double lst_xent_chunk_inplace(float *z, const int32_t *labels, int N, int V, float grad_scale);

/* ---- elementwise helpers (util.c) --------------------------------------- */
void lst_add_inplace(float *y, const float *x, int64_t N);    /* y += x */
void lst_scale_inplace(float *y, float s, int64_t N);         /* y *= s */
/* y: [N, C] += b: [C] on every row */
void lst_add_rows(float *y, const float *b, int N, int C);
/* db: [C] += sum over rows of dy: [N, C] */
void lst_colsum_acc(float *db, const float *dy, int N, int C);

/* ---- gate.c: the learned scalar gates of the side network ---------------- */
/* A gate mixes two streams by one learned scalar alpha at temperature T:
 *   g = sigmoid(alpha / T), 1 - g = sigmoid(-alpha / T) (each in double,
 *   then rounded: 1 - g is not computed as 1 - (float)g)
 * exactly as lst_side_gate (src/model/side.c). alpha: [1], a parameter in
 * a backend buffer (read with lst_param_read). */
void lst_gate_values(const float *alpha, float T, float *g, float *one_minus_g);
/* The same from alpha's value on the host (what every backend computes). */
static inline void lst_gate_from_value(float alpha, float T, float *g, float *one_minus_g) {
    const double z = (double)alpha / T;
    *g = (float)(1.0 / (1.0 + exp(-z)));
    *one_minus_g = (float)(1.0 / (1.0 + exp(z)));
}
/* out[j] = g * a[j] + (1 - g) * b[j] in float, for a, b, out: [N] (out may
 * equal a or b). Replaces, bitwise:
 * - the ladder gate of src/model/side_forward.c stack_forward,
 *     lst_side_gate(W->gate[i], T, &g, &omg);
 *     for (j < N * ds) M[j] = g * cur_s[j] + omg * D[j];
 *   as lst_gate_forward(M, cur_s, D, W->gate[i], T, N * ds)
 * - side-tuning's merge in lst_side_forward,
 *     for (j < Nd * d) a->head[j] = g * a->bb_dec_out[j] + omg * a->up[j];
 *   as lst_gate_forward(a->head, a->bb_dec_out, a->up, s->w.merge, T, Nd * d)
 *   (the g, omg it keeps for the backward: lst_gate_values)
 * - the same two mixes of a decoding step in src/model/side_decode.c:
 *     cside.x[j] = g * cside.x[j] + omg * D[j]   (j < B * ds) as
 *     lst_gate_forward(cside.x, cside.x, D, W->gate[i], T, (int64_t)B * ds)
 *     up[j] = g * cbb.n[j] + omg * up[j]         (j < B * d) as
 *     lst_gate_forward(up, cbb.n, up, s->w.merge, T, (int64_t)B * d)
 * (T: s->opts.gate_T). */
void lst_gate_forward(float *out, const float *a, const float *b, const float *alpha, float T,
                      int64_t N);
/* Backward of the above; unlike the other backward ops, da and db are
 * OVERWRITTEN (the model's loops store, and every caller has no other
 * contribution to add), and either may be NULL or equal dout:
 *   da[j] = g * dout[j];  db[j] = (1 - g) * dout[j]
 *   dalpha[0] += (float)(dg * g * (1 - g) / T),
 *   dg = sum over j in order of (double)dout[j] * (a[j] - b[j])
 * (the difference in float, the sum in double, one running sum: the
 * model's order, so the gradient is bitwise the model's). dalpha may be
 * NULL. Replaces, bitwise:
 * - the ladder gate's backward in src/model/side_forward.c stack_backward,
 *     for (j < N * ds) { dg += (double)ds_next[j] * (prev[j] - D[j]);
 *                        dD[j] = omg * ds_next[j]; ds_cur[j] = gt * ds_next[j]; }
 *     g->gate[i][0] += (float)(dg * gt * omg / T);
 *   as lst_gate_backward(ds_cur, dD, g->gate[i], ds_next, prev, D, W->gate[i], T, N * ds)
 * - the merge's backward in lst_side_forward,
 *     for (j < Nd * d) { dg += (double)a->dup[j] * (a->bb_dec_out[j] - a->up[j]);
 *                        a->dup[j] *= omg; }
 *     a->dmerge = (float)(dg * g * omg / T);
 *   as a->dmerge = 0; lst_gate_backward(NULL, a->dup, &a->dmerge, a->dup,
 *   a->bb_dec_out, a->up, s->w.merge, T, Nd * d) (0 + x is x, except that a
 *   gradient of -0 becomes +0). */
void lst_gate_backward(float *da, float *db, float *dalpha, const float *dout, const float *a,
                       const float *b, const float *alpha, float T, int64_t N);

/* ---- argmax.c: greedy decoding's pick -------------------------------------- */
/* idx[n] = the first v with x[n, v] maximal, x: [N, V] (V >= 1), idx: [N]
 * (a host buffer). The loop of lst_greedy_pick (src/model/t5/t5_decode.c):
 * best = 0; for v in 1..V-1: if (row[v] > row[best]) best = v; so ties go
 * to the lowest index and a NaN is never picked over what came before it
 * (a NaN at 0 stays picked). In lst_greedy_pick the row loop's search
 *   const float *row = lg + (size_t)b * V; int best = 0;
 *   for (int v = 1; v < V; v++) if (row[v] > row[best]) best = v;
 * becomes one lst_argmax_rows(ids, lg, B, V) before the loop over b (ids
 * is its [B] output already, rewritten per row after it is read) and
 * `const int best = ids[b];` inside it. */
void lst_argmax_rows(int32_t *idx, const float *x, int N, int V);

/* ---- parameter reads ------------------------------------------------------ */
/* host[0..n) = src[0..n), src a backend buffer (a gate scalar): what the
 * model reads of the parameters on the host, through the backend's copy. */
void lst_param_read(float *host, const float *src, size_t n);

#endif
