/* t5/prune.c: the structural-pruning initialisation of the side blocks
 * (LST-SPEC section 3): every side weight is a sub-matrix of the matching
 * backbone weight, chosen by one chain of kept-index sets walked through
 * the whole backbone.
 *
 * The chain: the kept residual dims start from the embedding (per d_model
 * dim, the L1 norm of that column of shared's importance); in each block,
 * a layer norm is sliced by the current residual index; a group of linears
 * reading the residual stream (q,k,v; cross q,k,v; wi or wi_0,wi_1) drops
 * its pruned input columns, scores each row by the L1 norm of the
 * elementwise product of the group's importances over the kept columns,
 * and keeps the best rows (the inner index); the linear writing back (o,
 * wo) drops columns by the inner index and scores its rows by its own
 * importance, which sets the next residual index. The decoder continues
 * from the encoder's last index, and the cross-attention's k and v, like
 * its q, take their columns from the decoder's current residual index
 * (the reference does so, although they read the encoder's output).
 *
 * Row selection: prune round((1 - 1/r) n) rows (half to even, as Python's
 * round) with the smallest score; ties are broken by index as a stable
 * ascending sort does: among equal scores the lower index is pruned first.
 * Kept indices are ascending. Scores are summed in double. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../ops/wformat.h"
#include "../side.h"
#include "t5_backbone.h"
#include "t5_tensors.h"

/* Rows pruned out of n for reduction factor r (Python: round((1-1/r)*n),
 * round half to even; nearbyint does that in the default rounding mode). */
static int n_pruned(int n, int r) {
    double amount = 1.0 - 1.0 / r;
    return (int)nearbyint(amount * n);
}

typedef struct {
    double score;
    int idx;
} ranked_t;

typedef struct {
    const lst_t5_t *bb;
    lst_t5_weights_t imp;  /* importance, backbone layout */
    double *score;         /* [max rows] */
    ranked_t *rank;        /* [max rows] */
    int *res, *inner, *ffn, *tmp; /* index sets: d_side, I_side, F_side, d_side */
    int ds, Is, Fs;        /* side widths = kept counts */
} chain_t;

static int cmp_ranked(const void *a, const void *b) {
    const ranked_t *x = a, *y = b;
    if (x->score < y->score) return -1;
    if (x->score > y->score) return 1;
    return (x->idx > y->idx) - (x->idx < y->idx); /* ties: by index, as a stable sort */
}

static int cmp_int(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    return (i > j) - (i < j);
}

/* Keeps the n_keep rows of n with the largest score (ascending indices). */
static void select_rows(chain_t *c, int n, int n_keep, int *keep) {
    for (int i = 0; i < n; i++) c->rank[i] = (ranked_t){c->score[i], i};
    qsort(c->rank, (size_t)n, sizeof *c->rank, cmp_ranked);
    for (int a = 0; a < n_keep; a++) keep[a] = c->rank[n - n_keep + a].idx;
    qsort(keep, (size_t)n_keep, sizeof(int), cmp_int);
}

/* A group of g linears imp[k]: [n, m] (importances). Scores each row over
 * the columns cols[0..nc) by the L1 norm of the elementwise product of
 * the importances; keeps n_keep rows into keep. */
static void score_group(chain_t *c, const float *const *imp, int g, int n, int m,
                        const int *cols, int nc, int n_keep, int *keep) {
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < nc; j++) {
            double p = 1;
            for (int k = 0; k < g; k++) p *= imp[k][(size_t)i * m + cols[j]];
            s += fabs(p);
        }
        c->score[i] = s;
    }
    select_rows(c, n, n_keep, keep);
}

/* dst[a, b] = src[rows[a], cols[b]]; src: [., m]; nothing if dst is NULL. */
static void gather(float *dst, const float *src, int m, const int *rows, int nr,
                   const int *cols, int nc) {
    if (!dst) return;
    for (int a = 0; a < nr; a++)
        for (int b = 0; b < nc; b++)
            dst[(size_t)a * nc + b] = src[(size_t)rows[a] * m + cols[b]];
}

static void gather_vec(float *dst, const float *src, const int *idx, int n) {
    if (!dst) return;
    for (int a = 0; a < n; a++) dst[a] = src[idx[a]];
}

/* The float32 member of block b that table row t binds. */
static float *member(const lst_t5_block_t *b, const lst_t5_tensor_t *t) {
    return *(float *const *)((const char *)b + t->field);
}

