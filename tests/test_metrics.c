/* test_metrics.c: GLUE metrics against the scipy/sklearn definitions on
 * small hand-checked cases. Expected values were computed with numpy 1.24
 * (Debian python3) by re-implementing the definitions: np.corrcoef for
 * Pearson, average ranks ((#less) + (#equal + 1) / 2) for Spearman,
 * sklearn's confusion-matrix formula for Matthews, 2tp/(2tp+fp+fn) for F1,
 * with invalid predictions replaced as the reference does. The scipy and
 * sklearn documentation examples are checked too. */
#include "test.h"

#include <math.h>
#include <string.h>

#include "../src/train/metrics.h"

static int near(double a, double b, double tol) { return fabs(a - b) <= tol; }

TEST(metrics_names) {
    CHECK(strcmp(lst_metric_name(LST_METRIC_ACC), "accuracy") == 0, "acc");
    CHECK(strcmp(lst_metric_name(LST_METRIC_F1), "f1") == 0, "f1");
    CHECK(strcmp(lst_metric_name(LST_METRIC_MCC), "matthews_correlation") == 0, "mcc");
    CHECK(strcmp(lst_metric_name(LST_METRIC_PEARSON), "pearson") == 0, "pearson");
    CHECK(strcmp(lst_metric_name(LST_METRIC_SPEARMAN), "spearmanr") == 0, "spearman");
}

TEST(metrics_accuracy_exact_match) {
    const lst_task_t *t = lst_task_find("rte");
    /* "0 " and "entailment" are not the label string; NULL is invalid */
    const char *p[] = {"0", "1", "0 ", "entailment", NULL, "1"};
    const char *g[] = {"0", "1", "0", "0", "1", "0"};
    lst_metrics_t m;
    lst_err_t err;
    CHECK(lst_task_metrics(t, p, g, 6, &m, &err) == 0, "%s", err.msg);
    CHECK(m.n == 1 && m.kinds[0] == LST_METRIC_ACC, "n %d", m.n);
    CHECK(near(m.values[0], 100.0 * 2 / 6, 1e-12), "acc %.15g", m.values[0]);
    CHECK(m.score == m.values[0], "score");
}

TEST(metrics_mrpc_f1_invalid_counts_wrong) {
    const lst_task_t *t = lst_task_find("mrpc");
    /* invalid predictions become 1 - target: [1,0,0,1,0,0,1,0,1,1];
     * tp 3, fp 2, fn 3 -> F1 6/11; 5 of 10 exact matches */
    const char *g[] = {"1", "1", "0", "0", "1", "0", "1", "1", "1", "0"};
    const char *p[] = {"1", "0", "0", "1", "yes", "0", "1", "", "1", "2"};
    lst_metrics_t m;
    lst_err_t err;
    CHECK(lst_task_metrics(t, p, g, 10, &m, &err) == 0, "%s", err.msg);
    CHECK(m.n == 2 && m.kinds[0] == LST_METRIC_F1 && m.kinds[1] == LST_METRIC_ACC, "kinds");
    CHECK(near(m.values[0], 54.54545454545455, 1e-10), "f1 %.15g", m.values[0]);
    CHECK(near(m.values[1], 50.0, 1e-12), "acc %.15g", m.values[1]);
    CHECK(near(m.score, (54.54545454545455 + 50.0) / 2, 1e-10), "score %.15g", m.score);
}

TEST(metrics_f1_no_positives_is_zero) {
    /* sklearn zero_division: no positive target or prediction -> 0 */
    const lst_task_t *t = lst_task_find("qqp");
    const char *g[] = {"0", "0"}, *p[] = {"0", "0"};
    lst_metrics_t m;
    lst_err_t err;
    CHECK(lst_task_metrics(t, p, g, 2, &m, &err) == 0, "%s", err.msg);
    CHECK(m.values[0] == 0.0 && m.values[1] == 100.0, "f1 %g acc %g", m.values[0], m.values[1]);
}

TEST(metrics_cola_mcc) {
    const lst_task_t *t = lst_task_find("cola");
    /* sklearn doc example (y_true [+1,+1,+1,-1], y_pred [+1,-1,+1,+1]) -> -1/3 */
    const char *g0[] = {"1", "1", "1", "0"}, *p0[] = {"1", "0", "1", "1"};
    lst_metrics_t m;
    lst_err_t err;
    CHECK(lst_task_metrics(t, p0, g0, 4, &m, &err) == 0, "%s", err.msg);
    CHECK(m.n == 1 && m.kinds[0] == LST_METRIC_MCC, "kind");
    CHECK(near(m.values[0], -100.0 / 3, 1e-10), "mcc %.15g", m.values[0]);

    /* invalid predictions -> the opposite class: [1,0,1,0,1,1,1,1,1,0,0,1] -> 25 */
    const char *g[] = {"1", "1", "1", "0", "0", "1", "0", "1", "1", "0", "1", "1"};
    const char *p[] = {"1", "0", "1", "0", "1", "1", "acceptable", "1", "1", "0", "x", "1"};
    CHECK(lst_task_metrics(t, p, g, 12, &m, &err) == 0, "%s", err.msg);
    CHECK(near(m.values[0], 25.0, 1e-10), "mcc %.15g", m.values[0]);

    /* constant predictions: degenerate marginal -> 0 */
    const char *pc[] = {"1", "1", "1", "1"};
    CHECK(lst_task_metrics(t, pc, g0, 4, &m, &err) == 0, "%s", err.msg);
    CHECK(m.values[0] == 0.0, "mcc %g", m.values[0]);
}

