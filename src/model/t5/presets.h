/* presets.h: the published T5 shapes, and random HF-format checkpoints.
 *
 * `lst init` writes a freshly initialised T5ForConditionalGeneration
 * checkpoint (config.json + model.safetensors, exactly Hugging Face's names
 * and [out, in] shapes) so that the whole pipeline can be run and timed
 * without downloading weights. Values follow transformers'
 * T5PreTrainedModel._init_weights (initializer_factor 1.0) and come from
 * lst_rng, so a (config, seed) pair always gives the same bytes. */
#ifndef LST_PRESETS_H
#define LST_PRESETS_H

#include <stdint.h>

#include "../../core/error.h"
#include "../../io/t5_config.h"

/* Comma-separated list of the preset names, for usage and error messages. */
#define LST_PRESET_NAMES "t5-tiny, t5-small, t5-base, t5-large, t5-3b"

/* Fills c with the named preset: t5-small/base/large/3b are the published
 * v1.0 shapes (relu FFN, tied embeddings, vocab 32128); t5-tiny is a
 * few-MB toy with the same structure and vocabulary (d_model 64, d_kv 16,
 * 4 heads, d_ff 256, 4+4 layers). Unknown name: error listing the names. */
int lst_preset_config(const char *name, lst_t5_config_t *c, lst_err_t *err);

/* Number of distinct parameters of the T5ForConditionalGeneration that c
 * describes (the tied LM head is not counted twice). -1 if c is not valid
 * or the count overflows. */
int64_t lst_preset_param_count(const lst_t5_config_t *c);

/* Creates dir (like mkdir -p; an existing non-directory is an error), then
 * writes dir/model.safetensors (F32, streamed tensor by tensor, so t5-3b
 * never sits in memory) and, once that succeeded, dir/config.json. Tensor
 * number i (in write order) is drawn from its own stream derived from
 * (seed, i), so the result does not depend on fill order or thread count. */
int lst_preset_write_random(const lst_t5_config_t *c, const char *dir,
                            uint64_t seed, lst_err_t *err);

#endif
