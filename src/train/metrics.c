/* metrics.c: accuracy, F1, Matthews, Pearson and Spearman for GLUE tasks,
 * on decoded strings, matching the reference's sklearn/scipy calls
 * (see metrics.h for how invalid predictions are counted). */
#include "metrics.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *lst_metric_name(lst_metric_kind_t k) {
    switch (k) {
    case LST_METRIC_ACC: return "accuracy";
    case LST_METRIC_F1: return "f1";
    case LST_METRIC_MCC: return "matthews_correlation";
    case LST_METRIC_PEARSON: return "pearson";
    case LST_METRIC_SPEARMAN: return "spearmanr";
    }
    return "unknown";
}

/* ---- correlations (scipy.stats.pearsonr / spearmanr) ---- */

double lst_pearson(const double *x, const double *y, int n) {
    if (n < 2) return NAN;
    int cx = 1, cy = 1;
    double sx = 0, sy = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) return NAN;
        cx &= x[i] == x[0];
        cy &= y[i] == y[0];
        sx += x[i];
        sy += y[i];
    }
    if (cx || cy) return NAN; /* scipy: constant input, correlation undefined */
    double mx = sx / n, my = sy / n, sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) {
        double a = x[i] - mx, b = y[i] - my;
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    double r = sxy / (sqrt(sxx) * sqrt(syy));
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

typedef struct {
    double v;
    int i;
} ranked_t;

static int cmp_ranked(const void *a, const void *b) {
    const ranked_t *p = a, *q = b;
    if (p->v != q->v) return p->v < q->v ? -1 : 1;
    return p->i - q->i;
}

/* 1-based ranks, ties get the mean of the ranks they span
 * (scipy.stats.rankdata(method="average")). v must be finite. */
static void rank_average(const double *v, int n, ranked_t *tmp, double *rank) {
    for (int i = 0; i < n; i++) tmp[i] = (ranked_t){v[i], i};
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_ranked);
    for (int a = 0; a < n;) {
        int b = a;
        while (b + 1 < n && tmp[b + 1].v == tmp[a].v) b++;
        double r = 0.5 * ((a + 1) + (b + 1));
        for (int k = a; k <= b; k++) rank[tmp[k].i] = r;
        a = b + 1;
    }
}

int lst_spearman(const double *x, const double *y, int n, double *out, lst_err_t *err) {
    *out = NAN;
    if (n < 2) return 0;
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i]) || !isfinite(y[i])) return 0;
    double *rx = lst_malloc((size_t)n * 2, sizeof *rx, err);
    ranked_t *tmp = lst_malloc((size_t)n, sizeof *tmp, err);
    if (!rx || !tmp) {
        free(rx);
        free(tmp);
        return -1;
    }
    double *ry = rx + n;
    rank_average(x, n, tmp, rx);
    rank_average(y, n, tmp, ry);
    *out = lst_pearson(rx, ry, n);
    free(rx);
    free(tmp);
    return 0;
}

/* ---- classification ---- */

/* Python float(): surrounding whitespace allowed, no hex. The reference maps
 * anything float() refuses to -1. */
static double parse_pred(const char *s) {
    if (!s) return -1.0;
    while (isspace((unsigned char)*s)) s++;
    if (!*s || strpbrk(s, "xX(")) return -1.0;
    char *end;
    double d = strtod(s, &end);
    if (end == s) return -1.0;
    while (isspace((unsigned char)*end)) end++;
    return *end ? -1.0 : d;
}

/* Target label index, or -1 with a message naming the row. */
static int target_index(const lst_task_t *t, const char *s, int row, lst_err_t *err) {
    int k = lst_task_label_index(t, s);
    if (k < 0)
        lst_fail(err, "%s metrics: target %d ('%.40s') is not a %s label", t->name, row,
                 s ? s : "(null)", t->name);
    return k;
}

/* Prediction label index; an invalid prediction becomes the wrong class:
 * the other one for a binary task, an extra "invalid" class otherwise. */
static int pred_index(const lst_task_t *t, const char *s, int target) {
    int k = lst_task_label_index(t, s);
    if (k >= 0) return k;
    return t->n_labels == 2 ? 1 - target : t->n_labels;
}

static int f1_binary(const lst_task_t *t, const char *const *p, const char *const *g, int n,
                     double *out, lst_err_t *err) {
    int pos = lst_task_label_index(t, "1");
    if (t->n_labels != 2 || pos < 0)
        return lst_fail(err, "%s metrics: F1 needs a binary task with label \"1\"", t->name);
    double tp = 0, fp = 0, fn = 0;
    for (int i = 0; i < n; i++) {
        int y = target_index(t, g[i], i, err);
        if (y < 0) return -1;
        int q = pred_index(t, p[i], y);
        tp += q == pos && y == pos;
        fp += q == pos && y != pos;
        fn += q != pos && y == pos;
    }
    /* sklearn f1_score(pos_label=1); no positives at all -> 0 (zero_division) */
    *out = tp + fp + fn > 0 ? 2 * tp / (2 * tp + fp + fn) : 0.0;
    return 0;
}

