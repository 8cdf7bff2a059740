/* checkpoint.h: one self-describing, atomically written file holding the
 * whole training state: a JSON "state" (step, epoch, position in the epoch,
 * best validation so far, history, RNG seed, the run's options, the step
 * times and peak RSS so far), the side parameters, the AdamW moments and the
 * best parameters so far. Written through core's atomic writer: a crash
 * leaves the previous checkpoint. */
#ifndef LST_CHECKPOINT_H
#define LST_CHECKPOINT_H

#include <stdint.h>

#include "../core/error.h"
#include "../model/layout.h"

typedef struct {
    const float *flat;  /* a buffer with the table's layout */
    const char *prefix; /* "param.", "adam_m.", ... */
} lst_ckpt_part_t;

/* Where training stands. Every random number is a function of the seed and
 * (epoch, step), so this is all a resume needs besides the tensors. */
typedef struct {
    int64_t step, total_steps;
    int epoch, batch_index;  /* next batch to run */
    int best_epoch;          /* 0: no validation yet */
    int64_t best_step;       /* the step of the best validation (0: none) */
    int since_best;          /* validations since the best one (--patience) */
    void *evals;             /* cJSON array [{epoch, step, validation{}}]: --eval-every's, inside epochs */
    double best_score;
    double wall_s;           /* training time so far, over every process */
    void *history;           /* cJSON array [{epoch, step, validation{}}] */
    double *step_ms;         /* [total_steps] the time of every step so far */
    int64_t n_timed;         /* entries of step_ms (== step unless the run began before step times) */
    double peak_rss_mib;     /* the largest peak RSS of the processes so far */
} lst_ckpt_state_t;

/* The run's shape a state must fit. */
typedef struct {
    int epochs, per_epoch;
    int64_t total_steps;
} lst_ckpt_shape_t;

/* The state as JSON text (malloc'ed), with `run` (a cJSON object, taken)
 * and the seed for the RNG description. NULL when out of memory. */
char *lst_ckpt_state_text(const lst_ckpt_state_t *s, void *run, uint64_t seed);
/* Parses a state and checks every field against the C type it goes into,
 * the run's shape and the state's own consistency (step agrees with
 * epoch and batch index, best epoch not after the current one, one
 * history entry per finished epoch). s->step_ms must hold total_steps
 * entries. Returns the state's "run" object (cJSON *, caller deletes)
 * through *run when run is non-NULL. */
int lst_ckpt_state_parse(lst_ckpt_state_t *s, const char *text, const lst_ckpt_shape_t *shape,
                         void **run, lst_err_t *err);

/* Writes state_json plus every part's tensors under "<prefix><name>". */
int lst_ckpt_write(const char *path, const char *state_json, const lst_param_t *params,
                   int n_params, const lst_ckpt_part_t *parts, int n_parts, lst_err_t *err);

/* Reads the state JSON (malloc'ed string) and fills every part's buffer
 * (cast away const: the parts name the destination buffers). */
int lst_ckpt_read(const char *path, char **state_json, const lst_param_t *params,
                  int n_params, const lst_ckpt_part_t *parts, int n_parts, lst_err_t *err);

#endif
