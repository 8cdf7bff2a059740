/* methods.h: the fine-tuning methods of LST-SPEC section 6 and what each
 * trains. Parameter counts follow the spec's definitions exactly:
 *   full      every backbone parameter
 *   lst       the side network (all gates, used or not, as the reference)
 *   side-tuning  the paper's ablation: the side stacks without ladders or
 *             gates, upsample and one merge gate (LST_SIDE_TUNING)
 *   compression  the pruned side network alone (LST_SIDE_COMPRESSION)
 *   adapters  Houlsby adapters (hidden d_model/16, biases) after every
 *             self-attention and FFN sub-layer of both stacks + all layer
 *             norm weights
 *   lora      rank-r A, B on q and v of every attention (encoder self,
 *             decoder self and cross) + the BitFit biases (the reference)
 *   bitfit    a bias on every linear (q, k, v, o, wi[, wi_1], wo, LM head)
 *             and on every block layer norm (not the two final ones)
 *   prompt    prompt_len vectors of width d_model
 * The share's denominator is the backbone itself (T5-base with the
 * 32100-row vocabulary: 222,882,048), as in the paper. */
#ifndef LST_METHODS_H
#define LST_METHODS_H

#include <stdint.h>

#include "../core/error.h"
#include "side.h"

typedef struct {
    char name[16];        /* full | lst | side-tuning | compression | adapters | lora |
                             bitfit | prompt */
    lst_side_opts_t side; /* lst and the ablations: r, kept layers (n_keep < 0:
                             all); mode follows the name */
    int adapter_dim;      /* 0: d_model / 16 */
    int lora_rank;        /* default 32 */
    int prompt_len;       /* default 100 */
} lst_method_t;

/* Defaults for `name`; "side-tuning" and "compression" also set side.mode. */
void lst_method_default(lst_method_t *m, const char *name);

/* The side mode of a side-network method (lst, side-tuning, compression);
 * -1 for the others. */
int lst_method_side_mode(const char *method, int *mode);

/* trainable: parameters the method trains; backbone: the backbone's own
 * parameters (the denominator of the share). */
int lst_method_params(const lst_method_t *m, const lst_t5_config_t *c, int vocab,
                      int64_t *trainable, int64_t *backbone, lst_err_t *err);

/* The backbone's parameter count for a config and vocabulary. */
int64_t lst_t5_param_count(const lst_t5_config_t *c, int vocab);

#endif
