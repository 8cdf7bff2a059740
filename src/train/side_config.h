/* side_config.h: the side-network JSON of `lst dump --side-config` (the
 * schema of shared/golden/.../lst_golden.json): r, encoder_side_layers,
 * decoder_side_layers, gate_T, gate_init_param, init ("magnitude",
 * "fisher" or "random"), adamw {lr, betas, eps, weight_decay, steps}.
 * Absent keys: r 8, every layer kept, T 0.1, gates 0, no AdamW steps. */
#ifndef LST_SIDE_CONFIG_H
#define LST_SIDE_CONFIG_H

#include "../core/error.h"
#include "../model/side.h"
#include "adamw.h"

typedef struct {
    lst_side_opts_t opts;
    float gate_init;
    char init[16];         /* "" when absent */
    lst_adamw_cfg_t adamw;
    int steps;             /* AdamW steps to run (0: none) */
} lst_side_config_t;

/* bb: the backbone the layers index (its depth bounds them). c owns its
 * kept-layer lists: lst_side_config_free. */
int lst_side_config_load(lst_side_config_t *c, const lst_backbone_t *bb,
                         const char *path, lst_err_t *err);
void lst_side_config_free(lst_side_config_t *c);

#endif
