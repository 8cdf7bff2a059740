/* cmd_quantize.c: `lst quantize`, a checkpoint with its block linears
 * stored already packed in a frozen-backbone format (t5_quantize.c). */
#include <stdio.h>
#include <string.h>

#include "../model/t5/t5.h"
#include "../ops/wformat.h"
#include "cli.h"

int lst_cmd_quantize(int argc, char **argv) {
    lst_opt_t opts[] = {
        {"model", 0, 1, "checkpoint directory (config.json + model.safetensors or sharded)", NULL},
        {"dtype", 0, 1, "int8, q4 or bf16: the format the block linears are stored in", NULL},
        {"out", 0, 1, "output directory (config.json, model.safetensors, the tokenizer's files)", NULL},
    };
    const int n = sizeof opts / sizeof opts[0];
    int rc = lst_args_parse("quantize", "--model DIR --dtype int8|q4|bf16 --out DIR", opts, n, argc, argv);
    if (rc) return rc == 1 ? 0 : rc;
    lst_wformat_t fmt;
    const char *dt = lst_opt(opts, n, "dtype");
    if (lst_wformat_parse(dt, &fmt) || fmt == LST_WF_F32) {
        fprintf(stderr, "lst quantize: --dtype must be int8, q4 or bf16, not '%s'\n", dt);
        return 2;
    }
    const char *in = lst_opt(opts, n, "model"), *out = lst_opt(opts, n, "out");
    if (!strcmp(in, out)) {
        fprintf(stderr, "lst quantize: --out must be another directory than --model\n");
        return 2;
    }
    lst_err_t err = {{0}};
    if (lst_t5_quantize(in, fmt, out, &err)) {
        lst_cli_error("quantize", err.msg);
        return 1;
    }
    printf("wrote %s/model.safetensors: the block linears of %s packed as %s (load with "
           "--backbone-dtype %s)\n", out, in, dt, dt);
    return 0;
}
