/* args.c: strict "--name value" option parsing shared by all subcommands. */
#include "cli.h"

#include "../io/glue.h"
#include "../io/t5_config.h"
#include "../model/methods.h"
#include "../model/methods.h"
#include "../model/t5/presets.h"
#include "../model/side.h"
#include "../train/tapcache.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lst_cli_error(const char *cmd, const char *msg) {
    fprintf(stderr, "lst %s: %s\n", cmd, msg);
}

static void print_usage(FILE *out, const char *cmd, const char *usage,
                        const lst_opt_t *opts, int n) {
    fprintf(out, "usage: lst %s %s\n", cmd, usage);
    for (int i = 0; i < n; i++)
        fprintf(out, "  --%-21s %s%s\n", opts[i].name, opts[i].help,
                opts[i].required ? " (required)" : "");
}

int lst_args_parse(const char *cmd, const char *usage, lst_opt_t *opts, int n,
                   int argc, char **argv) {
    for (int i = 0; i < n; i++) opts[i].value = NULL;
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            print_usage(stdout, cmd, usage, opts, n);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == 0) {
            fprintf(stderr, "lst %s: unexpected argument '%s'\n", cmd, arg);
            print_usage(stderr, cmd, usage, opts, n);
            return 2;
        }
        const char *name = arg + 2;
        int found = -1;
        for (int i = 0; i < n; i++)
            if (!strcmp(opts[i].name, name)) found = i;
        if (found < 0) {
            fprintf(stderr, "lst %s: unknown option '%s'\n", cmd, arg);
            print_usage(stderr, cmd, usage, opts, n);
            return 2;
        }
        if (opts[found].value) {
            fprintf(stderr, "lst %s: option '%s' given twice\n", cmd, arg);
            return 2;
        }
        if (opts[found].is_flag) {
            opts[found].value = "1";
        } else {
            if (a + 1 >= argc) {
                fprintf(stderr, "lst %s: option '%s' needs a value\n", cmd, arg);
                return 2;
            }
            opts[found].value = argv[++a];
        }
    }
    for (int i = 0; i < n; i++) {
        if (opts[i].required && !opts[i].value) {
            fprintf(stderr, "lst %s: missing required option '--%s'\n", cmd,
                    opts[i].name);
            print_usage(stderr, cmd, usage, opts, n);
            return 2;
        }
    }
    return 0;
}

const char *lst_opt(const lst_opt_t *opts, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(opts[i].name, name)) return opts[i].value;
    return NULL;
}

/* The whole of s as a decimal integer: optional '-', then digits only (no
 * spaces, no '+', which strtoll would take). -1 if it is not one or does
 * not fit 64 bits. */
static int parse_ll(const char *s, long long *v) {
    const char *d = s + (*s == '-');
    if (*d < '0' || *d > '9') return -1;
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return errno || *end ? -1 : 0;
}

static int not_int(const char *cmd, const char *name, const char *s) {
    fprintf(stderr, "lst %s: --%s: '%s' is not an integer\n", cmd, name, s);
    return -1;
}

