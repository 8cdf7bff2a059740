/* test_layers.c: the source tree's include graph follows the layers of
 * docs/architecture.md: core -> io, ops -> model -> train -> report -> cli.
 * A file may include its own layer or a lower one, never a higher one; io
 * and ops are siblings and include neither each other; and no chain of
 * quoted includes leads back to the file it started from. And no function
 * body in src/ runs over MAX_FN_LINES lines (functions short enough to
 * read, the architecture issue). Reads src/ as text (the suite runs from
 * the repository root). */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../src/core/fileio.h"
#include "test.h"

#define MAX_FILES 512
#define MAX_EDGES 4096

typedef struct {
    char path[PATH_MAX]; /* "src/model/t5.c", normalised */
    int layer;           /* index into layer_names, -1: unknown */
} file_t;

static const char *const layer_names[] = {"core", "io", "ops", "model", "train", "report", "cli"};
static const int layer_rank[] = {0, 1, 1, 2, 3, 4, 5};

static file_t files[MAX_FILES];
static int n_files;
static int edge_from[MAX_EDGES], edge_to[MAX_EDGES], n_edges;

static int layer_of(const char *path) {
    char name[64];
    if (sscanf(path, "src/%63[^/]/", name) != 1) return -1;
    for (size_t i = 0; i < sizeof layer_names / sizeof layer_names[0]; i++)
        if (!strcmp(name, layer_names[i])) return (int)i;
    return -1;
}

static int is_source(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcmp(dot, ".c") || !strcmp(dot, ".h") || !strcmp(dot, ".cc"));
}

static void walk(const char *dir) {
    DIR *d = opendir(dir);
    CHECK(d != NULL, "cannot open %s (run the suite from the repository root)", dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            walk(p);
        } else if (is_source(e->d_name) && n_files < MAX_FILES) {
            snprintf(files[n_files].path, sizeof files[n_files].path, "%s", p);
            files[n_files].layer = layer_of(p);
            n_files++;
        }
    }
    closedir(d);
}

/* dir + "/" + rel with "." and ".." segments folded. */
static void join_norm(char *out, size_t cap, const char *dir, const char *rel) {
    char buf[2 * PATH_MAX], *seg[256];
    int n = 0;
    snprintf(buf, sizeof buf, "%s/%s", dir, rel);
    for (char *s = strtok(buf, "/"); s && n < 256; s = strtok(NULL, "/")) {
        if (!strcmp(s, ".")) continue;
        if (!strcmp(s, "..") && n > 0) n--;
        else seg[n++] = s;
    }
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        strncat(out, seg[i], cap - strlen(out) - 1);
        if (i + 1 < n) strncat(out, "/", cap - strlen(out) - 1);
    }
}

static int find_file(const char *path) {
    for (int i = 0; i < n_files; i++)
        if (!strcmp(files[i].path, path)) return i;
    return -1;
}

static void read_edges(int from) {
    FILE *f = fopen(files[from].path, "r");
    CHECK(f != NULL, "cannot read %s", files[from].path);
    if (!f) return;
    char dir[PATH_MAX], line[1024], inc[PATH_MAX], target[PATH_MAX];
    memcpy(dir, files[from].path, sizeof dir);
    *strrchr(dir, '/') = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, " #include \"%1023[^\"]\"", inc) != 1) continue;
        join_norm(target, sizeof target, dir, inc);
        const int to = find_file(target);
        CHECK(to >= 0, "%s includes \"%s\", which is not a file under src/", files[from].path, inc);
        if (to < 0 || n_edges >= MAX_EDGES) continue;
        edge_from[n_edges] = from;
        edge_to[n_edges] = to;
        n_edges++;
    }
    fclose(f);
}

/* Depth-first search for a cycle through file i; state 1 = on the stack. */
static int on_cycle(int i, int *state, int *stack, int depth, char *trail, size_t cap) {
    state[i] = 1;
    stack[depth] = i;
    for (int e = 0; e < n_edges; e++) {
        if (edge_from[e] != i) continue;
        const int j = edge_to[e];
        if (state[j] == 1) {
            trail[0] = 0;
            for (int k = 0; k <= depth; k++) {
                strncat(trail, files[stack[k]].path, cap - strlen(trail) - 1);
                strncat(trail, " -> ", cap - strlen(trail) - 1);
            }
            strncat(trail, files[j].path, cap - strlen(trail) - 1);
            return 1;
        }
        if (state[j] == 0 && on_cycle(j, state, stack, depth + 1, trail, cap)) return 1;
    }
    state[i] = 2;
    return 0;
}

