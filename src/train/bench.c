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
#include "../model/backbone_open.h"
#include "../model/methods.h"
#include "../io/glue.h"
#include "../io/tokenizer.h"
#include "adamw.h"
#include "data.h"
#include "metrics.h"
#include "tapcache.h"
#include "trainer.h"

static double now_ms(void) { return lst_now_s() * 1e3; }

int lst_bench_plan(const lst_bench_opts_t *o, lst_plan_t *p, lst_err_t *err) {
    lst_backbone_t bb;
    if (lst_backbone_shape(&bb, o->model, o->vocab, &o->method, o->freeze_layers, err)) return -1;
    const int rc = lst_plan_compute(&bb, &o->method, &o->side, o->dtype, o->B, o->T, o->D, p, err);
    lst_bb_free(&bb);
    return rc;
}


/* The splits of o->task, tokenized as training tokenizes them. */
static int task_splits(const lst_bench_opts_t *o, lst_tokdata_t d[3], lst_err_t *err) {
    lst_tokenizer_t *tok = lst_tokenizer_load(o->spm, err);
    if (!tok) return -1;
    lst_splits_t sp = {0};
    int rc = lst_glue_load(o->task, o->data, NULL, 1, &sp, err);
    const lst_dataset_t *src[3] = {&sp.train, &sp.validation, &sp.test};
    for (int i = 0; !rc && i < 3; i++) rc = lst_tokdata_build(&d[i], src[i], tok, o->max_src, 0, err);
    lst_splits_free(&sp);
    lst_tokenizer_free(tok);
    if (rc) return -1;
    lst_tokdata_t *all[3] = {&d[0], &d[1], &d[2]};
    lst_tokdata_cap_targets(all, 3); /* as training cuts them */
    return 0;
}

int lst_bench_tap_cache(const lst_bench_opts_t *o, size_t bytes[3], int count[3], lst_err_t *err) {
    lst_backbone_t bb;
    lst_side_t s = {0};
    lst_tokdata_t d[3];
    memset(d, 0, sizeof d);
    if (lst_backbone_shape(&bb, o->model, o->vocab, &o->method, o->freeze_layers, err)) return -1;
    int rc = lst_side_shape_for(&s, &bb, &o->side, err);
    if (!rc) rc = task_splits(o, d, err);
    for (int i = 0; !rc && i < 3; i++) {
        lst_tc_key_t k = {i ? LST_TC_EVAL : LST_TC_TRAIN, o->tc_dtype, bb.d_model,
                          {s.opts.n_keep[0], s.opts.n_keep[1]}, {s.opts.keep[0], s.opts.keep[1]},
                          o->max_src, LST_MAX_TARGET_IDS, 0, 0, 0, &d[i]};
        bytes[i] = d[i].n ? lst_tc_bytes(&k) : 0;
        count[i] = d[i].n;
    }
    for (int i = 0; i < 3; i++) lst_tokdata_free(&d[i]);
    lst_side_free(&s);
    lst_bb_free(&bb);
    return rc;
}

int lst_bench_run(const lst_bench_opts_t *o, lst_bench_result_t *r, lst_err_t *err) {
    memset(r, 0, sizeof *r);
    lst_plan_t plan;
    if (lst_bench_plan(o, &plan, err)) return -1;
    const int is_bb = lst_method_trains_backbone(o->method.name);
    lst_backbone_t m; /* a preset with random weights, or a checkpoint */
    if (lst_backbone_bench(&m, o->model, o->vocab, &o->method, o->freeze_layers,
                           o->dtype, err) < 0)
        return -1;
    const int B = o->B, T = o->T, D = o->D, V = m.vocab;
    int32_t *ids = lst_malloc((size_t)B * T, sizeof(int32_t), err);
    int32_t *lab = lst_malloc((size_t)B * D, sizeof(int32_t), err);
    int32_t *dec = lst_malloc((size_t)B * D, sizeof(int32_t), err);
    uint8_t *mask = lst_malloc((size_t)B * T, 1, err);
    double *times = lst_calloc(o->steps + 1, sizeof(double), err);
    lst_side_t s = {0};
    lst_side_acts_t sa = {0};
    lst_bb_acts_t *ta = NULL;
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
        if (lst_side_create(&s, &m, &so, err)) goto done;
        lst_side_init_random(&s, LST_STREAM_BENCH_SIDE_INIT);
        if (lst_bb_freeze(&m, o->dtype, err)) goto done; /* as lst train does */
        if (lst_side_acts_alloc(&sa, &m, &s, B, T, D, 1, err)) goto done;
        params = s.params;
        n_params = s.n_params;
        flat = s.flat;
        n_floats = s.n_floats;
    } else {
        if (!(ta = lst_bb_acts_new(&m, B, T, D, 1, err))) goto done;
        const lst_bb_table_t tb = lst_bb_table(&m);
        params = tb.params; /* the trainable prefix of the table */
        n_params = tb.n_trainable;
        flat = tb.flat;
        n_floats = tb.n_trainable_floats;
    }
    grads = lst_calloc(n_floats, sizeof(float), err);
    lst_adamw_cfg_t ac;
    lst_adamw_cfg_default(&ac);
    ac.lr = lst_method_lr(o->method.name);
    if (!grads || lst_adamw_init(&opt, &ac, n_floats, err)) goto done;
    /* --cached-taps: the taps stay where the warm-up step's backbone wrote
     * them (the acts' own tap slots, where a tap cache puts what it reads) */
    lst_side_taps_t given = {{0}};
    if (o->cached_taps)
        for (int st = 0; st < 2; st++) given.tap[st] = lst_side_tap_buffer(&sa, st);
    for (int step = 0; step <= o->steps; step++) { /* step 0 warms up */
        const double t0 = now_ms();
        const lst_drop_t bd = {o->cached_taps ? 0.0f : 0.1f, LST_STREAM_BENCH_DROP_SEED,
                               lst_stream_drop(step, LST_STREAM_DROP_BACKBONE)};
        const lst_drop_t sd = {0.1f, LST_STREAM_BENCH_DROP_SEED,
                               lst_stream_drop(step, LST_STREAM_DROP_SIDE)};
        double loss;
        memset(grads, 0, sizeof(float) * n_floats);
        if (o->cached_taps && step == 1) sa.io = &given; /* the warm-up step left them */
        if (is_lst) {
            loss = lst_side_forward(&m, &s, &bt, &sa, &bd, &sd);
            if (lst_side_backward(&m, &s, &bt, &sa, &sd, grads, err)) goto done;
        } else {
            loss = lst_bb_forward(&m, &bt, ta, &bd);
            if (lst_bb_backward(&m, &bt, ta, &bd, grads, err)) goto done;
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
    lst_bb_acts_free(&m, ta);
    lst_side_free(&s);
    lst_bb_free(&m);
    return rc;
}
