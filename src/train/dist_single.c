/* dist_single.c: the single-process transport of dist.h (the default). */
#include "dist.h"

#include <string.h>

static int single_sum(lst_dist_t *d, float *x, size_t n, lst_err_t *err) {
    (void)d, (void)x, (void)n, (void)err;
    return 0;
}

static int single_sum_f64(lst_dist_t *d, double *x, size_t n, lst_err_t *err) {
    (void)d, (void)x, (void)n, (void)err;
    return 0;
}

static int single_gather(lst_dist_t *d, const void *in, void *out, size_t n, lst_err_t *err) {
    (void)d, (void)err;
    if (n) memmove(out, in, n);
    return 0;
}

static int single_barrier(lst_dist_t *d, lst_err_t *err) {
    (void)d, (void)err;
    return 0;
}

static void single_close(lst_dist_t *d) { (void)d; }

static const lst_dist_ops_t single_ops = {"single", single_sum, single_sum_f64, single_gather,
                                          single_barrier, single_close};

void lst_dist_single(lst_dist_t *d) {
    d->ops = &single_ops;
    d->rank = 0;
    d->world = 1;
    d->impl = NULL;
}

void lst_dist_share(int B, int rank, int world, int *first, int *count) {
    const int base = world > 0 ? B / world : B, extra = world > 0 ? B % world : 0;
    *count = base + (rank < extra);
    *first = rank * base + (rank < extra ? rank : extra);
}
