/* fuzz_glue.c: the text data loaders, then tokenization and batching of
 * what they accept (src/train/data.c).
 *
 * The first input byte picks the loader: custom .tsv, custom .jsonl, or one
 * of the eight GLUE tasks. The rest is split at "\n#SPLIT#\n" into the
 * task's train.tsv, dev.tsv (MNLI: dev_mismatched.tsv, then
 * dev_matched.tsv) and paper_splits.json; a missing dev file repeats train,
 * and a missing split file is made up to agree with the row counts (so the
 * split code is reached, not just its row-count check).
 *
 * Accepted data must be non-empty UTF-8 text; it is then tokenized with
 * data/t5/spiece.model (loaded once) and cut into a batch. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/io/glue.h"
#include "../src/io/tokenizer.h"
#include "../src/io/tsv.h"
#include "../src/train/data.h"
#include "fuzz_util.h"

static lst_tokenizer_t *g_tok;
static char g_root[512];

static const char *const k_dirs[] = {"CoLA", "SST-2", "MRPC", "QQP", "MNLI", "QNLI", "RTE", "STS-B"};
static const char *const k_names[] = {"cola", "sst2", "mrpc", "qqp", "mnli", "qnli", "rte", "stsb"};
static const char SEP[] = "\n#SPLIT#\n";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fz_one_thread();
    const char *spm = getenv("LST_FUZZ_SPM") ? getenv("LST_FUZZ_SPM") : "data/t5/spiece.model";
    lst_err_t err = {{0}};
    if (!(g_tok = lst_tokenizer_load(spm, &err))) {
        fprintf(stderr, "fuzz_glue: %s (run from the repository root)\n", err.msg);
        exit(1);
    }
    snprintf(g_root, sizeof g_root, "%s", fz_path("glue"));
    fz_mkdir(g_root);
    for (int i = 0; i < 8; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", g_root, k_dirs[i]);
        fz_mkdir(p);
    }
    fz_quiet(0);
    return 0;
}

/* Data rows of a TSV part: lines (a final one without "\n" included), less
 * the header line for tasks that have one. */
static int rows(const char *s, size_t n, int header) {
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += s[i] == '\n';
    if (n && s[n - 1] != '\n') lines++;
    return lines > header ? lines - header : 0;
}

static void check_dataset(const lst_dataset_t *d) {
    FZ_CHECK(d->n > 0 && d->ex, "empty dataset accepted");
    for (int i = 0; i < d->n; i++) {
        FZ_CHECK(d->ex[i].source && d->ex[i].target, "example %d lacks text", i);
        FZ_CHECK(lst_utf8_valid(d->ex[i].source, strlen(d->ex[i].source)) &&
                     lst_utf8_valid(d->ex[i].target, strlen(d->ex[i].target)),
                 "example %d is not UTF-8", i);
    }
}

