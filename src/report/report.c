/* report.c: see report.h. */
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/fileio.h"
#include "svg.h"

const char *const lst_report_mem_names[LST_REPORT_MEM_PARTS] = {"weights", "gradients", "optimizer",
                                                                 "activations", "workspace"};

/* markdown: no '|' or line break may end a cell */
static void sb_md(lst_sb_t *b, const char *s) {
    for (; s && *s; s++) {
        if (*s == '|') lst_sb_puts(b, "\\|");
        else if (*s == '\n' || *s == '\r') lst_sb_puts(b, " ");
        else lst_sb_printf(b, "%c", *s);
    }
}

/* a CSV field (RFC 4180 quoting when needed) */
static void sb_csv(lst_sb_t *b, const char *s) {
    if (!s) s = "";
    if (!strpbrk(s, ",\"\r\n")) {
        lst_sb_puts(b, s);
        return;
    }
    lst_sb_puts(b, "\"");
    for (; *s; s++) lst_sb_puts(b, *s == '"' ? "\"\"" : (char[2]){*s, 0});
    lst_sb_puts(b, "\"");
}

/* ---- statistics ---------------------------------------------------------- */

void lst_report_run_init(lst_report_run_t *r, const char *method, long long seed) {
    memset(r, 0, sizeof *r);
    snprintf(r->method, sizeof r->method, "%s", method ? method : "");
    r->seed = seed;
    r->trainable_pct = r->train_peak_mib = r->plan_mib = r->infer_peak_mib = r->step_ms = r->score = NAN;
    for (int i = 0; i < LST_REPORT_MEM_PARTS; i++) r->mem[i] = NAN;
    for (int i = 0; i < LST_REPORT_MAX_METRICS; i++) r->metrics[i] = NAN;
}

static void stat_finish(lst_stat_t *s, double sum) { s->mean = s->n ? sum / s->n : NAN; }

void lst_stat_compute(const double *v, int n, lst_stat_t *out) {
    memset(out, 0, sizeof *out);
    double sum = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) {
            sum += v[i];
            out->n++;
        }
    stat_finish(out, sum);
    double ss = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) ss += (v[i] - out->mean) * (v[i] - out->mean);
    out->std = out->n >= 2 ? sqrt(ss / (out->n - 1)) : NAN;
}

/* The statistic of the double at byte offset `off` of each run of `method`.
 * which: 0 a training figure, 1 the inference figure. */
static void stat_field(const lst_report_run_t *runs, int n, const char *method, size_t off, int which,
                       lst_stat_t *out) {
    memset(out, 0, sizeof *out);
    double sum = 0;
    for (int pass = 0; pass < 2; pass++) {
        double ss = 0;
        for (int i = 0; i < n; i++) {
            const lst_report_run_t *r = &runs[i];
            if (strcmp(r->method, method)) continue;
            if (r->train_failed || (which == 1 && r->infer_failed)) {
                if (!pass) out->n_failed++;
                continue;
            }
            const double v = *(const double *)((const char *)r + off);
            if (isnan(v)) continue;
            if (!pass) {
                sum += v;
                out->n++;
            } else {
                ss += (v - out->mean) * (v - out->mean);
            }
        }
        if (!pass) stat_finish(out, sum);
        else out->std = out->n >= 2 ? sqrt(ss / (out->n - 1)) : NAN;
    }
}

void lst_report_aggregate(const lst_report_run_t *runs, int n, const char *method, int n_metrics,
                          lst_report_row_t *row) {
    memset(row, 0, sizeof *row);
    snprintf(row->method, sizeof row->method, "%s", method);
    for (int i = 0; i < n; i++)
        if (!strcmp(runs[i].method, method)) {
            row->n_runs++;
            row->n_failed += runs[i].train_failed != 0;
        }
#define F(field, which, dst) stat_field(runs, n, method, offsetof(lst_report_run_t, field), which, dst)
    F(trainable_pct, 0, &row->trainable_pct);
    F(train_peak_mib, 0, &row->train_peak_mib);
    F(plan_mib, 0, &row->plan_mib);
    for (int k = 0; k < LST_REPORT_MEM_PARTS; k++) F(mem[k], 0, &row->mem[k]);
    F(infer_peak_mib, 1, &row->infer_peak_mib);
    F(step_ms, 0, &row->step_ms);
    if (n_metrics > LST_REPORT_MAX_METRICS) n_metrics = LST_REPORT_MAX_METRICS;
    for (int k = 0; k < LST_REPORT_MAX_METRICS; k++) {
        if (k < n_metrics) F(metrics[k], 0, &row->metrics[k]);
        else row->metrics[k].mean = row->metrics[k].std = NAN;
    }
    F(score, 0, &row->score);
#undef F
}

