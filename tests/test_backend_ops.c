/* test_backend_ops.c: every op of ops.h from one case table, after ggml's
 * test-backend-ops. Each case (op, shapes, options) builds its inputs from
 * a seeded generator, runs the op through both CPU backend instances via
 * their tables (lst_backend_cpu, the fast one, and lst_backend_cpu_ref, the
 * plain-C one) and holds:
 *   - forward: |fast - ref| <= tol_fwd * (1 + |ref|) element by element
 *     (tol 0: bitwise; equal infinities count as equal);
 *   - backward: the same with tol_bwd, for every gradient the op gives;
 *   - finite differences: for loss = sum(dout * out) over the outputs the
 *     backward differentiates, the central difference (x + eps, x - eps,
 *     forward on the reference, the loss in double) against both backends'
 *     gradients, |fd - g| <= tol_fd * (1 + |fd|), every element (at most
 *     48, spread over the tensor).
 * The tolerances were checked to fail on a wrong backward: each backward
 * was broken once locally (a dropped term, a wrong sign or factor) and its
 * cases failed on the finite differences.
 * Below the table, the new model ops (gates, argmax) against verbatim
 * copies of the model loops they replace: those must be bitwise equal. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/rng.h"
#include "../src/ops/backend.h"
#include "../src/ops/ops.h"
#include "tensor_util.h"
#include "test.h"

#define MAXT 6

enum {
    F_BIAS = 1,      /* matmul / attention: a bias (else NULL) */
    F_MASK = 2,      /* attention, cross-attention: a key mask with masked keys */
    F_CAUSAL = 4,    /* attention: causal */
    F_DROP = 8,      /* dropout on (p = 0.2, example-keyed rows) */
    F_PROBS = 16,    /* attention: the probabilities asked for (another fast path) */
    F_NONORM = 32,   /* residual + rmsnorm without the norm */
    F_BIDIR = 64,    /* relative bias: bidirectional (the encoder's) */
    F_NOKEY = 128,   /* attention: one batch row sees no key at all */
    F_NULLGRAD = 256 /* the first input's gradient pointer NULL (skipped) */
};

typedef struct {
    const char *op;
    int s[6]; /* shapes, per op (see the setup functions) */
    unsigned flags;
    int act; /* lst_op_act_t for act / gated */
    double tol_fwd, tol_bwd;
    float eps; /* 0: no finite differences */
    double tol_fd;
} bcase_t;

/* One case's tensors: n float inputs (diff: has a gradient), the rest. */
typedef struct {
    const bcase_t *c;
    int n;
    float *x[MAXT];
    size_t len[MAXT];
    int diff[MAXT];
    const char *nm[MAXT];
    int32_t *ids;  /* embedding ids, xent labels */
    uint8_t *mask; /* attention key mask */
    int64_t rows[8];
    lst_drop_t drop;
    size_t out_len; /* doubles fwd writes */
    size_t fd_len;  /* leading outputs the backward differentiates */
} tset_t;

typedef struct {
    const char *name;
    void (*setup)(tset_t *t, lst_rng_t *r);
    void (*fwd)(const lst_backend_t *be, const tset_t *t, double *out);
    /* g[i]: zeroed gradients of the diff inputs (NULL for the others) */
    void (*bwd)(const lst_backend_t *be, const tset_t *t, const float *dout, float **g);
} op_desc_t;

static float *input(tset_t *t, lst_rng_t *r, size_t n, float scale, int diff, const char *nm) {
    t->x[t->n] = test_randn(r, n, scale);
    t->len[t->n] = n;
    t->diff[t->n] = diff;
    t->nm[t->n] = nm;
    return t->x[t->n++];
}

static const lst_drop_t *drop_of(const tset_t *t) { return t->c->flags & F_DROP ? &t->drop : NULL; }

static void set_drop(tset_t *t, int B) {
    for (int b = 0; b < 8; b++)
        t->rows[b] = 3 + 5 * b;
    t->drop = (lst_drop_t){0.2f, 0x5eedull, 11, B, t->rows};
}

static void to_double(double *out, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = x[i];
}

static float *fdup(const float *x, size_t n) {
    float *y = malloc(sizeof(float) * (n ? n : 1));
    memcpy(y, x, sizeof(float) * n);
    return y;
}

/* ---- matmul: s = {N, IC, OC}; x, W, b ------------------------------------ */
static void matmul_setup(tset_t *t, lst_rng_t *r) {
    const int *s = t->c->s;
    input(t, r, (size_t)s[0] * s[1], 1, 1, "x");
    input(t, r, (size_t)s[2] * s[1], 1, 1, "W");
    if (t->c->flags & F_BIAS)
        input(t, r, s[2], 1, 1, "b");
    t->out_len = t->fd_len = (size_t)s[0] * s[2];
}
static void matmul_fwd(const lst_backend_t *be, const tset_t *t, double *out) {
    const int *s = t->c->s;
    float *y = malloc(sizeof(float) * t->out_len);
    be->matmul_forward(y, t->x[0], t->x[1], t->n > 2 ? t->x[2] : NULL, s[0], s[1], s[2]);
    to_double(out, y, t->out_len);
    free(y);
}
static void matmul_bwd(const lst_backend_t *be, const tset_t *t, const float *dout, float **g) {
    const int *s = t->c->s;
    be->matmul_backward(g[0], g[1], t->n > 2 ? g[2] : NULL, dout, t->x[0], t->x[1], s[0], s[1],
                        s[2]);
}

/* ---- rmsnorm: s = {N, C}; x, w -------------------------------------------- */
static void rmsnorm_setup(tset_t *t, lst_rng_t *r) {
    const int *s = t->c->s;
    input(t, r, (size_t)s[0] * s[1], 1, 1, "x");
    input(t, r, s[1], 1, 1, "w");
    t->out_len = (size_t)s[0] * s[1] + s[0];
    t->fd_len = (size_t)s[0] * s[1];
}
static void rmsnorm_fwd(const lst_backend_t *be, const tset_t *t, double *out) {
    const int N = t->c->s[0], C = t->c->s[1];
    float *y = malloc(sizeof(float) * t->out_len);
    be->rmsnorm_forward(y, y + (size_t)N * C, t->x[0], t->x[1], N, C, 1e-6f);
    to_double(out, y, t->out_len);
    free(y);
}
static void rmsnorm_bwd(const lst_backend_t *be, const tset_t *t, const float *dout, float **g) {
    const int N = t->c->s[0], C = t->c->s[1];
    float *y = malloc(sizeof(float) * t->out_len);
    be->rmsnorm_forward(y, y + (size_t)N * C, t->x[0], t->x[1], N, C, 1e-6f);
    be->rmsnorm_backward(g[0], g[1], dout, t->x[0], t->x[1], y + (size_t)N * C, N, C);
    free(y);
}

