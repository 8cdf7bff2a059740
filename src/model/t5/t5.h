/* t5.h: the T5 backbone (encoder-decoder), frozen or trainable.
 *
 * Parameters live in one flat float buffer whose layout (name, shape,
 * offset of every Hugging Face tensor) is computed from the config;
 * lst_t5_weights_t points into any buffer with that layout, so gradients
 * and optimizer moments reuse it. Shapes are read from the checkpoint:
 * nothing here is specialised to one model size. */
#ifndef LST_T5_H
#define LST_T5_H

#include <stddef.h>
#include <stdint.h>

#include "../../core/error.h"
#include "../../io/t5_config.h"
#include "../../ops/ops.h"
#include "../../ops/wformat.h"
#include "../batch.h"
#include "../carve.h"
#include "../layout.h"
#include "t5_block_ext.h"

/* A block linear stored once for a frozen backbone's forward, in a format
 * of ops/wformat.h (float32 panels, bf16 panels); data NULL: not packed
 * (the float32 member is used). */
typedef struct {
    const void *data;
    lst_wformat_t fmt;
    void *ws; /* the format's product workspace, shared by the backbone's linears, or NULL */
} lst_t5_packed_t;

/* One block's weights; NULL where the block has no such tensor. */
typedef struct {
    float *ln_sa, *q, *k, *v, *o;     /* self-attention: q,k,v [I, d], o [d, I] */
    float *ln_ca, *cq, *ck, *cv, *co; /* cross-attention (decoder only) */
    float *ln_ff;                     /* [d] */
    float *wi, *wi1;                  /* [F, d]; wi1 = wi_1 when gated */
    float *wo;                        /* [d, F] */
    /* What a fine-tuning method adds (t5_block_ext.h); empty in a plain
     * block. Forward, backward and decoding reach it through the hooks of
     * t5_hooks.h only. */
    lst_t5_block_ext_t ext;
    /* Frozen backbone packed for its forward (lst_t5_to_bf16,
     * lst_t5_pack_f32): the linears so packed have a NULL float32 field. */
    lst_t5_packed_t pq, pk, pv, po, pcq, pck, pcv, pco, pwi, pwi1, pwo;
} lst_t5_block_t;

typedef struct {
    float *shared;              /* [V, d] */
    float *lm_head;             /* [V, d]; == shared when tied */
    float *enc_rel, *dec_rel;   /* [buckets, H] */
    float *enc_final, *dec_final; /* [d] */
    lst_t5_block_t *enc;        /* [num_layers] */
    lst_t5_block_t *dec;        /* [num_decoder_layers] */
    float *lm_bias;             /* [V] BitFit's LM head bias, or NULL */
    float *prompt;              /* [prompt_len, d] prompt tuning's vectors, or NULL */
    int prompt_len;
} lst_t5_weights_t;

/* What a fine-tuning method adds to the backbone and what it trains
 * (LST-SPEC section 6; peft.c builds it from a method name). All zero: the
 * plain backbone, every parameter trainable (full fine-tuning, Fisher). */
typedef struct {
    int bitfit;          /* a bias on every linear, the LM head and every block norm */
    int adapter_dim;     /* Houlsby adapters' hidden size (0: none) */
    int lora_rank;       /* LoRA on q and v of every attention (0: none) */
    float lora_alpha;    /* LoRA scale = alpha / rank */
    float lora_dropout;
    int prompt_len;      /* prompt vectors prepended to the encoder input (0: none) */
    int frozen_base;     /* 1: backbone weights frozen (every method but full) */
    int train_norms;     /* with frozen_base: layer-norm weights still train (adapters) */
    int freeze_layers;   /* the first k layers, encoder first, and the embedding frozen */
} lst_t5_ext_t;