/* ---- markdown ------------------------------------------------------------ */

/* "12.3 ± 0.4", "12.3", "n/a" or "failed" (+ " (1 failed)" when some are);
 * spread: 1 always show the std (n >= 2), 0 only when it is not zero */
static void md_cell_s(lst_sb_t *b, const lst_stat_t *s, int prec, int spread) {
    lst_sb_puts(b, " ");
    if (s->n == 0) {
        lst_sb_puts(b, s->n_failed ? "failed" : "n/a");
    } else {
        lst_sb_printf(b, "%.*f", prec, s->mean);
        if (s->n >= 2 && (spread || s->std != 0)) lst_sb_printf(b, " ± %.*f", prec, s->std);
        if (s->n_failed) lst_sb_printf(b, " (%d failed)", s->n_failed);
    }
    lst_sb_puts(b, " |");
}

static void md_cell(lst_sb_t *b, const lst_stat_t *s, int prec) { md_cell_s(b, s, prec, 1); }

static int n_metrics_of(const lst_report_t *r) {
    return r->n_metrics < 0 ? 0 : r->n_metrics > LST_REPORT_MAX_METRICS ? LST_REPORT_MAX_METRICS : r->n_metrics;
}

char *lst_report_markdown(const lst_report_t *r) {
    lst_sb_t b = {0};
    const int nm = n_metrics_of(r);
    const char *split = r->split ? r->split : "test";
    lst_sb_puts(&b, "# lst compare: ");
    sb_md(&b, r->task);
    lst_sb_puts(&b, "\n\nTask ");
    sb_md(&b, r->task);
    lst_sb_puts(&b, ", model ");
    sb_md(&b, r->model);
    lst_sb_puts(&b, ", seeds ");
    sb_md(&b, r->seeds);
    lst_sb_puts(&b, ", metrics on the ");
    sb_md(&b, split);
    lst_sb_puts(&b, " split. Protocol: ");
    sb_md(&b, r->protocol && *r->protocol ? r->protocol : "lst train defaults");
    lst_sb_puts(&b, ".\n\n| method | runs | trainable % | train peak MiB | train plan MiB | inference peak MiB | step ms |");
    for (int k = 0; k < nm; k++) {
        lst_sb_puts(&b, " ");
        sb_md(&b, r->metric_names[k]);
        lst_sb_puts(&b, " |");
    }
    lst_sb_puts(&b, " score |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (int k = 0; k < nm; k++) lst_sb_puts(&b, " ---: |");
    lst_sb_puts(&b, " ---: |\n");
    int any_mem = 0;
    for (int i = 0; i < r->n_rows; i++) {
        const lst_report_row_t *w = &r->rows[i];
        lst_sb_puts(&b, "| ");
        sb_md(&b, w->method);
        if (w->n_failed) lst_sb_printf(&b, " | %d/%d |", w->n_runs - w->n_failed, w->n_runs);
        else lst_sb_printf(&b, " | %d |", w->n_runs);
        md_cell_s(&b, &w->trainable_pct, 3, 0); /* the same for every seed */
        md_cell(&b, &w->train_peak_mib, 1);
        md_cell_s(&b, &w->plan_mib, 1, 0);
        md_cell(&b, &w->infer_peak_mib, 1);
        md_cell(&b, &w->step_ms, 1);
        for (int k = 0; k < nm; k++) md_cell(&b, &w->metrics[k], 2);
        md_cell(&b, &w->score, 2);
        lst_sb_puts(&b, "\n");
        for (int k = 0; k < LST_REPORT_MEM_PARTS; k++) any_mem |= w->mem[k].n > 0;
    }
    lst_sb_puts(&b,
            "\nMean ± sample standard deviation over the seeds (the mean alone for one seed). "
            "runs: runs per method (ok/all when some failed). trainable %: trained parameters over "
            "the backbone's. train peak: the peak resident set (RSS) of the `lst train` process. "
            "train plan: the memory lst planned for training (metrics.json). inference peak: the peak "
            "RSS of `lst eval` on the ");
    sb_md(&b, split);
    lst_sb_puts(&b, " split. step ms: the median training step time. Metrics and score: the ");
    sb_md(&b, split);
    lst_sb_puts(&b, " split at the best validation epoch. n/a: not reported by the run; failed: no successful run.\n");
    if (any_mem) {
        lst_sb_puts(&b, "\n## Planned training memory, MiB\n\n| method |");
        for (int k = 0; k < LST_REPORT_MEM_PARTS; k++) lst_sb_printf(&b, " %s |", lst_report_mem_names[k]);
        lst_sb_puts(&b, " total |\n| --- |");
        for (int k = 0; k <= LST_REPORT_MEM_PARTS; k++) lst_sb_puts(&b, " ---: |");
        lst_sb_puts(&b, "\n");
        for (int i = 0; i < r->n_rows; i++) {
            const lst_report_row_t *w = &r->rows[i];
            lst_sb_puts(&b, "| ");
            sb_md(&b, w->method);
            lst_sb_puts(&b, " |");
            for (int k = 0; k < LST_REPORT_MEM_PARTS; k++) md_cell_s(&b, &w->mem[k], 1, 0);
            md_cell_s(&b, &w->plan_mib, 1, 0);
            lst_sb_puts(&b, "\n");
        }
    }
    if (r->n_notes > 0) {
        lst_sb_puts(&b, "\n## Failures\n\n");
        for (int i = 0; i < r->n_notes; i++) {
            lst_sb_puts(&b, "- ");
            sb_md(&b, r->notes[i]);
            lst_sb_puts(&b, "\n");
        }
    }
    return lst_sb_done(&b);
}

/* ---- CSV ----------------------------------------------------------------- */

static void csv_stat(lst_sb_t *b, const lst_stat_t *s) {
    if (s->n > 0) lst_sb_printf(b, ",%.15g", s->mean);
    else lst_sb_puts(b, ",");
    if (s->n > 1) lst_sb_printf(b, ",%.15g", s->std);
    else lst_sb_puts(b, ",");
}

char *lst_report_csv(const lst_report_t *r) {
    lst_sb_t b = {0};
    const int nm = n_metrics_of(r);
    lst_sb_puts(&b, "task,split,method,runs,failed_runs,trainable_percent_mean,trainable_percent_std,"
                "train_peak_mib_mean,train_peak_mib_std,train_plan_mib_mean,train_plan_mib_std");
    for (int k = 0; k < LST_REPORT_MEM_PARTS; k++)
        lst_sb_printf(&b, ",plan_%s_mib_mean,plan_%s_mib_std", lst_report_mem_names[k], lst_report_mem_names[k]);
    lst_sb_puts(&b, ",inference_peak_mib_mean,inference_peak_mib_std,step_ms_median_mean,step_ms_median_std");
    for (int k = 0; k < nm; k++) {
        char name[96];
        snprintf(name, sizeof name, "%s_mean", r->metric_names[k] ? r->metric_names[k] : "");
        lst_sb_puts(&b, ",");
        sb_csv(&b, name);
        snprintf(name, sizeof name, "%s_std", r->metric_names[k] ? r->metric_names[k] : "");
        lst_sb_puts(&b, ",");
        sb_csv(&b, name);
    }
    lst_sb_puts(&b, ",score_mean,score_std\n");
    for (int i = 0; i < r->n_rows; i++) {
        const lst_report_row_t *w = &r->rows[i];
        sb_csv(&b, r->task);
        lst_sb_puts(&b, ",");
        sb_csv(&b, r->split ? r->split : "test");
        lst_sb_puts(&b, ",");
        sb_csv(&b, w->method);
        lst_sb_printf(&b, ",%d,%d", w->n_runs, w->n_failed);
        csv_stat(&b, &w->trainable_pct);
        csv_stat(&b, &w->train_peak_mib);
        csv_stat(&b, &w->plan_mib);
        for (int k = 0; k < LST_REPORT_MEM_PARTS; k++) csv_stat(&b, &w->mem[k]);
        csv_stat(&b, &w->infer_peak_mib);
        csv_stat(&b, &w->step_ms);
        for (int k = 0; k < nm; k++) csv_stat(&b, &w->metrics[k]);
        csv_stat(&b, &w->score);
        lst_sb_puts(&b, "\n");
    }
    return lst_sb_done(&b);
}

/* ---- SVG: task score against training memory (the paper's Figure 6) ------ */

/* The plot area and its data ranges: memory from 0, the score around the
 * points (error bars included), both on round ticks. */
typedef struct {
    double W, H, L, R, T, B, pw, ph;
    double xhi, ylo, yhi, xstep, ystep;
    double xlo; /* fitted to the points (not 0): memory differs by orders between methods */
} frame_t;

static double px(const frame_t *f, double x) { return f->L + (x - f->xlo) / (f->xhi - f->xlo) * f->pw; }
static double py(const frame_t *f, double y) { return f->T + f->ph - (y - f->ylo) / (f->yhi - f->ylo) * f->ph; }

static int plotted(const lst_report_row_t *w) { return w->train_peak_mib.n != 0 && w->score.n != 0; }

static void svg_frame(const lst_report_t *r, frame_t *f) {
    *f = (frame_t){720, 480, 80, 40, 56, 70, 0, 0, 0, INFINITY, -INFINITY, 0, 0, INFINITY};
    f->pw = f->W - f->L - f->R;
    f->ph = f->H - f->T - f->B;
    int n_pts = 0;
    for (int i = 0; i < r->n_rows; i++) {
        const lst_report_row_t *w = &r->rows[i];
        if (!plotted(w)) continue;
        const double sx = w->train_peak_mib.n > 1 ? w->train_peak_mib.std : 0;
        const double sy = w->score.n > 1 ? w->score.std : 0;
        if (w->train_peak_mib.mean + sx > f->xhi) f->xhi = w->train_peak_mib.mean + sx;
        if (w->train_peak_mib.mean - sx < f->xlo) f->xlo = w->train_peak_mib.mean - sx;
        if (w->score.mean - sy < f->ylo) f->ylo = w->score.mean - sy;
        if (w->score.mean + sy > f->yhi) f->yhi = w->score.mean + sy;
        n_pts++;
    }
    if (!n_pts) {
        f->xlo = 0;
        f->xhi = 1;
        f->ylo = 0;
        f->yhi = 1;
    }
    if (r->has_majority && isfinite(r->majority)) {
        f->ylo = fmin(f->ylo, r->majority);
        f->yhi = fmax(f->yhi, r->majority);
    }
    if (!(f->xhi > 0)) f->xhi = 1;
    /* x fitted to the points: 8% of the span (or of the value, for one) either side */
    double xpad = 0.08 * (f->xhi - f->xlo);
    if (!(xpad > 0)) xpad = 0.08 * f->xhi;
    f->xlo = fmax(0, f->xlo - xpad);
    f->xhi += xpad;
    f->xstep = lst_ticks_round_out(&f->xlo, &f->xhi, 6);
    double pad = 0.12 * (f->yhi - f->ylo);
    if (!(pad > 0)) pad = fabs(f->yhi) > 0 ? 0.05 * fabs(f->yhi) : 1;
    const int all_nonneg = f->ylo >= 0;
    f->ylo -= pad;
    f->yhi += pad;
    if (all_nonneg && f->ylo < 0) f->ylo = 0;
    f->ystep = lst_ticks_round_out(&f->ylo, &f->yhi, 6);
    if (!(f->yhi > f->ylo)) f->yhi = f->ylo + f->ystep;
}

/* The model's name without the machine's path: its directory's last
 * component ("/home/me/models/t5-base/" -> "t5-base"). */
static const char *model_name(const char *model) {
    static char buf[256];
    if (!model) return "";
    size_t n = strlen(model);
    while (n > 1 && model[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && model[b - 1] != '/') b--;
    snprintf(buf, sizeof buf, "%.*s", (int)(n - b), model + b);
    return buf;
}

/* The score's name and unit, as the y axis says it ("test accuracy, %"). */
static void score_title(lst_sb_t *b, const lst_report_t *r, const char *split) {
    lst_sb_xml(b, split);
    if (r->n_metrics == 1 && !strcmp(r->metric_names[0], "accuracy")) {
        lst_sb_puts(b, " accuracy, %");
        return;
    }
    lst_sb_puts(b, r->n_metrics == 1 ? " " : " score: mean of ");
    for (int k = 0; k < r->n_metrics; k++) {
        if (k) lst_sb_puts(b, ", ");
        lst_sb_xml(b, r->metric_names[k]);
    }
    if (r->n_metrics == 0) lst_sb_puts(b, " score");
    lst_sb_puts(b, ", x 100");
}

static void svg_title(lst_sb_t *b, const lst_report_t *r, const frame_t *f, const char *split) {
    lst_sb_printf(b,
              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
              "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">\n"
              "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"white\"/>\n",
              f->W, f->H, f->W, f->H, f->W, f->H);
    lst_sb_printf(b, "<text x=\"%.1f\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">", f->W / 2);
    lst_sb_xml(b, r->task);
    lst_sb_puts(b, ": ");
    lst_sb_xml(b, split);
    lst_sb_puts(b, " score against training memory</text>\n");
    lst_sb_printf(b, "<text x=\"%.1f\" y=\"46\" text-anchor=\"middle\" font-size=\"11\" fill=\"#555\">model ", f->W / 2);
    lst_sb_xml(b, model_name(r->model));
    lst_sb_puts(b, ", seeds ");
    lst_sb_xml(b, r->seeds);
    lst_sb_puts(b, "</text>\n");
}

/* Grid, axes, ticks, tick labels and the axis titles. */
static void svg_axes(lst_sb_t *b, const lst_report_t *r, const frame_t *f, const char *split) {
    const double L = f->L, T = f->T, pw = f->pw, ph = f->ph;
    const int nx = (int)llround((f->xhi - f->xlo) / f->xstep), ny = (int)llround((f->yhi - f->ylo) / f->ystep);
    lst_sb_puts(b, "<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n");
    for (int k = 0; k <= nx; k++)
        lst_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px(f, f->xlo + k * f->xstep), T,
                  px(f, f->xlo + k * f->xstep), T + ph);
    for (int k = 0; k <= ny; k++)
        lst_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", L, py(f, f->ylo + k * f->ystep),
                  L + pw, py(f, f->ylo + k * f->ystep));
    lst_sb_printf(b, "</g>\n<rect id=\"plot-area\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                     "fill=\"none\" stroke=\"none\"/>\n", L, T, pw, ph);
    lst_sb_puts(b, "<g stroke=\"black\" stroke-width=\"1\">\n");
    lst_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", L, T + ph, L + pw, T + ph);
    lst_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", L, T, L, T + ph);
    for (int k = 0; k <= nx; k++)
        lst_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px(f, f->xlo + k * f->xstep), T + ph,
                  px(f, f->xlo + k * f->xstep), T + ph + 5);
    for (int k = 0; k <= ny; k++)
        lst_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", L - 5,
                  py(f, f->ylo + k * f->ystep), L, py(f, f->ylo + k * f->ystep));
    lst_sb_puts(b, "</g>\n<g fill=\"black\">\n");
    const int xd = lst_tick_decimals(f->xstep), yd = lst_tick_decimals(f->ystep);
    for (int k = 0; k <= nx; k++)
        lst_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.*f</text>\n", px(f, f->xlo + k * f->xstep),
                  T + ph + 19, xd, f->xlo + k * f->xstep);
    for (int k = 0; k <= ny; k++)
        lst_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.*f</text>\n", L - 8,
                  py(f, f->ylo + k * f->ystep) + 4, yd, f->ylo + k * f->ystep);
    lst_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\">"
                 "train peak memory, MiB (peak RSS of lst train)</text>\n",
              L + pw / 2, T + ph + 42);
    lst_sb_printf(b, "<text transform=\"translate(22 %.1f) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\">",
              T + ph / 2);
    lst_sb_xml(b, r->task);
    lst_sb_puts(b, " ");
    score_title(b, r, split);
    lst_sb_puts(b, "</text>\n</g>\n");
}

