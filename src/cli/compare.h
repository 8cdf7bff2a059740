/* compare.h: the parts of `lst compare` (cmd_compare.c orchestrates):
 * compare_child.c runs this binary as a child and measures it (exit
 * status, wall time, peak RSS from wait4), compare_store.c keeps each
 * run's record (runs/M-sS/compare.json: commands, attempts, peaks). */
#ifndef LST_CLI_COMPARE_H
#define LST_CLI_COMPARE_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "../core/error.h"

/* ---- compare_child.c ---- */
typedef struct {
    int started; /* 0: could not fork */
    int status;  /* wait status */
    double rss_mib, wall_s;
} child_t;

/* argv as one shell-quoted line. */
void lst_cmp_join_args(const char *const *argv, char *buf, size_t cap);
/* Runs this binary with argv (argv[0] "lst"): stdout to out_path (or
 * /dev/null), stderr appended to err_path after a header line. */
void lst_cmp_run_child(const char *const *argv, const char *out_path, const char *err_path, child_t *res);
int lst_cmp_child_ok(const child_t *c);
/* "exited with status 3", "was killed by signal 9 (Killed)", ... */
void lst_cmp_describe(const child_t *c, char *buf, size_t cap);
/* The last `want` lines the child wrote into log from byte `from` on, to stderr. */
void lst_cmp_print_tail(const char *log, long from, int want);
long lst_cmp_file_size(const char *p);

/* ---- compare_store.c ---- */
cJSON *lst_cmp_read_json(const char *path, lst_err_t *err);
/* o[key] as a number, NAN when absent or not a number. */
double lst_cmp_num(const cJSON *o, const char *key);
void lst_cmp_set_num(cJSON *o, const char *key, double v);
void lst_cmp_set_str(cJSON *o, const char *key, const char *v);
/* Written atomically; a failure is printed, and returned. */
int lst_cmp_save_json(const cJSON *j, const char *path);
/* Appends {command, result, peak_rss_mib, wall_s} to the array o[key]. */
void lst_cmp_add_attempt(cJSON *o, const char *key, const char *cmd, const child_t *ch);

#endif
