/* backbone_open.h: opening a backbone for a method (a separate header from
 * backbone.h because the methods' registry, methods.h, already includes the
 * side network and through it the backbone interface). */
#ifndef LST_BACKBONE_OPEN_H
#define LST_BACKBONE_OPEN_H

#include "backbone.h"
#include "methods.h"

/* 1 for the methods that train inside the backbone (as peft.h's
 * lst_method_is_backbone, from the registry alone). */
static inline int lst_method_trains_backbone(const char *name) {
    const lst_method_info_t *info = lst_method_info(name);
    return info && info->side_mode < 0;
}

/* Opens the backbone in dir (only T5 today; a second backbone is chosen
 * here from its config.json) with a method's additions (m NULL or a side
 * method: none; a backbone method's are initialised from seed), the frozen
 * weights loaded straight into fmt where that saves memory (LST_WF_BF16,
 * side methods only; else LST_WF_F32). vocab_limit as lst_t5_load. */
int lst_backbone_open(lst_backbone_t *bb, const char *dir, int vocab_limit,
                      const lst_method_t *m, int freeze_layers, lst_wformat_t fmt, uint64_t seed,
                      lst_err_t *err);
/* The same shapes and counts without weights (the memory plan): model is
 * a preset name or a checkpoint directory (its config.json); vocab > 0
 * caps the vocabulary (else 32100, as the tokenizer). */
int lst_backbone_shape(lst_backbone_t *bb, const char *model, int vocab, const lst_method_t *m,
                       int freeze_layers, lst_err_t *err);
/* lst bench: a preset with random weights (nothing on disk) or a checkpoint
 * directory, with the method's additions; fmt as lst_backbone_open. */
int lst_backbone_bench(lst_backbone_t *bb, const char *model, int vocab, const lst_method_t *m,
                       int freeze_layers, lst_wformat_t fmt, lst_err_t *err);

#endif
