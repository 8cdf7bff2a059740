/* t5_acts.c: the activation buffers of one T5 forward, laid out in one
 * allocation whose size is known from (config, B, Ts, Td) alone. */
#include <stdlib.h>
#include <string.h>

#include "../../ops/ops.h"
#include "t5.h"
#include "t5_hooks.h"

float *lst_carve(lst_carve_t *c, size_t n) {
    float *p = c->base ? c->base + c->used : NULL;
    c->used += (n + 15) & ~(size_t)15; /* 64-byte aligned slices */
    return p;
}

#define carve lst_carve

/* How one set of block buffers is laid out beyond (B, T, Ts). */
typedef struct {
    int decoder;  /* has a cross-attention */
    int Tc;       /* positions of the cross-attention part (T, or Td in a
                   * set shared by encoder and decoder blocks) */
    int fwd_only; /* no backward reads it: the FFN activation overwrites h
                   * (for ReLU it always does) */
    int fold;     /* folded cross-attention (cross_fold.c): no key or value
                   * buffers; fold_scratch and fold_w (fold_room; NULL in the
                   * sizing pass) instead */
    float *fold_scratch, *fold_w;
} block_layout_t;

static void block_carve(lst_carve_t *c, lst_t5_block_acts_t *b, const lst_t5_config_t *cfg, int B,
                        int T, int Ts, const block_layout_t *o) {
    const size_t d = cfg->d_model, I = (size_t)cfg->num_heads * cfg->d_kv, F = cfg->d_ff;
    const size_t H = cfg->num_heads, N = (size_t)B * T;
    b->rstd_sa = carve(c, N);
    b->n_sa = carve(c, N * d);
    b->q = carve(c, N * I);
    b->k = carve(c, N * I);
    b->v = carve(c, N * I);
    b->lse = carve(c, (size_t)B * H * T);
    b->ctx = carve(c, N * I);
    b->xa = carve(c, N * d);
    b->fold = b->fold_w = NULL;
    if (o->decoder) {
        const size_t Ns = (size_t)B * Ts, Nc = (size_t)B * o->Tc;
        b->rstd_ca = carve(c, Nc);
        b->n_ca = carve(c, Nc * d);
        b->cq = carve(c, Nc * I);
        if (o->fold) {
            b->ck = b->cv = NULL;
            b->fold = o->fold_scratch;
            b->fold_w = o->fold_w;
        } else {
            b->ck = carve(c, Ns * I);
            b->cv = carve(c, Ns * I);
        }
        b->clse = carve(c, (size_t)B * H * o->Tc);
        b->cctx = carve(c, Nc * I);
        b->xb = carve(c, Nc * d);
    }
    b->rstd_ff = carve(c, N);
    b->n_ff = carve(c, N * d);
    b->h = carve(c, N * F);
    b->l = cfg->gated ? carve(c, N * F) : NULL;
    /* ReLU's backward needs only the sign of h, which the (dropped) output
     * keeps where the gradient is not zero anyway: act overwrites h */
    const int relu = !cfg->gated && lst_t5_op_act(cfg) == LST_OP_RELU;
    b->act = o->fwd_only || relu ? b->h : carve(c, N * F);
}

void lst_t5_block_acts_carve(lst_carve_t *c, lst_t5_block_acts_t *b,
                             const lst_t5_config_t *cfg, int B, int T, int Ts, int decoder) {
    const block_layout_t o = {decoder, T, 0, 0, NULL, NULL};
    block_carve(c, b, cfg, B, T, Ts, &o);
}

static int fold_pays(const lst_t5_config_t *cfg, int Ts, int Td) {
    return Td > 0 && lst_cross_fold_pays(Td, Ts, cfg->num_heads, cfg->d_kv, cfg->d_model);
}

/* One folded cross-attention's buffers for up to B x Td queries over Ts
 * keys: its scratch (*scr) and room for a bf16 backbone's ck, cv as floats
 * and its bf16-rounded input (*w; untouched in float32, and there even if
 * the backbone is converted only after this is allocated). */
static void fold_room(lst_carve_t *c, const lst_t5_config_t *cfg, int B, int Ts, int Td,
                      float **scr, float **w) {
    *scr = carve(c, lst_cross_fold_scratch(B, Td, Ts, cfg->num_heads, cfg->d_model));
    *w = carve(c, (2 * (size_t)cfg->num_heads * cfg->d_kv + (size_t)B * Ts) * cfg->d_model);
}

void lst_t5_block_acts_carve_fwd(lst_carve_t *c, lst_t5_block_acts_t *b,
                                 const lst_t5_config_t *cfg, int B, int Ts, int Td) {
    block_layout_t o = {1, Td, 1, fold_pays(cfg, Ts, Td), NULL, NULL};
    if (o.fold) fold_room(c, cfg, B, Ts, Td, &o.fold_scratch, &o.fold_w);
    block_carve(c, b, cfg, B, Ts > Td ? Ts : Td, Ts, &o);
}