/* ---- residual + dropout + rmsnorm: s = {B, T, C}; x, y, w ------------------ */
static void resnorm_setup(tset_t *t, lst_rng_t *r) {
    const int *s = t->c->s;
    const size_t n = (size_t)s[0] * s[1] * s[2];
    input(t, r, n, 1, 1, "x");
    input(t, r, n, 1, 1, "y");
    input(t, r, s[2], 1, !(t->c->flags & F_NONORM), "w");
    set_drop(t, s[0]);
    t->out_len = t->fd_len = 2 * n;
}
static void resnorm_run(const lst_backend_t *be, const tset_t *t, float *res, float *rstd) {
    const int N = t->c->s[0] * t->c->s[1], C = t->c->s[2];
    float *norm = t->c->flags & F_NONORM ? NULL : res + (size_t)N * C;
    if (!norm)
        memset(res + (size_t)N * C, 0, sizeof(float) * N * C);
    be->residual_rmsnorm_forward(res, norm, rstd, t->x[0], t->x[1], t->x[2], N, C, 1e-6f,
                                 drop_of(t));
}
static void resnorm_fwd(const lst_backend_t *be, const tset_t *t, double *out) {
    float *res = malloc(sizeof(float) * t->out_len), *rstd = malloc(sizeof(float) * t->out_len);
    resnorm_run(be, t, res, rstd);
    to_double(out, res, t->out_len);
    free(res);
    free(rstd);
}
/* d(res) from above plus the norm's: the gradient of x; dy = drop(that) */
static void resnorm_bwd(const lst_backend_t *be, const tset_t *t, const float *dout, float **g) {
    const int N = t->c->s[0] * t->c->s[1], C = t->c->s[2];
    float *res = malloc(sizeof(float) * t->out_len), *rstd = malloc(sizeof(float) * t->out_len);
    resnorm_run(be, t, res, rstd);
    memcpy(g[0], dout, sizeof(float) * N * C);
    be->residual_rmsnorm_backward(g[0], g[1], g[2],
                                  t->c->flags & F_NONORM ? NULL : dout + (size_t)N * C, res,
                                  t->x[2], rstd, N, C, drop_of(t));
    free(res);
    free(rstd);
}

/* ---- dropout: apply s = {N, first}; rows s = {B, L}; probs s = {Tq, Tk, b, h} */
static void dropout_setup(tset_t *t, lst_rng_t *r) {
    const int *s = t->c->s;
    const size_t n = !strcmp(t->c->op, "dropout_rows") ? (size_t)s[0] * s[1] : (size_t)s[0] * s[1];
    input(t, r, !strcmp(t->c->op, "dropout_apply") ? (size_t)s[0] : n, 1, 1, "x");
    set_drop(t, !strcmp(t->c->op, "dropout_rows") ? s[0] : 4);
    t->out_len = t->fd_len = t->len[0];
}
static void dropout_call(const lst_backend_t *be, const tset_t *t, float *y, const float *x) {
    const int *s = t->c->s;
    if (!strcmp(t->c->op, "dropout_apply")) {
        const lst_drop_t ex = lst_drop_example(&t->drop, 1);
        be->dropout_apply(y, x, s[0], t->c->flags & F_DROP ? &ex : NULL, (uint64_t)s[1]);
    } else if (!strcmp(t->c->op, "dropout_rows")) {
        be->dropout_rows(y, x, (int64_t)s[0] * s[1], drop_of(t));
    } else {
        be->dropout_probs(y, x, s[0], s[1], drop_of(t), s[2], s[3]);
    }
}
static void dropout_fwd(const lst_backend_t *be, const tset_t *t, double *out) {
    float *y = malloc(sizeof(float) * t->out_len);
    dropout_call(be, t, y, t->x[0]);
    to_double(out, y, t->out_len);
    free(y);
}
static void dropout_bwd(const lst_backend_t *be, const tset_t *t, const float *dout, float **g) {
    dropout_call(be, t, g[0], dout); /* backward is the same call on the gradient */
}

/* ---- activations: s = {N}; x (act), g, l (gated) --------------------------- */
static void away_from_kinks(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] += x[i] < 0 ? -0.05f : 0.05f; /* ReLU's kink at 0 */
}
static void act_setup(tset_t *t, lst_rng_t *r) {
    const int N = t->c->s[0];
    away_from_kinks(input(t, r, N, 1.5f, 1, "x"), N);
    if (!strcmp(t->c->op, "gated"))
        input(t, r, N, 1, 1, "l");
    t->out_len = t->fd_len = N;
}
static void act_fwd(const lst_backend_t *be, const tset_t *t, double *out) {
    float *y = malloc(sizeof(float) * t->out_len);
    if (t->n == 1)
        be->act_forward(y, t->x[0], t->c->s[0], (lst_op_act_t)t->c->act);
    else
        be->gated_forward(y, t->x[0], t->x[1], t->c->s[0], (lst_op_act_t)t->c->act);
    to_double(out, y, t->out_len);
    free(y);
}
static void act_bwd(const lst_backend_t *be, const tset_t *t, const float *dout, float **g) {
    if (t->n == 1)
        be->act_backward(g[0], dout, t->x[0], t->c->s[0], (lst_op_act_t)t->c->act);
    else
        be->gated_backward(g[0], g[1], dout, t->x[0], t->x[1], t->c->s[0], (lst_op_act_t)t->c->act);
}