typedef struct {
    lst_t5_config_t cfg;
    int vocab;           /* rows of shared / lm_head in use */
    int n_params;
    lst_param_t *params;
    size_t n_floats;
    float *flat;         /* the parameters */
    lst_t5_weights_t w;  /* points into flat */
    lst_t5_ext_t ext;
    /* Trainable parameters come first in the table: params[0, n_trainable)
     * fill flat[0, n_trainable_floats), so gradients and optimizer state
     * cover exactly them. */
    int n_trainable;
    size_t n_trainable_floats;
    /* Where backward can stop (derived from ext): encoder blocks below
     * enc_stop and decoder blocks below dec_stop need no gradient; enc_need:
     * the encoder needs any gradient at all. */
    int enc_stop, dec_stop, enc_need;
    lst_wformat_t fmt;   /* the block linears' format (lst_t5_pack); LST_WF_F32: as loaded */
    void *packed;        /* their store, for formats that do not pack in place, or NULL */
    size_t packed_bytes;
    /* The loaded backbone's fingerprint (lst_t5_load): XXH3-64 of the
     * config.json bytes, and of the tensors read (each tensor's name and
     * file bytes, combined order-free). 0, 0 for a model not from disk. */
    uint64_t fp_config, fp_weights;
    /* Tensors of the checkpoint the model does not use (a tied model's
     * lm_head.weight, leftover adapter tensors): how many, and the first
     * names, comma-separated (transformers warns about the same). */
    int n_unused;
    char unused[320];
} lst_t5_t;

/* A linear of a block: y = x W^T (+ b), from the packed weight when the
 * backbone was packed (Wp.data), else from the float32 one through SGEMM. */
void lst_t5_linear(float *y, const float *x, const float *W, lst_t5_packed_t Wp, const float *b,
                   int N, int in, int out);
/* W: [M, K] float32 <- a packed linear (exact for float32 panels; the
 * bf16-rounded values for bf16). */
void lst_t5_unpack(float *W, lst_t5_packed_t Wp, int M, int K);

/* 1 for a block linear's Hugging Face name (q, k, v, o of either
 * attention, wi, wi_0, wi_1, wo): what the bf16 backbone packs. */
int lst_t5_is_block_linear(const char *name);

/* Stores every block linear of a frozen backbone in format fmt
 * (ops/wformat.h), for its forward and decoding only: no backward, Fisher
 * or pruning afterwards. Formats that pack in place keep the bytes (the
 * cross-attention's key and value stay float32: the folded cross-attention
 * reads them); the others release the float32 linears (fill: each linear's
 * float32 values one tensor at a time from elsewhere, as a loader does;
 * NULL: from m->flat). A speed-only format the CPU has no kernel for is a
 * no-op, and so is fmt on a backbone already in it; another format on a
 * packed backbone is an error. */
typedef int (*lst_t5_fill_fn)(const lst_param_t *p, float *dst, void *ctx, lst_err_t *err);
int lst_t5_pack(lst_t5_t *m, lst_wformat_t fmt, lst_t5_fill_fn fill, void *ctx, lst_err_t *err);
/* The same with each block linear's bytes already in format fmt (a
 * checkpoint lst quantize wrote): fill copies n bytes into dst. fmt must
 * keep a store of its own (bf16, int8, q4). */
typedef int (*lst_t5_fill_bytes_fn)(const lst_param_t *p, void *dst, size_t n, void *ctx,
                                    lst_err_t *err);
int lst_t5_pack_prepacked(lst_t5_t *m, lst_wformat_t fmt, lst_t5_fill_bytes_fn fill, void *ctx,
                          lst_err_t *err);
/* lst quantize (t5_quantize.c): dir's checkpoint (one file or shards)
 * written to out with every block linear packed in fmt (bf16, int8, q4),
 * one tensor at a time, its "__metadata__" naming the format; the other
 * tensors, config.json and the tokenizer's files copied. Such a file loads
 * only as that dtype (lst_t5_load_frozen), without conversion. */
#define LST_WEIGHT_FORMAT_KEY "lst_weight_format"
#define LST_WEIGHT_VERSION_KEY "lst_weight_format_version"
#define LST_WEIGHT_VERSION "1"
int lst_t5_quantize(const char *dir, lst_wformat_t fmt, const char *out, lst_err_t *err);

