/* cmd_predict.c: `lst predict --run RUNDIR`: one model input per stdin
 * line (e.g. "sst2 sentence: a fine film"), one prediction per output line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../train/evaluate.h"
#include "../train/trainer.h"
#include "cli.h"

int lst_cmd_predict(int argc, char **argv) {
    lst_opt_t opts[] = {
        {"run", 0, 1, "run directory of lst train", NULL},
        {"gen-length", 0, 0, "generation length (default: the run's test length, 128)", NULL},
    };
    const int n = sizeof opts / sizeof opts[0];
    int rc = lst_args_parse("predict", "--run RUNDIR < inputs.txt", opts, n, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    int gen = 0;
    const char *g = lst_opt(opts, n, "gen-length");
    if (g && lst_opt_i32("predict", "gen-length", g, 1, 100000, &gen)) return 2;
    if (lst_cli_stdin_ok("predict")) return 1;
    lst_err_t err = {{0}};
    lst_run_t r;
    if (lst_run_open(&r, lst_opt(opts, n, "run"), &err)) {
        lst_cli_error("predict", err.msg);
        return 1;
    }
    if (!g) gen = r.opts.gen_test;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int status = 0;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        int32_t *ids = NULL;
        int nid = 0;
        char *out = NULL;
        if (lst_tokenizer_encode(r.tok, line, (size_t)len, &ids, &nid, &err)) {
            fprintf(stderr, "lst predict: stdin line %ld: %s\n", lineno, err.msg);
            status = 1;
            break;
        }
        if (nid > r.opts.max_src) {
            ids[r.opts.max_src - 1] = 1; /* truncate like training: pieces + EOS */
            nid = r.opts.max_src;
        }
        if (lst_generate_texts(&r.bb, r.sidep, r.tok, &ids, &nid, 1, gen, &out, &err)) {
            free(ids);
            fprintf(stderr, "lst predict: stdin line %ld: %s\n", lineno, err.msg);
            status = 1;
            break;
        }
        printf("%s\n", out);
        free(out);
        free(ids);
        /* one line out per line in, as it comes; a lost write stops the run */
        if (lst_cli_stdout_ok("predict")) {
            status = 1;
            break;
        }
    }
    if (status == 0 && lst_cli_stdin_done("predict", lineno)) status = 1;
    free(line);
    lst_run_close(&r);
    return status;
}
