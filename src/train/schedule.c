/* schedule.c: linear warmup then linear decay (transformers'
 * get_linear_schedule_with_warmup). */
#include "schedule.h"

double lst_lr_at(double lr, int64_t k, int64_t warmup, int64_t total) {
    if (k < warmup) return lr * (double)k / (double)(warmup > 0 ? warmup : 1);
    if (total <= warmup) return lr; /* unreachable for k < total; kept total */
    double f = (double)(total - k) / (double)(total - warmup);
    return lr * (f > 0 ? f : 0);
}
