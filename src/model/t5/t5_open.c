/* t5_open.c: T5 backbones for a method: loaded from a checkpoint
 * directory (lst train, eval, predict), as shapes alone (the memory plan),
 * or a preset with random weights (lst bench). What used to be spread over
 * the tuner and the bench, where it was T5 by nature. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/rng.h"
#include "peft.h"
#include "presets.h"
#include "t5_backbone.h"

static int is_bb_method(const lst_method_t *m) { return m && lst_method_is_backbone(m->name); }

/* Moves a loaded or created m (a stack value) into an owning backbone. */
static int own(lst_backbone_t *bb, lst_t5_t *m, lst_err_t *err) {
    lst_t5_t *h = lst_malloc(1, sizeof *h, err);
    if (!h) {
        lst_t5_free(m);
        return -1;
    }
    *h = *m; /* lst_t5_weights_t's block arrays are heap pointers: the move keeps them */
    lst_t5_backbone_own(bb, h);
    return 0;
}

int lst_t5_load_method(lst_t5_t *t, const char *dir, int vocab_limit, const lst_method_t *m,
                       int freeze_layers, uint64_t seed, lst_err_t *err) {
    lst_t5_config_t cfg;
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    lst_t5_ext_t ext;
    if (lst_t5_config_load(&cfg, path, err) || lst_method_ext(m, freeze_layers, &cfg, &ext, err) ||
        lst_t5_load_ext(t, dir, vocab_limit, &ext, err)) {
        lst_t5_free(t);
        return -1;
    }
    lst_t5_ext_init(t, seed);
    return 0;
}

int lst_t5_backbone_open(lst_backbone_t *bb, const char *dir, int vocab_limit,
                         const lst_method_t *m, int freeze_layers, lst_wformat_t fmt,
                         uint64_t seed, lst_err_t *err) {
    memset(bb, 0, sizeof *bb);
    lst_t5_t t;
    memset(&t, 0, sizeof t);
    if (is_bb_method(m)) {
        if (lst_t5_load_method(&t, dir, vocab_limit, m, freeze_layers, seed, err)) return -1;
    } else if (lst_t5_load_frozen(&t, dir, vocab_limit, fmt, err)) {
        lst_t5_free(&t);
        return -1;
    }
    return own(bb, &t, err);
}

int lst_t5_backbone_shape(lst_backbone_t *bb, const lst_t5_config_t *cfg, int vocab,
                          const lst_method_t *m, int freeze_layers, lst_err_t *err) {
    memset(bb, 0, sizeof *bb);
    lst_t5_t *t = lst_calloc(1, sizeof *t, err);
    if (!t) return -1;
    t->cfg = *cfg;
    t->vocab = vocab;
    t->n_floats = (size_t)lst_t5_param_count(cfg, vocab);
    if (is_bb_method(m)) {
        if (lst_method_ext(m, freeze_layers, cfg, &t->ext, err) ||
            lst_t5_ext_count(cfg, vocab, &t->ext, &t->n_trainable_floats, &t->n_floats, err)) {
            free(t);
            return -1;
        }
        lst_t5_grad_plan(cfg, &t->ext, &t->enc_stop, &t->dec_stop, &t->enc_need);
    }
    lst_t5_backbone_own(bb, t); /* lst_t5_free of a stand-in frees nothing but NULLs */
    return 0;
}

/* The config and vocabulary of a preset or a checkpoint directory. */
static int named_config(const char *model, int vocab, lst_t5_config_t *c, int *v, lst_err_t *err) {
    lst_err_t perr;
    int want = vocab > 0 ? vocab : 32100;
    if (lst_preset_config(model, c, &perr) != 0) {
        char path[1100];
        snprintf(path, sizeof path, "%s/config.json", model);
        if (lst_t5_config_load(c, path, err))
            return lst_fail_ctx(err, "--model is neither a preset (%s) nor a checkpoint",
                                LST_PRESET_NAMES);
    }
    *v = want < c->vocab_size ? want : c->vocab_size;
    return 0;
}

int lst_t5_backbone_named(lst_backbone_t *bb, const char *model, int vocab, const lst_method_t *m,
                          int freeze_layers, lst_err_t *err) {
    lst_t5_config_t c;
    int v;
    memset(bb, 0, sizeof *bb);
    if (named_config(model, vocab, &c, &v, err)) return -1;
    return lst_t5_backbone_shape(bb, &c, v, m, freeze_layers, err);
}