/* sklearn.metrics.matthews_corrcoef from the confusion matrix; 0 when a
 * marginal is degenerate. */
static int mcc(const lst_task_t *t, const char *const *p, const char *const *g, int n,
               double *out, lst_err_t *err) {
    int k = t->n_labels + 1;
    double *c = lst_calloc((size_t)k * (size_t)k, sizeof *c, err);
    if (!c) return -1;
    for (int i = 0; i < n; i++) {
        int y = target_index(t, g[i], i, err);
        if (y < 0) {
            free(c);
            return -1;
        }
        c[y * k + pred_index(t, p[i], y)] += 1;
    }
    double s = n, correct = 0, tt = 0, pp = 0, tp = 0;
    for (int a = 0; a < k; a++) {
        double ts = 0, ps = 0;
        for (int b = 0; b < k; b++) {
            ts += c[a * k + b];
            ps += c[b * k + a];
        }
        correct += c[a * k + a];
        tt += ts * ts;
        pp += ps * ps;
        tp += ts * ps;
    }
    free(c);
    double cov_ytyp = correct * s - tp, cov_ypyp = s * s - pp, cov_ytyt = s * s - tt;
    *out = cov_ypyp * cov_ytyt == 0 ? 0.0 : cov_ytyp / sqrt(cov_ytyt * cov_ypyp);
    return 0;
}

static int correlation(const lst_task_t *t, lst_metric_kind_t kind, const char *const *p,
                       const char *const *g, int n, double *out, lst_err_t *err) {
    double *x = lst_malloc((size_t)n * 2, sizeof *x, err);
    if (!x) return -1;
    double *y = x + n;
    for (int i = 0; i < n; i++) {
        char *end;
        y[i] = g[i] ? strtod(g[i], &end) : 0;
        if (!g[i] || end == g[i] || *end || !isfinite(y[i])) {
            free(x);
            return lst_fail(err, "%s metrics: target %d ('%.40s') is not a number", t->name, i,
                            g[i] ? g[i] : "(null)");
        }
        x[i] = parse_pred(p[i]);
    }
    int rc = 0;
    /* scipy.stats.pearsonr(targets, predictions) / spearmanr(...) */
    if (kind == LST_METRIC_PEARSON) *out = lst_pearson(y, x, n);
    else rc = lst_spearman(y, x, n, out, err);
    free(x);
    return rc;
}

int lst_task_metrics(const lst_task_t *t, const char *const *preds,
                     const char *const *targets, int n, lst_metrics_t *out,
                     lst_err_t *err) {
    memset(out, 0, sizeof *out);
    if (!t) return lst_fail(err, "metrics: no task");
    if (n <= 0 || !preds || !targets)
        return lst_fail(err, "%s metrics: no predictions to score", t->name);
    if (t->n_metrics < 1 || t->n_metrics > 2)
        return lst_fail(err, "%s metrics: task has %d metrics", t->name, t->n_metrics);
    for (int m = 0; m < t->n_metrics; m++) {
        lst_metric_kind_t kind = t->metrics[m];
        double v = 0;
        int rc = 0;
        switch (kind) {
        case LST_METRIC_ACC: {
            int ok = 0;
            for (int i = 0; i < n; i++) {
                if (!targets[i])
                    return lst_fail(err, "%s metrics: target %d is missing", t->name, i);
                ok += preds[i] && strcmp(preds[i], targets[i]) == 0;
            }
            v = (double)ok / n;
            break;
        }
        case LST_METRIC_F1: rc = f1_binary(t, preds, targets, n, &v, err); break;
        case LST_METRIC_MCC: rc = mcc(t, preds, targets, n, &v, err); break;
        case LST_METRIC_PEARSON:
        case LST_METRIC_SPEARMAN: rc = correlation(t, kind, preds, targets, n, &v, err); break;
        default: return lst_fail(err, "%s metrics: unknown metric %d", t->name, (int)kind);
        }
        if (rc != 0) return -1;
        v *= 100.0;
        if (isnan(v)) v = 0.0;
        out->values[m] = v;
        out->kinds[m] = kind;
    }
    out->n = t->n_metrics;
    out->score = out->n == 2 ? 0.5 * (out->values[0] + out->values[1]) : out->values[0];
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double lst_median(double *x, int n) {
    qsort(x, n, sizeof(double), cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}