TEST(metrics_pearson_spearman_scipy_doc) {
    /* scipy docs: pearsonr([1,2,3,4,5],[10,9,2.5,6,4]) = -0.7426106572325057;
     * spearmanr([1,2,3,4,5],[5,6,7,8,7]) = 0.8207826816681233 (a tie at 7) */
    double x[] = {1, 2, 3, 4, 5}, y[] = {10, 9, 2.5, 6, 4}, z[] = {5, 6, 7, 8, 7};
    CHECK(near(lst_pearson(x, y, 5), -0.7426106572325057, 1e-13), "pearson %.17g",
          lst_pearson(x, y, 5));
    double s;
    lst_err_t err;
    CHECK(lst_spearman(x, z, 5, &s, &err) == 0, "%s", err.msg);
    CHECK(near(s, 0.8207826816681233, 1e-13), "spearman %.17g", s);
}

TEST(metrics_spearman_ties_average_rank) {
    /* ranks [1,2.5,2.5,4,5] and [2,1,4,4,4]; numpy corrcoef of the ranks */
    double x[] = {1, 2, 2, 3, 5}, y[] = {2, 1, 4, 4, 4};
    double s;
    lst_err_t err;
    CHECK(lst_spearman(x, y, 5, &s, &err) == 0, "%s", err.msg);
    CHECK(near(s, 0.6308932681440449, 1e-13), "spearman %.17g", s);
    /* order-invariant */
    double x2[] = {5, 3, 2, 2, 1}, y2[] = {4, 4, 4, 1, 2};
    CHECK(lst_spearman(x2, y2, 5, &s, &err) == 0, "%s", err.msg);
    CHECK(near(s, 0.6308932681440449, 1e-13), "spearman reversed %.17g", s);
}

TEST(metrics_stsb_pearson_spearman) {
    const lst_task_t *t = lst_task_find("stsb");
    /* predictions parsed like Python float(), "abc" -> -1:
     * [3.6,2.2,0.5,4.4,1.5,4.8,2.2,-1] against [3.8,2,0.4,4.4,1.5,5,2,3] */
    const char *g[] = {"3.8", "2.0", "0.4", "4.4", "1.5", "5.0", "2.0", "3.0"};
    const char *p[] = {"3.6", "2.2", "0.5", "4.4", " 1.5 ", "4.8", "2.2", "abc"};
    lst_metrics_t m;
    lst_err_t err;
    CHECK(lst_task_metrics(t, p, g, 8, &m, &err) == 0, "%s", err.msg);
    CHECK(m.n == 2 && m.kinds[0] == LST_METRIC_PEARSON && m.kinds[1] == LST_METRIC_SPEARMAN,
          "kinds");
    CHECK(near(m.values[0], 69.57372946305534, 1e-9), "pearson %.15g", m.values[0]);
    CHECK(near(m.values[1], 75.90361445783131, 1e-9), "spearman %.15g", m.values[1]);
    CHECK(near(m.score, (69.57372946305534 + 75.90361445783131) / 2, 1e-9), "score");
}

TEST(metrics_stsb_constant_predictions_nan_to_zero) {
    const lst_task_t *t = lst_task_find("stsb");
    const char *g[] = {"3.8", "2.0", "0.4"};
    const char *p[] = {"2.5", "2.5", "2.5"};
    const char *bad[] = {"x", "y", "z"}; /* all -1: constant too */
    lst_metrics_t m;
    lst_err_t err;
    CHECK(lst_task_metrics(t, p, g, 3, &m, &err) == 0, "%s", err.msg);
    CHECK(m.values[0] == 0.0 && m.values[1] == 0.0 && m.score == 0.0, "%g %g", m.values[0],
          m.values[1]);
    CHECK(lst_task_metrics(t, bad, g, 3, &m, &err) == 0, "%s", err.msg);
    CHECK(m.values[0] == 0.0 && m.values[1] == 0.0, "%g %g", m.values[0], m.values[1]);
    CHECK(isnan(lst_pearson((double[]){1, 1}, (double[]){1, 2}, 2)), "constant -> NaN");
    CHECK(isnan(lst_pearson((double[]){1}, (double[]){2}, 1)), "one point -> NaN");
    /* "nan" parses (Python float accepts it) and makes both NaN -> 0 */
    const char *pn[] = {"nan", "1", "2"};
    CHECK(lst_task_metrics(t, pn, g, 3, &m, &err) == 0, "%s", err.msg);
    CHECK(m.values[0] == 0.0 && m.values[1] == 0.0, "%g %g", m.values[0], m.values[1]);
}

TEST(metrics_bad_input) {
    const lst_task_t *mrpc = lst_task_find("mrpc"), *stsb = lst_task_find("stsb");
    const char *p[] = {"1", "0"}, *g_bad[] = {"1", "yes"};
    lst_metrics_t m;
    lst_err_t err;
    CHECK(lst_task_metrics(mrpc, p, g_bad, 2, &m, &err) != 0, "bad target accepted");
    CHECK(strstr(err.msg, "target 1") && strstr(err.msg, "yes"), "%s", err.msg);
    CHECK(lst_task_metrics(stsb, p, g_bad, 2, &m, &err) != 0, "non-numeric target accepted");
    CHECK(strstr(err.msg, "target 1"), "%s", err.msg);
    CHECK(lst_task_metrics(mrpc, p, p, 0, &m, &err) != 0, "n=0 accepted");
    CHECK(lst_task_metrics(NULL, p, p, 2, &m, &err) != 0, "NULL task accepted");
}
