/* args.c: strict "--name value" option parsing shared by all subcommands. */
#include "cli.h"

#include "../model/methods.h"
#include "../model/peft.h"

#include <errno.h>
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

int lst_opt_int(const char *cmd, const char *name, const char *s, long lo,
                long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) {
        fprintf(stderr, "lst %s: --%s: '%s' is not an integer\n", cmd, name, s);
        return -1;
    }
    if (v < lo || v > hi) {
        fprintf(stderr, "lst %s: --%s: %ld is outside [%ld, %ld]\n", cmd, name,
                v, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int lst_opt_float(const char *cmd, const char *name, const char *s, double lo,
                  double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) {
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

int lst_opt_layers(const char *cmd, const char *name, const char *s, int max, int *keep, int *n) {
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v >= max || *n >= max || (*end && *end != ',') ||
            (*end == ',' && !end[1])) {
            fprintf(stderr, "lst %s: --%s '%s': expected comma-separated layer indices "
                    "(e.g. 1,2,3,5), each in 0..%d\n", cmd, name, s, max - 1);
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

int lst_opt_method_check(const char *cmd, const lst_opt_t *opts, int n, const char *method) {
    int mode;
    const int side = lst_method_side_mode(method, &mode) == 0;
    const char *side_only[] = {"r", "side-layers", "encoder-side-layers", "decoder-side-layers",
                               "init", "fisher-samples", "backbone-dtype"};
    for (size_t i = 0; i < sizeof side_only / sizeof side_only[0]; i++)
        if (!side && lst_opt(opts, n, side_only[i])) {
            fprintf(stderr, "lst %s: --%s applies to the side-network methods, not to %s\n", cmd,
                    side_only[i], method);
            return 2;
        }
    if (lst_opt(opts, n, "freeze-layers") && (side || !strcmp(method, "prompt"))) {
        fprintf(stderr, "lst %s: --freeze-layers applies to full, adapters, lora and bitfit, not to "
                        "%s\n", cmd, method);
        return 2;
    }
    const char *only[][2] = {{"adapter-dim", "adapters"}, {"lora-rank", "lora"}, {"prompt-len", "prompt"}};
    for (int i = 0; i < 3; i++)
        if (lst_opt(opts, n, only[i][0]) && strcmp(method, only[i][1])) {
            fprintf(stderr, "lst %s: --%s applies to --method %s only\n", cmd, only[i][0],
                    only[i][1]);
            return 2;
        }
    return 0;
}