/* A packed block read as float32 (the pruning initialisation of a frozen
 * backbone stored packed): *out = *b with every packed linear unpacked into
 * scratch (lst_t5_block_unpacked_floats(c, decoder) floats: the dequantized
 * values, which is what the backbone computes with) and its packed member
 * cleared; linears already float32 are left as they are. */
size_t lst_t5_block_unpacked_floats(const lst_t5_config_t *c, int decoder);
void lst_t5_block_unpacked(const lst_t5_config_t *c, const lst_t5_block_t *b, int decoder,
                           lst_t5_block_t *out, float *scratch);

/* Bytes of the parameters with the block linears in format fmt. */
size_t lst_t5_weight_bytes(const lst_t5_config_t *c, int vocab, lst_wformat_t fmt);

/* Converts a frozen backbone to bf16 compute (LST-SPEC section 9): every
 * block linear (q, k, v, o, cross-attention, wi[_0, wi_1], wo) is rounded
 * to bf16 and packed, and its float32 copy released; the embedding, LM
 * head, relative biases and norms stay float32. Forward and decoding only:
 * no backward, Fisher or pruning afterwards. */
int lst_t5_to_bf16(lst_t5_t *m, lst_err_t *err);
/* The same, each block linear's float32 values given by fill (one tensor
 * at a time) instead of read from m->flat, whose linears are never touched:
 * a loader converts without ever holding the float32 backbone. */
int lst_t5_to_bf16_from(lst_t5_t *m, lst_t5_fill_fn fill, void *ctx, lst_err_t *err);
/* lst_t5_load of a frozen backbone in dtype: where dtype streams
 * (lst_t5_streams), straight to its packed block linears, never holding
 * them in float32; otherwise lst_t5_load (lst_t5_freeze packs later). */
int lst_t5_load_frozen(lst_t5_t *m, const char *dir, int vocab_limit, lst_wformat_t dtype,
                       lst_err_t *err);
/* lst_t5_load_frozen in bf16. */
int lst_t5_load_bf16(lst_t5_t *m, const char *dir, int vocab_limit, lst_err_t *err);
/* Bytes of the converted backbone's parameters (float32 rest + bf16 packed). */
size_t lst_t5_bf16_bytes(const lst_t5_config_t *c, int vocab);
/* Bytes of the packed store's product workspace (wformat.h; 0 for none). */
size_t lst_t5_pack_workspace(const lst_t5_config_t *c, int vocab, lst_wformat_t fmt);
/* Packs a frozen backbone's block linears in place, as float32 panels for
 * lst_matmul_forward_f32p (the same numbers and bytes; SGEMM no longer packs
 * every weight on every call), except the decoder's cross-attention key and
 * value (read as float32 by the folded cross-attention). Their parameters
 * leave m->params and their float32 fields become NULL: forward and
 * decoding only, as after lst_t5_to_bf16. A no-op without AVX-512 (the
 * plain-C kernel would be slower than SGEMM) or on a packed backbone. */
int lst_t5_pack_f32(lst_t5_t *m, lst_err_t *err);
/* A side method's backbone, once nothing needs its float32 block linears
 * any more (after the side network's initialisation): its block linears
 * stored in the frozen format of dtype (ops/wformat.h: fp32 -> float32
 * panels where the CPU has the kernel, bf16 -> bf16 panels). */
int lst_t5_freeze(lst_t5_t *m, lst_wformat_t dtype, lst_err_t *err);
/* 1 when dtype's frozen format is a store of its own (not in place), so a
 * loader can pack the block linears one at a time (lst_t5_load_frozen). */
int lst_t5_streams(lst_wformat_t dtype);

/* Builds the parameter layout for cfg with `vocab` rows (<= cfg vocab_size)
 * and allocates zeroed parameters. */
int lst_t5_create(lst_t5_t *m, const lst_t5_config_t *cfg, int vocab,
                  lst_err_t *err);
/* The same with a method's extensions (ext may be NULL). Extension
 * parameters start at zero: lst_t5_ext_init gives them their values. */
int lst_t5_create_ext(lst_t5_t *m, const lst_t5_config_t *cfg, int vocab,
                      const lst_t5_ext_t *ext, lst_err_t *err);

