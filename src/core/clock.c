/* clock.c: see clock.h. */
#include "clock.h"

#include <time.h>

double lst_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
