/* test_report.c: `lst compare`'s report (src/report/report.h) on numbers made
 * here: the mean/std over seeds, the markdown table, the CSV read back, the
 * SVG rendered by rsvg-convert; then `lst compare` end to end on a tiny
 * random backbone: the three files, reuse of finished runs, continuation of
 * an interrupted one, failed runs, bad options. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../src/core/fileio.h"
#include "../src/report/report.h"
#include "png_util.h"
#include "test.h"

static const char *tmp(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", lst_test_tmpdir(), name);
    return buf[k];
}

static int close_to(double a, double b) {
    return fabs(a - b) <= 1e-12 * (fabs(a) + fabs(b)) + 1e-12;
}

static char *slurp(const char *path) {
    lst_err_t err;
    char *t = lst_read_file(path, 1 << 26, NULL, &err);
    CHECK(t != NULL, "%s", err.msg);
    return t;
}

/* ---- the report on hand-made runs ------------------------------------------- */

/* Three methods x three seeds with known figures; one lora run fails to
 * train, one full run fails at inference, every prompt run fails. */
#define N_RUNS 12
static const char *methods4[4] = {"lst", "lora", "full", "prompt"};

static void make_runs(lst_report_run_t *runs) {
    const double score[3][3] = {{70.0, 72.5, 77.25}, {60.0, 64.0, 65.0}, {80.0, 81.0, 85.5}};
    const double peak[3][3] = {{100.0, 110.0, 121.5}, {300.0, 301.0, 302.0}, {900.0, 950.0, 1000.0}};
    int n = 0;
    for (int m = 0; m < 4; m++)
        for (int s = 0; s < 3; s++) {
            lst_report_run_t *r = &runs[n++];
            lst_report_run_init(r, methods4[m], s);
            if (m == 3) {
                r->train_failed = 1;
                continue;
            }
            r->trainable_pct = m == 0 ? 2.5 : m == 1 ? 0.8 : 100.0;
            r->train_peak_mib = peak[m][s];
            r->plan_mib = peak[m][s] - 20;
            r->infer_peak_mib = 0.5 * peak[m][s];
            r->step_ms = m == 0 ? 10.0 + s : NAN; /* only lst reports step times */
            r->metrics[0] = score[m][s];
            r->metrics[1] = score[m][s] + 1;
            r->score = score[m][s] + 0.5;
            if (m == 0)
                for (int k = 0; k < LST_REPORT_MEM_PARTS; k++) r->mem[k] = 10.0 * (k + 1) + s;
        }
    runs[3].train_failed = 1; /* lora seed 0 */
    runs[7].infer_failed = 1; /* full seed 1 */
}

static double mean3(double a, double b, double c) { return (a + b + c) / 3; }

static double std_of(const double *v, int n) {
    double m = 0, ss = 0;
    for (int i = 0; i < n; i++) m += v[i] / n;
    for (int i = 0; i < n; i++) ss += (v[i] - m) * (v[i] - m);
    return sqrt(ss / (n - 1));
}