/* Loads DIR/config.json and DIR/model.safetensors. vocab_limit > 0 keeps
 * only the first vocab_limit rows of shared/lm_head (the tokenizer's size);
 * 0 keeps the checkpoint's. Any tensor with a shape that disagrees with the
 * config, or a missing tensor, is an error naming it. */
int lst_t5_load(lst_t5_t *m, const char *dir, int vocab_limit, lst_err_t *err);
/* Loads with a method's extensions (not in the checkpoint: initialised by
 * lst_t5_ext_init(m, seed) afterwards). */
int lst_t5_load_ext(lst_t5_t *m, const char *dir, int vocab_limit, const lst_t5_ext_t *ext,
                    lst_err_t *err);
/* Parameters (floats) of the layout with an extension, and how many train,
 * without allocating them (the memory plan). */
int lst_t5_ext_count(const lst_t5_config_t *c, int vocab, const lst_t5_ext_t *e,
                     size_t *trainable, size_t *total, lst_err_t *err);
/* Backward stop points of a config and extension (see lst_t5_t). */
void lst_t5_grad_plan(const lst_t5_config_t *c, const lst_t5_ext_t *ext, int *enc_stop,
                      int *dec_stop, int *enc_need);
void lst_t5_free(lst_t5_t *m);

/* Appends one block's parameters under `prefix` (e.g. "encoder.block.3"):
 * HF sub-names; the relative attention bias only if with_rel. */
int lst_t5_layout_block(lst_layout_t *L, const lst_t5_config_t *c,
                        const char *prefix, int decoder, int with_rel,
                        lst_err_t *err);
/* Points b at the block `prefix` of a table (absent tensors -> NULL). */
void lst_t5_bind_block(const lst_param_t *p, int n, float *flat,
                       const lst_t5_config_t *c, const char *prefix,
                       int decoder, lst_t5_block_t *b);

/* Points w at a buffer with m's layout (allocates the block arrays; release
 * with lst_t5_weights_free). */
int lst_t5_bind(const lst_t5_t *m, float *flat, lst_t5_weights_t *w,
                lst_err_t *err);
void lst_t5_weights_free(lst_t5_weights_t *w);
/* Re-points an already bound w (its block arrays allocated) at flat. */
void lst_t5_bind_fill(const lst_t5_t *m, float *flat, lst_t5_weights_t *w);
/* The same for a gradient buffer of n_trainable_floats: frozen parameters
 * get NULL (their gradient is never computed). */
void lst_t5_bind_grads(const lst_t5_t *m, float *grads, lst_t5_weights_t *w);

/* The FFN activation of the config as an lst_op_act_t (ops.h). */
int lst_t5_op_act(const lst_t5_config_t *c);

/* The batch (batch.h); ids are checked against the vocabulary by lst_t5_check_batch. */

int lst_t5_check_batch(const lst_t5_t *m, const lst_batch_t *b,
                       lst_err_t *err);

/* Saved activations of one block (what its backward needs). */
typedef struct {
    float *rstd_sa, *n_sa, *q, *k, *v, *lse, *ctx, *xa;   /* lse: [B, H, T] */
    float *rstd_ca, *n_ca, *cq, *ck, *cv, *clse, *cctx, *xb;
    float *rstd_ff, *n_ff, *h, *l, *act; /* act == h (overwritten) for ReLU and forward-only sets */
    lst_t5_ext_acts_t ext; /* what the methods save (t5_block_ext.h); NULL when absent */
    /* the folded cross-attention's scratch (then ck, cv are NULL), and room
     * for a bf16 backbone's ck, cv as floats [2, I, d] and its bf16-rounded
     * input [B, Ts, d] (untouched in float32) */
    float *fold, *fold_w;
} lst_t5_block_acts_t;

/* Backward scratch for blocks of up to T (and Ts source) positions. */
typedef struct {
    float *dres, *dn, *dtmp, *dI, *dF, *dF2, *dF3, *dq, *dk, *dv, *dck, *dcv, *attn;
    float *ext_x, *ext_dx, *ext_a, *ext_b; /* extensions: [Nm, max(d, I)] x 2, [Nm, max(A, r)] x 2 */
    float *base;
} lst_t5_bwd_scratch_t;

