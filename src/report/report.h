/* report.h: the tables and the figure of `lst compare` (the paper's Table 1
 * and Figure 6), as pure functions over per-run measurements: no training,
 * no processes, no file reading. lst_report_write is the only function that
 * touches the file system (three atomic writes).
 *
 * A figure that is not available is NAN (printed "n/a", empty in the CSV);
 * a figure whose measurement failed is counted in lst_stat_t.n_failed
 * (printed "failed" when nothing else is left). */
#ifndef LST_REPORT_H
#define LST_REPORT_H

#include "../core/error.h"

#define LST_REPORT_MAX_METRICS 8
#define LST_REPORT_MEM_PARTS 5 /* weights, gradients, optimizer, activations, workspace */

extern const char *const lst_report_mem_names[LST_REPORT_MEM_PARTS];

/* One (method, seed) run as measured. */
typedef struct {
    char method[32];
    long long seed;
    int train_failed;         /* the training child failed: none of its figures exist */
    int infer_failed;         /* the `lst eval` child failed: no inference figure */
    double trainable_pct;     /* metrics.json trainable_percent */
    double train_peak_mib;    /* the training child's peak RSS */
    double plan_mib;          /* the plan's total (metrics.json memory.planned_mib or planned_mib) */
    double mem[LST_REPORT_MEM_PARTS]; /* the plan's split (metrics.json memory.*_mib) */
    double infer_peak_mib;    /* the `lst eval` child's peak RSS */
    double step_ms;           /* metrics.json step_ms_median */
    double metrics[LST_REPORT_MAX_METRICS]; /* in lst_report_t.metric_names order */
    double score;             /* the task score */
} lst_report_run_t;

/* Mean and sample standard deviation (n - 1) of the available values. */
typedef struct {
    double mean, std; /* NAN when n == 0; std NAN when n < 2 */
    int n;            /* values available */
    int n_failed;     /* runs whose value failed to be measured */
} lst_stat_t;

/* One method over its seeds. */
typedef struct {
    char method[32];
    int n_runs, n_failed; /* runs, and runs whose training failed */
    lst_stat_t trainable_pct, train_peak_mib, plan_mib, mem[LST_REPORT_MEM_PARTS];
    lst_stat_t infer_peak_mib, step_ms, metrics[LST_REPORT_MAX_METRICS], score;
} lst_report_row_t;

typedef struct {
    const char *task, *model;
    const char *split;    /* where the metrics come from: "test" or "validation" */
    const char *seeds;    /* e.g. "0,1,2" */
    const char *protocol; /* the train options every run shared, e.g. "--epochs 20 --batch 100" */
    int n_metrics;
    const char *metric_names[LST_REPORT_MAX_METRICS];
    int n_rows;
    const lst_report_row_t *rows;
    int n_notes;          /* lines listed under "Failures" in the markdown */
    const char *const *notes;
    int has_majority;     /* the figure's dashed baseline: always answering the split's most */
    double majority;      /* frequent target scores this (%), where the score is accuracy */
} lst_report_t;

/* A run with every figure NAN (not available) and nothing failed. */
void lst_report_run_init(lst_report_run_t *r, const char *method, long long seed);

/* Mean and sample std of v[0..n), skipping NAN entries. */
void lst_stat_compute(const double *v, int n, lst_stat_t *out);

/* The row of `method` over the runs of that method among runs[0..n) (others
 * are ignored): a failed training counts as failed in every figure, a
 * failed inference in the inference figure only. */
void lst_report_aggregate(const lst_report_run_t *runs, int n, const char *method,
                          int n_metrics, lst_report_row_t *row);

/* The three outputs, malloc'ed NUL-terminated text (NULL if out of memory). */
char *lst_report_markdown(const lst_report_t *r);
char *lst_report_csv(const lst_report_t *r);
char *lst_report_svg(const lst_report_t *r);

/* dir/compare.md, dir/compare.csv and dir/compare.svg, each written atomically. */
int lst_report_write(const lst_report_t *r, const char *dir, lst_err_t *err);

#endif