TEST(report_stats_over_seeds) {
    const double v[] = {61.5, 63.0, NAN, 64.5};
    lst_stat_t s;
    lst_stat_compute(v, 4, &s);
    CHECK(s.n == 3 && close_to(s.mean, 63.0) && close_to(s.std, 1.5), "n %d mean %g std %g", s.n, s.mean, s.std);
    lst_stat_compute(v, 1, &s);
    CHECK(s.n == 1 && s.mean == 61.5 && isnan(s.std), "one value: n %d mean %g std %g", s.n, s.mean, s.std);
    lst_stat_compute(v + 2, 1, &s);
    CHECK(s.n == 0 && isnan(s.mean), "no value: n %d mean %g", s.n, s.mean);

    lst_report_run_t runs[N_RUNS];
    make_runs(runs);
    lst_report_row_t row;
    lst_report_aggregate(runs, N_RUNS, "lst", 2, &row);
    const double lst_scores[3] = {70.5, 73.0, 77.75}, lst_peaks[3] = {100.0, 110.0, 121.5};
    CHECK(row.n_runs == 3 && row.n_failed == 0, "lst runs %d failed %d", row.n_runs, row.n_failed);
    CHECK(row.score.n == 3 && close_to(row.score.mean, mean3(70.5, 73.0, 77.75)) &&
              close_to(row.score.std, std_of(lst_scores, 3)),
          "lst score %g ± %g", row.score.mean, row.score.std);
    CHECK(close_to(row.train_peak_mib.mean, mean3(100, 110, 121.5)) &&
              close_to(row.train_peak_mib.std, std_of(lst_peaks, 3)),
          "lst peak %g ± %g", row.train_peak_mib.mean, row.train_peak_mib.std);
    CHECK(close_to(row.step_ms.mean, 11.0) && close_to(row.step_ms.std, 1.0), "lst step %g ± %g", row.step_ms.mean,
          row.step_ms.std);
    CHECK(close_to(row.mem[2].mean, 31.0) && row.trainable_pct.std == 0, "lst plan split %g", row.mem[2].mean);
    CHECK(close_to(row.metrics[1].mean, mean3(71, 73.5, 78.25)), "lst metric 1 %g", row.metrics[1].mean);

    lst_report_aggregate(runs, N_RUNS, "lora", 2, &row); /* seed 0 failed */
    const double lora_scores[2] = {64.5, 65.5};
    CHECK(row.n_runs == 3 && row.n_failed == 1 && row.score.n == 2 && row.score.n_failed == 1 &&
              close_to(row.score.mean, 65.0) && close_to(row.score.std, std_of(lora_scores, 2)),
          "lora: runs %d failed %d score n %d %g ± %g", row.n_runs, row.n_failed, row.score.n, row.score.mean,
          row.score.std);
    CHECK(row.step_ms.n == 0 && row.step_ms.n_failed == 1, "lora step n/a");

    lst_report_aggregate(runs, N_RUNS, "full", 2, &row); /* inference of seed 1 failed */
    CHECK(row.n_failed == 0 && row.infer_peak_mib.n == 2 && row.infer_peak_mib.n_failed == 1 &&
              close_to(row.infer_peak_mib.mean, 0.5 * (450 + 500)) && row.score.n == 3,
          "full: inference n %d failed %d mean %g", row.infer_peak_mib.n, row.infer_peak_mib.n_failed,
          row.infer_peak_mib.mean);

    lst_report_aggregate(runs, N_RUNS, "prompt", 2, &row);
    CHECK(row.n_failed == 3 && row.score.n == 0 && row.score.n_failed == 3 && isnan(row.score.mean),
          "prompt: failed %d score n %d", row.n_failed, row.score.n);
}

static lst_report_row_t g_rows[4];
static const char *g_notes[] = {"lora, seed 0: lst train exited with status 1"};

static lst_report_t make_report(const char *task) {
    static lst_report_run_t runs[N_RUNS];
    make_runs(runs);
    for (int m = 0; m < 4; m++) lst_report_aggregate(runs, N_RUNS, methods4[m], 2, &g_rows[m]);
    lst_report_t r = {.task = task,
                      .model = "models/t5|base",
                      .split = "test",
                      .seeds = "0,1,2",
                      .protocol = "--epochs 20 --batch 100",
                      .n_metrics = 2,
                      .metric_names = {"accuracy", "f1"},
                      .n_rows = 4,
                      .rows = g_rows,
                      .n_notes = 1,
                      .notes = g_notes};
    return r;
}