/* ---- embedding: s = {N, C, V}; table ---------------------------------------- */
static void embedding_setup(tset_t *t, lst_rng_t *r) {
    const int *s = t->c->s;
    input(t, r, (size_t)s[2] * s[1], 1, 1, "table");
    t->ids = malloc(sizeof(int32_t) * s[0]);
    for (int n = 0; n < s[0]; n++)
        t->ids[n] = (int32_t)((n * 7 + n / 3) % s[2]); /* repeats */
    t->out_len = t->fd_len = (size_t)s[0] * s[1];
}
static void embedding_fwd(const lst_backend_t *be, const tset_t *t, double *out) {
    float *y = malloc(sizeof(float) * t->out_len);
    be->embedding_forward(y, t->ids, t->x[0], t->c->s[0], t->c->s[1]);
    to_double(out, y, t->out_len);
    free(y);
}
static void embedding_bwd(const lst_backend_t *be, const tset_t *t, const float *dout, float **g) {
    be->embedding_backward(g[0], dout, t->ids, t->c->s[0], t->c->s[1]);
}

/* ---- relative bias: s = {H, Tq, Tk, q_off, k_off}; table [8 buckets, H] ------ */
#define RB_BUCKETS 8
#define RB_MAXDIST 12
static void relbias_setup(tset_t *t, lst_rng_t *r) {
    const int *s = t->c->s;
    input(t, r, (size_t)RB_BUCKETS * s[0], 1, 1, "table");
    t->out_len = t->fd_len = (size_t)s[0] * s[1] * s[2];
}
static void relbias_fwd(const lst_backend_t *be, const tset_t *t, double *out) {
    const int *s = t->c->s;
    float *y = malloc(sizeof(float) * t->out_len);
    be->relbias_forward(y, t->x[0], s[0], s[1], s[2], s[3], s[4], !!(t->c->flags & F_BIDIR),
                        RB_BUCKETS, RB_MAXDIST);
    to_double(out, y, t->out_len);
    free(y);
}
static void relbias_bwd(const lst_backend_t *be, const tset_t *t, const float *dout, float **g) {
    const int *s = t->c->s; /* the backward has no offsets: cases with s[3] = s[4] = 0 */
    be->relbias_backward(g[0], dout, s[0], s[1], s[2], !!(t->c->flags & F_BIDIR), RB_BUCKETS,
                         RB_MAXDIST);
}

/* ---- attention: s = {B, Tq, Tk, H, D}; q, k, v, bias ------------------------ */
static void attention_setup(tset_t *t, lst_rng_t *r) {
    const int *s = t->c->s, B = s[0], Tq = s[1], Tk = s[2], C = s[3] * s[4];
    input(t, r, (size_t)B * Tq * C, 1, 1, "q");
    input(t, r, (size_t)B * Tk * C, 1, 1, "k");
    input(t, r, (size_t)B * Tk * C, 1, 1, "v");
    if (t->c->flags & F_BIAS)
        input(t, r, (size_t)s[3] * Tq * Tk, 1, 1, "bias");
    if (t->c->flags & (F_MASK | F_NOKEY)) {
        t->mask = malloc((size_t)B * Tk);
        for (int b = 0; b < B; b++)
            for (int j = 0; j < Tk; j++)
                t->mask[b * Tk + j] = (t->c->flags & F_NOKEY) && b == B - 1 ? 0
                                      : (t->c->flags & F_MASK)              ? (j + b) % 3 != 2
                                                                            : 1;
    }
    set_drop(t, B);
    t->fd_len = (size_t)B * Tq * C;
    t->out_len = t->fd_len + (size_t)B * s[3] * Tq +
                 (t->c->flags & F_PROBS ? (size_t)B * s[3] * Tq * Tk : 0);
}
/* y: out, then lse, then the probabilities if asked for */
static void attention_run(const lst_backend_t *be, const tset_t *t, float *y) {
    const int *s = t->c->s, B = s[0], Tq = s[1], Tk = s[2], H = s[3], D = s[4];
    float *ws = malloc(sizeof(float) * (be->attention_forward_workspace(B, Tq, Tk, H) + 1));
    float *lse = y + t->fd_len, *probs = t->c->flags & F_PROBS ? lse + (size_t)B * H * Tq : NULL;
    be->attention_forward(y, probs, lse, t->x[0], t->x[1], t->x[2],
                          t->c->flags & F_BIAS ? t->x[3] : NULL, t->mask,
                          !!(t->c->flags & F_CAUSAL), B, Tq, Tk, H, D, drop_of(t), ws);
    free(ws);
}
static void attention_fwd(const lst_backend_t *be, const tset_t *t, double *out) {
    float *y = malloc(sizeof(float) * t->out_len);
    attention_run(be, t, y);
    to_double(out, y, t->out_len);
    free(y);
}
static void attention_bwd(const lst_backend_t *be, const tset_t *t, const float *dout, float **g) {
    const int *s = t->c->s, B = s[0], Tq = s[1], Tk = s[2], H = s[3], D = s[4];
    float *y = malloc(sizeof(float) * t->out_len);
    attention_run(be, t, y);
    float *ws = malloc(sizeof(float) * (be->attention_backward_workspace(B, Tq, Tk, H) + 1));
    be->attention_backward(g[0], g[1], g[2], t->c->flags & F_BIAS ? g[3] : NULL, dout, y,
                           y + t->fd_len, t->x[0], t->x[1], t->x[2],
                           t->c->flags & F_BIAS ? t->x[3] : NULL, t->mask,
                           !!(t->c->flags & F_CAUSAL), B, Tq, Tk, H, D, drop_of(t), ws);
    free(ws);
    free(y);
}

