/* plot.c: see plot.h. */
#include "plot.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/fileio.h"
#include "svg.h"

#define LOSS_RAW "#aec7e8"
#define LOSS_AVG "#1f77b4"
#define VAL "#d62728"
/* the axes' text in darker shades of their curves (the curves' own colours
 * stay inside the plot area: test_plot.c finds them there) */
#define LOSS_TEXT "#174f78"
#define VAL_TEXT "#8e1a1b"
#define MAX_LINE_POINTS 2000 /* a longer run is drawn from evenly spaced steps */

/* The figure's frame: canvas, plot area, and the three axes' ranges. */
typedef struct {
    double W, H, L, R, T, B, pw, ph;
    double xhi, xstep;          /* steps, from 0 */
    double llo, lhi, lstep;     /* loss, left */
    double vlo, vhi, vstep;     /* validation score, right */
    int has_val;
} pframe_t;

static double fx(const pframe_t *f, double x) { return f->L + x / f->xhi * f->pw; }
static double fy(const pframe_t *f, double y, double lo, double hi) {
    return f->T + f->ph - (y - lo) / (hi - lo) * f->ph;
}

/* lo, hi padded by 6% and rounded out to ticks of *step. */
static void round_range(double *lo, double *hi, double *step) {
    if (!(*hi > *lo)) {
        const double c = isfinite(*lo) ? *lo : 0, w = fabs(c) > 0 ? 0.1 * fabs(c) : 1;
        *lo = c - w;
        *hi = c + w;
    }
    const double pad = 0.06 * (*hi - *lo);
    *lo -= pad;
    *hi += pad;
    *step = lst_ticks_round_out(lo, hi, 5);
}

static void frame(const lst_plot_t *p, pframe_t *f) {
    *f = (pframe_t){760, 460, 80, 84, 64, 64};
    f->pw = f->W - f->L - f->R;
    f->ph = f->H - f->T - f->B;
    double smax = 1;
    f->llo = INFINITY, f->lhi = -INFINITY, f->vlo = INFINITY, f->vhi = -INFINITY;
    for (int i = 0; i < p->n; i++) {
        const lst_plot_point_t *q = &p->pts[i];
        if ((double)q->step > smax) smax = (double)q->step;
        if (isfinite(q->loss)) f->llo = fmin(f->llo, q->loss), f->lhi = fmax(f->lhi, q->loss);
        if (isfinite(q->val)) f->vlo = fmin(f->vlo, q->val), f->vhi = fmax(f->vhi, q->val), f->has_val = 1;
    }
    /* fitted to the data: the last step 2% in from the right, ticks wherever they fall */
    f->xstep = lst_nice_step(smax, 6);
    f->xhi = smax * 1.02;
    if (!isfinite(f->llo)) f->llo = 0, f->lhi = 1;
    const double lmin = f->llo;
    round_range(&f->llo, &f->lhi, &f->lstep);
    if (lmin >= 0 && f->llo < 0) f->llo = 0; /* a cross-entropy is never below 0 */
    if (!f->has_val) f->vlo = 0, f->vhi = 100;
    const double vmin = f->vlo, vmax = f->vhi;
    round_range(&f->vlo, &f->vhi, &f->vstep);
    /* scores are x 100: no tick below 0 or above 100 the data does not reach */
    if (vmin >= 0 && f->vlo < 0) f->vlo = 0;
    if (vmax <= 100 && f->vhi > 100) f->vhi = 100;
    if (!(f->vhi > f->vlo)) f->vhi = f->vlo + f->vstep;
}

/* Vertical ticks and labels of one y axis (at x0, labels to side). */
static void y_axis(lst_sb_t *b, const pframe_t *f, double lo, double hi, double step, double x0, int right,
                   const char *color) {
    const int n = (int)llround((hi - lo) / step), d = lst_tick_decimals(step);
    for (int k = 0; k <= n; k++) {
        const double v = lo + k * step, y = fy(f, v, lo, hi);
        lst_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", x0, y,
                      x0 + (right ? 5 : -5), y);
        lst_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"%s\">%.*f</text>\n",
                      x0 + (right ? 8 : -8), y + 4, right ? "start" : "end", color, d, v);
    }
}

