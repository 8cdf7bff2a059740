/* t5_params.c: the T5 parameter layout (Hugging Face names and shapes),
 * binding weight pointers to a flat buffer, and loading a checkpoint. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "../../core/fileio.h"
#include "../../io/model_pair.h"
#include "../../io/safetensors.h"
#include "peft.h"
#include "t5.h"
#include "t5_hooks.h"
#include "t5_tensors.h"

/* Appends every visited tensor to the layout (a lst_t5_visit_fn). */
typedef struct {
    lst_layout_t *L;
    const lst_t5_config_t *c;
    const lst_t5_ext_t *e; /* NULL: no method additions (side blocks) */
} layout_ctx_t;

static int add_visited(void *vctx, const lst_t5_visit_t *v, const char *prefix, int stack,
                       int layer, lst_err_t *err) {
    const layout_ctx_t *x = vctx;
    if (!v) return x->e ? lst_t5_ext_layout_block(x->L, x->c, x->e, prefix, stack, err) : 0;
    return lst_layout_add(x->L, err, v->rows, v->cols, "%s", v->name);
}

int lst_t5_layout_block(lst_layout_t *L, const lst_t5_config_t *c,
                        const char *prefix, int decoder, int with_rel,
                        lst_err_t *err) {
    layout_ctx_t x = {L, c, NULL};
    return lst_t5_walk_block(c, prefix, decoder, with_rel, add_visited, &x, err);
}

static int build_layout(lst_layout_t *L, const lst_t5_config_t *c, int V,
                        const lst_t5_ext_t *e, lst_err_t *err) {
    layout_ctx_t x = {L, c, e};
    if (lst_t5_walk(c, V, add_visited, &x, err) || lst_t5_ext_layout_model(L, c, e, V, err))
        return -1;
    /* trainable parameters first (stable), offsets recomputed */
    lst_t5_ext_mark(L->p, L->n, c, e);
    lst_param_t *tmp = malloc(sizeof *tmp * (L->n ? L->n : 1));
    if (!tmp) return lst_fail(err, "out of memory building a parameter layout");
    int k = 0;
    for (int pass = 1; pass >= 0; pass--)
        for (int i = 0; i < L->n; i++)
            if (L->p[i].trainable == pass) tmp[k++] = L->p[i];
    size_t off = 0;
    for (int i = 0; i < L->n; i++) {
        tmp[i].offset = off;
        off += tmp[i].numel;
    }
    memcpy(L->p, tmp, sizeof *tmp * L->n);
    free(tmp);
    return 0;
}

int lst_t5_ext_count(const lst_t5_config_t *c, int vocab, const lst_t5_ext_t *e,
                     size_t *trainable, size_t *total, lst_err_t *err) {
    lst_layout_t L = {0};
    *trainable = *total = 0;
    if (build_layout(&L, c, vocab, e, err)) {
        lst_layout_free(&L);
        return -1;
    }
    for (int i = 0; i < L.n; i++) {
        *total += L.p[i].numel;
        if (L.p[i].trainable) *trainable += L.p[i].numel;
    }
    lst_layout_free(&L);
    return 0;
}

void lst_t5_grad_plan(const lst_t5_config_t *c, const lst_t5_ext_t *e, int *enc_stop,
                      int *dec_stop, int *enc_need) {
    const int k = e ? e->freeze_layers : 0, L = c->num_layers, Ld = c->num_decoder_layers;
    *enc_need = k < L;
    *enc_stop = k < L ? k : L;
    *dec_stop = *enc_need ? 0 : (k - L < Ld ? k - L : Ld);
}

int lst_t5_create(lst_t5_t *m, const lst_t5_config_t *cfg, int vocab,
                  lst_err_t *err) {
    return lst_t5_create_ext(m, cfg, vocab, NULL, err);
}