/* One sub-layer (lst_t5_sub_t) of a backbone block, read off the tensor
 * table: its norm is sliced by the residual index, its input group (q, k,
 * v or wi[_0, wi_1]) keeps the inner rows, its output linear (o, wo) sets
 * the next residual index. out: the side block (all NULL when not kept). */
static void prune_sublayer(chain_t *c, const lst_t5_block_t *w, const lst_t5_block_t *imp,
                           const lst_t5_block_t *out, int decoder, int sub) {
    const lst_t5_config_t *cfg = &c->bb->cfg;
    const lst_t5_tensor_t *in[3] = {NULL}, *norm = NULL, *o = NULL;
    int n_in = 0;
    for (int i = 0; i < lst_t5_n_block_tensors; i++) {
        const lst_t5_tensor_t *t = &lst_t5_block_tensors[i];
        if ((int)t->sub != sub || t->field == LST_T5_NO_FIELD || !lst_t5_tensor_in(t, cfg, decoder, 0))
            continue;
        if (t->role == LST_T5_NORM) norm = t;
        else if (t->role == LST_T5_OUT) o = t;
        else if (t->role == LST_T5_IN && n_in < 3) in[n_in++] = t;
    }
    gather_vec(member(out, norm), member(w, norm), c->res, c->ds);
    /* the inner index: attention heads x d_kv, or the FFN's d_ff */
    const int ffn = in[0]->rows == LST_T5_F;
    int *inner = ffn ? c->ffn : c->inner;
    const int n_inner = ffn ? c->Fs : c->Is;
    const int rows = (int)lst_t5_dim(cfg, 0, in[0]->rows), d = cfg->d_model;
    const float *group[3];
    for (int k = 0; k < n_in; k++) group[k] = member(imp, in[k]);
    score_group(c, group, n_in, rows, d, c->res, c->ds, n_inner, inner);
    for (int k = 0; k < n_in; k++)
        gather(member(out, in[k]), member(w, in[k]), d, inner, n_inner, c->res, c->ds);
    const float *oi[1] = {member(imp, o)};
    score_group(c, oi, 1, d, rows, inner, n_inner, c->ds, c->tmp);
    gather(member(out, o), member(w, o), rows, c->tmp, c->ds, inner, n_inner);
    memcpy(c->res, c->tmp, sizeof(int) * (size_t)c->ds);
}

/* One backbone block: w (weights), imp (importances) -> side block out
 * (all NULL when the layer is not kept). Advances c->res. */
static void prune_block(chain_t *c, const lst_t5_block_t *w, const lst_t5_block_t *imp,
                        const lst_t5_block_t *out, int decoder) {
    prune_sublayer(c, w, imp, out, decoder, LST_T5_SELF);
    if (decoder) prune_sublayer(c, w, imp, out, decoder, LST_T5_CROSS);
    prune_sublayer(c, w, imp, out, decoder, LST_T5_FFN);
}

/* The side network must be the one lst_side_create builds for bb, with a
 * kept count equal to the side width for every pruned dimension. */
static int check_shapes(const lst_side_t *s, const lst_t5_t *bb, lst_err_t *err) {
    const lst_t5_config_t *b = &bb->cfg, *sc = &s->cfg;
    const int r = s->opts.r;
    if (s->d_backbone != b->d_model || s->L[0] != b->num_layers ||
        s->L[1] != b->num_decoder_layers || sc->num_heads != b->num_heads ||
        sc->gated != b->gated || sc->rel_buckets != b->rel_buckets)
        return lst_fail(err, "pruning init: the side network was not built for this backbone "
                             "(d_model %d, %d+%d layers, %d heads)",
                        b->d_model, b->num_layers, b->num_decoder_layers, b->num_heads);
    struct { const char *what; int n, side; } dims[3] = {
        {"d_model", b->d_model, sc->d_model},
        {"attention inner (heads x d_kv)", b->num_heads * b->d_kv, sc->num_heads * sc->d_kv},
        {"d_ff", b->d_ff, sc->d_ff},
    };
    for (int i = 0; i < 3; i++) {
        int pruned = n_pruned(dims[i].n, r), kept = dims[i].n - pruned;
        if (kept != dims[i].side)
            return lst_fail(err,
                            "pruning init: r = %d prunes round((1 - 1/%d) x %d) = %d of the %d "
                            "%s dims and keeps %d, but the side network has %d; choose an r "
                            "for which the two agree, or the random init",
                            r, r, dims[i].n, pruned, dims[i].n, dims[i].what, kept,
                            dims[i].side);
    }
    return 0;
}