TEST(include_graph_follows_the_layers) {
    n_files = n_edges = 0;
    walk("src");
    CHECK(n_files > 50, "only %d source files found under src/", n_files);
    for (int i = 0; i < n_files; i++) {
        CHECK(files[i].layer >= 0, "%s is in no known layer (core, io, ops, model, train, report, cli)",
              files[i].path);
        read_edges(i);
    }
    int bad = 0;
    for (int e = 0; e < n_edges; e++) {
        const file_t *a = &files[edge_from[e]], *b = &files[edge_to[e]];
        if (a->layer < 0 || b->layer < 0 || a->layer == b->layer) continue;
        const int up = layer_rank[b->layer] > layer_rank[a->layer];
        const int sibling = layer_rank[b->layer] == layer_rank[a->layer];
        if (up || sibling) bad++;
        CHECK(!up, "upward include: %s (%s) includes %s (%s)", a->path, layer_names[a->layer],
              b->path, layer_names[b->layer]);
        CHECK(!sibling, "sibling include: %s (%s) includes %s (%s)", a->path,
              layer_names[a->layer], b->path, layer_names[b->layer]);
    }
    const size_t nf = n_files > 0 ? (size_t)n_files : 1;
    int *state = calloc(nf, sizeof *state), *stack = calloc(nf, sizeof *stack);
    char trail[8192];
    for (int i = 0; state && stack && i < n_files; i++)
        if (state[i] == 0 && on_cycle(i, state, stack, 0, trail, sizeof trail)) {
            CHECK(0, "include cycle: %s", trail);
            break;
        }
    free(state);
    free(stack);
    CHECK(bad == 0, "%d includes break the layering", bad);
}

/* ---- function lengths ---------------------------------------------------- */
#define MAX_FN_LINES 120

/* Blanks comments and string/char literals of text in place (newlines kept),
 * so that braces and semicolons inside them do not count. */
static void blank_comments(char *t) {
    for (char *p = t; *p; p++) {
        if (p[0] == '/' && p[1] == '*') {
            for (; *p && !(p[0] == '*' && p[1] == '/'); p++)
                if (*p != '\n') *p = ' ';
            if (*p) p[0] = p[1] = ' ', p++;
        } else if (p[0] == '/' && p[1] == '/') {
            for (; *p && *p != '\n'; p++) *p = ' ';
            if (!*p) break;
        } else if (*p == '"' || *p == '\'') {
            const char q = *p;
            for (p++; *p && *p != q && *p != '\n'; p++) {
                if (*p == '\\' && p[1]) *p++ = ' ';
                *p = ' ';
            }
            if (!*p) break;
        }
    }
}

/* The longest function body of a C file: its line count, where it starts
 * (line) and its header's first characters. Preprocessor lines are skipped;
 * a '{' at depth 0 opens a function when the text since the last ';' or '}'
 * has a '(' with no '=' before it (not an initialiser). */
static int longest_function(const char *path, int *at, char *name, size_t cap) {
    size_t len = 0;
    lst_err_t err;
    char *t = lst_read_file(path, (size_t)8 << 20, &len, &err);
    CHECK(t != NULL, "%s: %s", path, t ? "" : err.msg);
    if (!t) return 0;
    blank_comments(t);
    int depth = 0, line = 1, start = 0, best = 0, is_fn = 0, bol = 1;
    char cur[128] = "?";
    const char *hdr = t;
    for (char *p = t; *p; p++) {
        if (bol && *p == '#')
            while (p[1] && p[1] != '\n') p++;
        bol = *p == '\n';
        if (*p == '\n') line++;
        if (depth == 0 && (*p == ';' || *p == '}')) hdr = p + 1;
        if (*p == '{' && depth++ == 0) {
            const char *paren = memchr(hdr, '(', (size_t)(p - hdr));
            const char *eq = memchr(hdr, '=', (size_t)(p - hdr));
            is_fn = paren && (!eq || eq > paren);
            start = line;
            if (is_fn) {
                while (*hdr == ' ' || *hdr == '\n') hdr++;
                const size_t n = (size_t)(paren - hdr) < sizeof cur - 1 ? (size_t)(paren - hdr)
                                                                         : sizeof cur - 1;
                memcpy(cur, hdr, n);
                cur[n] = 0;
            }
        } else if (*p == '}' && --depth == 0) {
            if (is_fn && line - start + 1 > best) {
                best = line - start + 1;
                *at = start;
                snprintf(name, cap, "%s", cur);
            }
            hdr = p + 1;
        }
    }
    free(t);
    return best;
}

TEST(no_function_is_too_long_to_read) {
    n_files = n_edges = 0;
    walk("src");
    int checked = 0, worst = 0;
    for (int i = 0; i < n_files; i++) {
        const char *dot = strrchr(files[i].path, '.');
        if (!dot || strcmp(dot, ".c")) continue;
        int at = 0;
        char name[128] = "?";
        const int n = longest_function(files[i].path, &at, name, sizeof name);
        checked++;
        if (n > worst) worst = n;
        CHECK(n <= MAX_FN_LINES, "%s:%d: %s is %d lines long (at most %d)", files[i].path, at, name,
              n, MAX_FN_LINES);
    }
    CHECK(checked > 50 && worst > 20, "only %d C files, longest %d lines: the scan is broken",
          checked, worst);
}
