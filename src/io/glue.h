/* glue.h: the GLUE tasks as the paper's protocol sees them (LST-SPEC s5):
 * how each task's TSV rows become (source text, target text) pairs, and how
 * train/validation/test are cut from GLUE train/dev with the reference's
 * seed-42 permutations in paper_splits.json. Also custom (source, target)
 * data from a TSV or JSONL file.
 *
 * Sources are "task key1: A key2: B" exactly as the reference joins them
 * (single spaces, text fields untouched, so SST-2's trailing spaces stay);
 * targets are label indices as text ("0", "1", "2") or, for STS-B, the
 * score rounded to one decimal. */
#ifndef LST_GLUE_H
#define LST_GLUE_H

#include "../core/error.h"

typedef enum {
    LST_METRIC_ACC,
    LST_METRIC_F1,
    LST_METRIC_MCC,
    LST_METRIC_PEARSON,
    LST_METRIC_SPEARMAN
} lst_metric_kind_t;

typedef struct {
    const char *name;           /* "cola","sst2","mrpc","qqp","mnli","qnli","rte","stsb" */
    const char *dir;            /* GLUE folder: "CoLA","SST-2",... */
    int n_labels;               /* 0 for stsb (regression) */
    const char *const *labels;  /* target strings "0","1",...; NULL for stsb */
    int n_metrics;
    lst_metric_kind_t metrics[2];
    const char *const *raw_labels; /* label strings as written in the GLUE files */
} lst_task_t;

/* NULL if unknown (names are the lowercase ones above). */
const lst_task_t *lst_task_find(const char *name);
/* The i-th task (0 <= i < lst_task_count()), for listing; NULL past the end. */
const lst_task_t *lst_task_at(int i);
int lst_task_count(void);
/* Index of `s` in t->labels (exact match), or -1 (also for NULL or stsb). */
int lst_task_label_index(const lst_task_t *t, const char *s);

typedef struct {
    char *source; /* formatted input text */
    char *target; /* label string */
} lst_example_t;

typedef struct {
    lst_example_t *ex;
    int n;
} lst_dataset_t;

typedef struct {
    const lst_task_t *task;
    lst_dataset_t train, validation, test;
} lst_splits_t;

/* data_dir holds <Dir>/train.tsv and <Dir>/dev.tsv (MNLI: dev_matched.tsv and
 * dev_mismatched.tsv) in the GLUE layout. splits_json: the paper split file;
 * NULL means data_dir/paper_splits.json (not read for mnli). with_prefix=0
 * drops the task-name prefix (the Adapters baseline). On failure *out is
 * left empty and err names the file (and line) that is wrong. */
int lst_glue_load(const char *task, const char *data_dir, const char *splits_json,
                  int with_prefix, lst_splits_t *out, lst_err_t *err);

/* Custom data: a .tsv whose header names columns `source` and `target`
 * (other columns ignored), or a .jsonl of objects with string fields
 * "source" and "target" (other fields ignored). Chosen by the extension. */
int lst_custom_load(const char *path, lst_dataset_t *out, lst_err_t *err);

void lst_dataset_free(lst_dataset_t *d);
void lst_splits_free(lst_splits_t *s);

/* STS-B target from the score text: x = (double)(float)score, then
 * rint(x*10)/10 (half to even) printed with one decimal; "0.85" -> "0.9",
 * "4.45" -> "4.4". The text must be a plain number in [0, 5]. */
int lst_stsb_target(const char *score_text, char out[8], lst_err_t *err);

#endif