static void axes(lst_sb_t *b, const lst_plot_t *p, const pframe_t *f) {
    const double L = f->L, T = f->T, pw = f->pw, ph = f->ph;
    const int nx = (int)floor(f->xhi / f->xstep + 1e-9), nl = (int)llround((f->lhi - f->llo) / f->lstep);
    lst_sb_puts(b, "<g stroke=\"#e6e6e6\" stroke-width=\"1\">\n");
    for (int k = 0; k <= nx; k++)
        lst_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", fx(f, k * f->xstep), T,
                      fx(f, k * f->xstep), T + ph);
    for (int k = 0; k <= nl; k++) {
        const double y = fy(f, f->llo + k * f->lstep, f->llo, f->lhi);
        lst_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", L, y, L + pw, y);
    }
    lst_sb_puts(b, "</g>\n");
    lst_sb_printf(b, "<rect id=\"plot-area\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                     "stroke=\"black\"/>\n", L, T, pw, ph);
    lst_sb_puts(b, "<g font-size=\"12\">\n");
    const int xd = lst_tick_decimals(f->xstep);
    for (int k = 0; k <= nx; k++) {
        const double x = fx(f, k * f->xstep);
        lst_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n", x, T + ph, x,
                      T + ph + 5);
        lst_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.*f</text>\n", x, T + ph + 19, xd,
                      k * f->xstep);
    }
    y_axis(b, f, f->llo, f->lhi, f->lstep, L, 0, LOSS_TEXT);
    if (f->has_val) y_axis(b, f, f->vlo, f->vhi, f->vstep, L + pw, 1, VAL_TEXT);
    lst_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\">training step</text>\n",
                  L + pw / 2, T + ph + 44);
    lst_sb_printf(b, "<text transform=\"translate(22 %.1f) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\" "
                     "fill=\"%s\">training loss (cross-entropy per target token)</text>\n", T + ph / 2, LOSS_TEXT);
    if (f->has_val) {
        lst_sb_printf(b, "<text transform=\"translate(%.1f %.1f) rotate(90)\" text-anchor=\"middle\" "
                         "font-size=\"13\" fill=\"%s\">", f->W - 22, T + ph / 2, VAL_TEXT);
        lst_sb_xml(b, p->score_axis ? p->score_axis : "validation score");
        lst_sb_puts(b, "</text>\n");
    }
    lst_sb_puts(b, "</g>\n");
}

/* A polyline through the (step, value) points where value is finite,
 * evenly thinned past MAX_LINE_POINTS. */
static void line(lst_sb_t *b, const lst_plot_t *p, const pframe_t *f, const double *v, double lo, double hi,
                 const char *color, double width) {
    int n_fin = 0;
    for (int i = 0; i < p->n; i++) n_fin += isfinite(v[i]);
    if (n_fin < 2) return;
    const int every = n_fin > MAX_LINE_POINTS ? (n_fin + MAX_LINE_POINTS - 1) / MAX_LINE_POINTS : 1;
    lst_sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" stroke-linejoin=\"round\" "
                     "points=\"", color, width);
    for (int i = 0, k = 0; i < p->n; i++) {
        if (!isfinite(v[i])) continue;
        if (k++ % every && k != n_fin) continue;
        lst_sb_printf(b, "%.1f,%.1f ", fx(f, (double)p->pts[i].step), fy(f, v[i], lo, hi));
    }
    lst_sb_puts(b, "\"/>\n");
}

static void legend(lst_sb_t *b, const pframe_t *f) {
    const double x = f->L + f->pw - 190, y = f->T + 10;
    lst_sb_printf(b, "<g font-size=\"12\">\n<rect x=\"%.1f\" y=\"%.1f\" width=\"180\" height=\"%d\" fill=\"white\" "
                     "fill-opacity=\"0.85\" stroke=\"#bbb\"/>\n", x, y, f->has_val ? 64 : 46);
    const char *names[3] = {"loss, every step", "loss, moving average", "validation"};
    const char *colors[3] = {LOSS_RAW, LOSS_AVG, VAL};
    for (int k = 0; k < (f->has_val ? 3 : 2); k++) {
        const double ly = y + 16 + 18 * k;
        lst_sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
                      x + 8, ly - 4, x + 34, ly - 4, colors[k]);
        lst_sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", x + 42, ly, names[k]);
    }
    lst_sb_puts(b, "</g>\n");
}