TEST(report_markdown_table) {
    lst_report_t r = make_report("mrpc");
    char *md = lst_report_markdown(&r);
    CHECK(md != NULL, "markdown");
    if (!md) return;
    CHECK(strstr(md, "mrpc") && strstr(md, "models/t5\\|base") && strstr(md, "seeds 0,1,2") &&
              strstr(md, "--epochs 20 --batch 100") && strstr(md, "test split"),
          "header line: %s", md);
    CHECK(strstr(md, "| method | runs | trainable % | train peak MiB | train plan MiB | inference peak MiB | "
                     "step ms | accuracy | f1 | score |"),
          "column header: %s", md);
    /* the first table: one row per method, in order */
    const char *t = strstr(md, "| --- |");
    int rows = 0;
    const char *line = t ? strchr(t, '\n') + 1 : NULL;
    while (line && !strncmp(line, "| ", 2)) {
        char want[64];
        if (rows < 4) {
            snprintf(want, sizeof want, "| %s |", methods4[rows]);
            CHECK(!strncmp(line, want, strlen(want)), "row %d is not %s: %.80s", rows, methods4[rows], line);
        }
        rows++;
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    CHECK(rows == 4, "%d rows for 4 methods:\n%s", rows, md);
    /* lst's score: mean ± std as computed here */
    const double s[3] = {70.5, 73.0, 77.75};
    char cell[64];
    snprintf(cell, sizeof cell, "| %.2f ± %.2f |", mean3(s[0], s[1], s[2]), std_of(s, 3));
    CHECK(strstr(md, cell) != NULL, "lst score cell %s missing:\n%s", cell, md);
    CHECK(strstr(md, "| lora | 2/3 |") && strstr(md, "(1 failed)"), "partial failure not shown:\n%s", md);
    CHECK(strstr(md, "| prompt | 0/3 | failed | failed |"), "failed cells not marked:\n%s", md);
    CHECK(strstr(md, "| n/a |"), "missing figures not n/a:\n%s", md);
    CHECK(strstr(md, "## Planned training memory") && strstr(md, "## Failures") &&
              strstr(md, "lora, seed 0: lst train exited with status 1"),
          "plan split / failures sections:\n%s", md);
    free(md);
}

/* One CSV line into fields (RFC 4180 quoting); returns the count. */
static int csv_split(const char *line, char f[][96], int max) {
    int n = 0;
    const char *p = line;
    for (;;) {
        if (n >= max) return -1;
        size_t k = 0;
        if (*p == '"') {
            p++;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"') p++;
                if (k < 95) f[n][k++] = *p;
                p++;
            }
            if (*p == '"') p++;
        } else {
            while (*p && *p != ',' && *p != '\n')
                if (k < 95) f[n][k++] = *p++;
                else p++;
        }
        f[n++][k] = 0;
        if (*p != ',') break;
        p++;
    }
    return n;
}

static int col(char h[][96], int nh, const char *name) {
    for (int i = 0; i < nh; i++)
        if (!strcmp(h[i], name)) return i;
    return -1;
}

/* the field equals the statistic's mean (or std), or is empty when it has none */
static int field_is(const char *f, double v, int have) {
    if (!have) return f[0] == 0;
    char *end;
    double x = strtod(f, &end);
    return end != f && !*end && close_to(x, v);
}

TEST(report_csv_reads_back) {
    lst_report_t r = make_report("odd,\"task\"");
    char *csv = lst_report_csv(&r);
    CHECK(csv != NULL, "csv");
    if (!csv) return;
    static char h[96][96], f[96][96];
    char *line = csv, *nl = strchr(line, '\n');
    const int nh = nl ? csv_split(line, h, 96) : -1;
    CHECK(nh > 10, "header: %s", csv);
    int rows = 0;
    const char *stats[] = {"trainable_percent", "train_peak_mib", "train_plan_mib", "inference_peak_mib",
                           "step_ms_median", "accuracy", "f1", "score", "plan_optimizer_mib"};
    for (line = nl ? nl + 1 : NULL; line && *line; rows++) {
        nl = strchr(line, '\n');
        const int nf = csv_split(line, f, 96);
        CHECK(nf == nh, "row %d has %d fields, header %d", rows, nf, nh);
        if (rows >= 4 || nf != nh) break;
        const lst_report_row_t *w = &g_rows[rows];
        CHECK(!strcmp(f[col(h, nh, "task")], "odd,\"task\"") && !strcmp(f[col(h, nh, "split")], "test"),
              "task field '%s'", f[col(h, nh, "task")]);
        CHECK(!strcmp(f[col(h, nh, "method")], methods4[rows]), "row %d method %s", rows, f[col(h, nh, "method")]);
        CHECK(atoi(f[col(h, nh, "runs")]) == w->n_runs && atoi(f[col(h, nh, "failed_runs")]) == w->n_failed,
              "row %d runs", rows);
        const lst_stat_t *st[] = {&w->trainable_pct, &w->train_peak_mib, &w->plan_mib, &w->infer_peak_mib,
                                  &w->step_ms, &w->metrics[0], &w->metrics[1], &w->score, &w->mem[2]};
        for (int k = 0; k < 9; k++) {
            char name[96];
            snprintf(name, sizeof name, "%s_mean", stats[k]);
            const int cm = col(h, nh, name);
            snprintf(name, sizeof name, "%s_std", stats[k]);
            const int cs = col(h, nh, name);
            CHECK(cm >= 0 && cs >= 0, "no column %s", name);
            if (cm < 0 || cs < 0) continue;
            CHECK(field_is(f[cm], st[k]->mean, st[k]->n > 0), "%s %s_mean: '%s' vs %.17g (n %d)", methods4[rows],
                  stats[k], f[cm], st[k]->mean, st[k]->n);
            CHECK(field_is(f[cs], st[k]->std, st[k]->n > 1), "%s %s_std: '%s' vs %.17g (n %d)", methods4[rows],
                  stats[k], f[cs], st[k]->std, st[k]->n);
        }
        line = nl ? nl + 1 : NULL;
    }
    CHECK(rows == 4, "%d CSV rows for 4 methods", rows);
    free(csv);
}