/* The majority-class baseline: a dashed line across the plot. */
static void svg_majority(lst_sb_t *b, const lst_report_t *r, const frame_t *f) {
    if (!r->has_majority || !isfinite(r->majority)) return;
    const double y = round(py(f, r->majority)); /* on the pixel grid: 2 px of full colour */
    lst_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#808000\" "
                     "stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\n", f->L, y, f->L + f->pw, y);
    lst_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\" fill=\"#555\">"
                     "majority class: %.1f</text>\n", f->L + f->pw - 4, y - 5, r->majority);
}

/* One method's point, with error bars for the spread over seeds. */
static void svg_point(lst_sb_t *b, const lst_report_row_t *w, const char *c, const frame_t *f) {
    const double x = px(f, w->train_peak_mib.mean), y = py(f, w->score.mean);
    lst_sb_puts(b, "<g>\n<title>");
    lst_sb_xml(b, w->method);
    lst_sb_printf(b, ": %.1f MiB, score %.2f</title>\n", w->train_peak_mib.mean, w->score.mean);
    /* the marker first, then the error bars over it in black with
     * wide caps: a spread smaller than the marker still shows */
    lst_sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\" "
                     "stroke=\"black\" stroke-width=\"0.5\"/>\n", x, y, c);
    if (w->train_peak_mib.n > 1 && w->train_peak_mib.std > 0) {
        const double x0 = px(f, w->train_peak_mib.mean - w->train_peak_mib.std),
                     x1 = px(f, w->train_peak_mib.mean + w->train_peak_mib.std);
        lst_sb_printf(b, "<path d=\"M %.1f %.1f H %.1f M %.1f %.1f V %.1f M %.1f %.1f V %.1f\" stroke=\"black\" "
                         "fill=\"none\" stroke-width=\"1.2\"/>\n", x0, y, x1, x0, y - 6, y + 6, x1, y - 6, y + 6);
    }
    if (w->score.n > 1 && w->score.std > 0) {
        const double y0 = py(f, w->score.mean - w->score.std), y1 = py(f, w->score.mean + w->score.std);
        lst_sb_printf(b, "<path d=\"M %.1f %.1f V %.1f M %.1f %.1f H %.1f M %.1f %.1f H %.1f\" stroke=\"black\" "
                         "fill=\"none\" stroke-width=\"1.2\"/>\n", x, y0, y1, x - 6, y0, x + 6, x - 6, y1, x + 6);
    }
    lst_sb_puts(b, "</g>\n");
}

