/* cli.h: subcommands and the shared option parser.
 *
 * Each subcommand lives in its own cmd_<name>.c and has the signature
 * int lst_cmd_<name>(int argc, char **argv) with argv[0] = the subcommand
 * name; it returns the process exit status (0 ok, 1 runtime error such as a
 * bad file, 2 usage error). Errors are printed as "lst <cmd>: message". */
#ifndef LST_CLI_H
#define LST_CLI_H

#include <stdint.h>

int lst_cmd_init(int argc, char **argv);
int lst_cmd_tokenize(int argc, char **argv);
int lst_cmd_dump(int argc, char **argv);
int lst_cmd_train(int argc, char **argv);
int lst_cmd_eval(int argc, char **argv);
int lst_cmd_predict(int argc, char **argv);
int lst_cmd_plan(int argc, char **argv);
int lst_cmd_bench(int argc, char **argv);
int lst_cmd_params(int argc, char **argv);
int lst_cmd_compare(int argc, char **argv);

/* Option table: every option is "--name value" or a flag "--name".
 * lst_args_parse refuses unknown options, missing values, repeated options
 * and positional arguments, printing a message naming the option. */
typedef struct {
    const char *name;  /* without leading dashes */
    int is_flag;       /* 1: takes no value */
    int required;
    const char *help;
    const char *value; /* filled by the parser: the value, "1" for a set flag, or NULL */
} lst_opt_t;

/* Returns 0 on success, 2 on a usage error (already printed), 1 if --help
 * was given (usage printed to stdout; caller should exit 0). */
int lst_args_parse(const char *cmd, const char *usage, lst_opt_t *opts, int n,
                   int argc, char **argv);

/* Looks an option up by name (NULL value if not given). */
const char *lst_opt(const lst_opt_t *opts, int n, const char *name);

/* Strict number parsing for option values: the whole string must be a
 * number within [lo, hi]; prints "lst <cmd>: --name: ..." and returns -1
 * otherwise. */
int lst_opt_int(const char *cmd, const char *name, const char *s, long lo,
                long hi, long *out);
int lst_opt_float(const char *cmd, const char *name, const char *s, double lo,
                  double hi, double *out);

/* "1,2,5" -> ascending-as-given layer indices in [0, max); returns -1 (after
 * printing "lst <cmd>: --<name> ...") on anything else. */
int lst_opt_layers(const char *cmd, const char *name, const char *s, int max, int *keep, int *n);

/* Options the given method does not take: side-network options (--r, the
 * side layers, --init, --fisher-samples, --backbone-dtype) with a baseline,
 * --freeze-layers with a side network or prompt tuning, and each baseline's
 * size option (--adapter-dim, --lora-rank, --prompt-len) with another
 * method. Prints "lst <cmd>: --<opt> applies to ..." and returns 2 for the
 * first one given; 0 if none. Options missing from the table are skipped. */
int lst_opt_method_check(const char *cmd, const lst_opt_t *opts, int n, const char *method);

/* Before anything else in main: on AMD Zen 4, re-executes the program with
 * OPENBLAS_CORETYPE=Haswell (blas_core.c); returns otherwise. */
void lst_cli_blas_core(char **argv);

/* OpenBLAS's work buffer: BUFFER_SIZE (128 MiB) and a page, in Debian 12's
 * x86_64 build, each one address space taken once per concurrent SGEMM. */
#define LST_BLAS_BUFFER_BYTES (((size_t)128 << 20) + 4096)

/* In main, before a command runs, argv[0] = the command: for the commands
 * with OpenMP loops, starts the threads and, for those that multiply, makes
 * OpenBLAS's buffers for lst_threads() concurrent SGEMMs; prints
 * "lst <cmd>: out of memory: ..." and returns -1 if the address space for
 * them is not free (blas_buffers.c). 0 otherwise, and for --help. */
int lst_cli_reserve(int argc, char **argv);

/* Prints "lst <cmd>: <msg>" to stderr. */
void lst_cli_error(const char *cmd, const char *msg);

#endif