int lst_t5_create_ext(lst_t5_t *m, const lst_t5_config_t *cfg, int vocab,
                      const lst_t5_ext_t *ext, lst_err_t *err) {
    static const lst_t5_ext_t none;
    if (!ext) ext = &none;
    memset(m, 0, sizeof *m);
    if (lst_t5_config_validate(cfg, "T5 config", err)) return -1;
    if (vocab <= 0 || vocab > cfg->vocab_size)
        return lst_fail(err, "vocabulary of %d rows requested, the config has %d",
                        vocab, cfg->vocab_size);
    m->cfg = *cfg;
    m->vocab = vocab;
    m->ext = *ext;
    lst_t5_grad_plan(cfg, ext, &m->enc_stop, &m->dec_stop, &m->enc_need);
    lst_layout_t L = {0};
    if (build_layout(&L, cfg, vocab, ext, err)) {
        lst_layout_free(&L);
        return -1;
    }
    m->params = L.p;
    m->n_params = L.n;
    m->n_floats = L.total;
    for (int i = 0; i < L.n && L.p[i].trainable; i++) {
        m->n_trainable++;
        m->n_trainable_floats += L.p[i].numel;
    }
    m->flat = lst_calloc(L.total, sizeof(float), err);
    if (!m->flat || lst_t5_bind(m, m->flat, &m->w, err)) {
        lst_t5_free(m);
        return lst_fail_ctx(err, "T5 parameters (%zu floats)", L.total);
    }
    return 0;
}

/* flat + offset of `name`; NULL when absent, or frozen and only_trainable. */
static float *pick(const lst_param_t *p, int n, float *flat, const char *name,
                   int only_trainable) {
    int i = lst_layout_find(p, n, name);
    if (i < 0 || (only_trainable && !p[i].trainable)) return NULL;
    return flat + p[i].offset;
}

/* A table and buffer to bind from (a lst_t5_pick_fn's context). */
typedef struct {
    const lst_param_t *p;
    int n, tonly;
    float *flat;
} pick_ctx_t;

static float *pick_name(void *vctx, const char *name) {
    const pick_ctx_t *x = vctx;
    return pick(x->p, x->n, x->flat, name, x->tonly);
}

/* The block's own tensors from the tensor table; with e, the methods'
 * tensors (and sizes) through their parts (t5_hooks.h). */
static void bind_block(const lst_param_t *p, int n, float *flat, const lst_t5_config_t *c,
                       const char *prefix, int decoder, lst_t5_block_t *b, int tonly,
                       const lst_t5_ext_t *e) {
    char nm[200];
    memset(b, 0, sizeof *b);
    for (int i = 0; i < lst_t5_n_block_tensors; i++) {
        const lst_t5_tensor_t *t = &lst_t5_block_tensors[i];
        if (t->field == LST_T5_NO_FIELD || !lst_t5_tensor_in(t, c, decoder, 0)) continue;
        lst_t5_tensor_name(nm, sizeof nm, prefix, t, decoder);
        *(float **)((char *)b + t->field) = pick(p, n, flat, nm, tonly);
    }
    pick_ctx_t ctx = {p, n, tonly, flat};
    if (e) lst_t5_parts_bind(&b->ext, e, c, prefix, decoder, pick_name, &ctx);
}

/* A side block: no method additions. */
void lst_t5_bind_block(const lst_param_t *p, int n, float *flat,
                       const lst_t5_config_t *c, const char *prefix,
                       int decoder, lst_t5_block_t *b) {
    bind_block(p, n, flat, c, prefix, decoder, b, 0, NULL);
}