/* A method's extra saved activations in one block (each part's own,
 * t5_hooks.h); lx: the shared scratch (lst_t5_needs_t.xs). */
static void ext_acts_carve(lst_carve_t *c, lst_t5_block_acts_t *b, const lst_t5_ext_t *e,
                           size_t N, size_t Ns, size_t d, int decoder, float *lx) {
    lst_t5_parts_carve_acts(c, &b->ext, e, N, Ns, d, decoder, lx);
}

/* The decoder cross-attention of the model folds (Ts: with the prompt):
 * where it pays and no method adds to its key and value projections
 * (lst_t5_needs_t.cross_kv: BitFit's biases, LoRA's value). */
static int folds(const lst_t5_t *m, int Ts, int Td) {
    lst_t5_needs_t n;
    lst_t5_parts_needs(&m->ext, &n);
    return !n.cross_kv && fold_pays(&m->cfg, Ts, Td);
}

/* The backward's own buffers (Ts: the encoder length with the prompt). */
static void carve_bwd(lst_carve_t *c, lst_t5_acts_t *a, const lst_t5_t *m, int Ts, size_t Tm,
                      size_t Dm) {
    const lst_t5_config_t *cfg = &m->cfg;
    const lst_t5_ext_t *e = &m->ext;
    const size_t d = cfg->d_model, H = cfg->num_heads, V = m->vocab;
    const int B = a->B, Td = a->Td;
    a->dlogits = carve(c, (size_t)B * Td * V);
    a->dcur = carve(c, (size_t)B * Tm * d);
    a->dnext = carve(c, (size_t)B * Tm * d);
    a->denc = carve(c, (size_t)B * Ts * d);
    a->dbias_enc = carve(c, H * Ts * Ts);
    a->dbias_dec = carve(c, H * Td * Td);
    lst_t5_bwd_scratch_carve(c, &a->bwd, cfg, B, Td, Ts, !folds(m, Ts, Td));
    lst_t5_needs_t n;
    lst_t5_parts_needs(e, &n);
    if (n.bwd_width) {
        const size_t Ar = n.bwd_width;
        a->bwd.ext_x = carve(c, (size_t)B * Tm * Dm);
        a->bwd.ext_dx = carve(c, (size_t)B * Tm * Dm);
        a->bwd.ext_a = carve(c, (size_t)B * Tm * Ar);
        a->bwd.ext_b = carve(c, (size_t)B * Tm * Ar);
    }
}

size_t lst_t5_acts_bwd_floats(const lst_t5_t *m, int B, int Ts, int Td) {
    lst_t5_acts_t a;
    memset(&a, 0, sizeof a);
    a.B = B;
    a.Td = Td;
    const size_t d = m->cfg.d_model, I = (size_t)m->cfg.num_heads * m->cfg.d_kv;
    const int Te = Ts + m->ext.prompt_len;
    lst_carve_t c = {0};
    carve_bwd(&c, &a, m, Te, (size_t)(Te > Td ? Te : Td), d > I ? d : I);
    return c.used;
}