/* ---- folded cross-attention: s = {B, T, Ts, H, D, dm}; q, enc, Wk, Wv -------- */
static void cross_setup(tset_t *t, lst_rng_t *r) {
    const int *s = t->c->s, B = s[0], T = s[1], Ts = s[2], C = s[3] * s[4], dm = s[5];
    /* scaled as a trained model's (scores of order 1): with unit weights
     * the scores of the t5-small shapes are of order 100, the softmax one-hot
     * and float against double rounding decides which */
    input(t, r, (size_t)B * T * C, 1.0f / sqrtf((float)s[4]), 1, "q");
    input(t, r, (size_t)B * Ts * dm, 1, 1, "enc");
    input(t, r, (size_t)C * dm, 1.0f / sqrtf((float)dm), 1, "Wk");
    input(t, r, (size_t)C * dm, 1.0f / sqrtf((float)dm), 1, "Wv");
    if (t->c->flags & F_MASK) {
        t->mask = malloc((size_t)B * Ts);
        for (int b = 0; b < B; b++)
            for (int j = 0; j < Ts; j++)
                t->mask[b * Ts + j] = (j + 2 * b) % 4 != 3;
    }
    set_drop(t, B);
    t->fd_len = (size_t)B * T * C;
    t->out_len = t->fd_len + (size_t)B * s[3] * T;
}
static void cross_run(const lst_backend_t *be, const tset_t *t, float *y) {
    const int *s = t->c->s;
    float *ws =
        malloc(sizeof(float) * (be->cross_fold_workspace(s[0], s[1], s[2], s[3], s[5]) + 1));
    be->cross_fold_forward(y, y + t->fd_len, t->x[0], t->x[1], t->x[2], t->x[3], t->mask, s[0],
                           s[1], s[2], s[3], s[4], s[5], drop_of(t), ws);
    free(ws);
}
static void cross_fwd(const lst_backend_t *be, const tset_t *t, double *out) {
    float *y = malloc(sizeof(float) * t->out_len);
    cross_run(be, t, y);
    to_double(out, y, t->out_len);
    free(y);
}
static void cross_bwd(const lst_backend_t *be, const tset_t *t, const float *dout, float **g) {
    const int *s = t->c->s;
    float *y = malloc(sizeof(float) * t->out_len);
    cross_run(be, t, y);
    float *ws =
        malloc(sizeof(float) * (be->cross_fold_workspace(s[0], s[1], s[2], s[3], s[5]) + 1));
    be->cross_fold_backward(g[0], g[1], g[2], g[3], dout, t->x[0], t->x[1], t->x[2], t->x[3],
                            y + t->fd_len, t->mask, s[0], s[1], s[2], s[3], s[4], s[5], drop_of(t),
                            ws);
    free(ws);
    free(y);
}

/* ---- cross-entropy: s = {N, V}; logits (a quarter of the rows ignored) ------- */
static void xent_setup(tset_t *t, lst_rng_t *r) {
    const int N = t->c->s[0], V = t->c->s[1];
    input(t, r, (size_t)N * V, 2, 1, "logits");
    t->ids = malloc(sizeof(int32_t) * N);
    for (int n = 0; n < N; n++)
        t->ids[n] = n % 4 == 3 ? -100 : (n * 5) % V;
    t->out_len = t->fd_len = 1;
}
/* the loss (gradient scale 0, so the chunked form's value comes out too) */
static void xent_fwd(const lst_backend_t *be, const tset_t *t, double *out) {
    const int N = t->c->s[0], V = t->c->s[1];
    const char *op = t->c->op;
    if (!strcmp(op, "xent_forward_backward")) {
        out[0] = be->xent_forward_backward(NULL, t->x[0], t->ids, N, V, 1.0f);
    } else if (!strcmp(op, "xent_sum")) {
        out[0] = be->xent_sum(NULL, t->x[0], t->ids, N, V, 0.0f);
    } else {
        float *z = fdup(t->x[0], t->len[0]);
        out[0] = be->xent_chunk_inplace(z, t->ids, N, V, 0.0f);
        free(z);
    }
}
/* the gradient of dout[0] * loss */
static void xent_bwd(const lst_backend_t *be, const tset_t *t, const float *dout, float **g) {
    const int N = t->c->s[0], V = t->c->s[1];
    const char *op = t->c->op;
    if (!strcmp(op, "xent_forward_backward")) {
        be->xent_forward_backward(g[0], t->x[0], t->ids, N, V, dout[0]);
    } else if (!strcmp(op, "xent_sum")) {
        be->xent_sum(g[0], t->x[0], t->ids, N, V, dout[0]);
    } else {
        memcpy(g[0], t->x[0], sizeof(float) * t->len[0]);
        be->xent_chunk_inplace(g[0], t->ids, N, V, dout[0]);
    }
}

/* ---- elementwise helpers: add_inplace, scale_inplace s = {N}; add_rows and
 * its backward colsum_acc s = {N, C} --------------------------------------- */
#define SCALE 0.37f
static void util_setup(tset_t *t, lst_rng_t *r) {
    const int *s = t->c->s;
    const int rows = !strcmp(t->c->op, "add_rows");
    const size_t n = rows ? (size_t)s[0] * s[1] : (size_t)s[0];
    input(t, r, n, 1, 1, "y");
    if (!strcmp(t->c->op, "add_inplace"))
        input(t, r, n, 1, 1, "x");
    if (rows)
        input(t, r, s[1], 1, 1, "b");
    t->out_len = t->fd_len = n;
}
static void util_fwd(const lst_backend_t *be, const tset_t *t, double *out) {
    float *y = fdup(t->x[0], t->len[0]);
    if (!strcmp(t->c->op, "add_inplace"))
        be->add_inplace(y, t->x[1], (int64_t)t->len[0]);
    else if (!strcmp(t->c->op, "scale_inplace"))
        be->scale_inplace(y, SCALE, (int64_t)t->len[0]);
    else
        be->add_rows(y, t->x[1], t->c->s[0], t->c->s[1]);
    to_double(out, y, t->out_len);
    free(y);
}
static void util_bwd(const lst_backend_t *be, const tset_t *t, const float *dout, float **g) {
    const int64_t n = (int64_t)t->len[0];
    if (!strcmp(t->c->op, "scale_inplace")) {
        float *d = fdup(dout, t->len[0]);
        be->scale_inplace(d, SCALE, n);
        be->add_inplace(g[0], d, n);
        free(d);
        return;
    }
    be->add_inplace(g[0], dout, n);
    if (!strcmp(t->c->op, "add_inplace"))
        be->add_inplace(g[1], dout, n);
    else
        be->colsum_acc(g[1], dout, t->c->s[0], t->c->s[1]);
}