static void bind_model(const lst_t5_t *m, float *flat, lst_t5_weights_t *w, int tonly) {
    const lst_t5_config_t *c = &m->cfg;
    const lst_param_t *p = m->params;
    const int n = m->n_params;
    char prefix[64];
    w->shared = pick(p, n, flat, "shared.weight", tonly);
    w->lm_head = c->tie_word_embeddings ? w->shared : pick(p, n, flat, "lm_head.weight", tonly);
    w->enc_rel = pick(p, n, flat, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", tonly);
    w->dec_rel = pick(p, n, flat, "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", tonly);
    w->enc_final = pick(p, n, flat, "encoder.final_layer_norm.weight", tonly);
    w->dec_final = pick(p, n, flat, "decoder.final_layer_norm.weight", tonly);
    w->lm_bias = pick(p, n, flat, "lm_head.bias", tonly);
    w->prompt = pick(p, n, flat, "prompt.weight", tonly);
    w->prompt_len = m->ext.prompt_len;
    for (int s = 0; s < 2; s++) {
        int nl = s ? c->num_decoder_layers : c->num_layers;
        for (int i = 0; i < nl; i++) {
            lst_t5_block_t *b = s ? &w->dec[i] : &w->enc[i];
            snprintf(prefix, sizeof prefix, "%s.block.%d", s ? "decoder" : "encoder", i);
            bind_block(p, n, flat, c, prefix, s, b, tonly, &m->ext);
        }
    }
}

void lst_t5_bind_fill(const lst_t5_t *m, float *flat, lst_t5_weights_t *w) {
    bind_model(m, flat, w, 0);
}

void lst_t5_bind_grads(const lst_t5_t *m, float *grads, lst_t5_weights_t *w) {
    bind_model(m, grads, w, 1);
}

int lst_t5_bind(const lst_t5_t *m, float *flat, lst_t5_weights_t *w,
                lst_err_t *err) {
    const lst_t5_config_t *c = &m->cfg;
    memset(w, 0, sizeof *w);
    w->enc = lst_calloc(c->num_layers, sizeof *w->enc, err);
    w->dec = lst_calloc(c->num_decoder_layers, sizeof *w->dec, err);
    if (!w->enc || !w->dec) {
        lst_t5_weights_free(w);
        return -1;
    }
    lst_t5_bind_fill(m, flat, w);
    return 0;
}

void lst_t5_weights_free(lst_t5_weights_t *w) {
    free(w->enc);
    free(w->dec);
    memset(w, 0, sizeof *w);
}

void lst_t5_free(lst_t5_t *m) {
    free(m->packed);
    lst_t5_weights_free(&m->w);
    free(m->params);
    free(m->flat);
    memset(m, 0, sizeof *m);
}

/* LST_ALLOW_NONFINITE=1 lets a backbone with NaN/Inf weights load (to
 * debug what they do); by default they are refused at load, because a NaN
 * can hide behind a ReLU mask and only show up as NaN gradients. */
static int allow_nonfinite(void) {
    const char *s = getenv("LST_ALLOW_NONFINITE");
    return s && !strcmp(s, "1");
}

static int check_finite(const lst_param_t *p, const float *x, size_t n, lst_err_t *err) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) {
            const size_t cols = p->ndim == 2 ? (size_t)p->shape[1] : 1;
            return lst_fail(err, "tensor '%s' holds %s at [%zu, %zu] (element %zu): a backbone must "
                            "be finite (LST_ALLOW_NONFINITE=1 loads it anyway)", p->name,
                            isnan(x[i]) ? "NaN" : "an infinity", i / cols, i % cols, i);
        }
    return 0;
}

/* Reads one parameter, allowing the checkpoint's vocabulary to be larger
 * than the rows in use (the tokenizer-size shrink of LST-SPEC section 1).
 * The same pass adds the tensor's file bytes to the fingerprint *fp and
 * checks that every value is finite. */
/* Adds tensor t's file bytes, keyed by its name, to the fingerprint *fp
 * (order-free, a sum: the streaming loads read the linears last). */
static void add_fingerprint(uint64_t *fp, const char *name, const lst_st_tensor_t *t) {
    *fp += XXH3_64bits_withSeed(t->data, t->nbytes, XXH3_64bits(name, strlen(name)));
}

static int read_param(const lst_st_set_t *s, const lst_param_t *p, float *dst,
                      int vocab_rows_file, uint64_t *fp, lst_err_t *err) {
    const lst_st_file_t *f = NULL;
    const lst_st_tensor_t *st = lst_st_set_find(s, p->name, &f);
    if (!st) return lst_fail(err, "tensor '%s' not found in %s", p->name, lst_st_set_path(s));
    if (fp) add_fingerprint(fp, p->name, st);
    int is_vocab = !strcmp(p->name, "shared.weight") || !strcmp(p->name, "lm_head.weight");
    int rc;
    if (!is_vocab || vocab_rows_file == p->shape[0]) {
        rc = lst_st_read_f32(f, p->name, p->ndim, p->shape, dst, err);
    } else {
        int64_t full[2] = {vocab_rows_file, p->shape[1]};
        float *tmp = lst_malloc((size_t)full[0] * full[1], sizeof(float), err);
        if (!tmp) return -1;
        rc = lst_st_read_f32(f, p->name, 2, full, tmp, err);
        if (!rc) memcpy(dst, tmp, sizeof(float) * p->numel);
        free(tmp);
    }
    if (!rc && !allow_nonfinite()) rc = check_finite(p, dst, p->numel, err);
    lst_st_release(f, st); /* its pages: a streaming load never holds the file */
    return rc;
}

