/* metrics.h: GLUE task metrics on decoded generations (LST-SPEC s5).
 *
 * Predictions and targets are strings: the model's decoded text and the
 * label strings of lst_task_t. All values are x100, as the paper reports
 * them, and a task's score is the mean of its metrics. The definitions
 * follow the reference (sklearn / scipy), including its treatment of
 * predictions that are not a label: wrong for accuracy, the opposite class
 * of the target for F1 and Matthews, -1 for STS-B, and NaN -> 0. */
#ifndef LST_METRICS_H
#define LST_METRICS_H

#include "../core/error.h"
#include "../io/glue.h"

typedef struct {
    int n;                     /* number of metrics (1 or 2) */
    double values[2];          /* x100 */
    lst_metric_kind_t kinds[2];
    double score;              /* mean of values */
} lst_metrics_t;

/* Scores n (prediction, target) pairs with the task's metrics. A NULL
 * prediction counts as invalid; targets must be valid for the task (a label
 * string, or a number for stsb), else -1 naming the bad row. */
int lst_task_metrics(const lst_task_t *t, const char *const *preds,
                     const char *const *targets, int n, lst_metrics_t *out,
                     lst_err_t *err);

/* "accuracy", "f1", "matthews_correlation", "pearson", "spearmanr". */
const char *lst_metric_name(lst_metric_kind_t k);

/* The building blocks on plain arrays: correlation coefficients in [-1, 1]
 * (not x100), NaN where scipy gives NaN (fewer than 2 points, a constant
 * input, a non-finite value). Spearman ranks ties by their average rank. */
double lst_pearson(const double *x, const double *y, int n);
/* The median of x[0, n) (n >= 1); sorts x in place. */
double lst_median(double *x, int n);
int lst_spearman(const double *x, const double *y, int n, double *out, lst_err_t *err);

#endif
