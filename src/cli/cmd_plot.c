/* cmd_plot.c: `lst plot --run RUNDIR [--out FILE]`: the run's training loss
 * and validation score against steps, as SVG (report/plot.h); lst train
 * writes the same figure at the end of every run. */
#include <stdio.h>

#include "../report/plot.h"
#include "cli.h"

int lst_cmd_plot(int argc, char **argv) {
    lst_opt_t opts[] = {
        {"run", 0, 1, "run directory (its log.csv, run.json, metrics.json)", NULL},
        {"out", 0, 0, "the SVG to write (default RUNDIR/training.svg)", NULL},
    };
    const int n = sizeof opts / sizeof opts[0];
    int rc = lst_args_parse("plot", "--run RUNDIR [--out FILE]", opts, n, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    lst_err_t err = {{0}};
    const char *run = lst_opt(opts, n, "run"), *out = lst_opt(opts, n, "out");
    if (lst_plot_run(run, out, &err)) {
        lst_cli_error("plot", err.msg);
        return 1;
    }
    printf("%s%s\n", out ? out : run, out ? "" : "/training.svg");
    return 0;
}