int lst_t5_load(lst_t5_t *m, const char *dir, int vocab_limit, lst_err_t *err) {
    return lst_t5_load_ext(m, dir, vocab_limit, NULL, err);
}

static int load(lst_t5_t *m, const char *dir, int vocab_limit, const lst_t5_ext_t *ext,
                lst_wformat_t dtype, lst_err_t *err);

int lst_t5_load_ext(lst_t5_t *m, const char *dir, int vocab_limit, const lst_t5_ext_t *ext,
                    lst_err_t *err) {
    return load(m, dir, vocab_limit, ext, LST_WF_F32, err);
}

int lst_t5_load_frozen(lst_t5_t *m, const char *dir, int vocab_limit, lst_wformat_t dtype,
                       lst_err_t *err) {
    return load(m, dir, vocab_limit, NULL, dtype, err);
}

int lst_t5_load_bf16(lst_t5_t *m, const char *dir, int vocab_limit, lst_err_t *err) {
    return lst_t5_load_frozen(m, dir, vocab_limit, LST_WF_BF16, err);
}

typedef struct {
    const lst_st_set_t *f;
    int vocab_rows_file;
    uint64_t *fp;
} file_src_t;

static int fill_from_file(const lst_param_t *p, float *dst, void *ctx, lst_err_t *err) {
    const file_src_t *s = ctx;
    return read_param(s->f, p, dst, s->vocab_rows_file, s->fp, err);
}

/* A block linear's packed bytes from a file lst quantize wrote. */
static int fill_packed_from_file(const lst_param_t *p, void *dst, size_t n, void *ctx,
                                 lst_err_t *err) {
    const file_src_t *s = ctx;
    const lst_st_file_t *f = NULL;
    const lst_st_tensor_t *t = lst_st_set_find(s->f, p->name, &f);
    if (!t) return lst_fail(err, "tensor '%s' not found in %s", p->name, lst_st_set_path(s->f));
    if (t->dtype != LST_DT_U8 || t->ndim != 1 || t->nbytes != n)
        return lst_fail(err, "%s: tensor '%s' is %s [%lld], the packed [%lld, %lld] weight takes %zu "
                        "bytes (U8)", lst_st_set_path(s->f), p->name, lst_dtype_name(t->dtype),
                        (long long)t->shape[0], (long long)p->shape[0], (long long)p->shape[1], n);
    memcpy(dst, t->data, n);
    add_fingerprint(s->fp, p->name, t);
    lst_st_release(f, t);
    return 0;
}

/* The format a file of lst quantize holds (LST_WF_F32: a plain checkpoint),
 * checked against the dtype asked for: its float32 weights are gone. */
static int file_format(const lst_st_set_t *f, const char *dir, lst_wformat_t dtype,
                       lst_wformat_t *out, lst_err_t *err) {
    const char *name = lst_st_set_meta(f, LST_WEIGHT_FORMAT_KEY);
    const char *ver = lst_st_set_meta(f, LST_WEIGHT_VERSION_KEY);
    *out = LST_WF_F32;
    if (!name) return 0;
    if (lst_wformat_parse(name, out) || lst_wformat(*out)->in_place || !ver ||
        strcmp(ver, LST_WEIGHT_VERSION))
        return lst_fail(err, "%s: weights packed as '%s' (version %s), which this lst does not read "
                        "(it reads %s, version %s)", lst_st_set_path(f), name, ver ? ver : "none",
                        lst_wformat_dtypes(), LST_WEIGHT_VERSION);
    if (lst_wformat(dtype)->frozen != *out)
        return lst_fail(err, "%s holds a backbone packed as %s by lst quantize, without its float32 "
                        "weights: it loads only as a frozen %s backbone (--backbone-dtype %s, with "
                        "--init magnitude or random); %s needs the original checkpoint", dir, name,
                        name, name,
                        dtype == LST_WF_F32 ? "a float32 backbone (training it, or the Fisher "
                                              "pruning initialisation)"
                                            : lst_wformat_dtype(dtype));
    return 0;
}

/* XXH3-64 of config.json's bytes (the parsed config hides edits that keep
 * its values, which is what we want to see: any change of the file). */
static int hash_file(const char *path, uint64_t *out, lst_err_t *err) {
    size_t len = 0;
    char *text = lst_read_file(path, (size_t)16 << 20, &len, err);
    if (!text) return -1;
    *out = XXH3_64bits(text, len);
    free(text);
    return 0;
}