/* ---- gate: s = {N, 100 T}; a, b, alpha --------------------------------------- */
static void gate_setup(tset_t *t, lst_rng_t *r) {
    const int N = t->c->s[0];
    input(t, r, N, 1, 1, "a");
    input(t, r, N, 1, 1, "b");
    input(t, r, 1, 1.5f, 1, "alpha");
    t->out_len = t->fd_len = N;
}
static void gate_fwd(const lst_backend_t *be, const tset_t *t, double *out) {
    float *y = malloc(sizeof(float) * t->out_len);
    be->gate_forward(y, t->x[0], t->x[1], t->x[2], t->c->s[1] / 100.0f, t->c->s[0]);
    to_double(out, y, t->out_len);
    free(y);
}
static void gate_bwd(const lst_backend_t *be, const tset_t *t, const float *dout, float **g) {
    be->gate_backward(g[0], g[1], g[2], dout, t->x[0], t->x[1], t->x[2], t->c->s[1] / 100.0f,
                      t->c->s[0]);
}

/* ---- argmax: s = {N, V}; rows with a tied maximum ---------------------------- */
static void argmax_setup(tset_t *t, lst_rng_t *r) {
    const int N = t->c->s[0], V = t->c->s[1];
    float *x = input(t, r, (size_t)N * V, 1, 0, "x");
    for (int n = 0; n < N; n += 2)
        x[(size_t)n * V + (n * 3) % V] = x[(size_t)n * V + V - 1] = 9.0f;
    t->out_len = t->fd_len = N;
}
static void argmax_fwd(const lst_backend_t *be, const tset_t *t, double *out) {
    int32_t *idx = malloc(sizeof(int32_t) * t->out_len);
    be->argmax_rows(idx, t->x[0], t->c->s[0], t->c->s[1]);
    for (size_t i = 0; i < t->out_len; i++)
        out[i] = idx[i];
    free(idx);
}

static const op_desc_t ops[] = {
    {"matmul", matmul_setup, matmul_fwd, matmul_bwd},
    {"rmsnorm", rmsnorm_setup, rmsnorm_fwd, rmsnorm_bwd},
    {"residual_rmsnorm", resnorm_setup, resnorm_fwd, resnorm_bwd},
    {"dropout_apply", dropout_setup, dropout_fwd, dropout_bwd},
    {"dropout_rows", dropout_setup, dropout_fwd, dropout_bwd},
    {"dropout_probs", dropout_setup, dropout_fwd, dropout_bwd},
    {"act", act_setup, act_fwd, act_bwd},
    {"gated", act_setup, act_fwd, act_bwd},
    {"embedding", embedding_setup, embedding_fwd, embedding_bwd},
    {"relbias", relbias_setup, relbias_fwd, relbias_bwd},
    {"relbias_offsets", relbias_setup, relbias_fwd, NULL},
    {"attention", attention_setup, attention_fwd, attention_bwd},
    {"cross_fold", cross_setup, cross_fwd, cross_bwd},
    {"xent_forward_backward", xent_setup, xent_fwd, xent_bwd},
    {"xent_sum", xent_setup, xent_fwd, xent_bwd},
    {"xent_chunk_inplace", xent_setup, xent_fwd, xent_bwd},
    {"add_inplace", util_setup, util_fwd, util_bwd},
    {"scale_inplace", util_setup, util_fwd, util_bwd},
    {"add_rows", util_setup, util_fwd, util_bwd},
    {"gate", gate_setup, gate_fwd, gate_bwd},
    {"argmax_rows", argmax_setup, argmax_fwd, NULL},
};

/* The case table. Tolerances: fwd, bwd (fast against the reference, relative
 * to 1 + |ref|; 0: bitwise), finite-difference eps (0: none, for shapes
 * chosen to reach the threaded and vector paths) and its tolerance. */
