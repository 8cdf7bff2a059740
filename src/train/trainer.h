/* trainer.h: a whole LST run (LST-SPEC sections 2-5): data, side network
 * initialisation, AdamW with warmup/decay and clipping, per-epoch
 * validation by greedy generation, best-epoch selection, test at the best
 * epoch, and the run directory (run.json, metrics.json, log.csv,
 * side.safetensors, checkpoint.safetensors) with exact resume. */
#ifndef LST_TRAINER_H
#define LST_TRAINER_H

#include <stdint.h>

#include "../core/error.h"
#include "../io/glue.h"
#include "../io/tokenizer.h"
#include "../model/methods.h"
#include "../model/side.h"
#include "data.h"

#define LST_PATH_MAX 1024

typedef struct {
    char model[LST_PATH_MAX], spm[LST_PATH_MAX], out[LST_PATH_MAX];
    char task[32], data[LST_PATH_MAX];
    char train_file[LST_PATH_MAX], valid_file[LST_PATH_MAX], test_file[LST_PATH_MAX];
    lst_method_t method;        /* name (lst, side-tuning, compression, full, adapters, lora,
                                   bitfit, prompt) and the baselines' sizes */
    int freeze_layers;          /* baselines: the first k layers frozen (Figure 6) */
    lst_side_opts_t side;       /* r, kept layers, gate temperature, side mode */
    char init[16];              /* fisher | magnitude | random */
    double lr, clip;
    int epochs, batch, eval_batch, warmup, max_src, fisher_samples;
    int grad_accum;             /* micro-batches of `batch` per optimizer step (1: none) */
    double warmup_ratio;        /* > 0: warmup = ceil(ratio x the run's steps), set at the start */
    int gen_val, gen_test;      /* generation lengths: validation, final */
    int bb_dropout;             /* 1: backbone in train mode (dropout), the reference */
    lst_wformat_t bb_dtype;     /* side methods' frozen backbone: LST_WF_F32 (fp32, exact)
                                   or LST_WF_BF16 (LST-SPEC 9); ops/wformat.h */
    int full_vocab;             /* 1: keep the checkpoint's vocabulary */
    char tap_cache[LST_PATH_MAX]; /* "" off; "memory"; or a directory (tapcache_run.h) */
    int tap_cache_dtype;        /* LST_TC_F32 (exact), _BF16, _F16 (tapcache.h) */
    int64_t tap_cache_max;      /* bytes; 0: no limit */
    int ckpt_every;             /* steps between checkpoints (0: epoch ends only) */
    int eval_every;             /* steps between validations inside an epoch (0: epoch ends only) */
    int patience;               /* stop after this many validations without a better score (0: never) */
    int64_t max_steps;          /* 0: epochs decide */
    int64_t max_train;          /* 0: all training examples */
    int64_t halt_after;         /* testing: exit (as if killed) after this step's checkpoint */
    int64_t max_memory;         /* bytes; 0: no limit. Checked against the plan before training */
    uint64_t seed;
    int quiet;
    /* the backbone's fingerprint (lst_backbone_t fp_*), recorded in run.json */
    int has_fp;
    uint64_t fp_config, fp_weights;
} lst_train_opts_t;

/* Defaults of the paper's LST protocol for a backbone (r 8, lr 3e-3,
 * batch 100, 20 epochs, warmup 500, clip 1, Fisher over 1024 samples). */
void lst_train_opts_default(lst_train_opts_t *o);

/* run.json <-> options (paths stored absolute). */
int lst_run_save(const lst_train_opts_t *o, const char *path, lst_err_t *err);
/* The same options as a cJSON object (a cJSON *; caller deletes). */
void *lst_run_json(const lst_train_opts_t *o);
int lst_run_load(lst_train_opts_t *o, const char *path, lst_err_t *err);
/* Releases what the options own (the kept-layer lists: lst_side_opts_t). */
void lst_train_opts_free(lst_train_opts_t *o);
/* The fingerprint's JSON form (a cJSON *) and its parser (NULL fp: none recorded). */
void *lst_run_fp_json(const lst_train_opts_t *o);
int lst_run_fp_parse(const void *fp, lst_train_opts_t *o, const char *path, lst_err_t *err);

/* Trains (or, with resume, continues the run in o->out). */
int lst_train(lst_train_opts_t *o, int resume, lst_err_t *err);

/* The paper's learning rate of a method (LST-SPEC section 5): 3e-3 for
 * the side networks, 0.3 for prompt tuning, 3e-4 for the others. */
double lst_method_lr(const char *method);


/* A trained run, loaded for evaluation or prediction. */
typedef struct {
    lst_train_opts_t opts;
    lst_tokenizer_t *tok;
    lst_backbone_t bb;      /* with the method's extensions, trained values loaded */
    lst_side_t side;        /* side-network methods */
    const lst_side_t *sidep; /* &side, or NULL when the method trains the backbone */
    const lst_task_t *task; /* NULL for custom data */
} lst_run_t;

int lst_run_open(lst_run_t *r, const char *rundir, lst_err_t *err);
void lst_run_close(lst_run_t *r);

/* The run's data split ("train", "validation", "test"), tokenized. */
int lst_run_split(const lst_run_t *r, const char *split, lst_tokdata_t *out, lst_err_t *err);
/* The share (%) of the split's most frequent target, i.e. the accuracy of
 * always answering it (the majority-class baseline), from a run's options
 * alone (its tokenizer and data; no model is loaded). */
int lst_run_majority(const char *rundir, const char *split, double *pct, lst_err_t *err);

#endif
