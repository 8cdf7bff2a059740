/* schedule.h: the learning rate at 0-based step k (LST-SPEC section 5):
 * lr*k/W during warmup (the first update uses 0), then lr*(T-k)/(T-W)
 * with T = total steps; a run with T <= W never leaves warmup. */
#ifndef LST_SCHEDULE_H
#define LST_SCHEDULE_H

#include <stdint.h>

double lst_lr_at(double lr, int64_t k, int64_t warmup, int64_t total);

#endif