/* rsvg-convert renders path to a PNG: exit 0 and a non-empty PNG. */
static void check_renders(const char *svg_text, const char *name) {
    char svg[600], png[600], cmd[2000];
    snprintf(svg, sizeof svg, "%s/%s.svg", lst_test_tmpdir(), name);
    snprintf(png, sizeof png, "%s/%s.png", lst_test_tmpdir(), name);
    lst_err_t err;
    CHECK(lst_write_atomic(svg, svg_text, strlen(svg_text), &err) == 0, "%s", err.msg);
    snprintf(cmd, sizeof cmd, "rsvg-convert -o '%s' '%s' 2>'%s.err'", png, svg, png);
    const int rc = system(cmd);
    char errp[700];
    snprintf(errp, sizeof errp, "%s.err", png);
    char *msg = lst_read_file(errp, 1 << 20, NULL, &err);
    CHECK(rc == 0, "rsvg-convert %s failed (%d): %s", name, rc, msg ? msg : "");
    free(msg);
    struct stat st;
    CHECK(stat(png, &st) == 0 && st.st_size > 8, "%s: no PNG", name);
    char *p = lst_read_file(png, 1 << 26, NULL, &err);
    CHECK(p && !memcmp(p, "\x89PNG", 4), "%s: not a PNG", name);
    free(p);
}