int lst_opt_i64(const char *cmd, const char *name, const char *s, int64_t lo, int64_t hi,
                int64_t *out) {
    long long v;
    if (parse_ll(s, &v)) return not_int(cmd, name, s);
    if (v < lo || v > hi) {
        fprintf(stderr, "lst %s: --%s: %lld is outside [%lld, %lld]\n", cmd, name, v,
                (long long)lo, (long long)hi);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

int lst_opt_i32(const char *cmd, const char *name, const char *s, int lo, int hi, int *out) {
    int64_t v;
    if (lst_opt_i64(cmd, name, s, lo, hi, &v)) return -1;
    *out = (int)v;
    return 0;
}

int lst_opt_u64(const char *cmd, const char *name, const char *s, uint64_t lo, uint64_t hi,
                uint64_t *out) {
    /* every unsigned option lst has fits int64 (seeds: JSON-exact 2^47) */
    if (hi > INT64_MAX) hi = INT64_MAX;
    int64_t v;
    if (lst_opt_i64(cmd, name, s, (int64_t)lo, (int64_t)hi, &v)) return -1;
    *out = (uint64_t)v;
    return 0;
}

int lst_opt_bytes(const char *cmd, const char *name, const char *s, int64_t *out) {
    char *end;
    errno = 0;
    const double v = (*s >= '0' && *s <= '9') || *s == '.' ? strtod(s, &end) : NAN;
    double mul = 1;
    if (isfinite(v) && !errno) {
        if (*end == 'K' || *end == 'k') mul = 1024.0;
        else if (*end == 'M' || *end == 'm') mul = 1048576.0;
        else if (*end == 'G' || *end == 'g') mul = 1073741824.0;
        if (mul > 1) end++;
    }
    const double b = v * mul;
    if (!isfinite(v) || errno || *end || b > 9e18) {
        fprintf(stderr, "lst %s: --%s: '%s' is not a size in bytes (e.g. 4G, 512M, 100000)\n",
                cmd, name, s);
        return -1;
    }
    if (b < 1 || b != floor(b)) {
        fprintf(stderr, "lst %s: --%s: '%s' is %g bytes; give a whole number of bytes, at "
                        "least 1 (suffix K, M or G)\n", cmd, name, s, b);
        return -1;
    }
    *out = (int64_t)b;
    return 0;
}

int lst_opt_float(const char *cmd, const char *name, const char *s, double lo,
                  double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* strtod skips leading spaces; nothing else here does */
    if (errno || end == s || *end || !isfinite(v) || *s == ' ' || (*s >= '\t' && *s <= '\r')) {
        fprintf(stderr, "lst %s: --%s: '%s' is not a number\n", cmd, name, s);
        return -1;
    }
    if (v < lo || v > hi) {
        fprintf(stderr, "lst %s: --%s: %g is outside [%g, %g]\n", cmd, name, v,
                lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* "each in 0..N" when the depth is known */
static void depth_note(char *buf, size_t n, int max) {
    if (max == INT_MAX) snprintf(buf, n, "each a layer index");
    else snprintf(buf, n, "each in 0..%d", max - 1);
}

static int parse_layers(const char *cmd, const char *name, const char *s, int max, int *keep,
                        int *n) {
    char within[48];
    depth_note(within, sizeof within, max);
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end = (char *)p;
        errno = 0;
        long v = *p >= '0' && *p <= '9' ? strtol(p, &end, 10) : -1;
        if (v >= max && !errno && (!*end || (*end == ',' && end[1]))) {
            fprintf(stderr, "lst %s: --%s '%s': side layer %ld is outside the backbone's 0..%d\n",
                    cmd, name, s, v, max - 1);
            return -1;
        }
        if (v < 0 || errno || *n >= max || (*end && *end != ',') || (*end == ',' && !end[1])) {
            fprintf(stderr, "lst %s: --%s '%s': expected comma-separated layer indices "
                    "(e.g. 1,2,3,5), %s\n", cmd, name, s, within);
            return -1;
        }
        if (*n && v <= keep[*n - 1]) {
            fprintf(stderr, "lst %s: --%s '%s': layer %ld %s; give each layer once, in "
                    "ascending order\n", cmd, name, s, v,
                    v == keep[*n - 1] ? "is given twice" : "comes after a higher one");
            return -1;
        }
        keep[(*n)++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (!*n) {
        fprintf(stderr, "lst %s: --%s: no layers given\n", cmd, name);
        return -1;
    }
    return 0;
}

int lst_opt_layers(const char *cmd, const char *name, const char *s, int max, lst_side_opts_t *o,
                   int st) {
    size_t cap = 1; /* at most one index per comma-separated field */
    for (const char *p = s; *p; p++) cap += *p == ',';
    lst_err_t err;
    int n, *keep = lst_malloc(cap, sizeof *keep, &err);
    if (!keep) {
        fprintf(stderr, "lst %s: %s\n", cmd, err.msg);
        return -1;
    }
    int rc = parse_layers(cmd, name, s, max, keep, &n);
    if (!rc && lst_side_opts_set(o, st, keep, n, &err)) {
        fprintf(stderr, "lst %s: %s\n", cmd, err.msg);
        rc = -1;
    }
    free(keep);
    return rc;
}

int lst_cli_model_layers(const char *model, int *enc, int *dec) {
    lst_t5_config_t c;
    lst_err_t err;
    if (lst_preset_config(model, &c, &err)) {
        char path[4200];
        if (snprintf(path, sizeof path, "%s/config.json", model) >= (int)sizeof path ||
            lst_t5_config_load(&c, path, &err))
            return -1;
    }
    *enc = c.num_layers;
    *dec = c.num_decoder_layers;
    return 0;
}

int lst_opt_task(const char *cmd, const char *task) {
    if (!strcmp(task, "custom") || lst_task_find(task)) return 0;
    fprintf(stderr, "lst %s: unknown task '%s' (", cmd, task);
    for (int i = 0; i < lst_task_count(); i++) fprintf(stderr, "%s, ", lst_task_at(i)->name);
    fprintf(stderr, "or custom)\n");
    return 2;
}

int lst_opt_dtype(const char *cmd, const char *s, lst_wformat_t *out) {
    if (!lst_wformat_parse(s, out)) return 0;
    fprintf(stderr, "lst %s: --backbone-dtype must be one of %s, not '%s'\n", cmd,
            lst_wformat_dtypes(), s);
    return 2;
}

int lst_opt_tap_dtype(const char *cmd, const char *s, int *out) {
    const int dt = lst_tc_dtype_parse(s);
    if (dt >= 0) {
        *out = dt;
        return 0;
    }
    fprintf(stderr, "lst %s: --tap-cache-dtype must be f32, bf16 or f16, not '%s'\n", cmd, s);
    return 2;
}

int lst_opt_method_known(const char *cmd, const char *what, const char *v) {
    if (v && strlen(v) < sizeof ((lst_method_t *)0)->name && lst_method_info(v)) return 0;
    fprintf(stderr, "lst %s: unknown %s '%s' (%s)\n", cmd, what, v ? v : "", lst_method_names());
    return 2;
}

/* "full, adapters, lora and bitfit": the registered methods taking bit. */
static void methods_with(unsigned bit, char *buf, size_t cap) {
    int n = 0, total = 0;
    for (int i = 0; lst_method_at(i); i++) total += !!(lst_method_at(i)->options & bit);
    buf[0] = 0;
    for (int i = 0; lst_method_at(i); i++) {
        if (!(lst_method_at(i)->options & bit)) continue;
        const char *sep = n == 0 ? "" : n == total - 1 ? " and " : ", ";
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", sep, lst_method_at(i)->name);
        n++;
    }
}

int lst_opt_method_check(const char *cmd, const lst_opt_t *opts, int n, const char *method) {
    static const struct {
        const char *opt;
        unsigned bit;
    } rules[] = {{"r", LST_MOPT_SIDE},           {"side-layers", LST_MOPT_SIDE},
                 {"encoder-side-layers", LST_MOPT_SIDE}, {"decoder-side-layers", LST_MOPT_SIDE},
                 {"init", LST_MOPT_SIDE},        {"fisher-samples", LST_MOPT_SIDE},
                 {"backbone-dtype", LST_MOPT_SIDE}, {"freeze-layers", LST_MOPT_FREEZE},
                 {"adapter-dim", LST_MOPT_ADAPTER_DIM}, {"lora-rank", LST_MOPT_LORA_RANK},
                 {"prompt-len", LST_MOPT_PROMPT_LEN}};
    const lst_method_info_t *m = lst_method_info(method);
    const unsigned takes = m ? m->options : 0;
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        if (!lst_opt(opts, n, rules[i].opt) || (takes & rules[i].bit)) continue;
        char who[160];
        methods_with(rules[i].bit, who, sizeof who);
        if (rules[i].bit == LST_MOPT_SIDE)
            fprintf(stderr, "lst %s: --%s applies to the side-network methods, not to %s\n", cmd,
                    rules[i].opt, method);
        else if (!strchr(who, ' '))
            fprintf(stderr, "lst %s: --%s applies to --method %s only\n", cmd, rules[i].opt, who);
        else
            fprintf(stderr, "lst %s: --%s applies to %s, not to %s\n", cmd, rules[i].opt, who, method);
        return 2;
    }
    return 0;
}
