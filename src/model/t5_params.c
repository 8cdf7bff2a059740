/* t5_params.c: the T5 parameter layout (Hugging Face names and shapes),
 * binding weight pointers to a flat buffer, and loading a checkpoint. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/safetensors.h"
#include "t5.h"

int lst_t5_layout_block(lst_layout_t *L, const lst_t5_config_t *c,
                        const char *prefix, int decoder, int with_rel,
                        lst_err_t *err) {
    const int64_t d = c->d_model, I = (int64_t)c->num_heads * c->d_kv, F = c->d_ff;
    const char *sa = "layer.0.SelfAttention";
    int rc = 0;
    rc |= lst_layout_add(L, err, I, d, "%s.%s.q.weight", prefix, sa);
    rc |= lst_layout_add(L, err, I, d, "%s.%s.k.weight", prefix, sa);
    rc |= lst_layout_add(L, err, I, d, "%s.%s.v.weight", prefix, sa);
    rc |= lst_layout_add(L, err, d, I, "%s.%s.o.weight", prefix, sa);
    if (with_rel)
        rc |= lst_layout_add(L, err, c->rel_buckets, c->num_heads,
                             "%s.%s.relative_attention_bias.weight", prefix, sa);
    rc |= lst_layout_add(L, err, d, 0, "%s.layer.0.layer_norm.weight", prefix);
    int ff = 1;
    if (decoder) {
        const char *ca = "layer.1.EncDecAttention";
        rc |= lst_layout_add(L, err, I, d, "%s.%s.q.weight", prefix, ca);
        rc |= lst_layout_add(L, err, I, d, "%s.%s.k.weight", prefix, ca);
        rc |= lst_layout_add(L, err, I, d, "%s.%s.v.weight", prefix, ca);
        rc |= lst_layout_add(L, err, d, I, "%s.%s.o.weight", prefix, ca);
        rc |= lst_layout_add(L, err, d, 0, "%s.layer.1.layer_norm.weight", prefix);
        ff = 2;
    }
    if (c->gated) {
        rc |= lst_layout_add(L, err, F, d, "%s.layer.%d.DenseReluDense.wi_0.weight", prefix, ff);
        rc |= lst_layout_add(L, err, F, d, "%s.layer.%d.DenseReluDense.wi_1.weight", prefix, ff);
    } else {
        rc |= lst_layout_add(L, err, F, d, "%s.layer.%d.DenseReluDense.wi.weight", prefix, ff);
    }
    rc |= lst_layout_add(L, err, d, F, "%s.layer.%d.DenseReluDense.wo.weight", prefix, ff);
    rc |= lst_layout_add(L, err, d, 0, "%s.layer.%d.layer_norm.weight", prefix, ff);
    return rc ? -1 : 0;
}

static int build_layout(lst_layout_t *L, const lst_t5_config_t *c, int V,
                        lst_err_t *err) {
    char prefix[64];
    int rc = lst_layout_add(L, err, V, c->d_model, "shared.weight");
    for (int s = 0; s < 2 && !rc; s++) {
        const char *stack = s ? "decoder" : "encoder";
        int nl = s ? c->num_decoder_layers : c->num_layers;
        for (int i = 0; i < nl && !rc; i++) {
            snprintf(prefix, sizeof prefix, "%s.block.%d", stack, i);
            rc = lst_t5_layout_block(L, c, prefix, s, i == 0, err);
        }
        if (!rc) rc = lst_layout_add(L, err, c->d_model, 0, "%s.final_layer_norm.weight", stack);
    }
    if (!rc && !c->tie_word_embeddings) rc = lst_layout_add(L, err, V, c->d_model, "lm_head.weight");
    return rc ? -1 : 0;
}

int lst_t5_create(lst_t5_t *m, const lst_t5_config_t *cfg, int vocab,
                  lst_err_t *err) {
    memset(m, 0, sizeof *m);
    if (lst_t5_config_validate(cfg, "T5 config", err)) return -1;
    if (vocab <= 0 || vocab > cfg->vocab_size)
        return lst_fail(err, "vocabulary of %d rows requested, the config has %d",
                        vocab, cfg->vocab_size);
    m->cfg = *cfg;
    m->vocab = vocab;
    lst_layout_t L = {0};
    if (build_layout(&L, cfg, vocab, err)) {
        lst_layout_free(&L);
        return -1;
    }
    m->params = L.p;
    m->n_params = L.n;
    m->n_floats = L.total;
    m->flat = lst_calloc(L.total, sizeof(float), err);
    if (!m->flat || lst_t5_bind(m, m->flat, &m->w, err)) {
        lst_t5_free(m);
        return lst_fail_ctx(err, "T5 parameters (%zu floats)", L.total);
    }
    return 0;
}

static float *find(const lst_t5_t *m, float *flat, const char *name) {
    return lst_layout_ptr(m->params, m->n_params, flat, name);
}

void lst_t5_bind_block(const lst_param_t *p, int n, float *flat,
                       const lst_t5_config_t *c, const char *prefix,
                       int decoder, lst_t5_block_t *b) {
    char nm[200];
    memset(b, 0, sizeof *b);
#define P(field, fmt, ...)                                          \
    snprintf(nm, sizeof nm, "%s." fmt, prefix, ##__VA_ARGS__);      \
    b->field = lst_layout_ptr(p, n, flat, nm)
    P(ln_sa, "layer.0.layer_norm.weight");
    P(q, "layer.0.SelfAttention.q.weight");
    P(k, "layer.0.SelfAttention.k.weight");
    P(v, "layer.0.SelfAttention.v.weight");
    P(o, "layer.0.SelfAttention.o.weight");
    int ff = decoder ? 2 : 1;
    if (decoder) {
        P(ln_ca, "layer.1.layer_norm.weight");
        P(cq, "layer.1.EncDecAttention.q.weight");
        P(ck, "layer.1.EncDecAttention.k.weight");
        P(cv, "layer.1.EncDecAttention.v.weight");
        P(co, "layer.1.EncDecAttention.o.weight");
    }
    P(ln_ff, "layer.%d.layer_norm.weight", ff);
    if (c->gated) {
        P(wi, "layer.%d.DenseReluDense.wi_0.weight", ff);
        P(wi1, "layer.%d.DenseReluDense.wi_1.weight", ff);
    } else {
        P(wi, "layer.%d.DenseReluDense.wi.weight", ff);
    }
    P(wo, "layer.%d.DenseReluDense.wo.weight", ff);
#undef P
}

void lst_t5_bind_fill(const lst_t5_t *m, float *flat, lst_t5_weights_t *w) {
    const lst_t5_config_t *c = &m->cfg;
    char prefix[64];
    w->shared = find(m, flat, "shared.weight");
    w->lm_head = c->tie_word_embeddings ? w->shared : find(m, flat, "lm_head.weight");
    w->enc_rel = find(m, flat, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
    w->dec_rel = find(m, flat, "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
    w->enc_final = find(m, flat, "encoder.final_layer_norm.weight");
    w->dec_final = find(m, flat, "decoder.final_layer_norm.weight");
    for (int s = 0; s < 2; s++) {
        int nl = s ? c->num_decoder_layers : c->num_layers;
        for (int i = 0; i < nl; i++) {
            snprintf(prefix, sizeof prefix, "%s.block.%d", s ? "decoder" : "encoder", i);
            lst_t5_bind_block(m->params, m->n_params, flat, c, prefix, s, s ? &w->dec[i] : &w->enc[i]);
        }
    }
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
    lst_t5_weights_free(&m->w);
    free(m->params);
    free(m->flat);
    memset(m, 0, sizeof *m);
}

/* Reads one parameter, allowing the checkpoint's vocabulary to be larger
 * than the rows in use (the tokenizer-size shrink of LST-SPEC section 1). */
