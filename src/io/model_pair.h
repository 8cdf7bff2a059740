/* model_pair.h: does a checkpoint directory's config.json belong to its
 * model.safetensors?
 *
 * lst init writes model.safetensors first and config.json last, each
 * atomically, so a kill between the two renames left new weights beside the
 * old config, and the pair loaded as if it were one model. lst init now
 * writes the same fingerprint ("lst_init_id") into the weights'
 * __metadata__ and into config.json; a directory whose two ids differ, or
 * where only one of the files has one, is refused. Checkpoints from
 * elsewhere (Hugging Face's, tests/data) carry no id in either file and are
 * accepted as before. */
#ifndef LST_MODEL_PAIR_H
#define LST_MODEL_PAIR_H

#include "../core/error.h"
#include "st_set.h"
#include "t5_config.h"

#define LST_INIT_ID_KEY "lst_init_id"

/* c was read from DIR/config.json, s opened from the weights next to it
 * (st_set.h: one file or shards; the id is the first file's). 0 if they
 * belong together; -1 with a message naming both files. */
int lst_model_pair_check(const char *dir, const lst_t5_config_t *c, const lst_st_set_t *s,
                         lst_err_t *err);

/* The same for a directory: DIR/config.json (already parsed into c) and
 * the weights, opened here for their headers only. Missing weights are no
 * error (lst params needs only the config). */
int lst_model_pair_check_dir(const char *dir, const lst_t5_config_t *c, lst_err_t *err);

#endif