/* Labels placed so far: x0, y0, x1, y1. */
typedef struct {
    double box[64][4];
    int n;
} labels_t;

/* A method's label at the first free place among: above/below, right/left,
 * further and further away (a leader line then joins label and point);
 * boxes estimated at 7.5 px per character. */
static void svg_label(lst_sb_t *b, const lst_report_row_t *w, const char *c, const frame_t *f, labels_t *placed) {
    const double x = px(f, w->train_peak_mib.mean), y = py(f, w->score.mean);
    const double tw = 7.5 * (double)strlen(w->method) + 2;
    double lx = x + 9, ly = y - 8;
    int anchor_end = 0, found = 0;
    for (int k = 0; k < 16 && !found; k++) {
        const double dy = (k % 2 ? 1 : -1) * (8 + 14.0 * (k / 2)) + (k % 2 ? 8 : 0);
        for (int side = 0; side < 2 && !found; side++) {
            const int left = (x > f->L + f->pw - tw - 12) ? !side : side;
            const double cx = left ? x - 9 : x + 9, cy = y + dy;
            const double x0 = left ? cx - tw : cx, x1 = left ? cx : cx + tw;
            if (x0 < f->L + 1 || x1 > f->W - 2 || cy - 11 < f->T - 8 || cy + 3 > f->T + f->ph + 14) continue;
            int clash = 0;
            for (int j = 0; j < placed->n && !clash; j++)
                clash = x0 < placed->box[j][2] && placed->box[j][0] < x1 && cy - 11 < placed->box[j][3] &&
                        placed->box[j][1] < cy + 3;
            if (clash) continue;
            found = 1;
            lx = cx;
            ly = cy;
            anchor_end = left;
            if (placed->n < 64) {
                double *p = placed->box[placed->n++];
                p[0] = x0;
                p[1] = cy - 11;
                p[2] = x1;
                p[3] = cy + 3;
            }
        }
    }
    if (fabs(ly - y) > 20)
        lst_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                     "stroke-width=\"0.75\"/>\n",
                  x, y, anchor_end ? lx + 2 : lx - 2, ly - 4, c);
    lst_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"%s\" font-size=\"13\" "
              "stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\">", lx, ly,
              anchor_end ? "end" : "start", c);
    lst_sb_xml(b, w->method);
    lst_sb_puts(b, "</text>\n");
}