static void carve_all(lst_carve_t *c, lst_t5_acts_t *a, const lst_t5_t *m) {
    const lst_t5_config_t *cfg = &m->cfg;
    const lst_t5_ext_t *e = &m->ext;
    const size_t d = cfg->d_model, H = cfg->num_heads, I = (size_t)cfg->num_heads * cfg->d_kv;
    const int B = a->B, Ts = a->Ts + e->prompt_len, Td = a->Td; /* the encoder sees the prompt */
    a->enc_taps = carve(c, (size_t)(cfg->num_layers + 1) * B * Ts * d);
    a->dec_taps = carve(c, (size_t)(cfg->num_decoder_layers + 1) * B * Td * d);
    a->enc_out = carve(c, (size_t)B * Ts * d);
    a->dec_out = carve(c, (size_t)B * Td * d);
    a->enc_rstd = carve(c, (size_t)B * Ts);
    a->dec_rstd = carve(c, (size_t)B * Td);
    a->enc_bias = carve(c, H * Ts * Ts);
    a->dec_bias = carve(c, H * Td * Td);
    a->logits = carve(c, (size_t)B * Td * m->vocab);
    a->head_in = carve(c, (size_t)B * Td * d);
    a->src_mask_ext = e->prompt_len ? (uint8_t *)carve(c, ((size_t)B * Ts + 3) / 4) : NULL;
    const size_t Tm = (size_t)(Ts > Td ? Ts : Td), Dm = d > I ? d : I;
    a->attn_scratch = carve(c, lst_attention_forward_workspace(B, (int)Tm, (int)Tm, (int)H));
    lst_t5_needs_t n;
    lst_t5_parts_needs(e, &n);
    float *lx = n.xs ? carve(c, (size_t)B * Tm * Dm) : NULL;
    if (a->keep_all) carve_bwd(c, a, m, Ts, Tm, Dm);
    /* Blocks whose backward runs keep their activations; the others (all
     * in inference, those below a frozen prefix in training) share one set. */
    const int es = a->keep_all ? m->enc_stop : cfg->num_layers;
    const int ds = a->keep_all ? (m->enc_need ? 0 : m->dec_stop) : cfg->num_decoder_layers;
    /* folded decoder cross-attention: one scratch for every layer */
    const int fold = folds(m, Ts, Td);
    float *fold_scr = NULL, *fold_w = NULL;
    if (fold) fold_room(c, cfg, B, Ts, Td, &fold_scr, &fold_w);
    lst_t5_block_acts_t te = {0}, td = {0};
    if (es > 0) {
        const block_layout_t o = {0, Ts, 1, 0, NULL, NULL}; /* no backward reads a shared set */
        block_carve(c, &te, cfg, B, Ts, Ts, &o);
        ext_acts_carve(c, &te, e, (size_t)B * Ts, (size_t)B * Ts, d, 0, lx);
    }
    if (ds > 0) {
        const block_layout_t o = {1, Td, 1, fold, fold_scr, fold_w};
        block_carve(c, &td, cfg, B, Td, Ts, &o);
        ext_acts_carve(c, &td, e, (size_t)B * Td, (size_t)B * Ts, d, 1, lx);
    }
    for (int i = 0; i < cfg->num_layers; i++) {
        if (i < es) {
            a->enc_blk[i] = te;
            continue;
        }
        lst_t5_block_acts_carve(c, &a->enc_blk[i], cfg, B, Ts, Ts, 0);
        ext_acts_carve(c, &a->enc_blk[i], e, (size_t)B * Ts, (size_t)B * Ts, d, 0, lx);
    }
    for (int i = 0; i < cfg->num_decoder_layers; i++) {
        if (i < ds) {
            a->dec_blk[i] = td;
            continue;
        }
        const block_layout_t o = {1, Td, 0, fold, fold_scr, fold_w};
        block_carve(c, &a->dec_blk[i], cfg, B, Td, Ts, &o);
        ext_acts_carve(c, &a->dec_blk[i], e, (size_t)B * Td, (size_t)B * Ts, d, 1, lx);
    }
}

int lst_t5_acts_alloc(lst_t5_acts_t *a, const lst_t5_t *m, int B, int Ts,
                      int Td, int keep_all, lst_err_t *err) {
    memset(a, 0, sizeof *a);
    if (B <= 0 || Ts <= 0 || Td <= 0)
        return lst_fail(err, "batch shape [%d, %d, %d] must be positive", B, Ts, Td);
    a->B = B;
    a->Ts = Ts;
    a->Td = Td;
    a->keep_all = keep_all;
    a->enc_blk = lst_calloc(m->cfg.num_layers, sizeof *a->enc_blk, err);
    a->dec_blk = lst_calloc(m->cfg.num_decoder_layers, sizeof *a->dec_blk, err);
    if (!a->enc_blk || !a->dec_blk) {
        lst_t5_acts_free(a);
        return -1;
    }
    lst_carve_t c = {0};
    carve_all(&c, a, m); /* sizing pass */
    a->arena_floats = c.used;
    a->arena = lst_calloc(c.used, sizeof(float), err);
    if (!a->arena) {
        lst_t5_acts_free(a);
        return lst_fail_ctx(err, "T5 activations for batch [%d, %d, %d]", B, Ts, Td);
    }
    c.base = a->arena;
    c.used = 0;
    carve_all(&c, a, m);
    if (keep_all) {
        a->grad_w.enc = lst_calloc(m->cfg.num_layers, sizeof *a->grad_w.enc, err);
        a->grad_w.dec = lst_calloc(m->cfg.num_decoder_layers, sizeof *a->grad_w.dec, err);
        if (!a->grad_w.enc || !a->grad_w.dec) {
            lst_t5_acts_free(a);
            return -1;
        }
    }
    return 0;
}

size_t lst_t5_acts_floats(const lst_t5_t *m, int B, int Ts, int Td, int keep_all) {
    lst_t5_acts_t a;
    memset(&a, 0, sizeof a);
    a.B = B;
    a.Ts = Ts;
    a.Td = Td;
    a.keep_all = keep_all;
    a.enc_blk = calloc(m->cfg.num_layers, sizeof *a.enc_blk);
    a.dec_blk = calloc(m->cfg.num_decoder_layers, sizeof *a.dec_blk);
    size_t n = 0;
    if (a.enc_blk && a.dec_blk) {
        lst_carve_t c = {0};
        carve_all(&c, &a, m);
        n = c.used;
    }
    free(a.enc_blk);
    free(a.dec_blk);
    return n;
}

void lst_t5_acts_free(lst_t5_acts_t *a) {
    lst_t5_weights_free(&a->grad_w);
    free(a->arena);
    free(a->enc_blk);
    free(a->dec_blk);
    memset(a, 0, sizeof *a);
}
