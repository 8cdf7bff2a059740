/* clock.h: the one monotonic clock of the process (step times, wall time,
 * progress lines), so that every figure lst reports is on the same clock. */
#ifndef LST_CLOCK_H
#define LST_CLOCK_H

/* Seconds on CLOCK_MONOTONIC (an arbitrary origin: only differences mean
 * anything). */
double lst_now_s(void);

#endif