#define FD 1e-2f, 2e-3
#define NOFD 0.0f, 0.0
static const bcase_t cases[] = {
    {"matmul", {37, 29, 41}, F_BIAS, 0, 1e-5, 1e-5, FD},
    {"matmul", {5, 16, 7}, 0, 0, 1e-5, 1e-5, FD},
    {"matmul", {6, 9, 4}, F_NULLGRAD | F_BIAS, 0, 1e-5, 1e-5, FD},
    /* float sums over hundreds of terms: ops_matmul_split_matches_reference's 2e-6 per term */
    {"matmul", {50, 300, 401}, F_BIAS, 0, 2e-6 * 300, 2e-6 * 401, NOFD}, /* split by columns */
    {"matmul", {403, 100, 61}, F_BIAS, 0, 2e-6 * 100, 2e-6 * 403, NOFD}, /* split by rows */
    /* few rows: matmul_rows.c; dx sums 1500 terms in SGEMM's order, which
     * depends on the CPU (Sapphire Rapids: 2.7e-5 off the reference) */
    {"matmul", {3, 64, 1500}, 0, 0, 1e-5, 2e-6 * 1500, NOFD},
    {"rmsnorm", {3, 8}, 0, 0, 1e-6, 1e-6, FD},
    {"rmsnorm", {7, 33}, 0, 0, 1e-6, 1e-6, FD},
    {"rmsnorm", {300, 512}, 0, 0, 1e-6, 2e-5, NOFD}, /* threaded; dw: float over 300 rows */
    {"residual_rmsnorm", {2, 3, 8}, 0, 0, 1e-6, 1e-6, FD},
    {"residual_rmsnorm", {2, 3, 8}, F_DROP, 0, 1e-6, 1e-6, FD},
    {"residual_rmsnorm", {2, 3, 8}, F_DROP | F_NONORM, 0, 1e-6, 1e-6, FD},
    {"residual_rmsnorm", {4, 64, 512}, F_DROP, 0, 1e-6, 2e-5, NOFD}, /* dw: float over 256 rows */
    {"dropout_apply", {1000, 37}, F_DROP, 0, 0, 0, FD},
    {"dropout_apply", {300000, 5}, F_DROP, 0, 0, 0, NOFD}, /* threaded */
    {"dropout_apply", {50, 0}, 0, 0, 0, 0, FD},            /* no site: identity */
    {"dropout_rows", {3, 1000}, F_DROP, 0, 0, 0, FD},
    {"dropout_rows", {4, 100000}, F_DROP, 0, 0, 0, NOFD},
    {"dropout_probs", {5, 7, 1, 2}, F_DROP, 0, 0, 0, FD},
    {"act", {64}, 0, LST_OP_RELU, 0, 0, FD},
    {"act", {64}, 0, LST_OP_GELU_NEW, 1e-6, 1e-6, FD},
    {"act", {64}, 0, LST_OP_GELU, 1e-6, 1e-6, FD},
    {"act", {200003}, 0, LST_OP_RELU, 0, 0, NOFD}, /* threaded, vector tails */
    {"act", {200003}, 0, LST_OP_GELU_NEW, 1e-6, 1e-6, NOFD},
    {"gated", {64}, 0, LST_OP_RELU, 1e-6, 1e-6, FD},
    {"gated", {64}, 0, LST_OP_GELU_NEW, 1e-6, 1e-6, FD},
    {"gated", {64}, F_NULLGRAD, LST_OP_GELU, 1e-6, 1e-6, FD},
    {"gated", {200003}, 0, LST_OP_GELU_NEW, 1e-6, 1e-6, NOFD},
    {"embedding", {6, 5, 4}, 0, 0, 0, 0, FD},
    {"relbias", {2, 5, 7}, F_BIDIR, 0, 0, 0, FD},
    {"relbias", {2, 6, 6}, 0, 0, 0, 0, FD},
    {"relbias_offsets", {2, 1, 9, 8, 0}, 0, 0, 0, 0, NOFD}, /* one decoding step */
    /* ops_attention_backward_finite_difference's case (same eps, tolerance) */
    {"attention", {1, 3, 4, 2, 3}, F_BIAS | F_MASK | F_CAUSAL, 0, 1e-5, 1e-5, FD},
    {"attention", {2, 5, 7, 3, 4}, F_BIAS | F_MASK, 0, 1e-5, 1e-5, FD},
    {"attention", {2, 5, 7, 3, 4}, F_BIAS | F_MASK | F_CAUSAL | F_PROBS, 0, 1e-5, 1e-5, FD},
    {"attention", {2, 4, 6, 2, 3}, F_DROP | F_MASK, 0, 1e-5, 1e-5, FD},
    {"attention", {2, 4, 6, 2, 3}, F_DROP | F_PROBS | F_BIAS, 0, 1e-5, 1e-5, FD},
    {"attention", {2, 3, 5, 2, 2}, F_NOKEY | F_BIAS, 0, 1e-5, 1e-5, FD},
    {"attention", {2, 3, 3, 2, 2}, F_NULLGRAD, 0, 1e-5, 1e-5, FD},
    {"attention", {4, 40, 40, 4, 16}, F_BIAS | F_MASK | F_DROP, 0, 1e-5, 1e-5, NOFD}, /* threaded */
    {"cross_fold", {2, 3, 9, 2, 4, 8}, F_MASK, 0, 1e-5, 1e-5, FD},
    {"cross_fold", {2, 2, 7, 2, 3, 6}, F_DROP | F_MASK, 0, 1e-5, 1e-5, FD},
    {"cross_fold", {1, 1, 5, 1, 4, 4}, 0, 0, 1e-5, 1e-5, FD},
    {"cross_fold", {4, 3, 128, 8, 64, 512}, F_MASK | F_DROP, 0, 1e-5, 1e-5, NOFD}, /* t5-small */
    {"xent_forward_backward", {6, 11}, 0, 0, 1e-6, 1e-6, FD},
    {"xent_sum", {6, 11}, 0, 0, 1e-6, 1e-6, FD},
    {"xent_chunk_inplace", {6, 11}, 0, 0, 1e-6, 1e-6, FD},
    {"xent_sum", {300, 4000}, 0, 0, 1e-6, 1e-6, NOFD}, /* threaded, vector softmax */
    {"xent_chunk_inplace", {300, 4000}, 0, 0, 1e-6, 1e-6, NOFD},
    {"add_inplace", {100}, 0, 0, 0, 0, FD},
    {"scale_inplace", {100}, 0, 0, 0, 0, FD},
    {"add_rows", {5, 7}, 0, 0, 0, 1e-6, FD},
    {"gate", {300, 100}, 0, 0, 0, 0, FD},
    {"gate", {300, 10}, 0, 0, 0, 0, FD}, /* T = 0.1: a steep gate */
    {"gate", {50, 100}, F_NULLGRAD, 0, 0, 0, FD},
    {"gate", {200003, 50}, 0, 0, 0, 0, NOFD}, /* threaded forward */
    {"argmax_rows", {6, 13}, 0, 0, 0, 0, NOFD},
    {"argmax_rows", {40, 40000}, 0, 0, 0, 0, NOFD}, /* threaded */
    /* silu (UL2's gated-silu); last, so the cases above keep their seeds */
    {"act", {64}, 0, LST_OP_SILU, 1e-6, 1e-6, FD},
    {"act", {200003}, 0, LST_OP_SILU, 1e-6, 1e-6, NOFD},
    {"gated", {64}, 0, LST_OP_SILU, 1e-6, 1e-6, FD},
    {"gated", {200003}, F_NULLGRAD, LST_OP_SILU, 1e-6, 1e-6, NOFD},
};

static const op_desc_t *find_op(const char *name) {
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strcmp(ops[i].name, name))
            return &ops[i];
    return NULL;
}

/* worst |a - b| / (1 + |b|); equal values (infinities too) count 0, a NaN
 * on one side only counts infinity */
static double worst_rel(const double *a, const double *b, size_t n, size_t *at) {
    double w = 0;
    *at = 0;
    for (size_t i = 0; i < n; i++) {
        if (a[i] == b[i] || (isnan(a[i]) && isnan(b[i])))
            continue;
        const double d =
            isnan(a[i]) || isnan(b[i]) ? INFINITY : fabs(a[i] - b[i]) / (1 + fabs(b[i]));
        if (!(d <= w)) {
            w = d;
            *at = i;
        }
    }
    return w;
}

static double worst_relf(const float *a, const float *b, size_t n, size_t *at) {
    double *x = malloc(sizeof(double) * (n ? n : 1)), *y = malloc(sizeof(double) * (n ? n : 1));
    to_double(x, a, n);
    to_double(y, b, n);
    const double w = worst_rel(x, y, n, at);
    free(x);
    free(y);
    return w;
}

static double fd_loss(const op_desc_t *op, const tset_t *t, const float *dout, double *out) {
    op->fwd(&lst_backend_cpu_ref, t, out);
    double l = 0;
    for (size_t i = 0; i < t->fd_len; i++)
        l += (double)dout[i] * out[i];
    return l;
}

