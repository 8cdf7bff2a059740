/* fuzz_run_files.c: the run directory's readers on arbitrary bytes: the
 * same input as run.json (lst_run_load), as a checkpoint state
 * (lst_ckpt_state_parse, against a fixed run shape) and as log.csv
 * (lst_runlog_filter).
 *
 * Contracts: every failure fills a message; an accepted state satisfies
 * the consistency rules the parser promises; the log filter keeps only
 * rows 1, 2, ... in order. (Leaks and double frees: ASan.) */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/train/checkpoint.h"
#include "../src/train/rundir.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fz_quiet(0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fz_cstr(data, size);
    lst_err_t err = {{0}};
    /* run.json */
    const char *p = fz_path("run.json");
    fz_write(p, data, size);
    lst_train_opts_t o;
    if (lst_run_load(&o, p, &err) != 0) FZ_CHECK_MSG(err);
    else {
        FZ_CHECK(o.epochs >= 1 && o.batch >= 1 && o.ckpt_every >= 0, "accepted bad numbers");
        lst_train_opts_free(&o); /* its kept-layer lists */
    }
    /* a checkpoint state of a run with 3 epochs of 4 batches, 10 steps */
    const lst_ckpt_shape_t sh = {3, 4, 10};
    double times[11];
    lst_ckpt_state_t s = {0};
    s.step_ms = times;
    void *run = NULL;
    if (lst_ckpt_state_parse(&s, text, &sh, &run, &err) != 0) {
        FZ_CHECK_MSG(err);
    } else {
        /* the best is a finished epoch's, or --eval-every's inside the epoch in progress */
        const int best_ok = s.best_epoch <= s.epoch ||
                            (s.best_epoch == s.epoch + 1 && s.batch_index > 0 &&
                             s.best_step > (int64_t)s.epoch * 4 && s.best_step <= s.step);
        FZ_CHECK(s.step <= 10 && s.epoch <= 3 && best_ok && s.batch_index < 4 && s.n_timed <= s.step,
                 "accepted an inconsistent state");
    }
    cJSON_Delete((cJSON *)run);
    cJSON_Delete((cJSON *)s.history);
    cJSON_Delete((cJSON *)s.evals);
    /* log.csv */
    FZ_CHECK(lst_runlog_filter(text, 1000, NULL) <= 1000, "the filter kept rows past its limit");
    free(text);
    return 0;
}
