/* plot.h: a run's training curves as an SVG figure: the training loss
 * (every step, faint, and its moving average) on the left axis and the
 * validation score on the right, against the step. `lst plot --run RUNDIR`
 * writes it, and `lst train` at the end of every run (RUNDIR/training.svg).
 *
 * The plot area is a rect with id "plot-area" (tests and readers find it);
 * every curve and point is drawn inside it. */
#ifndef LST_PLOT_H
#define LST_PLOT_H

#include <stdint.h>

#include "../core/error.h"

typedef struct {
    int64_t step;
    double loss;
    double val; /* the validation score after this step; NAN where none ran */
} lst_plot_point_t;

typedef struct {
    const char *title;      /* e.g. "rte: lst" */
    const char *score_axis; /* e.g. "validation accuracy, %" */
    const lst_plot_point_t *pts;
    int n;
} lst_plot_t;

/* The figure's SVG text (the caller frees it); NULL when out of memory. */
char *lst_plot_svg(const lst_plot_t *p);

/* Reads RUNDIR's log.csv (and run.json, metrics.json for the names) and
 * writes the figure to out (NULL: RUNDIR/training.svg), atomically. */
int lst_plot_run(const char *rundir, const char *out, lst_err_t *err);

#endif
