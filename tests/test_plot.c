/* test_plot.c: a run's training figure (report/plot.h): rendered by
 * rsvg-convert, the PNG decoded (libpng) and its pixels checked: the loss
 * curves and the validation points are drawn, inside the plot area, where
 * their values put them; lst train writes it at the end of a run and
 * lst plot draws the same; no machine path in it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/fileio.h"
#include "../src/report/plot.h"
#include "png_util.h"
#include "test.h"

static const int LOSS_AVG[3] = {0x1f, 0x77, 0xb4}, VAL[3] = {0xd6, 0x27, 0x28};

TEST(plot_renders_curves_inside_the_plot_area) {
    /* 300 steps of a falling loss, validation every 50 steps rising 40 -> 90 */
    lst_plot_point_t pts[300];
    for (int i = 0; i < 300; i++)
        pts[i] = (lst_plot_point_t){i + 1, 3.0 * exp(-i / 80.0) + 0.5 + 0.2 * sin(i), NAN};
    for (int k = 1; k <= 6; k++) pts[50 * k - 1].val = 40 + 10 * (k - 1);
    lst_plot_t p = {"rte, lst", "validation accuracy, %", pts, 300};
    char *svg = lst_plot_svg(&p);
    CHECK(svg != NULL, "no SVG");
    if (!svg) return;
    double box[4];
    CHECK(fig_plot_area(svg, box) == 0, "no plot-area rect");
    CHECK(strstr(svg, "validation accuracy, %") && strstr(svg, "rte, lst"), "axis title or title missing");
    image_t img;
    if (fig_render(svg, "plot_unit", &img)) {
        free(svg);
        return;
    }
    const hits_t loss = fig_find(&img, LOSS_AVG, 24, box, 2), val = fig_find(&img, VAL, 24, box, 5);
    /* the legend's swatches sit inside the plot area too */
    CHECK(loss.n > 200 && loss.outside == 0, "loss curve: %ld pixels, %ld outside the plot area", loss.n,
          loss.outside);
    CHECK(val.n > 60 && val.outside == 0, "validation points: %ld pixels, %ld outside the plot area", val.n,
          val.outside);
    /* the curve spans the steps (step 1 at the left, step 300 near the right) and the rising
     * scores climb: the validation pixels' box is tall and wide */
    CHECK(loss.x0 < box[0] + 0.05 * box[2] && loss.x1 > box[0] + 0.9 * box[2],
          "loss curve spans x %d-%d of the area %.0f-%.0f", loss.x0, loss.x1, box[0], box[0] + box[2]);
    CHECK(val.y1 - val.y0 > 0.5 * box[3] && val.x1 - val.x0 > 0.6 * box[2],
          "validation points span only %d x %d pixels", val.x1 - val.x0, val.y1 - val.y0);
    free(img.px);
    free(svg);
}

TEST(plot_of_a_run_from_train_and_from_lst_plot) {
    char dir[600], cmd[2400], *log = NULL;
    snprintf(dir, sizeof dir, "%s/plot_run", lst_test_tmpdir());
    snprintf(cmd, sizeof cmd, "mkdir -p %s && %s init --preset t5-tiny --out %s/m --seed 2 >/dev/null && "
             "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo '{\"source\": \"it is '$i'\", \"target\": "
             "\"yes\"}'; done > %s/t.jsonl", dir, lst_test_bin(), dir, dir);
    CHECK(system(cmd) == 0, "%s", cmd);
    int rc = lst_test_run(&log, "train --model %s/m --task custom --train %s/t.jsonl --valid %s/t.jsonl "
                          "--max-steps 6 --batch 4 --eval-every 2 --init magnitude --warmup 2 --quiet "
                          "--out %s/run", dir, dir, dir, dir);
    CHECK(rc == 0, "train: %s", log ? log : "");
    free(log);
    char a[700], b[700];
    snprintf(a, sizeof a, "%s/run/training.svg", dir);
    snprintf(b, sizeof b, "%s/again.svg", dir);
    lst_err_t err;
    char *t1 = lst_read_file(a, 1 << 22, NULL, &err);
    CHECK(t1 != NULL, "lst train wrote no figure: %s", err.msg);
    rc = lst_test_run(&log, "plot --run %s/run --out %s", dir, b);
    CHECK(rc == 0, "lst plot: %s", log ? log : "");
    free(log);
    char *t2 = lst_read_file(b, 1 << 22, NULL, &err);
    CHECK(t1 && t2 && !strcmp(t1, t2), "lst plot and lst train drew different figures");
    CHECK(t1 && !strstr(t1, lst_test_tmpdir()), "the figure holds a machine path");
    double box[4];
    image_t img;
    if (t1 && fig_plot_area(t1, box) == 0 && fig_render(NULL, "plot_run/run/training", &img) == 0) {
        const hits_t val = fig_find(&img, VAL, 24, box, 5);
        CHECK(val.n > 20 && val.outside == 0, "the run's validation points: %ld pixels, %ld outside",
              val.n, val.outside);
        free(img.px);
    }
    free(t1);
    free(t2);
    rc = lst_test_run(&log, "plot --run %s/nothing", dir);
    CHECK(rc == 1 && log && strstr(log, "log.csv"), "a directory without a run: %d %s", rc, log ? log : "");
    free(log);
}
