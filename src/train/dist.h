/* dist.h: the processes a run is spread over, and what they exchange.
 *
 * Data-parallel training needs little: every process knows its rank and
 * the world size, takes its share of each global batch, sums the side
 * gradients (and the loss) across processes before clipping and AdamW,
 * and gathers evaluation results. One table per transport; the
 * single-process one (dist_single.c) is the default and the reference: its
 * allreduce and gather copy, its barrier returns. A transport is one new
 * file (dist_<name>.c) defining another lst_dist_ops_t. */
#ifndef LST_DIST_H
#define LST_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

typedef struct lst_dist lst_dist_t;

typedef struct {
    const char *name;
    /* x[0, n) summed elementwise over every process, in place (float32) */
    int (*allreduce_sum)(lst_dist_t *d, float *x, size_t n, lst_err_t *err);
    /* the same for double scalars (the loss, label counts, flags) */
    int (*allreduce_sum_f64)(lst_dist_t *d, double *x, size_t n, lst_err_t *err);
    /* out[rank * n + i] = in[i] of every rank (out: world * n bytes) */
    int (*gather)(lst_dist_t *d, const void *in, void *out, size_t n, lst_err_t *err);
    int (*barrier)(lst_dist_t *d, lst_err_t *err);
    void (*close)(lst_dist_t *d);
} lst_dist_ops_t;

struct lst_dist {
    const lst_dist_ops_t *ops;
    int rank, world;
    void *impl; /* the transport's own state */
};

/* The single process: rank 0 of a world of 1. */
void lst_dist_single(lst_dist_t *d);

/* The rows [*first, *first + *count) of a global batch of B rows that
 * process `rank` of `world` computes: contiguous shares whose sizes differ
 * by at most one (the last shares are the shorter ones). */
void lst_dist_share(int B, int rank, int world, int *first, int *count);

#endif
