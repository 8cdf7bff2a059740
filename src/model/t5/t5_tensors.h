/* t5_tensors.h: the tensors of a T5 model, listed once.
 *
 * One table row per tensor of a block (Hugging Face sub-name, the
 * lst_t5_block_t members it binds, shape in config dimensions, where it
 * exists, its role, its initialisation in a fresh checkpoint) and one walk
 * that visits every tensor of the model in checkpoint order (shared, the
 * encoder blocks, encoder.final_layer_norm, the decoder blocks,
 * decoder.final_layer_norm, lm_head when untied). The parameter layout,
 * the name binding, the presets, the frozen backbone's packing and every
 * parameter count are read off these, so a tensor is added in one place. */
#ifndef LST_T5_TENSORS_H
#define LST_T5_TENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../../core/error.h"
#include "../../io/t5_config.h"

/* A shape dimension in terms of the config. */
typedef enum {
    LST_T5_ONE = 0, /* 1: the second dimension of a vector */
    LST_T5_D,       /* d_model */
    LST_T5_KV,      /* d_kv */
    LST_T5_I,       /* num_heads x d_kv: the attention's inner width */
    LST_T5_F,       /* d_ff */
    LST_T5_BUCKETS, /* relative_attention_num_buckets */
    LST_T5_HEADS,   /* num_heads */
    LST_T5_VOCAB,   /* the vocabulary rows in use */
} lst_t5_dim_t;

/* The sub-layer a block tensor belongs to (its Hugging Face layer index:
 * self-attention 0, cross-attention 1, FFN 1 in the encoder and 2 in the
 * decoder). */
typedef enum { LST_T5_SELF = 0, LST_T5_CROSS = 1, LST_T5_FFN = 2 } lst_t5_sub_t;

/* What a tensor does in its sub-layer (the pruning chain and the packer
 * read it): a norm of the residual stream, a linear reading the residual
 * stream (q, k, v; wi), the linear writing back to it (o, wo), the
 * relative position bias table. */
typedef enum { LST_T5_NORM, LST_T5_IN, LST_T5_OUT, LST_T5_REL } lst_t5_role_t;

/* Which FFN form a row belongs to. */
enum { LST_T5_ANY_FFN = 0, LST_T5_PLAIN = 1, LST_T5_GATED = 2 };

#define LST_T5_NO_FIELD ((size_t)-1)

typedef struct {
    lst_t5_sub_t sub;
    const char *name;      /* after "<prefix>.layer.<N>." */
    size_t field;          /* offsetof(lst_t5_block_t, member) of its float32 pointer,
                              or LST_T5_NO_FIELD (the relative bias lives in the model) */
    size_t packed;         /* offsetof its lst_t5_packed_t (block linears), or LST_T5_NO_FIELD */
    lst_t5_dim_t rows, cols; /* cols LST_T5_ONE: a vector [rows] */
    int decoder_only;      /* the cross-attention's */
    int ffn;               /* LST_T5_ANY_FFN, _PLAIN or _GATED */
    int first_block;       /* only block 0 of a stack has it (the relative bias) */
    lst_t5_role_t role;
    /* a fresh checkpoint's values: ones for norms, else N(0, 1/(a*b)) as
     * transformers' _init_weights (initializer_factor 1) */
    lst_t5_dim_t init_a, init_b;
    int cross_kv;          /* the cross-attention's key or value (the folded
                              cross-attention reads them in float32) */
} lst_t5_tensor_t;

extern const lst_t5_tensor_t lst_t5_block_tensors[];
extern const int lst_t5_n_block_tensors;

/* The size of dimension d under config c with `vocab` rows. */
int64_t lst_t5_dim(const lst_t5_config_t *c, int vocab, lst_t5_dim_t d);

/* 1 if row t exists in block `layer` of a stack (decoder: 1) of config c. */
int lst_t5_tensor_in(const lst_t5_tensor_t *t, const lst_t5_config_t *c, int decoder, int with_rel);

/* "<prefix>.layer.<N>.<name>" into buf (N from the sub-layer and stack). */
void lst_t5_tensor_name(char *buf, size_t cap, const char *prefix, const lst_t5_tensor_t *t,
                        int decoder);

/* The init std of a row (< 0: ones). */
double lst_t5_tensor_std(const lst_t5_tensor_t *t, const lst_t5_config_t *c);

/* One tensor of the whole model, as lst_t5_walk visits it. */
typedef struct {
    const char *name;           /* full Hugging Face name */
    const lst_t5_tensor_t *row; /* the block table row, NULL for a model-level tensor */
    int stack, layer;           /* block tensors: 0 encoder / 1 decoder, block index; else -1 */
    int64_t rows, cols;         /* cols 0: a vector */
    double std;                 /* a fresh checkpoint's init std (< 0: ones) */
} lst_t5_visit_t;

/* Called for every tensor (tensor != NULL) and after every block's last
 * tensor (tensor == NULL, with the block's prefix, stack and layer: a
 * method's additions go there); returns 0 or -1 after filling err. */
typedef int (*lst_t5_visit_fn)(void *ctx, const lst_t5_visit_t *tensor, const char *block_prefix,
                               int stack, int layer, lst_err_t *err);

/* Visits the model of config c (`vocab` rows of shared / lm_head) in
 * checkpoint order. Stops at the first non-zero return. */
int lst_t5_walk(const lst_t5_config_t *c, int vocab, lst_t5_visit_fn fn, void *ctx,
                lst_err_t *err);
/* The same for one block under `prefix` (the side network's blocks);
 * with_rel: the block owns a relative bias table. No block-end call. */
int lst_t5_walk_block(const lst_t5_config_t *c, const char *prefix, int decoder, int with_rel,
                      lst_t5_visit_fn fn, void *ctx, lst_err_t *err);

/* Parameters of the model (the tied LM head counted once), with overflow
 * checks: 0, or -1 when the config is not valid or the count overflows. */
int lst_t5_count(const lst_t5_config_t *c, int vocab, int64_t *total);
/* The same, split into the block linears (what the frozen backbone packs)
 * and everything else. */
int lst_t5_count_split(const lst_t5_config_t *c, int vocab, int64_t *linears, int64_t *rest);

#endif
