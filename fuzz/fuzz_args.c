/* fuzz_args.c: lst_args_parse with lst train's option table on an argv
 * split from the input at NUL bytes, then the strict number parsers on
 * every value given.
 *
 * Returns must be 0, 1 (--help) or 2; on success every required option has
 * a value that is one of the argv strings and no option was taken twice. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/cli/cli.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fz_quiet(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lst_opt_t opts[] = {
        {"model", 0, 1, "backbone checkpoint directory", NULL},
        {"task", 0, 0, "task", NULL},
        {"data", 0, 0, "GLUE data directory", NULL},
        {"train", 0, 0, "custom training file", NULL},
        {"valid", 0, 0, "custom validation file", NULL},
        {"test", 0, 0, "custom test file", NULL},
        {"spm", 0, 0, "SentencePiece model", NULL},
        {"out", 0, 0, "run directory", NULL},
        {"resume", 0, 0, "RUNDIR", NULL},
        {"method", 0, 0, "lst", NULL},
        {"r", 0, 0, "reduction factor", NULL},
        {"side-layers", 0, 0, "kept layers", NULL},
        {"encoder-side-layers", 0, 0, "kept encoder layers", NULL},
        {"decoder-side-layers", 0, 0, "kept decoder layers", NULL},
        {"init", 0, 0, "fisher, magnitude or random", NULL},
        {"fisher-samples", 0, 0, "examples", NULL},
        {"lr", 0, 0, "learning rate", NULL},
        {"epochs", 0, 0, "epochs", NULL},
        {"batch", 0, 0, "batch size", NULL},
        {"eval-batch", 0, 0, "generation batch size", NULL},
        {"warmup", 0, 0, "warmup steps", NULL},
        {"max-steps", 0, 0, "steps", NULL},
        {"max-train", 0, 0, "examples", NULL},
        {"max-source-length", 0, 0, "tokens", NULL},
        {"gen-validation", 0, 0, "length", NULL},
        {"seed", 0, 0, "seed", NULL},
        {"no-backbone-dropout", 1, 0, "flag", NULL},
        {"full-vocab", 1, 0, "flag", NULL},
        {"checkpoint-every", 0, 0, "steps", NULL},
        {"halt-after", 0, 0, "step", NULL},
        {"quiet", 1, 0, "flag", NULL},
    };
    const int n = (int)(sizeof opts / sizeof opts[0]);

    /* argv: "train", then the NUL-separated pieces, each its own allocation
     * so that ASan catches a read past any of them */
    char *buf = fz_cstr(data, size);
    int cap = 2;
    for (size_t i = 0; i < size; i++) cap += data[i] == 0;
    char **argv = calloc((size_t)cap + 1, sizeof *argv);
    FZ_CHECK(argv, "oom");
    int argc = 0;
    argv[argc++] = strdup("train");
    for (char *p = buf; p < buf + size; p += strlen(p) + 1) argv[argc++] = strdup(p);
    argv[argc] = NULL;

    int rc = lst_args_parse("train", "[options]", opts, n, argc, argv);
    FZ_CHECK(rc == 0 || rc == 1 || rc == 2, "rc %d", rc);
    if (rc == 0) {
        for (int i = 0; i < n; i++) {
            if (opts[i].required) FZ_CHECK(opts[i].value, "--%s missing", opts[i].name);
            if (!opts[i].value) continue;
            int from_argv = opts[i].is_flag && !strcmp(opts[i].value, "1");
            for (int a = 1; a < argc && !from_argv; a++) from_argv = opts[i].value == argv[a];
            FZ_CHECK(from_argv, "--%s value does not come from argv", opts[i].name);
            FZ_CHECK(lst_opt(opts, n, opts[i].name) == opts[i].value, "lookup");
            int64_t v;
            int v32;
            double f;
            if (lst_opt_i64("train", opts[i].name, opts[i].value, 1, (int64_t)1 << 40, &v) == 0)
                FZ_CHECK(v >= 1 && v <= (int64_t)1 << 40, "int out of range");
            if (lst_opt_i32("train", opts[i].name, opts[i].value, -5, 7, &v32) == 0)
                FZ_CHECK(v32 >= -5 && v32 <= 7, "int32 out of range");
            if (lst_opt_float("train", opts[i].name, opts[i].value, 0, 100, &f) == 0)
                FZ_CHECK(f >= 0 && f <= 100, "float out of range");
        }
    }
    for (int a = 0; a < argc; a++) free(argv[a]);
    free(argv);
    free(buf);
    return 0;
}
