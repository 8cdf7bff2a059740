/* main.c: the lst command line; dispatches to one file per subcommand. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "../core/version.h"
#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"init", lst_cmd_init, "write a randomly initialised HF-format T5 checkpoint"},
    {"tokenize", lst_cmd_tokenize, "encode stdin lines to T5 token ids"},
    {"dump", lst_cmd_dump, "run forward+backward on a batch and write every tensor"},
    {"train", lst_cmd_train, "Ladder Side-Tuning on a GLUE task or custom data"},
    {"eval", lst_cmd_eval, "a trained run's metrics on a split"},
    {"predict", lst_cmd_predict, "a trained run's predictions for stdin lines"},
    {"plan", lst_cmd_plan, "the memory a training step needs, predicted without running"},
    {"bench", lst_cmd_bench, "time training steps on random tokens"},
    {"params", lst_cmd_params, "trainable parameters of a method and their share"},
    {"quantize", lst_cmd_quantize, "a checkpoint with its frozen linears stored as int8, q4 or bf16"},
    {"compare", lst_cmd_compare, "train and measure several methods, Table 1 and Figure 6"},
    {"plot", lst_cmd_plot, "a run's training loss and validation score as SVG"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: lst <command> [options]   (lst <command> --help; lst --version)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    /* Past `ulimit -f` a write fails with EFBIG instead of the default
     * SIGXFSZ killing the process (exit 153) before a writer could remove
     * its temporary file and report. */
    signal(SIGXFSZ, SIG_IGN);
    lst_cli_blas_core(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V") || !strcmp(argv[1], "version")) {
        printf("lst %s (commit %s)\n", lst_version(), lst_commit());
        return lst_cli_close_stdout("version", 0);
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return lst_cli_close_stdout("help", 0);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            if (lst_cli_reserve(argc - 1, argv + 1)) return 1;
            return lst_cli_close_stdout(commands[i].name, commands[i].fn(argc - 1, argv + 1));
        }
    fprintf(stderr, "lst: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