/* Tokenizes d and makes a batch of (up to) its first 4 examples. */
static void tokenize(const lst_dataset_t *d, int max_src, int max_tgt) {
    lst_tokdata_t td;
    lst_err_t err = {{0}};
    FZ_CHECK(lst_tokdata_build(&td, d, g_tok, max_src, max_tgt, &err) == 0, "%s", err.msg);
    FZ_CHECK(td.n == d->n, "count");
    for (int i = 0; i < td.n; i++) {
        FZ_CHECK(td.src_len[i] >= 1 && td.tgt_len[i] >= 1, "empty ids");
        FZ_CHECK(td.src[i][td.src_len[i] - 1] == 1, "source %d does not end with EOS", i);
        if (max_src > 0) FZ_CHECK(td.src_len[i] <= max_src, "source %d not truncated", i);
    }
    int order[4], B = td.n < 4 ? td.n : 4;
    lst_epoch_order(order, B, 7, 1);
    lst_padded_batch_t b;
    FZ_CHECK(lst_batch_make(&b, &td, order, B, 0, &err) == 0, "%s", err.msg);
    lst_batch_release(&b);
    lst_tokdata_free(&td);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int mode = data[0] % 10;
    const int max_src = data[0] / 10 % 8; /* 0: no truncation, else 2..8 */
    const char *text = (const char *)data + 1;
    const size_t n = size - 1;
    lst_err_t err = {{0}};
    if (mode < 2) {
        const char *path = fz_path(mode ? "custom.jsonl" : "custom.tsv");
        fz_write(path, text, n);
        lst_dataset_t d;
        if (lst_custom_load(path, &d, &err) == 0) {
            check_dataset(&d);
            tokenize(&d, max_src ? max_src + 1 : 0, max_src ? max_src + 1 : 0);
        } else {
            FZ_CHECK_MSG(err);
            FZ_CHECK(strstr(err.msg, path), "message does not name the file: %s", err.msg);
        }
        lst_dataset_free(&d);
        return 0;
    }

    const int task = mode - 2;
    const char *part[3] = {text, NULL, NULL};
    size_t len[3] = {n, 0, 0};
    int np = 1;
    while (np < 3) {
        const char *s = memmem(part[np - 1], len[np - 1], SEP, sizeof SEP - 1);
        if (!s) break;
        part[np] = s + sizeof SEP - 1;
        len[np] = len[np - 1] - (size_t)(part[np] - part[np - 1]);
        len[np - 1] = (size_t)(s - part[np - 1]);
        np++;
    }
    if (np < 2) part[1] = part[0], len[1] = len[0];
    char p[700];
    snprintf(p, sizeof p, "%s/%s/train.tsv", g_root, k_dirs[task]);
    fz_write(p, part[0], len[0]);
    const int header = task != 0; /* CoLA has none */
    const int train_rows = rows(part[0], len[0], header), dev_rows = rows(part[1], len[1], header);
    if (task == 4) { /* MNLI: no split file */
        snprintf(p, sizeof p, "%s/MNLI/dev_mismatched.tsv", g_root);
        fz_write(p, part[1], len[1]);
        snprintf(p, sizeof p, "%s/MNLI/dev_matched.tsv", g_root);
        if (np > 2) fz_write(p, part[2], len[2]);
        else fz_write(p, part[1], len[1]);
    } else {
        snprintf(p, sizeof p, "%s/%s/dev.tsv", g_root, k_dirs[task]);
        fz_write(p, part[1], len[1]);
        snprintf(p, sizeof p, "%s/paper_splits.json", g_root);
        if (np > 2) {
            fz_write(p, part[2], len[2]);
        } else {
            /* small tasks cut dev in two, large ones take validation from train */
            static char js[1 << 16];
            int large = task == 1 || task == 3 || task == 5, k;
            if (large)
                k = snprintf(js, sizeof js, "{\"%s\": {\"train_rows\": %d, \"validation_train_rows\": [%d]}}",
                             k_names[task], train_rows, train_rows > 1 ? train_rows - 1 : 0);
            else {
                k = snprintf(js, sizeof js, "{\"%s\": {\"dev_rows\": %d, \"dev_permutation\": [",
                             k_names[task], dev_rows);
                for (int i = dev_rows - 1; i >= 0 && k < (int)sizeof js - 32; i--)
                    k += snprintf(js + k, sizeof js - k, "%d%s", i, i ? ", " : "");
                k += snprintf(js + k, sizeof js - k, "]}}");
            }
            fz_write(p, js, (size_t)k < sizeof js ? (size_t)k : sizeof js - 1);
        }
    }
    lst_splits_t s;
    if (lst_glue_load(k_names[task], g_root, NULL, data[0] / 10 % 2, &s, &err) == 0) {
        FZ_CHECK(s.task && !strcmp(s.task->name, k_names[task]), "task");
        check_dataset(&s.train);
        check_dataset(&s.validation);
        check_dataset(&s.test);
        for (int i = 0; i < s.train.n; i++)
            FZ_CHECK(s.task->n_labels == 0 || lst_task_label_index(s.task, s.train.ex[i].target) >= 0,
                     "target '%s' is not a label", s.train.ex[i].target);
        tokenize(&s.train, max_src ? max_src + 1 : 0, 0);
        lst_splits_free(&s);
    } else {
        FZ_CHECK_MSG(err);
    }
    return 0;
}