/* The methods without a point, named under the plot. */
static void svg_missing(lst_sb_t *b, const lst_report_t *r, const frame_t *f) {
    int missing = 0;
    for (int i = 0; i < r->n_rows; i++) missing += !plotted(&r->rows[i]);
    if (!missing) return;
    lst_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#555\">not plotted (no score or memory): ",
              f->L, f->H - 8);
    int first = 1;
    for (int i = 0; i < r->n_rows; i++) {
        const lst_report_row_t *w = &r->rows[i];
        if (plotted(w)) continue;
        if (!first) lst_sb_puts(b, ", ");
        first = 0;
        lst_sb_xml(b, w->method);
        if (w->n_failed) lst_sb_puts(b, " (failed)");
    }
    lst_sb_puts(b, "</text>\n");
}

char *lst_report_svg(const lst_report_t *r) {
    static const char *colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                   "#9467bd", "#8c564b", "#e377c2", "#17becf"};
    const char *split = r->split ? r->split : "test";
    lst_sb_t b = {0};
    frame_t f;
    svg_frame(r, &f);
    svg_title(&b, r, &f, split);
    svg_axes(&b, r, &f, split);
    svg_majority(&b, r, &f);
    /* the points first, then their labels above every point */
    for (int i = 0; i < r->n_rows; i++)
        if (plotted(&r->rows[i])) svg_point(&b, &r->rows[i], colors[i % 8], &f);
    labels_t placed = {.n = 0};
    for (int i = 0; i < r->n_rows; i++)
        if (plotted(&r->rows[i])) svg_label(&b, &r->rows[i], colors[i % 8], &f, &placed);
    svg_missing(&b, r, &f);
    lst_sb_puts(&b, "</svg>\n");
    return lst_sb_done(&b);
}

int lst_report_write(const lst_report_t *r, const char *dir, lst_err_t *err) {
    char *(*fns[3])(const lst_report_t *) = {lst_report_markdown, lst_report_csv, lst_report_svg};
    const char *names[3] = {"compare.md", "compare.csv", "compare.svg"};
    for (int i = 0; i < 3; i++) {
        char path[4200];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path)
            return lst_fail(err, "%s: path too long", dir);
        char *text = fns[i](r);
        if (!text) return lst_fail(err, "%s: out of memory", path);
        const int rc = lst_write_atomic(path, text, strlen(text), err);
        free(text);
        if (rc) return -1;
    }
    return 0;
}