TEST(report_svg_renders) {
    if (system("command -v rsvg-convert >/dev/null 2>&1") != 0) {
        CHECK(0, "rsvg-convert not found: install librsvg2-bin (apt-get install librsvg2-bin; "
                 "scripts/setup.sh does) to check the SVG");
        return;
    }
    /* text that must be escaped, several points with error bars, a failed method */
    lst_report_t r = make_report("a<b & \"c\" 'd'");
    char *svg = lst_report_svg(&r);
    CHECK(svg && strstr(svg, "a&lt;b &amp; &quot;c&quot; &apos;d&apos;") && !strstr(svg, "a<b"),
          "text not escaped");
    CHECK(svg && strstr(svg, ">lst</text>") && strstr(svg, ">lora</text>") && strstr(svg, ">full</text>") &&
              strstr(svg, "prompt (failed)"),
          "point labels");
    CHECK(svg && strstr(svg, "train peak memory") && strstr(svg, "test score: mean of accuracy, f1, x 100</text>"),
          "axis labels");
    CHECK(svg && strstr(svg, "model t5|base,") && !strstr(svg, "models/"), "the model's path is in the figure");
    if (svg) check_renders(svg, "report_many");
    free(svg);
    /* accuracy alone: named with its unit; the majority baseline dashed; the points, fitted on x
     * (not from 0), inside the plot area */
    r.n_metrics = 1;
    r.has_majority = 1;
    r.majority = 62.5;
    svg = lst_report_svg(&r);
    CHECK(svg && strstr(svg, "test accuracy, %</text>") && strstr(svg, "majority class: 62.5") &&
              strstr(svg, "stroke-dasharray"),
          "accuracy axis or majority baseline missing");
    double box[4];
    image_t img;
    if (svg && fig_plot_area(svg, box) == 0 && fig_render(svg, "report_points", &img) == 0) {
        static const int first_method[3] = {0x1f, 0x77, 0xb4}, baseline[3] = {0x80, 0x80, 0x00};
        const hits_t pt = fig_find(&img, first_method, 20, box, 6), base = fig_find(&img, baseline, 24, box, 1);
        CHECK(pt.n > 30 && pt.outside == 0, "first method's point: %ld pixels, %ld outside the plot area",
              pt.n, pt.outside);
        CHECK(base.n > 100 && base.outside == 0 && base.x1 - base.x0 > 0.9 * box[2],
              "the dashed baseline: %ld pixels, %ld outside, %d px wide", base.n, base.outside,
              base.x1 - base.x0);
        free(img.px);
    }
    free(svg);
    /* x fitted to the data: two methods at 400 and 420 MiB are far apart, not squeezed together
     * at the right of an axis from 0 */
    lst_report_run_t two[2];
    lst_report_row_t rows2[2];
    const char *names2[2] = {"lst", "lora"};
    for (int k = 0; k < 2; k++) {
        lst_report_run_init(&two[k], names2[k], 0);
        two[k].train_peak_mib = 400 + 20 * k;
        two[k].score = 60 + 10 * k;
        lst_report_aggregate(&two[k], 1, names2[k], 0, &rows2[k]);
    }
    lst_report_t r2 = {.task = "rte", .model = "m", .split = "test", .seeds = "0", .n_rows = 2, .rows = rows2};
    svg = lst_report_svg(&r2);
    if (svg && fig_plot_area(svg, box) == 0 && fig_render(svg, "report_fitted", &img) == 0) {
        static const int c0[3] = {0x1f, 0x77, 0xb4}, c1[3] = {0xd6, 0x27, 0x28};
        const hits_t a = fig_find(&img, c0, 20, box, 6), b = fig_find(&img, c1, 20, box, 6);
        CHECK(a.n > 20 && b.n > 20 && (b.x0 + b.x1) / 2 - (a.x0 + a.x1) / 2 > 0.5 * box[2],
              "points at 400 and 420 MiB drawn %d px apart in a %.0f px wide plot", (b.x0 + b.x1) / 2 -
              (a.x0 + a.x1) / 2, box[2]);
        free(img.px);
    }
    free(svg);
    /* one seed (no error bars), one method */
    lst_report_run_t one;
    lst_report_run_init(&one, "lst", 0);
    one.train_peak_mib = 46.5;
    one.score = 0;
    lst_report_row_t row;
    lst_report_aggregate(&one, 1, "lst", 0, &row);
    lst_report_t r1 = {.task = "custom", .model = "tiny", .split = "validation", .seeds = "0", .n_rows = 1,
                       .rows = &row};
    svg = lst_report_svg(&r1);
    CHECK(svg != NULL, "svg");
    if (svg) check_renders(svg, "report_one");
    free(svg);
    /* nothing to plot */
    one.train_failed = 1;
    lst_report_aggregate(&one, 1, "lst", 0, &row);
    svg = lst_report_svg(&r1);
    if (svg) check_renders(svg, "report_none");
    free(svg);
    /* and the three files land in a directory */
    lst_err_t err;
    CHECK(lst_report_write(&r1, lst_test_tmpdir(), &err) == 0, "%s", err.msg);
    char p[600];
    snprintf(p, sizeof p, "%s/compare.csv", lst_test_tmpdir());
    CHECK(lst_test_file_exists(p), "compare.csv not written");
}

/* ---- lst compare end to end ----------------------------------------------------- */

static int setup(void) {
    static int done = 0, ok = 0;
    if (done) return ok;
    done = 1;
    char *log = NULL;
    int rc = lst_test_run(&log, "init --preset t5-tiny --out %s --seed 3", tmp("rep_tiny"));
    CHECK(rc == 0, "init: %s", log ? log : "");
    free(log);
    const char *words[2][4] = {{"good", "great", "fine", "nice"}, {"bad", "awful", "poor", "sad"}};
    const char *names[2] = {"rep_train.jsonl", "rep_valid.jsonl"};
    for (int f = 0; f < 2; f++) {
        FILE *o = fopen(tmp(names[f]), "w");
        if (!o) return 0;
        for (int i = 0; i < (f ? 12 : 32); i++) {
            int y = (i * 7 + f) % 2;
            fprintf(o, "{\"source\": \"review: the film was %s today\", \"target\": \"%s\"}\n",
                    words[y][(i / 2) % 4], y ? "no" : "yes");
        }
        fclose(o);
    }
    ok = rc == 0;
    return ok;
}