/* Activations of one forward pass. With keep_all every block keeps its
 * own lst_t5_block_acts_t (needed for backward); without, one set is reused
 * by every block, and only the taps survive. */
typedef struct {
    int B, Ts, Td, keep_all;
    float *enc_taps;  /* [L+1, B, Ts, d]: embedding, then each block output */
    float *dec_taps;  /* [Ld+1, B, Td, d] */
    float *enc_out;   /* [B, Ts, d] after the final norm */
    float *dec_out;   /* [B, Td, d] */
    float *enc_rstd, *dec_rstd; /* [B*Ts], [B*Td] */
    float *enc_bias;  /* [H, Ts, Ts] */
    float *dec_bias;  /* [H, Td, Td] */
    float *logits;    /* [B, Td, V] */
    float *head_in;   /* [B, Td, d]: LM head input (scaled when tied) */
    uint8_t *src_mask_ext; /* [B, P + Ts]: the source mask with the prompt (prompt tuning) */
    float *attn_scratch; /* lst_attention_forward_workspace(B, Tm, Tm, H), Tm = max(Ts, Td) */
    int n_blk;
    lst_t5_block_acts_t *enc_blk, *dec_blk;
    /* backward buffers (keep_all only): nothing is allocated inside a step */
    float *dlogits;   /* [B, Td, V] */
    float *dcur, *dnext; /* [B, max(Ts,Td), d] */
    float *denc;      /* [B, Ts, d] */
    float *dbias_enc, *dbias_dec; /* [H, Ts, Ts], [H, Td, Td] */
    lst_t5_bwd_scratch_t bwd;
    lst_t5_weights_t grad_w; /* gradient pointers, re-bound per call */
    float *arena;     /* one allocation behind every buffer above */
    size_t arena_floats;
} lst_t5_acts_t;

/* Carving one allocation into buffers: ../carve.h. */
void lst_t5_block_acts_carve(lst_carve_t *c, lst_t5_block_acts_t *b,
                             const lst_t5_config_t *cfg, int B, int T, int Ts,
                             int decoder);
/* One set of transient buffers for the blocks of a frozen backbone that
 * runs forward only (encoder blocks of Ts positions, decoder blocks of Td):
 * its decoder cross-attention is folded into the queries when that pays
 * (lst_cross_fold_pays), needing no [B, Ts, I] keys or values, with either
 * float32 or bf16 block linears. */
void lst_t5_block_acts_carve_fwd(lst_carve_t *c, lst_t5_block_acts_t *b,
                                 const lst_t5_config_t *cfg, int B, int Ts, int Td);

int lst_t5_acts_alloc(lst_t5_acts_t *a, const lst_t5_t *m, int B, int Ts,
                      int Td, int keep_all, lst_err_t *err);
void lst_t5_acts_free(lst_t5_acts_t *a);
/* Floats lst_t5_acts_alloc would allocate (0 if out of memory planning). */
size_t lst_t5_acts_floats(const lst_t5_t *m, int B, int Ts, int Td, int keep_all);
/* The part of the keep_all floats that only the backward uses. */
size_t lst_t5_acts_bwd_floats(const lst_t5_t *m, int B, int Ts, int Td);

/* Dropout: drop == NULL (or p == 0) is eval mode. A base site (seed,
 * stream) expands to one stream per (stack, layer) and site inside it, so
 * backward regenerates every mask; the forward and backward key its rows
 * by the batch's example_ids (lst_drop_batch). */
lst_drop_t lst_drop_layer(const lst_drop_t *base, int stack, int layer);

/* Full forward. Returns the loss if batch->labels (the sum of the row
 * losses / lst_batch_label_count: the mean, or this batch's share of the
 * whole batch's), else 0. */
double lst_t5_forward(const lst_t5_t *m, const lst_batch_t *batch,
                      lst_t5_acts_t *a, const lst_drop_t *drop);

