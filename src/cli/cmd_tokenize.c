/* cmd_tokenize.c: `lst tokenize --spm FILE [--decode]`.
 *
 * Encode (default): each stdin line (UTF-8, any length, trailing "\n" and
 * a "\r" before it stripped) becomes one line of space-separated T5 ids,
 * EOS included. Decode: each stdin line of space-separated ids becomes one
 * line of text. The first bad line stops the run with exit 1 and a message
 * naming its line number. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "../io/tokenizer.h"

static const char *CMD = "tokenize";

/* Parses "12 5 1" into ids (grown as needed). Returns the count, or -1
 * with err naming the bad token. Spaces and tabs separate ids. */
static int parse_ids(const char *line, int32_t **ids, size_t *cap, lst_err_t *err) {
    int n = 0;
    const char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) return n;
        const char *start = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        int len = (int)(p - start);
        /* Only plain decimal digits, optionally negative (reported as out
         * of range by the decoder rather than as malformed). */
        const char *d = start + (*start == '-');
        int ok = d < p;
        for (const char *c = d; c < p; c++)
            if (*c < '0' || *c > '9') ok = 0;
        long v = 0;
        if (ok) {
            errno = 0;
            char *end;
            v = strtol(start, &end, 10);
            if (errno || end != p || v < INT32_MIN || v > INT32_MAX) ok = 0;
        }
        if (!ok)
            return lst_fail(err, "'%.*s' is not a token id", len > 40 ? 40 : len, start);
        if ((size_t)n == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            int32_t *grown = realloc(*ids, nc * sizeof **ids);
            if (!grown) return lst_fail(err, "out of memory");
            *ids = grown;
            *cap = nc;
        }
        if (n == INT_MAX) return lst_fail(err, "too many ids on one line");
        (*ids)[n++] = (int32_t)v;
    }
}

static int encode_line(const lst_tokenizer_t *tok, const char *line, size_t len,
                       lst_err_t *err) {
    int32_t *ids = NULL;
    int n = 0;
    if (lst_tokenizer_encode(tok, line, len, &ids, &n, err) != 0) return -1;
    for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
    putchar('\n');
    free(ids);
    return 0;
}

static int decode_line(const lst_tokenizer_t *tok, const char *line, size_t len,
                       int32_t **ids, size_t *cap, lst_err_t *err) {
    if (memchr(line, 0, len)) return lst_fail(err, "NUL byte in id line");
    int n = parse_ids(line, ids, cap, err);
    if (n < 0) return -1;
    char *text = NULL;
    if (lst_tokenizer_decode(tok, *ids, n, &text, err) != 0) return -1;
    fputs(text, stdout);
    putchar('\n');
    free(text);
    return 0;
}

int lst_cmd_tokenize(int argc, char **argv) {
    lst_opt_t opts[] = {
        {"spm", 0, 1, "SentencePiece model (e.g. data/t5/spiece.model)", NULL},
        {"decode", 1, 0, "read lines of ids and print the decoded text", NULL},
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);
    int rc = lst_args_parse(CMD, "--spm FILE [--decode]  < input", opts, n_opts, argc, argv);
    if (rc == 1) return 0;
    if (rc != 0) return 2;
    const char *spm = lst_opt(opts, n_opts, "spm");
    int decode = lst_opt(opts, n_opts, "decode") != NULL;

    if (lst_cli_stdin_ok(CMD)) return 1;
    lst_err_t err = {{0}};
    lst_tokenizer_t *tok = lst_tokenizer_load(spm, &err);
    if (!tok) {
        lst_cli_error(CMD, err.msg);
        return 1;
    }

    char *line = NULL;
    size_t line_cap = 0;
    int32_t *ids = NULL;
    size_t ids_cap = 0;
    long lineno = 0;
    ssize_t got;
    int status = 0, out_lost = 0;
    errno = 0;
    while ((got = getline(&line, &line_cap, stdin)) >= 0) {
        lineno++;
        size_t len = (size_t)got;
        if (len && line[len - 1] == '\n') len--;
        if (len && line[len - 1] == '\r') len--;
        line[len] = 0;
        int r = decode ? decode_line(tok, line, len, &ids, &ids_cap, &err)
                       : encode_line(tok, line, len, &err);
        if (r == 0 && ferror(stdout)) { /* output lost: reported as stdout closes */
            out_lost = 1;
            break;
        }
        if (r != 0) {
            fflush(stdout);
            fprintf(stderr, "lst %s: stdin line %ld: %s\n", CMD, lineno, err.msg);
            status = 1;
            break;
        }
    }
    if (status == 0 && !out_lost && lst_cli_stdin_done(CMD, lineno)) status = 1;
    /* stdout itself is checked as main closes it (lst_cli_close_stdout) */
    free(line);
    free(ids);
    lst_tokenizer_free(tok);
    return status;
}
