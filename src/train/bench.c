/* bench.c: see bench.h. A preset is instantiated in memory with random
 * weights (nothing written to disk); the timed step is the one training
 * runs: forward with dropout 0.1, backward, gradient clipping, AdamW. */
#include "bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "../core/rng.h"
#include "../model/methods.h"
#include "../model/presets.h"
#include "adamw.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* Loads a directory, or builds a preset with random weights. */
static int open_backbone(const lst_bench_opts_t *o, lst_t5_t *m, int alloc_weights, lst_err_t *err) {
    lst_t5_config_t c;
    lst_err_t perr;
    int vocab_want = o->vocab > 0 ? o->vocab : 32100;
    if (lst_preset_config(o->model, &c, &perr) == 0) {
        int vocab = vocab_want < c.vocab_size ? vocab_want : c.vocab_size;
        if (!alloc_weights) {
            /* layout only: a zero-sized stand-in is enough to plan */
            memset(m, 0, sizeof *m);
            m->cfg = c;
            m->vocab = vocab;
            return 1;
        }
        if (lst_t5_create(m, &c, vocab, err)) return -1;
        lst_rng_t r;
        lst_rng_seed(&r, 1);
        for (int i = 0; i < m->n_params; i++) {
            float *x = m->flat + m->params[i].offset;
            int ln = strstr(m->params[i].name, "layer_norm") != NULL;
            for (size_t j = 0; j < m->params[i].numel; j++)
                x[j] = ln ? 1.0f : (float)(lst_rng_normal(&r) * 0.05);
        }
        return 0;
    }
    if (lst_t5_load(m, o->model, vocab_want, err))
        return lst_fail_ctx(err, "--model is neither a preset (%s) nor a checkpoint", LST_PRESET_NAMES);
    return 0;
}


/* Floats of lst_t5_backward's buffers (part of the keep-all activations). */
static size_t t5_backward_floats(const lst_t5_config_t *c, int vocab, int B, int T, int D) {
    lst_t5_bwd_scratch_t s;
    lst_carve_t cv = {0};
    lst_t5_bwd_scratch_carve(&cv, &s, c, B, D, T);
    const size_t Tm = (size_t)(T > D ? T : D), d = c->d_model, H = c->num_heads;
    return cv.used + (size_t)B * D * vocab + 2 * B * Tm * d + (size_t)B * T * d + H * T * T + H * D * D;
}

int lst_bench_plan(const lst_bench_opts_t *o, lst_plan_t *p, lst_err_t *err) {
    memset(p, 0, sizeof *p);
    lst_t5_t m;
    int rc = open_backbone(o, &m, 0, err);
    if (rc < 0) return -1;
    const size_t bb = rc == 1 ? (size_t)lst_t5_param_count(&m.cfg, m.vocab) : m.n_floats;
    if (!strcmp(o->method, "lst")) {
        lst_side_t s;
        if (lst_side_create(&s, &m.cfg, &o->side, err)) {
            if (rc == 0) lst_t5_free(&m);
            return -1;
        }
        size_t fwd = lst_side_acts_floats(&m, &s, o->B, o->T, o->D, 0);
        size_t all = lst_side_acts_floats(&m, &s, o->B, o->T, o->D, 1);
        p->weights = 4 * (bb + s.n_floats);
        p->gradients = 4 * s.n_floats;
        p->optimizer = 8 * s.n_floats;
        p->activations = 4 * fwd;
        p->workspace = 4 * (all - fwd);
        lst_side_free(&s);
    } else if (!strcmp(o->method, "full")) {
        /* the keep-all activations include the backward's buffers */
        p->workspace = 4 * t5_backward_floats(&m.cfg, m.vocab, o->B, o->T, o->D);
        p->activations = 4 * lst_t5_acts_floats(&m, o->B, o->T, o->D, 1) - p->workspace;
        p->weights = 4 * bb;
        p->gradients = 4 * bb;
        p->optimizer = 8 * bb;
    } else {
        if (rc == 0) lst_t5_free(&m);
        return lst_fail(err, "--method must be lst or full, not '%s'", o->method);
    }
    p->total = p->weights + p->gradients + p->optimizer + p->activations + p->workspace;
    if (rc == 0) lst_t5_free(&m);
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int lst_bench_run(const lst_bench_opts_t *o, lst_bench_result_t *r, lst_err_t *err) {
    memset(r, 0, sizeof *r);
    lst_plan_t plan;
    if (lst_bench_plan(o, &plan, err)) return -1;
    lst_t5_t m;
    if (open_backbone(o, &m, 1, err) < 0) return -1;
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
    lst_rng_seed(&rng, 7);
    for (size_t i = 0; i < (size_t)B * T; i++) ids[i] = 2 + (int32_t)(lst_rng_u32(&rng) % (uint32_t)(V - 2));
    for (size_t i = 0; i < (size_t)B * D; i++) lab[i] = 2 + (int32_t)(lst_rng_u32(&rng) % (uint32_t)(V - 2));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < D; t++) dec[b * D + t] = t ? lab[b * D + t - 1] : 0;
    memset(mask, 1, (size_t)B * T);
    lst_t5_batch_t bt = {B, T, D, ids, mask, dec, NULL, lab};
    const int is_lst = !strcmp(o->method, "lst");
    const lst_param_t *params;
    int n_params;
    float *flat;
    size_t n_floats;
    if (is_lst) {
        if (lst_side_create(&s, &m.cfg, &o->side, err)) goto done;
        lst_side_init_random(&s, 3);
        if (lst_side_acts_alloc(&sa, &m, &s, B, T, D, 1, err)) goto done;
        params = s.params;
        n_params = s.n_params;
        flat = s.flat;
        n_floats = s.n_floats;
    } else {
        if (lst_t5_acts_alloc(&ta, &m, B, T, D, 1, err)) goto done;
        params = m.params;
        n_params = m.n_params;
        flat = m.flat;
        n_floats = m.n_floats;
    }
    grads = lst_calloc(n_floats, sizeof(float), err);
    lst_adamw_cfg_t ac;
    lst_adamw_cfg_default(&ac);
    ac.lr = is_lst ? 3e-3 : 3e-4;
    if (!grads || lst_adamw_init(&opt, &ac, n_floats, err)) goto done;
    for (int step = 0; step <= o->steps; step++) { /* step 0 warms up */
        const double t0 = now_ms();
        lst_drop_t bd = {0.1f, 11, (uint64_t)step * 4}, sd = {0.1f, 11, (uint64_t)step * 4 + 1};
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
    qsort(times + 1, o->steps, sizeof(double), cmp_double);
    r->step_ms_min = times[1];
    r->step_ms_median = o->steps % 2 ? times[1 + o->steps / 2]
                                      : 0.5 * (times[o->steps / 2] + times[1 + o->steps / 2]);
    r->tokens_per_s = (double)B * (T + D) / (r->step_ms_median / 1e3);
    r->peak_bytes = plan.total;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    r->peak_rss_bytes = (size_t)ru.ru_maxrss * 1024;
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