/* Encoder length with the prompt (prompt tuning prepends prompt_len
 * positions), and the mask over it (the batch's, or the extended one in a). */
int lst_t5_enc_len(const lst_t5_t *m, int Ts);
const uint8_t *lst_t5_enc_mask(const lst_t5_t *m, const lst_batch_t *bt,
                               const lst_t5_acts_t *a);

/* Encoder only (fills enc_taps, enc_out: [B, enc_len, d]). */
void lst_t5_encode(const lst_t5_t *m, const lst_batch_t *batch,
                   lst_t5_acts_t *a, const lst_drop_t *drop);

/* Full backward of the forward's loss into grads (layout of m; accumulates).
 * Needs a forward with keep_all and labels, and the forward's dropout. */
int lst_t5_backward(const lst_t5_t *m, const lst_batch_t *batch,
                    const lst_t5_acts_t *a, const lst_drop_t *drop,
                    float *grads, lst_err_t *err);

/* One block, for callers that drive the stacks themselves (the side
 * network). x: [B, T, d] -> out: [B, T, d]; enc: [B, Ts, d] for a decoder
 * block's cross-attention, NULL in the encoder. drop: the block's base
 * site (lst_drop_layer of a site whose rows are set: lst_drop_batch) or
 * NULL; scratch: lst_attention_forward_workspace(B, Tm, Tm, H), Tm = max(T, Ts). */
void lst_t5_block_forward(const lst_t5_config_t *c, const lst_t5_block_t *w,
                          lst_t5_block_acts_t *a, float *out, const float *x,
                          int B, int T, const float *bias,
                          const uint8_t *self_mask, int causal,
                          const float *enc, int Ts, const uint8_t *src_mask,
                          const lst_drop_t *drop, float *scratch);

int lst_t5_bwd_scratch_alloc(lst_t5_bwd_scratch_t *s, const lst_t5_config_t *c,
                             int B, int T, int Ts, lst_err_t *err);
/* The same buffers carved from a caller's allocation (base stays NULL).
 * cross_kv 0: no cross-attention key/value gradients (dck, dcv NULL), for
 * decoders whose cross-attention is folded. */
void lst_t5_bwd_scratch_carve(lst_carve_t *cv, lst_t5_bwd_scratch_t *s,
                              const lst_t5_config_t *c, int B, int T, int Ts, int cross_kv);
void lst_t5_bwd_scratch_free(lst_t5_bwd_scratch_t *s);

/* dout -> dx (overwritten); weight gradients accumulate into g's non-NULL
 * members; dbias [H, T, T] accumulates; denc [B, Ts, d] accumulates (may be
 * NULL: the encoder output needs no gradient). bias, masks, causal, enc and
 * drop: exactly the forward's. */
void lst_t5_block_backward(const lst_t5_config_t *c, const lst_t5_block_t *w,
                           const lst_t5_block_t *g, const lst_t5_block_acts_t *a,
                           float *dx, const float *dout, const float *x, int B,
                           int T, const float *bias, const uint8_t *self_mask,
                           int causal, float *dbias, const float *enc, float *denc,
                           int Ts, const uint8_t *src_mask, const lst_drop_t *drop,
                           lst_t5_bwd_scratch_t *s);

/* Incremental greedy decoding: the decoder one token at a time, keys and
 * values of past positions cached. Stepping gives the same logits as the
 * full forward over the same prefix. The cache works for any stack of
 * decoder blocks of one config (the backbone's, or the side network's). */