/* Central differences of input i against gf, gr (the two backends' gradients). */
static void check_fd(const op_desc_t *op, tset_t *t, int i, const float *dout, const float *gf,
                     const float *gr, const char *label) {
    const bcase_t *c = t->c;
    double *out = malloc(sizeof(double) * t->out_len);
    const size_t n = t->len[i], step = n > 48 ? n / 48 : 1;
    int bad = 0;
    for (size_t e = 0; e < n && bad < 3; e += step) {
        const float keep = t->x[i][e], xp = keep + c->eps, xm = keep - c->eps;
        t->x[i][e] = xp;
        const double lp = fd_loss(op, t, dout, out);
        t->x[i][e] = xm;
        const double lm = fd_loss(op, t, dout, out);
        t->x[i][e] = keep;
        const double fd = (lp - lm) / ((double)xp - xm);
        const int ok_r = fabs(fd - gr[e]) <= c->tol_fd * (1 + fabs(fd));
        const int ok_f = fabs(fd - gf[e]) <= c->tol_fd * (1 + fabs(fd));
        CHECK(ok_r && ok_f, "%s: d%s[%zu]: numeric %.7g, reference %.7g, fast %.7g", label,
              t->nm[i], e, fd, gr[e], gf[e]);
        bad += !(ok_r && ok_f);
    }
    free(out);
}

static void run_case(const bcase_t *c, int idx) {
    const op_desc_t *op = find_op(c->op);
    char label[96];
    snprintf(label, sizeof label, "case %d (%s %d,%d,%d,%d,%d,%d flags %#x act %d)", idx, c->op,
             c->s[0], c->s[1], c->s[2], c->s[3], c->s[4], c->s[5], c->flags, c->act);
    CHECK(op, "%s: no such op", label);
    if (!op)
        return;
    tset_t t;
    memset(&t, 0, sizeof t);
    t.c = c;
    lst_rng_t r;
    lst_rng_seed(&r, 1000 + (uint64_t)idx);
    op->setup(&t, &r);
    double *of = malloc(sizeof(double) * t.out_len), *orf = malloc(sizeof(double) * t.out_len);
    op->fwd(&lst_backend_cpu, &t, of);
    op->fwd(&lst_backend_cpu_ref, &t, orf);
    size_t at;
    double w = worst_rel(of, orf, t.out_len, &at);
    CHECK(w <= c->tol_fwd, "%s: forward differs by %g (x tol %g) at %zu: fast %.9g, reference %.9g",
          label, w, c->tol_fwd, at, of[at], orf[at]);
    if (op->bwd) {
        float *dout = test_randn(&r, t.out_len, 1);
        for (size_t i = t.fd_len; i < t.out_len; i++)
            dout[i] = 0; /* outputs without a gradient */
        float *gf[MAXT] = {0}, *gr[MAXT] = {0};
        for (int i = 0; i < t.n; i++)
            if (t.diff[i] && !(i == 0 && (c->flags & F_NULLGRAD))) {
                gf[i] = calloc(t.len[i], sizeof(float));
                gr[i] = calloc(t.len[i], sizeof(float));
            }
        op->bwd(&lst_backend_cpu, &t, dout, gf);
        op->bwd(&lst_backend_cpu_ref, &t, dout, gr);
        for (int i = 0; i < t.n; i++) {
            if (!gf[i])
                continue;
            w = worst_relf(gf[i], gr[i], t.len[i], &at);
            CHECK(w <= c->tol_bwd,
                  "%s: d%s differs by %g (x tol %g) at %zu: fast %.9g, reference %.9g", label,
                  t.nm[i], w, c->tol_bwd, at, gf[i][at], gr[i][at]);
            if (c->eps > 0)
                check_fd(op, &t, i, dout, gf[i], gr[i], label);
        }
        for (int i = 0; i < t.n; i++) {
            free(gf[i]);
            free(gr[i]);
        }
        free(dout);
    }
    for (int i = 0; i < t.n; i++)
        free(t.x[i]);
    free(t.ids);
    free(t.mask);
    free(of);
    free(orf);
}

TEST(backend_ops_case_table) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i], (int)i);
}

/* Every entry of both tables is filled, and every op of the table has a
 * case above (by the ops each descriptor reaches). */
TEST(backend_ops_tables_complete) {
    const lst_backend_t *bes[2] = {&lst_backend_cpu, &lst_backend_cpu_ref};
    for (int b = 0; b < 2; b++) {
        const lst_backend_t *be = bes[b];
        CHECK(be->name && be->alloc && be->free && be->copy && be->sync, "%d: buffers", b);
        /* from the first workspace query to the end the table is function pointers */
        const char *p = (const char *)&be->attention_forward_workspace;
        const char *end = (const char *)be + sizeof *be;
        int k = 0;
        for (; p + sizeof(void (*)(void)) <= end; p += sizeof(void (*)(void)), k++) {
            void (*fn)(void);
            memcpy(&fn, p, sizeof fn);
            CHECK(fn != NULL, "%s: entry %d of the table is empty", be->name, k);
        }
    }
    static const char *const covered[] = {"matmul",
                                          "rmsnorm",
                                          "residual_rmsnorm",
                                          "dropout_apply",
                                          "dropout_rows",
                                          "dropout_probs",
                                          "act",
                                          "gated",
                                          "embedding",
                                          "relbias",
                                          "attention",
                                          "cross_fold",
                                          "xent_forward_backward",
                                          "xent_sum",
                                          "xent_chunk_inplace",
                                          "add_inplace",
                                          "scale_inplace",
                                          "add_rows",
                                          "gate",
                                          "argmax_rows"};
    for (size_t o = 0; o < sizeof covered / sizeof covered[0]; o++) {
        int n = 0;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            n += !strcmp(cases[i].op, covered[o]);
        CHECK(n > 0, "no case for %s", covered[o]);
    }
}