static int read_param(const lst_st_file_t *f, const lst_param_t *p, float *dst,
                      int vocab_rows_file, lst_err_t *err) {
    int is_vocab = !strcmp(p->name, "shared.weight") || !strcmp(p->name, "lm_head.weight");
    if (!is_vocab || vocab_rows_file == p->shape[0])
        return lst_st_read_f32(f, p->name, p->ndim, p->shape, dst, err);
    int64_t full[2] = {vocab_rows_file, p->shape[1]};
    float *tmp = lst_malloc((size_t)full[0] * full[1], sizeof(float), err);
    if (!tmp) return -1;
    int rc = lst_st_read_f32(f, p->name, 2, full, tmp, err);
    if (!rc) memcpy(dst, tmp, sizeof(float) * p->numel);
    free(tmp);
    return rc;
}

int lst_t5_load(lst_t5_t *m, const char *dir, int vocab_limit, lst_err_t *err) {
    char path[4096];
    lst_t5_config_t cfg;
    memset(m, 0, sizeof *m);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (lst_t5_config_load(&cfg, path, err)) return -1;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    lst_st_file_t f = {0};
    if (lst_st_open(&f, path, err)) return -1;
    /* The checkpoint's vocabulary rows must agree with config.json. */
    const lst_st_tensor_t *sh = lst_st_find(&f, "shared.weight");
    if (!sh) {
        lst_st_close(&f);
        return lst_fail(err, "%s: tensor 'shared.weight' not found", path);
    }
    if (sh->ndim != 2 || sh->shape[0] != cfg.vocab_size || sh->shape[1] != cfg.d_model) {
        lst_fail(err,
                 "%s: tensor 'shared.weight' has %d dims [%lld, %lld], config.json "
                 "says [vocab_size %d, d_model %d]",
                 path, sh->ndim, (long long)sh->shape[0],
                 (long long)(sh->ndim > 1 ? sh->shape[1] : 0), cfg.vocab_size, cfg.d_model);
        lst_st_close(&f);
        return -1;
    }
    int vocab = vocab_limit > 0 && vocab_limit < cfg.vocab_size ? vocab_limit : cfg.vocab_size;
    if (lst_t5_create(m, &cfg, vocab, err)) {
        lst_st_close(&f);
        return -1;
    }
    for (int i = 0; i < m->n_params; i++) {
        const lst_param_t *p = &m->params[i];
        if (read_param(&f, p, m->flat + p->offset, cfg.vocab_size, err)) {
            lst_st_close(&f);
            lst_t5_free(m);
            return lst_fail_ctx(err, "loading %s (config.json and weights disagree?)", dir);
        }
    }
    lst_st_close(&f);
    return 0;
}