typedef struct {
    const lst_t5_config_t *cfg;
    int B, Ts, max_len, len, n_layers;
    float *self_k, *self_v;   /* [n_layers, B, max_len, I] */
    float *cross_k, *cross_v; /* [n_layers, B, Ts, I] */
    uint8_t *src_mask;        /* [B, Ts] */
    float *x;                 /* [B, d]: the running hidden state of this step */
    float *n, *q, *kk, *vv, *ctx, *tmp, *h, *l, *probs, *bias; /* step scratch */
    float *lu, *lx, *ay, *au, *ag; /* method extensions: LoRA, adapter scratch */
    /* folded cross-attention (cross_fold.c) for the first fold_until steps
     * (cross_k, cross_v are NULL until then): the steps cost less than
     * projecting the encoder output, and greedy generation mostly stops
     * early (keys and values without bias or LoRA; 0 otherwise) */
    int fold_until;
    const float *enc;         /* [B, Ts, d]: the caller's encoder output, kept alive */
    float *enc16;             /* [B, Ts, d]: enc rounded to bf16 (bf16 backbone) or NULL */
    float *fold_w;            /* [n_layers, 2, I, d]: ck, cv as floats (bf16 backbone) or NULL */
    float *fold;              /* lst_cross_fold_scratch(B, 1, Ts, H, d) */
    size_t bytes;             /* allocated so far (lst_dec_cache_bytes predicts the peak) */
} lst_t5_cache_t;

/* blocks[l] for l < n_layers; enc_out: [B, Ts, cfg->d_model], which must
 * outlive the cache (a folded cross-attention reads it at every step). */
int lst_dec_cache_init(lst_t5_cache_t *c, const lst_t5_config_t *cfg,
                       const lst_t5_block_t *const *blocks, int n_layers,
                       const float *enc_out, const uint8_t *src_mask, int B,
                       int Ts, int max_len, lst_err_t *err);
/* The most bytes a cache for these blocks holds: what lst_dec_cache_init
 * allocates, plus the cross-attention keys and values projected later when
 * the generation outlasts the folded steps. dtype: the frozen dtype the
 * blocks are (or will be, once frozen) stored in; LST_WF_F32 for blocks
 * that stay float32 (a side network, a trained backbone). The memory plan
 * of evaluation. */
size_t lst_dec_cache_bytes(const lst_t5_config_t *cfg, const lst_t5_block_t *const *blocks,
                           int n_layers, int B, int Ts, int max_len, lst_wformat_t dtype);
/* The causal relative bias [H, 1, len+1] of the next position. */
void lst_dec_cache_bias(lst_t5_cache_t *c, const float *rel_table);
/* Layer l on c->x (one new position per row), appending to its cache. */
void lst_dec_cache_layer(lst_t5_cache_t *c, const lst_t5_block_t *w, int l);
void lst_t5_cache_free(lst_t5_cache_t *c);

/* The backbone's decoder with its cache. */
int lst_t5_cache_init(lst_t5_cache_t *c, const lst_t5_t *m,
                      const float *enc_out, const uint8_t *src_mask, int B,
                      int Ts, int max_len, lst_err_t *err);
/* ids: [B] tokens at position c->len; logits: [B, V]. Fails when full. */
int lst_t5_decode_step(const lst_t5_t *m, lst_t5_cache_t *c,
                       const int32_t *ids, float *logits, lst_err_t *err);

/* One greedy step shared by the generators: the argmax of each row of lg
 * [B, V] becomes out[b, t] until the row's EOS (out_len counts the ids
 * before it; done marks finished rows), and ids[b] the next decoder input
 * (teacher[b, t] when teacher is given). Returns 1 when generation can
 * stop (every row done, no teacher). lst_greedy_begin clears out, out_len
 * and done and sets ids to the decoder start token. */
void lst_greedy_begin(int B, int max_len, int start, int32_t *out, int *out_len, int *done,
                      int32_t *ids);
int lst_greedy_pick(const float *lg, int B, int V, int t, int max_len, int eos,
                    const int32_t *teacher, int32_t *out, int *out_len, int *done, int32_t *ids);

/* The most bytes lst_t5_generate holds for a batch [B, Ts] and max_len
 * steps (the memory plan of evaluation). */
size_t lst_t5_generate_bytes(const lst_t5_t *m, int B, int Ts, int max_len);

/* Greedy generation with the backbone alone (and a method's extensions):
 * as lst_side_generate in side.h (out: [B, max_len], EOS included, 0
 * after; teacher/logits for tests). */
int lst_t5_generate(const lst_t5_t *m, const lst_batch_t *bt, int max_len, int32_t *out,
                    int *out_len, const int32_t *teacher, float *logits, lst_err_t *err);

#endif