/* x[j] = N(0, 0.05^2) for parameter number `stream` of a preset: chunks of
 * 4096 values, each from its own Philox stream, split across the threads
 * (the same values for any thread count), both Box-Muller outputs used.
 * Drawn one by one, t5-base's 220M values took 10 s before every run. */
static void fill_normal(float *x, size_t n, uint64_t stream) {
    const size_t chunk = 4096, nc = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < nc; c++) {
        lst_rng_t r;
        lst_rng_seed(&r, (stream << 32) ^ c);
        const size_t end = (c + 1) * chunk < n ? (c + 1) * chunk : n;
        for (size_t j = c * chunk; j < end; j += 2) {
            const double u = 1.0 - lst_rng_uniform(&r), v = lst_rng_uniform(&r);
            const double rad = 0.05 * sqrt(-2.0 * log(u)), th = 6.283185307179586 * v;
            x[j] = (float)(rad * cos(th));
            if (j + 1 < end) x[j + 1] = (float)(rad * sin(th));
        }
    }
}

/* A streaming dtype's preset path: a block linear's values, as fill_normal gives them. */
static int fill_random(const lst_param_t *p, float *dst, void *ctx, lst_err_t *err) {
    const lst_t5_t *m = ctx;
    fill_normal(dst, p->numel, (uint64_t)(p - m->params) + 1);
    return 0;
}

/* Loads a directory, or builds a preset with random weights, with the
 * method's additions (ext may be NULL); a dtype that streams
 * (lst_t5_streams): straight to its packed backbone, never holding the
 * float32 one. */
static int bench_model(const char *model, int vocab, lst_t5_t *m, const lst_t5_ext_t *ext,
                       lst_wformat_t dtype, lst_err_t *err) {
    lst_t5_config_t c;
    lst_err_t perr;
    int vocab_want = vocab > 0 ? vocab : 32100;
    const int stream = !ext && lst_t5_streams(dtype);
    if (lst_preset_config(model, &c, &perr) == 0) {
        int v = vocab_want < c.vocab_size ? vocab_want : c.vocab_size;
        if (lst_t5_create_ext(m, &c, v, ext, err)) return -1;
        for (int i = 0; i < m->n_params; i++) {
            if (stream && lst_t5_is_block_linear(m->params[i].name)) continue; /* below */
            float *x = m->flat + m->params[i].offset;
            if (strstr(m->params[i].name, "layer_norm.weight"))
                for (size_t j = 0; j < m->params[i].numel; j++) x[j] = 1.0f;
            else
                fill_normal(x, m->params[i].numel, (uint64_t)i + 1);
        }
        if (stream && lst_t5_pack(m, lst_wformat(dtype)->frozen, fill_random, m, err)) return -1;
    } else if (!ext) {
        if (lst_t5_load_frozen(m, model, vocab_want, dtype, err))
            return lst_fail_ctx(err, "--model is neither a preset (%s) nor a checkpoint", LST_PRESET_NAMES);
    } else if (lst_t5_load_ext(m, model, vocab_want, ext, err)) {
        return lst_fail_ctx(err, "--model is neither a preset (%s) nor a checkpoint", LST_PRESET_NAMES);
    }
    if (ext) lst_t5_ext_init(m, 2);
    return 0;
}

int lst_t5_backbone_bench(lst_backbone_t *bb, const char *model, int vocab, const lst_method_t *m,
                          int freeze_layers, lst_wformat_t fmt, lst_err_t *err) {
    memset(bb, 0, sizeof *bb);
    lst_t5_ext_t ext;
    const int is_bb = is_bb_method(m);
    if (is_bb) {
        lst_t5_config_t c;
        int v;
        if (named_config(model, vocab, &c, &v, err) || lst_method_ext(m, freeze_layers, &c, &ext, err))
            return -1;
    }
    lst_t5_t t;
    memset(&t, 0, sizeof t);
    if (bench_model(model, vocab, &t, is_bb ? &ext : NULL, fmt, err) < 0) {
        lst_t5_free(&t);
        return -1;
    }
    return own(bb, &t, err);
}