/* the data and protocol options shared by every compare below (tiny: 2 steps) */
static const char *data_args(void) {
    static char a[2048];
    snprintf(a, sizeof a,
             "--model %s --task custom --train %s --valid %s --test %s --max-steps 2 --batch 8 "
             "--eval-batch 16 --r 4 --fisher-samples 8 --warmup 1 --gen-validation 3",
             tmp("rep_tiny"), tmp("rep_train.jsonl"), tmp("rep_valid.jsonl"), tmp("rep_valid.jsonl"));
    return a;
}

static double wall(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* the named field of the CSV's first data row, as a number (NAN if empty) */
static double csv_value(const char *csv, const char *name, int *n_rows) {
    static char h[96][96], f[96][96];
    const int nh = csv_split(csv, h, 96);
    const char *row = strchr(csv, '\n');
    *n_rows = 0;
    for (const char *p = row; p && p[1]; p = strchr(p + 1, '\n')) (*n_rows)++;
    if (!row || nh < 1 || csv_split(row + 1, f, 96) != nh || col(h, nh, name) < 0) return NAN;
    const char *v = f[col(h, nh, name)];
    return *v ? strtod(v, NULL) : NAN;
}

static long long mtime_ns(const char *path) {
    struct stat st;
    if (stat(path, &st)) return -1;
    return (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

TEST(report_compare_end_to_end) {
    if (!setup()) return;
    char out[512];
    snprintf(out, sizeof out, "%s", tmp("rep_cmp"));
    char *log = NULL;
    double t0 = wall();
    int rc = lst_test_run(&log, "compare %s --methods lst --seeds 0,1 --out %s", data_args(), out);
    const double first = wall() - t0;
    CHECK(rc == 0, "compare: %d %s", rc, log ? log : "");
    CHECK(log && strstr(log, "| lst |"), "the table is not printed: %s", log ? log : "");
    free(log);
    char p[700];
    const char *files[] = {"compare.md", "compare.csv", "compare.svg", "runs/lst-s0/compare.json",
                           "runs/lst-s1/compare.json", "runs/lst-s0/metrics.json", "runs/lst-s1/stderr.log"};
    for (int i = 0; i < 7; i++) {
        snprintf(p, sizeof p, "%s/%s", out, files[i]);
        CHECK(lst_test_file_exists(p), "%s missing", files[i]);
    }
    snprintf(p, sizeof p, "%s/compare.csv", out);
    char *csv = slurp(p);
    if (!csv) return;
    int rows;
    const double peak = csv_value(csv, "train_peak_mib_mean", &rows);
    const double infer = csv_value(csv, "inference_peak_mib_mean", &rows);
    CHECK(rows == 1, "%d CSV rows for one method:\n%s", rows, csv);
    CHECK(peak > 0 && infer > 0, "memory not measured: train %g, inference %g\n%s", peak, infer, csv);
    CHECK(csv_value(csv, "runs", &rows) == 2 && csv_value(csv, "failed_runs", &rows) == 0 &&
              !isnan(csv_value(csv, "score_mean", &rows)) && !isnan(csv_value(csv, "score_std", &rows)) &&
              !isnan(csv_value(csv, "accuracy_mean", &rows)),
          "CSV figures:\n%s", csv);
    snprintf(p, sizeof p, "%s/compare.md", out);
    char *md = slurp(p);
    int md_rows = 0; /* rows of the first table */
    const char *q = md ? strstr(md, "| --- |") : NULL;
    for (q = q ? strchr(q, '\n') : NULL; q && !strncmp(q, "\n| ", 3); q = strchr(q + 1, '\n'))
        md_rows += !strncmp(q, "\n| lst |", 8);
    CHECK(md && md_rows == 1 && strstr(md, "seeds 0,1") && strstr(md, "--max-steps 2"), "compare.md:\n%s",
          md ? md : "");
    snprintf(p, sizeof p, "%s/compare.svg", out);
    if (system("command -v rsvg-convert >/dev/null 2>&1") == 0) {
        char *svg = slurp(p);
        if (svg) check_renders(svg, "report_e2e");
        /* the validation split's most frequent target, drawn as the baseline; no machine path */
        CHECK(svg && strstr(svg, "majority class: ") && strstr(svg, "accuracy, %") &&
                  !strstr(svg, lst_test_tmpdir()),
              "compare.svg: no majority baseline, or a machine path: %.300s", svg ? svg : "");
        free(svg);
    }

    /* again: the runs and their measurements are reused, nothing is trained */
    snprintf(p, sizeof p, "%s/runs/lst-s1/metrics.json", out);
    const long long mt = mtime_ns(p);
    t0 = wall();
    rc = lst_test_run(&log, "compare %s --methods lst --seeds 0,1 --out %s", data_args(), out);
    const double second = wall() - t0;
    CHECK(rc == 0 && log && strstr(log, "reusing") && !strstr(log, ": training ") && !strstr(log, "eval --split"),
          "rerun: %d %s", rc, log ? log : "");
    free(log);
    CHECK(mtime_ns(p) == mt, "metrics.json was rewritten");
    CHECK(second < first && second < 5, "the rerun took %.2f s (first %.2f s)", second, first);
    snprintf(p, sizeof p, "%s/compare.csv", out);
    char *csv2 = slurp(p);
    CHECK(csv && csv2 && !strcmp(csv, csv2), "the rerun's figures differ:\n%s\n%s", csv, csv2 ? csv2 : "");
    free(csv);
    free(csv2);
    free(md);
}

TEST(report_compare_continues_and_reports_failures) {
    if (!setup()) return;
    char out[512], run[600];
    snprintf(out, sizeof out, "%s", tmp("rep_cmp2"));
    snprintf(run, sizeof run, "%s/runs/lst-s0", out);
    /* an interrupted run (checkpoint, no metrics.json) is continued */
    char *log = NULL;
    int rc = lst_test_run(&log, "train %s --method lst --seed 0 --out %s --quiet --checkpoint-every 1 --halt-after 1",
                          data_args(), run);
    CHECK(rc == 3, "halt: %d %s", rc, log ? log : "");
    free(log);
    rc = lst_test_run(&log, "compare %s --methods lst --out %s", data_args(), out);
    CHECK(rc == 0 && log && strstr(log, "continuing"), "continue: %d %s", rc, log ? log : "");
    free(log);
    char p[700];
    snprintf(p, sizeof p, "%s/compare.json", run);
    char *cj = slurp(p);
    CHECK(cj && strstr(cj, "--resume") && strstr(cj, "\"train_peak_rss_mib\"") &&
              strstr(cj, "\"inference_peak_rss_mib\""),
          "compare.json: %s", cj ? cj : "");
    free(cj);

    /* a failing child: named with its seed and status, the table says failed, exit non-zero */
    snprintf(out, sizeof out, "%s", tmp("rep_cmp3"));
    rc = lst_test_run(&log, "compare %s --methods lst --seeds 3 --init best --out %s", data_args(), out);
    CHECK(rc != 0 && log && strstr(log, "lst seed 3") && strstr(log, "exited with status 2") &&
              strstr(log, "--init must be"),
          "failure: %d %s", rc, log ? log : "");
    free(log);
    snprintf(p, sizeof p, "%s/compare.md", out);
    char *md = slurp(p);
    CHECK(md && strstr(md, "| lst | 0/1 | failed |"), "compare.md: %s", md ? md : "");
    free(md);
    snprintf(p, sizeof p, "%s/runs/lst-s3/stderr.log", out);
    char *el = slurp(p);
    CHECK(el && strstr(el, "--init must be"), "stderr.log: %s", el ? el : "");
    free(el);

    /* bad options: exit 2, the culprit named, nothing written */
    struct {
        const char *args, *needle;
    } bad[] = {
        {"--methods lst,nonesuch --out %s", "nonesuch"},
        {"--methods lst,,full --out %s", "--methods"},
        {"--methods lst --seeds 0,x --out %s", "--seeds"},
        {"--methods lst --seeds '' --out %s", "--seeds"},
        {"--methods lst --seeds 1,1 --out %s", "twice"},
        {"--methods lst --batch 0 --out %s", "--batch"},
        {"--methods lst", "--out"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char args[600];
        snprintf(args, sizeof args, bad[i].args, tmp("rep_bad"));
        rc = lst_test_run(&log, "compare --model M --task sst2 %s", args);
        CHECK(rc == 2 && log && strstr(log, bad[i].needle), "'%s': %d %s", args, rc, log ? log : "");
        free(log);
    }
    CHECK(!lst_test_file_exists(tmp("rep_bad")), "a refused compare left a directory");
}