char *lst_plot_svg(const lst_plot_t *p) {
    pframe_t f;
    frame(p, &f);
    lst_sb_t b = {0};
    lst_sb_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
                      "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Arial, "
                      "sans-serif\" font-size=\"12\">\n<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" "
                      "fill=\"white\"/>\n", f.W, f.H, f.W, f.H, f.W, f.H);
    lst_sb_printf(&b, "<text x=\"%.1f\" y=\"30\" text-anchor=\"middle\" font-size=\"16\">", f.W / 2);
    lst_sb_xml(&b, p->title ? p->title : "training");
    lst_sb_puts(&b, ": training loss and validation score</text>\n");
    axes(&b, p, &f);
    double *raw = malloc(sizeof(double) * (size_t)(p->n ? p->n : 1));
    double *avg = malloc(sizeof(double) * (size_t)(p->n ? p->n : 1));
    double *val = malloc(sizeof(double) * (size_t)(p->n ? p->n : 1));
    if (!raw || !avg || !val) b.oom = 1;
    double ema = NAN;
    for (int i = 0; !b.oom && i < p->n; i++) {
        raw[i] = p->pts[i].loss;
        if (isfinite(raw[i])) ema = isnan(ema) ? raw[i] : 0.95 * ema + 0.05 * raw[i]; /* as the progress line */
        avg[i] = ema;
        val[i] = p->pts[i].val;
    }
    if (!b.oom) {
        line(&b, p, &f, raw, f.llo, f.lhi, LOSS_RAW, 1);
        line(&b, p, &f, avg, f.llo, f.lhi, LOSS_AVG, 2);
        line(&b, p, &f, val, f.vlo, f.vhi, VAL, 1.5);
        for (int i = 0; i < p->n; i++)
            if (isfinite(val[i]))
                lst_sb_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"><title>step %lld: "
                                  "%.2f</title></circle>\n", fx(&f, (double)p->pts[i].step),
                              fy(&f, val[i], f.vlo, f.vhi), VAL, (long long)p->pts[i].step, val[i]);
        if (!p->n)
            lst_sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555\">no steps logged "
                              "yet</text>\n", f.L + f.pw / 2, f.T + f.ph / 2);
        legend(&b, &f);
    }
    free(raw);
    free(avg);
    free(val);
    lst_sb_puts(&b, "</svg>\n");
    return lst_sb_done(&b);
}

/* ---- a run directory -------------------------------------------------------- */

/* log.csv's rows: step, epoch, loss, lr, grad_norm, elapsed_s[, val_score]. */
static int read_log(const char *path, lst_plot_point_t **pts, int *n, lst_err_t *err) {
    size_t len = 0;
    char *text = lst_read_file(path, (size_t)1 << 30, &len, err);
    if (!text) return -1;
    int cap = 1024;
    *n = 0;
    *pts = malloc(sizeof **pts * (size_t)cap);
    for (char *line = text; *pts && line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        long long step;
        int epoch;
        double loss, lr, gn, el;
        if (sscanf(line, "%lld,%d,%lf,%lf,%lf,%lf", &step, &epoch, &loss, &lr, &gn, &el) == 6) {
            if (*n == cap) {
                lst_plot_point_t *g = realloc(*pts, sizeof **pts * (size_t)(cap *= 2));
                if (!g) break;
                *pts = g;
            }
            const char *c = line;
            for (int k = 0; c && k < 6; k++) c = strchr(c, ',') ? strchr(c, ',') + 1 : NULL;
            (*pts)[(*n)++] = (lst_plot_point_t){step, loss, c && *c ? strtod(c, NULL) : NAN};
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    if (!*pts) return lst_fail(err, "out of memory reading %s", path);
    return 0;
}

static cJSON *read_json(const char *dir, const char *name) {
    char path[4200];
    lst_err_t err;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = lst_read_file(path, 1 << 24, NULL, &err);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}

/* "validation accuracy, %", or the score's metrics by name. */
static void score_axis(const cJSON *metrics, char *buf, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(metrics, "validation"), *m;
    char names[200] = "";
    int k = 0;
    cJSON_ArrayForEach(m, v) {
        if (!m->string || !strcmp(m->string, "score")) continue;
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k++ ? ", " : "", m->string);
    }
    if (k == 1 && !strcmp(names, "accuracy")) snprintf(buf, cap, "validation accuracy, %%");
    else if (k == 1) snprintf(buf, cap, "validation %s x 100", names);
    else if (k > 1) snprintf(buf, cap, "validation score: mean of %s, x 100", names);
    else snprintf(buf, cap, "validation score");
}

int lst_plot_run(const char *rundir, const char *out, lst_err_t *err) {
    char path[4200], title[200], axis[300];
    snprintf(path, sizeof path, "%s/log.csv", rundir);
    lst_plot_point_t *pts = NULL;
    int n = 0;
    if (read_log(path, &pts, &n, err)) return lst_fail_ctx(err, "plotting %s", rundir);
    cJSON *run = read_json(rundir, "run.json"), *metrics = read_json(rundir, "metrics.json");
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(run, "task");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(run, "method");
    snprintf(title, sizeof title, "%s, %s", cJSON_IsString(task) ? task->valuestring : "training",
             cJSON_IsString(method) ? method->valuestring : "lst");
    score_axis(metrics, axis, sizeof axis);
    cJSON_Delete(run);
    cJSON_Delete(metrics);
    lst_plot_t p = {title, axis, pts, n};
    char *svg = lst_plot_svg(&p);
    free(pts);
    if (!svg) return lst_fail(err, "out of memory drawing %s's training curves", rundir);
    if (out) snprintf(path, sizeof path, "%s", out);
    else snprintf(path, sizeof path, "%s/training.svg", rundir);
    const int rc = lst_write_atomic(path, svg, strlen(svg), err);
    free(svg);
    return rc;
}