/* The checkpoint's tensors that no parameter of m reads (m->unused). */
static void note_unused(lst_t5_t *m, const lst_st_set_t *f) {
    size_t at = 0;
    m->n_unused = 0;
    m->unused[0] = 0;
    for (int i = 0; i < f->n; i++) {
        const char *name = f->by_name[i].name;
        if (lst_layout_find(m->params, m->n_params, name) >= 0) continue;
        /* transformers' own aliases of shared.weight: tied, not stray */
        if (!strcmp(name, "encoder.embed_tokens.weight") || !strcmp(name, "decoder.embed_tokens.weight"))
            continue;
        if (m->n_unused++ < 4 && at + strlen(name) + 3 < sizeof m->unused)
            at += (size_t)snprintf(m->unused + at, sizeof m->unused - at, "%s%s", at ? ", " : "", name);
    }
}

static int load(lst_t5_t *m, const char *dir, int vocab_limit, const lst_t5_ext_t *ext,
                lst_wformat_t dtype, lst_err_t *err) {
    const int stream = lst_t5_streams(dtype);
    char path[4096];
    lst_t5_config_t cfg;
    memset(m, 0, sizeof *m);
    snprintf(path, sizeof path, "%s/config.json", dir);
    uint64_t fp_config = 0, fp_weights = 0;
    if (lst_t5_config_load(&cfg, path, err) || hash_file(path, &fp_config, err)) return -1;
    lst_st_set_t f;
    if (lst_st_set_open(&f, dir, err)) return -1;
    lst_wformat_t packed;
    if (lst_model_pair_check(dir, &cfg, &f, err) || file_format(&f, dir, dtype, &packed, err)) {
        lst_st_set_close(&f);
        return -1;
    }
    /* The checkpoint's vocabulary rows must agree with config.json. */
    const lst_st_tensor_t *sh = lst_st_set_find(&f, "shared.weight", NULL);
    if (!sh) {
        lst_fail(err, "tensor 'shared.weight' not found in %s", lst_st_set_path(&f));
        lst_st_set_close(&f);
        return -1;
    }
    if (sh->ndim != 2 || sh->shape[0] != cfg.vocab_size || sh->shape[1] != cfg.d_model) {
        lst_fail(err,
                 "%s: tensor 'shared.weight' has %d dims [%lld, %lld], config.json "
                 "says [vocab_size %d, d_model %d]",
                 lst_st_set_path(&f), sh->ndim, (long long)sh->shape[0],
                 (long long)(sh->ndim > 1 ? sh->shape[1] : 0), cfg.vocab_size, cfg.d_model);
        lst_st_set_close(&f);
        return -1;
    }
    int vocab = vocab_limit > 0 && vocab_limit < cfg.vocab_size ? vocab_limit : cfg.vocab_size;
    if (lst_t5_create_ext(m, &cfg, vocab, ext, err)) {
        lst_st_set_close(&f);
        return -1;
    }
    note_unused(m, &f);
    for (int i = 0; i < m->n_params; i++) {
        const lst_param_t *p = &m->params[i];
        if (p->ext) continue; /* a method's addition: initialised by the caller */
        /* streaming: the linears are read one at a time while packing, below */
        if (stream && lst_t5_is_block_linear(p->name)) continue;
        if (read_param(&f, p, m->flat + p->offset, cfg.vocab_size, &fp_weights, err)) {
            lst_st_set_close(&f);
            lst_t5_free(m);
            return lst_fail_ctx(err, "loading %s (config.json and weights disagree?)", dir);
        }
    }
    if (stream) {
        file_src_t src = {&f, cfg.vocab_size, &fp_weights};
        const lst_wformat_t fz = lst_wformat(dtype)->frozen;
        if (packed != LST_WF_F32 ? lst_t5_pack_prepacked(m, fz, fill_packed_from_file, &src, err)
                                 : lst_t5_pack(m, fz, fill_from_file, &src, err)) {
            lst_st_set_close(&f);
            lst_t5_free(m);
            return lst_fail_ctx(err, "loading %s in %s", dir, lst_wformat_dtype(dtype));
        }
    }
    lst_st_set_close(&f);
    m->fp_config = fp_config;
    m->fp_weights = fp_weights;
    return 0;
}
