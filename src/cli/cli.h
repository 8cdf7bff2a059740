/* cli.h: subcommands and the shared option parser.
 *
 * Each subcommand lives in its own cmd_<name>.c and has the signature
 * int lst_cmd_<name>(int argc, char **argv) with argv[0] = the subcommand
 * name; it returns the process exit status (0 ok, 1 runtime error such as a
 * bad file, 2 usage error). Errors are printed as "lst <cmd>: message". */
#ifndef LST_CLI_H
#define LST_CLI_H

#include <stdint.h>

#include "../model/side.h"
#include "../ops/wformat.h"

int lst_cmd_init(int argc, char **argv);
int lst_cmd_tokenize(int argc, char **argv);
int lst_cmd_dump(int argc, char **argv);
int lst_cmd_train(int argc, char **argv);
int lst_cmd_eval(int argc, char **argv);
int lst_cmd_predict(int argc, char **argv);
int lst_cmd_plan(int argc, char **argv);
int lst_cmd_bench(int argc, char **argv);
int lst_cmd_params(int argc, char **argv);
int lst_cmd_quantize(int argc, char **argv);
int lst_cmd_compare(int argc, char **argv);
int lst_cmd_plot(int argc, char **argv);

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

/* Strict integer parsing into the type the value is stored in: the whole
 * string must be a decimal integer (no sign but '-', no spaces) within
 * [lo, hi]; otherwise prints "lst <cmd>: --name: ..." and returns -1. The
 * bounds have the destination's type, so a range wider than the field
 * (--checkpoint-every 2147483648 into an int once became negative, and
 * 4294967297 became 1) draws a compiler warning instead of wrapping.
 * LST_OPT_INT picks the function from the destination's type. */
int lst_opt_i32(const char *cmd, const char *name, const char *s, int lo, int hi, int *out);
int lst_opt_i64(const char *cmd, const char *name, const char *s, int64_t lo, int64_t hi,
                int64_t *out);
int lst_opt_u64(const char *cmd, const char *name, const char *s, uint64_t lo, uint64_t hi,
                uint64_t *out);
#define LST_OPT_INT(cmd, name, s, lo, hi, dst)                                              \
    _Generic(*(dst), int: lst_opt_i32, int64_t: lst_opt_i64, uint64_t: lst_opt_u64)(       \
        cmd, name, s, lo, hi, dst)

/* A byte count: a number with an optional K, M or G (binary) suffix, at
 * least 1 and a whole number of bytes (--max-memory 0.5 once meant "no
 * limit"). */
int lst_opt_bytes(const char *cmd, const char *name, const char *s, int64_t *out);

int lst_opt_float(const char *cmd, const char *name, const char *s, double lo,
                  double hi, double *out);

/* "1,2,5" -> strictly ascending layer indices in [0, max) (max INT_MAX:
 * the depth is not known here), the kept list of stack st of o (its own
 * copy: lst_side_opts_free); returns -1 (after printing "lst <cmd>: --<name>
 * ...") on anything else: a stray character, an index out of range, a
 * repeated or descending index (the side network refused those only after
 * the run was opened, exit 1). */
int lst_opt_layers(const char *cmd, const char *name, const char *s, int max, lst_side_opts_t *o,
                   int st);

/* The encoder and decoder layer counts of a --model value (a preset name
 * or a checkpoint directory's config.json), so that layer options are
 * checked before anything is opened; -1 if they cannot be read (the
 * command's own load then says why). */
int lst_cli_model_layers(const char *model, int *enc, int *dec);

/* Checks a --task value: a GLUE task or "custom"; prints and returns 2
 * otherwise. */
int lst_opt_task(const char *cmd, const char *task);

/* --backbone-dtype: a dtype of the weight-format table (ops/wformat.h:
 * fp32, bf16) into *out; 0, or 2 after a message listing the dtypes. */
int lst_opt_dtype(const char *cmd, const char *s, lst_wformat_t *out);
/* --tap-cache-dtype: f32, bf16 or f16 (train/tapcache.h) into *out; 0, or 2
 * after a message. */
int lst_opt_tap_dtype(const char *cmd, const char *s, int *out);

/* Options the given method does not take: side-network options (--r, the
 * side layers, --init, --fisher-samples, --backbone-dtype) with a baseline,
 * --freeze-layers with a side network or prompt tuning, and each baseline's
 * size option (--adapter-dim, --lora-rank, --prompt-len) with another
 * method. Prints "lst <cmd>: --<opt> applies to ..." and returns 2 for the
 * first one given; 0 if none. Options missing from the table are skipped. */
int lst_opt_method_check(const char *cmd, const lst_opt_t *opts, int n, const char *method);
/* 0 if v names a registered method; else prints "lst <cmd>: unknown <what>
 * '<v>' (the methods)" and returns 2. */
int lst_opt_method_known(const char *cmd, const char *what, const char *v);

/* A file lst ships (rel: "t5/spiece.model", "glue") found from the binary's
 * location (bundled.c); 0 with its path in out, -1 when none exists. */
int lst_cli_bundled(const char *rel, char *out, size_t cap);
/* The tokenizer to use: given (--spm), else <model>/spiece.model when the
 * model directory has one, else the bundled T5 tokenizer. 0, or 2 after
 * printing "lst <cmd>: ..." (none found, or a path too long). */
int lst_cli_tokenizer(const char *cmd, const char *given, const char *model, char *out, size_t cap);
/* The GLUE directory: given (--data), else the bundled one, else
 * "data/glue" (its loader names it when a GLUE task needs it). 0 or 2. */
int lst_cli_glue_dir(const char *cmd, const char *given, char *out, size_t cap);

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

/* The options plan and bench share (bench_opts.c); with_steps: --steps is
 * required. Returns 0, -1 after --help (exit 0), or the exit status. */
struct lst_bench_opts;
int lst_cli_bench_opts(const char *cmd, int argc, char **argv, int with_steps,
                       struct lst_bench_opts *o, int *json);

/* Prints "lst <cmd>: <msg>" to stderr. */
void lst_cli_error(const char *cmd, const char *msg);

/* stdio.c. Flushes and closes stdout after a command: a failed write
 * anywhere (stdout at /dev/full, a full disk, a file size limit) turns
 * status 0 into 1 with "lst <cmd>: error writing stdout: <reason>".
 * main calls it for every command. */
int lst_cli_close_stdout(const char *cmd, int status);

/* 0 if stdout has had no write error so far (after a fflush); otherwise
 * prints the error and returns -1, so that a long command stops early. */
int lst_cli_stdout_ok(const char *cmd);

/* Commands that read stdin: refuses a directory on stdin (reads from it
 * fail with EISDIR, which looked like an empty input); -1 after printing. */
int lst_cli_stdin_ok(const char *cmd);

/* After a command's stdin loop: -1 (after printing "error reading stdin
 * after line N") if the loop ended on a read error rather than at EOF. */
int lst_cli_stdin_done(const char *cmd, long lines);

#endif
