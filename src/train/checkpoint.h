/* checkpoint.h: one self-describing, atomically written file holding the
 * whole training state: a JSON "state" (step, epoch, position in the epoch,
 * best validation so far, history, RNG seed), the side parameters, the
 * AdamW moments and the best parameters so far. Written to a temporary
 * file, fsynced and renamed: a crash leaves the previous checkpoint. */
#ifndef LST_CHECKPOINT_H
#define LST_CHECKPOINT_H

#include "../core/error.h"
#include "../model/layout.h"

typedef struct {
    const float *flat;  /* a buffer with the table's layout */
    const char *prefix; /* "param.", "adam_m.", ... */
} lst_ckpt_part_t;

/* Writes state_json plus every part's tensors under "<prefix><name>". */
int lst_ckpt_write(const char *path, const char *state_json, const lst_param_t *params,
                   int n_params, const lst_ckpt_part_t *parts, int n_parts, lst_err_t *err);

/* Reads the state JSON (malloc'ed string) and fills every part's buffer
 * (cast away const: the parts name the destination buffers). */
int lst_ckpt_read(const char *path, char **state_json, const lst_param_t *params,
                  int n_params, const lst_ckpt_part_t *parts, int n_parts, lst_err_t *err);

#endif
