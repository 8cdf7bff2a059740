/* cmd_plan.c: `lst plan`, the memory a training step needs, predicted from
 * the shapes alone (no weights read; docs/memory.md). */
#include <stdio.h>

#include "../train/bench.h"
#include "../train/tapcache.h"
#include "cli.h"

static double mib(size_t b) { return b / 1048576.0; }

int lst_cmd_plan(int argc, char **argv) {
    lst_bench_opts_t o;
    int json;
    int rc = lst_cli_bench_opts("plan", argc, argv, 0, &o, &json);
    if (rc) return rc < 0 ? 0 : rc;
    lst_plan_t p;
    lst_err_t err = {{0}};
    size_t tc[3] = {0};
    int tn[3] = {0};
    const int failed = lst_bench_plan(&o, &p, &err) || (o.task[0] && lst_bench_tap_cache(&o, tc, tn, &err));
    lst_side_opts_free(&o.side); /* --side-layers */
    if (failed) {
        lst_cli_error("plan", err.msg);
        return 1;
    }
    if (json) {
        printf("{\"method\":\"%s\",\"trainable\":%zu,\"weights\":%zu,\"gradients\":%zu,"
               "\"optimizer\":%zu,\"activations\":%zu,\"workspace\":%zu,\"total\":%zu",
               o.method.name, p.trainable, p.weights, p.gradients, p.optimizer, p.activations,
               p.workspace, p.total);
        if (o.task[0])
            printf(",\"tap_cache\":{\"task\":\"%s\",\"dtype\":\"%s\",\"train\":%zu,"
                   "\"validation\":%zu,\"test\":%zu,\"total\":%zu}", o.task,
                   lst_tc_dtype_name(o.tc_dtype), tc[0], tc[1], tc[2], tc[0] + tc[1] + tc[2]);
        printf("}\n");
    } else {
        printf("%s, %s, batch %d, source %d, target %d: predicted peak %.1f MiB\n", o.model,
               o.method.name, o.B, o.T, o.D, mib(p.total));
        printf("  weights      %10.1f MiB\n  gradients    %10.1f MiB\n  optimizer    %10.1f MiB\n"
               "  activations  %10.1f MiB\n  workspace    %10.1f MiB\n",
               mib(p.weights), mib(p.gradients), mib(p.optimizer), mib(p.activations), mib(p.workspace));
        if (o.task[0])
            printf("tap cache (--tap-cache DIR; in memory it adds to the peak) for %s at %s: %.1f MiB\n"
                   "  train        %10.1f MiB  (%d examples)\n  validation   %10.1f MiB  (%d)\n"
                   "  test         %10.1f MiB  (%d)\n", o.task, lst_tc_dtype_name(o.tc_dtype),
                   mib(tc[0] + tc[1] + tc[2]), mib(tc[0]), tn[0], mib(tc[1]), tn[1], mib(tc[2]), tn[2]);
    }
    return 0;
}