/* Reached through the backbone table (lst_side_init_prune): the side
 * blocks are T5 blocks, and T5 knows how to slice its own into them. */
int lst_t5_side_prune(const lst_t5_t *bb, lst_side_t *s, const float *importance, lst_err_t *err) {
    if (check_shapes(s, bb, err)) return -1;
    const lst_t5_config_t *cfg = &bb->cfg;
    const int d = cfg->d_model, I = cfg->num_heads * cfg->d_kv, F = cfg->d_ff;
    chain_t c = {.bb = bb, .ds = s->cfg.d_model, .Is = s->cfg.num_heads * s->cfg.d_kv,
                 .Fs = s->cfg.d_ff};
    int rows = d > I ? d : I;
    if (F > rows) rows = F;
    if (bb->vocab > rows) rows = bb->vocab;
    int rc = -1;
    /* A backbone stored packed (int8, q4, bf16): magnitude only, each block
     * unpacked in turn (its dequantized weights are the importance too). */
    const int packed = bb->fmt != LST_WF_F32 && !lst_wformat(bb->fmt)->in_place;
    float *scratch = NULL;
    if (packed && importance)
        return lst_fail(err, "pruning init: Fisher importance needs the float32 backbone, and this "
                             "one is stored as %s (use --init magnitude or random)",
                        lst_wformat_dtype(bb->fmt));
    if (packed && !(scratch = lst_malloc(lst_t5_block_unpacked_floats(cfg, 1) + 1, sizeof(float), err)))
        return -1;
    /* Magnitude: |W| is the importance; scores take absolute values. The
     * bind only computes pointers: nothing is written through them. */
    if (lst_t5_bind(bb, importance ? (float *)importance : bb->flat, &c.imp, err)) goto done;
    c.score = lst_malloc((size_t)rows, sizeof *c.score, err);
    c.rank = lst_malloc((size_t)rows, sizeof *c.rank, err);
    c.res = lst_malloc((size_t)c.ds, sizeof *c.res, err);
    c.tmp = lst_malloc((size_t)c.ds, sizeof *c.tmp, err);
    c.inner = lst_malloc((size_t)c.Is, sizeof *c.inner, err);
    c.ffn = lst_malloc((size_t)c.Fs, sizeof *c.ffn, err);
    if (!c.score || !c.rank || !c.res || !c.tmp || !c.inner || !c.ffn) goto done;

    /* shared: the residual dims, scored over the vocabulary rows. */
    for (int j = 0; j < d; j++) c.score[j] = 0;
    for (int v = 0; v < bb->vocab; v++)
        for (int j = 0; j < d; j++) c.score[j] += fabs((double)c.imp.shared[(size_t)v * d + j]);
    select_rows(&c, d, c.ds, c.res);

    for (int st = 0; st < 2; st++) {
        lst_side_stack_t *S = &s->w.st[st];
        const lst_t5_block_t *wb = st ? bb->w.dec : bb->w.enc;
        const lst_t5_block_t *ib = st ? c.imp.dec : c.imp.enc;
        static const lst_t5_block_t dropped; /* all NULL: computed, not written */
        for (int i = 0, k = 0; i < s->L[st]; i++) {
            int kept = k < s->opts.n_keep[st] && s->opts.keep[st][k] == i;
            k += kept;
            if (packed) {
                lst_t5_block_t u;
                lst_t5_block_unpacked(cfg, &wb[i], st, &u, scratch);
                prune_block(&c, &u, &u, kept ? &S->blk[i] : &dropped, st);
            } else {
                prune_block(&c, &wb[i], &ib[i], kept ? &S->blk[i] : &dropped, st);
            }
        }
        gather_vec(S->final_ln, st ? bb->w.dec_final : bb->w.enc_final, c.res, c.ds);
        memcpy(S->rel, st ? bb->w.dec_rel : bb->w.enc_rel,
               sizeof(float) * (size_t)cfg->rel_buckets * cfg->num_heads);
    }
    rc = 0;
done:
    if (rc) lst_fail_ctx(err, "pruning init");
    lst_t5_weights_free(&c.imp);
    free(scratch);
    free(c.score);
    free(c.rank);
    free(c.res);
    free(c.tmp);
    free(c.inner);
    free(c.ffn);
    return rc;
}
