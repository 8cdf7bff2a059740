/* cmd_eval.c: `lst eval --run RUNDIR [--split test]`: the finished run's
 * model on one split, metrics printed as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../train/evaluate.h"
#include "../train/trainer.h"
#include "cli.h"

int lst_cmd_eval(int argc, char **argv) {
    lst_opt_t opts[] = {
        {"run", 0, 1, "run directory of lst train", NULL},
        {"split", 0, 0, "validation, test (default) or train", NULL},
        {"gen-length", 0, 0, "generation length (default: the run's test length, 128)", NULL},
    };
    const int n = sizeof opts / sizeof opts[0];
    int rc = lst_args_parse("eval", "--run RUNDIR [--split test]", opts, n, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    const char *split = lst_opt(opts, n, "split") ? lst_opt(opts, n, "split") : "test";
    if (strcmp(split, "test") && strcmp(split, "validation") && strcmp(split, "train")) {
        fprintf(stderr, "lst eval: --split must be train, validation or test, not '%s'\n", split);
        return 2;
    }
    /* options before the run: a bad option is exit 2 whatever the run holds */
    int gen = 0;
    const char *g = lst_opt(opts, n, "gen-length");
    if (g && lst_opt_i32("eval", "gen-length", g, 1, 100000, &gen)) return 2;
    lst_err_t err = {{0}};
    lst_run_t r;
    lst_tokdata_t d = {0};
    if (lst_run_open(&r, lst_opt(opts, n, "run"), &err)) {
        lst_cli_error("eval", err.msg);
        return 1;
    }
    if (!g) gen = r.opts.gen_test;
    lst_metrics_t m;
    int status = 1;
    if (!lst_run_split(&r, split, &d, &err) &&
        !lst_evaluate(&r.bb, r.sidep, r.tok, &d, r.task, gen, r.opts.eval_batch, &m, NULL, &err)) {
        printf("{\"split\": \"%s\", \"examples\": %d", split, d.n);
        for (int i = 0; i < m.n; i++) printf(", \"%s\": %.4f", lst_metric_name(m.kinds[i]), m.values[i]);
        printf(", \"score\": %.4f}\n", m.score);
        status = 0;
    } else {
        lst_cli_error("eval", err.msg);
    }
    lst_tokdata_free(&d);
    lst_run_close(&r);
    return status;
}
