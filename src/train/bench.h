/* bench.h: the memory plan of a training step (`lst plan`) and timed
 * training steps on random tokens (`lst bench`), for every method, on a
 * checkpoint directory or a preset's shapes. */
#ifndef LST_BENCH_H
#define LST_BENCH_H

#include <stddef.h>

#include "../core/error.h"
#include "../model/side.h"
#include "tuner.h"

typedef struct lst_bench_opts {
    char model[1024];     /* checkpoint directory or preset name */
    lst_method_t method;  /* any method of methods.h, with its sizes */
    int freeze_layers;    /* baselines: the first k layers frozen */
    lst_wformat_t dtype;  /* side methods: the frozen backbone's dtype (ops/wformat.h) */
    int B, T, D;          /* batch, source length, target length */
    lst_side_opts_t side; /* r, kept layers (n_keep < 0: all) */
    int vocab;            /* rows kept (0: 32100 like training, or the model's if fewer) */
    int steps;
    int cached_taps;      /* lst bench, LST: the timed steps take the taps as a tap cache
                             gives them (the backbone in eval mode, run by the warm-up step
                             only): the cost of a training step once the taps are cached */
    /* lst plan: the tap cache of a GLUE task's splits (task "" : none) */
    char task[32], data[1024], spm[1024];
    int max_src, tc_dtype;
} lst_bench_opts_t;

int lst_bench_plan(const lst_bench_opts_t *o, lst_plan_t *plan, lst_err_t *err);

/* The tap cache's bytes for o->task's splits (train, validation, test) with
 * o's backbone shape, kept layers and cache dtype (tapcache.h), and their
 * example counts. */
int lst_bench_tap_cache(const lst_bench_opts_t *o, size_t bytes[3], int count[3], lst_err_t *err);

typedef struct {
    double step_ms_median, step_ms_min, tokens_per_s;
    size_t peak_bytes;      /* the plan's total: every buffer we allocate */
    size_t peak_rss_bytes;  /* the process's peak resident set */
    double loss_first, loss_last;
} lst_bench_result_t;

int lst_bench_run(const lst_bench_opts_t *o, lst_bench_result_t *r, lst_err_t *err);

#endif
