/* cmd_bench.c: `lst bench`, timed training steps on random tokens (or a
 * checkpoint's weights), for every method. */
#include <stdio.h>

#include "../train/bench.h"
#include "cli.h"

static double mib(size_t b) { return b / 1048576.0; }

int lst_cmd_bench(int argc, char **argv) {
    lst_bench_opts_t o;
    int json;
    int rc = lst_cli_bench_opts("bench", argc, argv, 1, &o, &json);
    if (rc) return rc < 0 ? 0 : rc;
    lst_bench_result_t r;
    lst_err_t err = {{0}};
    const int failed = lst_bench_run(&o, &r, &err);
    lst_side_opts_free(&o.side); /* --side-layers */
    if (failed) {
        lst_cli_error("bench", err.msg);
        return 1;
    }
    if (json) {
        printf("{\"model\":\"%s\",\"method\":\"%s\",\"batch\":%d,\"src_len\":%d,\"tgt_len\":%d,"
               "\"steps\":%d,\"step_ms_median\":%.3f,\"step_ms_min\":%.3f,\"tokens_per_s\":%.1f,"
               "\"peak_bytes\":%zu,\"peak_rss_bytes\":%zu,\"loss_first\":%.6f,\"loss_last\":%.6f}\n",
               o.model, o.method.name, o.B, o.T, o.D, o.steps, r.step_ms_median, r.step_ms_min,
               r.tokens_per_s, r.peak_bytes, r.peak_rss_bytes, r.loss_first, r.loss_last);
    } else {
        printf("%s, %s, batch %d, source %d, target %d, %d steps: median %.1f ms/step (min %.1f), "
               "%.0f tokens/s, planned peak %.1f MiB, peak RSS %.1f MiB\n",
               o.model, o.method.name, o.B, o.T, o.D, o.steps, r.step_ms_median, r.step_ms_min,
               r.tokens_per_s, mib(r.peak_bytes), mib(r.peak_rss_bytes));
    }
    return 0;
}
