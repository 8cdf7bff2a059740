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

/* Options a method takes beyond the common ones (lst_method_info_t.options). */
enum {
    LST_MOPT_SIDE = 1,          /* r, kept layers, --init, --fisher-samples, --backbone-dtype */
    LST_MOPT_FREEZE = 2,        /* --freeze-layers */
    LST_MOPT_ADAPTER_DIM = 4,
    LST_MOPT_LORA_RANK = 8,
    LST_MOPT_PROMPT_LEN = 16,
};

struct lst_t5_part; /* t5/t5_hooks.h */

/* One row of the method registry: every fact about a method, or where its
 * own file keeps it (its parts: tensors, their initialisation and count,
 * and the hooks that compute with them inside the T5 block). */
typedef struct {
    const char *name;
    int side_mode;      /* LST_SIDE_* for the side networks; -1: trains inside the backbone */
    double paper_lr;    /* LST-SPEC section 5 */
    int task_prefix;    /* GLUE inputs start with the task name (the Adapters baseline: no) */
    unsigned options;   /* LST_MOPT_* */
    const char *what;   /* one line, for usage messages */
    int whole_backbone; /* trains every backbone parameter (full fine-tuning) */
    const struct lst_t5_part *const *parts; /* what it adds inside the backbone,
                                               NULL-terminated; NULL: nothing */
} lst_method_info_t;

/* The row of `name`, or NULL. */
const lst_method_info_t *lst_method_info(const char *name);
/* The i-th row (0 <= i < lst_method_count()), NULL past the end. */
const lst_method_info_t *lst_method_at(int i);
int lst_method_count(void);
/* "lst, side-tuning, compression, full, adapters, lora, bitfit, prompt". */
const char *lst_method_names(void);

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
