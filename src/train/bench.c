/* bench.c: see bench.h. A preset is instantiated in memory with random
 * weights (nothing written to disk); the timed step is the one training
 * runs: forward with dropout 0.1, backward, gradient clipping, AdamW. */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../core/clock.h"
#include "../core/rng.h"
#include "../core/rss.h"
#include "../core/streams.h"
#include "../model/methods.h"
#include "../model/t5/presets.h"
#include "../model/t5/peft.h"
#include "adamw.h"
#include "metrics.h"
#include "trainer.h"

static double now_ms(void) { return lst_now_s() * 1e3; }

/* The config and vocabulary of a preset or a checkpoint directory. */
static int open_config(const lst_bench_opts_t *o, lst_t5_config_t *c, int *vocab, lst_err_t *err) {
    lst_err_t perr;
    int want = o->vocab > 0 ? o->vocab : 32100;
    if (lst_preset_config(o->model, c, &perr) != 0) {
        char path[1100];
        snprintf(path, sizeof path, "%s/config.json", o->model);
        if (lst_t5_config_load(c, path, err))
            return lst_fail_ctx(err, "--model is neither a preset (%s) nor a checkpoint",
                                LST_PRESET_NAMES);
    }
    *vocab = want < c->vocab_size ? want : c->vocab_size;
    return 0;
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

/* Loads a directory, or builds a preset with random weights (nothing
 * written to disk), with the method's additions (ext may be NULL); a dtype
 * that streams (lst_t5_streams): straight to its packed backbone, never
 * holding the float32 one. */
static int open_backbone(const lst_bench_opts_t *o, lst_t5_t *m, const lst_t5_ext_t *ext,
                         lst_err_t *err) {
    lst_t5_config_t c;
    lst_err_t perr;
    int vocab_want = o->vocab > 0 ? o->vocab : 32100;
    const int stream = !ext && lst_t5_streams(o->dtype);
    if (lst_preset_config(o->model, &c, &perr) == 0) {
        int vocab = vocab_want < c.vocab_size ? vocab_want : c.vocab_size;
        if (lst_t5_create_ext(m, &c, vocab, ext, err)) return -1;
        for (int i = 0; i < m->n_params; i++) {
            if (stream && lst_t5_is_block_linear(m->params[i].name)) continue; /* below */
            float *x = m->flat + m->params[i].offset;
            if (strstr(m->params[i].name, "layer_norm.weight"))
                for (size_t j = 0; j < m->params[i].numel; j++) x[j] = 1.0f;
            else
                fill_normal(x, m->params[i].numel, (uint64_t)i + 1);
        }
        if (stream && lst_t5_pack(m, lst_wformat(o->dtype)->frozen, fill_random, m, err))
            return -1;
    } else if (!ext) {
        if (lst_t5_load_frozen(m, o->model, vocab_want, o->dtype, err))
            return lst_fail_ctx(err, "--model is neither a preset (%s) nor a checkpoint", LST_PRESET_NAMES);
    } else if (lst_t5_load_ext(m, o->model, vocab_want, ext, err)) {
        return lst_fail_ctx(err, "--model is neither a preset (%s) nor a checkpoint", LST_PRESET_NAMES);
    }
    if (ext) lst_t5_ext_init(m, 2);
    return 0;
}

int lst_bench_plan(const lst_bench_opts_t *o, lst_plan_t *p, lst_err_t *err) {
    lst_t5_config_t c;
    int vocab;
    if (open_config(o, &c, &vocab, err)) return -1;
    return lst_plan_compute(&c, vocab, &o->method, o->freeze_layers, &o->side, o->dtype, o->B, o->T, o->D, p,
                            err);
}


int lst_bench_run(const lst_bench_opts_t *o, lst_bench_result_t *r, lst_err_t *err) {
    memset(r, 0, sizeof *r);
    lst_plan_t plan;
    if (lst_bench_plan(o, &plan, err)) return -1;
    const int is_bb = lst_method_is_backbone(o->method.name);
    lst_t5_t m;
    lst_t5_ext_t ext;
    if (is_bb) {
        lst_t5_config_t c;
        int vocab;
        if (open_config(o, &c, &vocab, err) || lst_method_ext(&o->method, o->freeze_layers, &c, &ext, err))
            return -1;
    }
    if (open_backbone(o, &m, is_bb ? &ext : NULL, err) < 0) return -1;
    const int B = o->B, T = o->T, D = o->D, V = m.vocab;
    int32_t *ids = lst_malloc((size_t)B * T, sizeof(int32_t), err);
    int32_t *lab = lst_malloc((size_t)B * D, sizeof(int32_t), err);
    int32_t *dec = lst_malloc((size_t)B * D, sizeof(int32_t), err);
    uint8_t *mask = lst_malloc((size_t)B * T, 1, err);
    double *times = lst_calloc(o->steps + 1, sizeof(double), err);
    lst_side_t s = {0};
    lst_side_acts_t sa = {0};
    lst_t5_acts_t ta = {0};
    lst_adamw_t opt = {0};
    float *grads = NULL;
    int rc = -1;
    if (!ids || !lab || !dec || !mask || !times) goto done;
    lst_rng_t rng;
    lst_rng_seed(&rng, LST_STREAM_BENCH_TOKENS);
    for (size_t i = 0; i < (size_t)B * T; i++) ids[i] = 2 + (int32_t)(lst_rng_u32(&rng) % (uint32_t)(V - 2));
    for (size_t i = 0; i < (size_t)B * D; i++) lab[i] = 2 + (int32_t)(lst_rng_u32(&rng) % (uint32_t)(V - 2));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < D; t++) dec[b * D + t] = t ? lab[b * D + t - 1] : 0;
    memset(mask, 1, (size_t)B * T);
    lst_batch_t bt = {B, T, D, ids, mask, dec, NULL, lab};
    const int is_lst = !is_bb;
    const lst_param_t *params;
    int n_params;
    float *flat;
    size_t n_floats;
    if (is_lst) {
        lst_side_opts_t so = o->side;
        if (lst_method_side_mode(o->method.name, &so.mode)) {
            lst_fail(err, "unknown method '%s'", o->method.name);
            goto done;
        }
        if (lst_side_create(&s, &m.cfg, &so, err)) goto done;
        lst_side_init_random(&s, LST_STREAM_BENCH_SIDE_INIT);
        if (lst_t5_freeze(&m, o->dtype, err)) goto done; /* as lst train does */
        if (lst_side_acts_alloc(&sa, &m, &s, B, T, D, 1, err)) goto done;
        params = s.params;
        n_params = s.n_params;
        flat = s.flat;
        n_floats = s.n_floats;
    } else {
        if (lst_t5_acts_alloc(&ta, &m, B, T, D, 1, err)) goto done;
        params = m.params; /* the trainable prefix of the table */
        n_params = m.n_trainable;
        flat = m.flat;
        n_floats = m.n_trainable_floats;
    }
    grads = lst_calloc(n_floats, sizeof(float), err);
    lst_adamw_cfg_t ac;
    lst_adamw_cfg_default(&ac);
    ac.lr = lst_method_lr(o->method.name);
    if (!grads || lst_adamw_init(&opt, &ac, n_floats, err)) goto done;
    for (int step = 0; step <= o->steps; step++) { /* step 0 warms up */
        const double t0 = now_ms();
        const lst_drop_t bd = {0.1f, LST_STREAM_BENCH_DROP_SEED,
                               lst_stream_drop(step, LST_STREAM_DROP_BACKBONE)};
        const lst_drop_t sd = {0.1f, LST_STREAM_BENCH_DROP_SEED,
                               lst_stream_drop(step, LST_STREAM_DROP_SIDE)};
        double loss;
        memset(grads, 0, sizeof(float) * n_floats);
        if (is_lst) {
            loss = lst_side_forward(&m, &s, &bt, &sa, &bd, &sd);
            if (lst_side_backward(&m, &s, &bt, &sa, &sd, grads, err)) goto done;
        } else {
            loss = lst_t5_forward(&m, &bt, &ta, &bd);
            if (lst_t5_backward(&m, &bt, &ta, &bd, grads, err)) goto done;
        }
        lst_clip_grad_norm(params, n_params, grads, 1.0);
        lst_adamw_step(&opt, params, n_params, flat, grads, ac.lr);
        times[step] = now_ms() - t0;
        if (step == 0) r->loss_first = loss;
        r->loss_last = loss;
    }
    r->step_ms_median = lst_median(times + 1, o->steps); /* sorted: the minimum comes first */
    r->step_ms_min = times[1];
    r->tokens_per_s = (double)B * (T + D) / (r->step_ms_median / 1e3);
    r->peak_bytes = plan.total;
    r->peak_rss_bytes = lst_peak_rss_bytes();
    rc = 0;
done:
    free(ids);
    free(lab);
    free(dec);
    free(mask);
    free(times);
    free(grads);
    lst_adamw_free(&opt);
    lst_side_acts_free(&sa);
    lst_t5_acts_free(&ta);
    lst_side_free(&s);
    lst_t5_free(&m);
    return rc;
}
