/* rundir.h: the run directory's files and the order they are written in.
 *
 *   run.json                 the options (run_config.c), written once at the start
 *   log.csv                  one row per step, appended; made durable before
 *                            every checkpoint, so it always covers it
 *   checkpoint.safetensors   the training state (checkpoint.h)
 *   side.safetensors or tuned.safetensors   the best epoch's parameters
 *   metrics.json             written last: its presence means "finished"
 *
 * Every whole-file write goes through core's atomic writer; the temporaries
 * it leaves when killed are exactly "<one of these names>.tmp.XXXXXX", and
 * those (only those) are removed on resume. */
#ifndef LST_RUNDIR_H
#define LST_RUNDIR_H

#include <stdint.h>
#include <stdio.h>

#include "../core/error.h"
#include "trainer.h"

/* "<dir>/<name>" into buf (cap LST_PATH_MAX + 64). */
void lst_rundir_path(char *buf, const char *dir, const char *name);
/* The trained parameters' file name: tuned.safetensors for the methods that
 * train the backbone, side.safetensors for the side networks. */
const char *lst_rundir_trained_name(int backbone_method);
/* 1 when the run has written metrics.json (it is finished). */
int lst_rundir_finished(const char *dir);
/* Removes the atomic writer's leftovers of the run directory's own files. */
void lst_rundir_clean_temps(const char *dir);
/* metrics.json, atomically. */
int lst_rundir_write_metrics(const char *dir, const char *text, lst_err_t *err);

/* The step log. */
typedef struct {
    FILE *f;
    char path[LST_PATH_MAX + 64];
    char pending[160]; /* the last step's row, without its val_score (written by the next call) */
} lst_runlog_t;

/* Opens log.csv for appending after rewriting it (temporary file + rename,
 * never truncated in place) to the header and its complete, well-formed rows
 * of steps 1..keep_upto in order: a resumed run writes the rest again. */
int lst_runlog_open(lst_runlog_t *l, const char *dir, int64_t keep_upto, lst_err_t *err);
void lst_runlog_row(lst_runlog_t *l, int64_t step, int epoch, double loss, double lr, double gnorm,
                    double elapsed_s);
/* The validation score after the last step's row (its val_score column;
 * empty on steps without a validation). */
void lst_runlog_val(lst_runlog_t *l, double score);
/* Flushes and fsyncs the rows so far (before a checkpoint is renamed). */
int lst_runlog_sync(lst_runlog_t *l, lst_err_t *err);
int lst_runlog_close(lst_runlog_t *l, lst_err_t *err);
/* The rows of `text` that lst_runlog_open keeps, written to out (the
 * filter itself, for tests and the fuzzer). Returns the number of rows. */
int64_t lst_runlog_filter(const char *text, int64_t keep_upto, FILE *out);

/* The backbone's fingerprint against the one the run recorded: a run
 * without one (older run.json) is accepted. */
int lst_rundir_check_backbone(const lst_train_opts_t *o, uint64_t fp_config, uint64_t fp_weights,
                              lst_err_t *err);

#endif
