/* rundir.c: see rundir.h. */
#include "rundir.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/fileio.h"

static const char *const own_files[] = {"run.json", "log.csv", "metrics.json",
                                        "checkpoint.safetensors", "side.safetensors",
                                        "tuned.safetensors", "adapter_config.json",
                                        "adapter_model.safetensors", "bitfit_biases.safetensors",
                                        "training.svg"};
#define N_OWN (int)(sizeof own_files / sizeof own_files[0])

void lst_rundir_path(char *buf, const char *dir, const char *name) {
    snprintf(buf, LST_PATH_MAX + 64, "%s/%s", dir, name);
}

const char *lst_rundir_trained_name(int backbone_method) {
    return backbone_method ? "tuned.safetensors" : "side.safetensors";
}

int lst_rundir_finished(const char *dir) {
    char p[LST_PATH_MAX + 64];
    lst_rundir_path(p, dir, "metrics.json");
    return access(p, F_OK) == 0;
}

void lst_rundir_clean_temps(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[LST_PATH_MAX + 300];
    while ((e = readdir(d)))
        for (int i = 0; i < N_OWN; i++)
            if (lst_is_own_temp(e->d_name, own_files[i])) {
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                unlink(path);
                break;
            }
    closedir(d);
}

int lst_rundir_write_metrics(const char *dir, const char *text, lst_err_t *err) {
    char p[LST_PATH_MAX + 64];
    lst_rundir_path(p, dir, "metrics.json");
    return lst_write_atomic(p, text, strlen(text), err);
}

/* ---- the step log ---------------------------------------------------------- */

static const char log_header[] = "step,epoch,loss,lr,grad_norm,elapsed_s,val_score\n";

/* A row as lst_runlog_row writes it: a step number, then six more fields
 * (five in the logs before val_score), and the newline (a row cut short by
 * a kill has none). */
static int row_step(const char *line, size_t len, int64_t *step) {
    size_t i = 0, commas = 0;
    int64_t v = 0;
    while (i < len && line[i] >= '0' && line[i] <= '9' && v < INT64_MAX / 10)
        v = v * 10 + (line[i++] - '0');
    if (i == 0 || i >= len || line[i] != ',') return 0;
    for (; i < len; i++) commas += line[i] == ',';
    *step = v;
    return commas == 5 || commas == 6;
}

int64_t lst_runlog_filter(const char *text, int64_t keep_upto, FILE *out) {
    int64_t kept = 0, last = 0;
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        if (!nl) break; /* no newline: a partial last row */
        int64_t st;
        if (row_step(p, (size_t)(nl - p), &st) && st == last + 1 && st <= keep_upto) {
            if (out) fwrite(p, 1, (size_t)(nl - p) + 1, out);
            last = st;
            kept++;
        }
        p = nl + 1;
    }
    return kept;
}

static int rewrite_log(const char *path, int64_t keep_upto, lst_err_t *err) {
    char *old = NULL, *buf = NULL;
    size_t len = 0, blen = 0;
    if (access(path, F_OK) == 0 && !(old = lst_read_file(path, (size_t)1 << 30, &len, err))) return -1;
    FILE *m = open_memstream(&buf, &blen);
    if (!m) {
        free(old);
        return lst_fail(err, "%s: out of memory", path);
    }
    fputs(log_header, m);
    lst_runlog_filter(old, keep_upto, m);
    free(old);
    int bad = fclose(m) != 0;
    int rc = bad ? lst_fail(err, "%s: out of memory", path) : lst_write_atomic(path, buf, blen, err);
    free(buf);
    return rc;
}

int lst_runlog_open(lst_runlog_t *l, const char *dir, int64_t keep_upto, lst_err_t *err) {
    l->f = NULL;
    l->pending[0] = 0;
    lst_rundir_path(l->path, dir, "log.csv");
    if (rewrite_log(l->path, keep_upto, err)) return -1;
    l->f = fopen(l->path, "ae");
    if (!l->f) return lst_fail(err, "%s: cannot append: %s", l->path, strerror(errno));
    return 0;
}

/* Writes the pending row with val (NaN: an empty val_score). */
static void flush_row(lst_runlog_t *l, double val) {
    if (!l->pending[0]) return;
    if (isnan(val)) fprintf(l->f, "%s,\n", l->pending);
    else fprintf(l->f, "%s,%.4f\n", l->pending, val);
    l->pending[0] = 0;
}

void lst_runlog_row(lst_runlog_t *l, int64_t step, int epoch, double loss, double lr, double gnorm,
                    double elapsed_s) {
    flush_row(l, NAN);
    snprintf(l->pending, sizeof l->pending, "%lld,%d,%.6f,%.6g,%.6f,%.3f", (long long)step, epoch,
             loss, lr, gnorm, elapsed_s);
}

void lst_runlog_val(lst_runlog_t *l, double score) { flush_row(l, score); }

int lst_runlog_sync(lst_runlog_t *l, lst_err_t *err) {
    flush_row(l, NAN);
    return lst_sync_stream(l->f, l->path, err);
}

int lst_runlog_close(lst_runlog_t *l, lst_err_t *err) {
    if (!l->f) return 0;
    flush_row(l, NAN);
    int rc = lst_sync_stream(l->f, l->path, err);
    if (fclose(l->f) != 0 && !rc) rc = lst_fail(err, "%s: write failed: %s", l->path, strerror(errno));
    l->f = NULL;
    return rc;
}

/* ---- the backbone ---------------------------------------------------------- */

int lst_rundir_check_backbone(const lst_train_opts_t *o, uint64_t fp_config, uint64_t fp_weights,
                              lst_err_t *err) {
    if (!o->has_fp) return 0;
    const int cfg = o->fp_config != fp_config, w = o->fp_weights != fp_weights;
    if (!cfg && !w) return 0;
    return lst_fail(err, "%s is not the backbone this run was trained with: %s changed (xxh3 "
                    "%016" PRIx64 "/%016" PRIx64 ", the run recorded %016" PRIx64 "/%016" PRIx64 ")",
                    o->model, cfg && w ? "config.json and the weights" : cfg ? "config.json" : "the weights",
                    fp_config, fp_weights, o->fp_config, o->fp_weights);
}