/* ops.h's functions run on the active backend; buffers go through it. */
TEST(backend_ops_dispatch_and_buffers) {
    CHECK(lst_backend() == &lst_backend_cpu, "the default backend is %s", lst_backend()->name);
    lst_rng_t r;
    lst_rng_seed(&r, 5);
    const int N = 9, IC = 13, OC = 7;
    float *x = test_randn(&r, N * IC, 1), *W = test_randn(&r, OC * IC, 1);
    float *y = malloc(sizeof(float) * N * OC), *yr = malloc(sizeof(float) * N * OC);
    lst_matmul_forward_ref(yr, x, W, NULL, N, IC, OC);
    lst_backend_set(&lst_backend_cpu_ref);
    lst_matmul_forward(y, x, W, NULL, N, IC, OC);
    CHECK(!memcmp(y, yr, sizeof(float) * N * OC), "lst_matmul_forward did not run the reference");
    lst_backend_set(NULL);
    CHECK(lst_backend() == &lst_backend_cpu, "NULL restores the CPU backend");
    for (int b = 0; b < 2; b++) {
        const lst_backend_t *be = b ? &lst_backend_cpu_ref : &lst_backend_cpu;
        float *d = be->alloc(sizeof(float) * 5), h[5] = {1, 2, 3, 4, 5}, back[5] = {0};
        CHECK(d && ((uintptr_t)d & 63) == 0, "%s: alloc", be->name);
        be->copy(d, h, sizeof h, LST_COPY_H2D);
        be->sync();
        be->copy(back, d, sizeof back, LST_COPY_D2H);
        CHECK(!memcmp(h, back, sizeof h), "%s: copy there and back", be->name);
        be->free(d);
    }
    float a = 0.75f, v;
    lst_param_read(&v, &a, 1);
    CHECK(v == 0.75f, "parameter read");
    free(x);
    free(W);
    free(y);
    free(yr);
}

/* ---- the model loops the new ops replace, verbatim ---------------------------- */
static void model_side_gate(const float *alpha, float T, float *g, float *one_minus_g) {
    const double z = (double)alpha[0] / T; /* src/model/side.c lst_side_gate */
    *g = (float)(1.0 / (1.0 + exp(-z)));
    *one_minus_g = (float)(1.0 / (1.0 + exp(z)));
}

TEST(backend_ops_gates_are_the_model_loops_bitwise) {
    lst_rng_t r;
    lst_rng_seed(&r, 8);
    const size_t N = 5003;
    const float Ts[] = {0.1f, 1.0f, 0.5f};
    const float alphas[] = {1.0f, -0.3f, 4.0f};
    float *prev = test_randn(&r, N, 1), *D = test_randn(&r, N, 1), *ds_next = test_randn(&r, N, 1);
    float *M1 = malloc(4 * N), *M2 = malloc(4 * N), *c1 = malloc(4 * N), *c2 = malloc(4 * N);
    float *dD1 = malloc(4 * N), *dD2 = malloc(4 * N), *dup1 = malloc(4 * N), *dup2 = malloc(4 * N);
    for (int k = 0; k < 3; k++)
        for (int b = 0; b < 2; b++) {
            const lst_backend_t *be = b ? &lst_backend_cpu_ref : &lst_backend_cpu;
            const float T = Ts[k], alpha[1] = {alphas[k]};
            float g, omg, g2, omg2;
            model_side_gate(alpha, T, &g, &omg);
            lst_gate_values(alpha, T, &g2, &omg2);
            CHECK(g == g2 && omg == omg2, "gate values");
            /* ladder forward (side_forward.c stack_forward) */
            for (size_t j = 0; j < N; j++)
                M1[j] = g * prev[j] + omg * D[j];
            be->gate_forward(M2, prev, D, alpha, T, (int64_t)N);
            CHECK(!memcmp(M1, M2, 4 * N), "%s: ladder forward", be->name);
            /* ladder backward (stack_backward) */
            float ga1[1] = {0.25f}, ga2[1] = {0.25f};
            double dg = 0;
            for (size_t j = 0; j < N; j++) {
                dg += (double)ds_next[j] * (prev[j] - D[j]);
                dD1[j] = omg * ds_next[j];
                c1[j] = g * ds_next[j];
            }
            ga1[0] += (float)(dg * g * omg / T);
            be->gate_backward(c2, dD2, ga2, ds_next, prev, D, alpha, T, (int64_t)N);
            CHECK(!memcmp(c1, c2, 4 * N) && !memcmp(dD1, dD2, 4 * N) && ga1[0] == ga2[0],
                  "%s: ladder backward (dalpha %.9g vs %.9g)", be->name, ga1[0], ga2[0]);
            /* the merge's backward (lst_side_forward): d(up) in place of d(head) */
            memcpy(dup1, ds_next, 4 * N);
            memcpy(dup2, ds_next, 4 * N);
            double dgm = 0;
            for (size_t j = 0; j < N; j++) {
                dgm += (double)dup1[j] * (prev[j] - D[j]);
                dup1[j] *= omg;
            }
            const float dmerge1 = (float)(dgm * g * omg / T);
            float dmerge2 = 0;
            be->gate_backward(NULL, dup2, &dmerge2, dup2, prev, D, alpha, T, (int64_t)N);
            CHECK(!memcmp(dup1, dup2, 4 * N) && dmerge1 == dmerge2, "%s: merge backward", be->name);
        }
    free(prev);
    free(D);
    free(ds_next);
    free(M1);
    free(M2);
    free(c1);
    free(c2);
    free(dD1);
    free(dD2);
    free(dup1);
    free(dup2);
}

/* lst_greedy_pick's loop (src/model/t5/t5_decode.c): ties to the lowest
 * index, NaN never beats what came before. */
TEST(backend_ops_argmax_is_greedy_pick) {
    const int V = 6;
    const float rows[][6] = {
        {1, 3, 3, 2, 0, 3},     {NAN, 1, 2, 5, 5, 0},
        {0, NAN, 7, 7, NAN, 1}, {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY},
        {2, 2, 2, 2, 2, 2},     {-1, -5, INFINITY, 3, INFINITY, 0}};
    const int N = (int)(sizeof rows / sizeof rows[0]);
    for (int b = 0; b < 2; b++) {
        const lst_backend_t *be = b ? &lst_backend_cpu_ref : &lst_backend_cpu;
        int32_t idx[6];
        be->argmax_rows(idx, &rows[0][0], N, V);
        for (int n = 0; n < N; n++) {
            const float *row = rows[n];
            int best = 0;
            for (int v = 1; v < V; v++)
                if (row[v] > row[best])
                    best = v;
            CHECK(idx[n] == best, "%s: row %d: %d, the model's loop %d", be->name, n, idx[n], best);
        }
    }
}
