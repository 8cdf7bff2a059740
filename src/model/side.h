/* side.h: the Ladder Side-Tuning side network (LST-SPEC section 2).
 *
 * Per stack (encoder, decoder): first_downsample (Linear d -> ds, bias) on
 * the embedded input ids; for every kept backbone layer i a ladder
 * downsample[i] (Linear d -> ds, bias), a gate alpha_i (mixing weight
 * sigmoid(alpha_i / T)) and a side T5 block with d_model, d_ff, d_kv
 * divided by r (heads unchanged); a final side RMSNorm. Then upsample
 * (Linear ds -> d, bias) and the backbone's frozen LM head. Names follow
 * shared/golden/README.md (side_encoder.block.{i}..., upsample.weight).
 *
 * The paper's two side-network ablations (LST-SPEC section 6) run in the
 * same engine, selected by lst_side_opts_t.mode:
 *   LST_SIDE_TUNING       side-tuning: the same side stacks without ladders
 *                         or per-layer gates; one merge gate before the LM
 *                         head mixes the backbone decoder output with the
 *                         upsampled side output.
 *   LST_SIDE_COMPRESSION  network compression: the side stacks alone; the
 *                         backbone contributes its frozen embedding and LM
 *                         head, and none of its blocks runs. */
#ifndef LST_SIDE_H
#define LST_SIDE_H

#include "../core/error.h"
#include "backbone.h"
#include "layout.h"
/* The side blocks are T5 blocks whatever the backbone (backbone.h): their
 * weights, activations, forward/backward and decoding cache come from here. */
#include "t5/t5.h"

/* What the side network is wired to (zero: Ladder Side-Tuning). */
enum {
    LST_SIDE_LADDER = 0,      /* LST: a ladder and a gate into every kept side block */
    LST_SIDE_TUNING = 1,      /* side-tuning: no ladders; head_in = g*dec_out + (1-g)*up */
    LST_SIDE_COMPRESSION = 2, /* the side network alone: no backbone block runs */
};

/* The kept-layer lists have no fixed length: an options value filled by
 * lst_side_opts_set owns its lists (lst_side_opts_free releases them); a
 * plain struct copy is a view of the same lists, valid while the owner's
 * are, and is never freed. */
typedef struct {
    int r;                        /* reduction factor */
    float gate_T;                 /* gate temperature, 0.1 (also the merge gate's) */
    int n_keep[2];                /* kept layers: [0] encoder, [1] decoder; < 0: all */
    int *keep[2];                 /* [n_keep]: ascending backbone layer indices */
    int mode;                     /* LST_SIDE_LADDER (0), _TUNING or _COMPRESSION */
} lst_side_opts_t;

/* Default options: r = 8, T = 0.1, every layer kept (n_keep -1, no lists). */
void lst_side_opts_default(lst_side_opts_t *o);
/* Stack st keeps keep[0, n) (copied; o's previous list for st released). */
int lst_side_opts_set(lst_side_opts_t *o, int st, const int *keep, int n, lst_err_t *err);
/* dst's lists released, then dst = src with lists of its own. */
int lst_side_opts_copy(lst_side_opts_t *dst, const lst_side_opts_t *src, lst_err_t *err);
void lst_side_opts_free(lst_side_opts_t *o);

/* "ladder", "side-tuning" or "compression". */
const char *lst_side_mode_name(int mode);

/* One side stack. The per-layer arrays have the backbone's layer count
 * L[st] and are indexed by backbone layer. */
typedef struct {
    float *first_w, *first_b;          /* [ds, d], [ds] */
    float **down_w;                    /* [L]: [ds, d]; NULL where not kept, or no ladders */
    float **down_b;                    /* [L]: [ds] */
    float **gate;                      /* [L]: [1], every backbone layer; NULL without ladders */
    lst_t5_block_t *blk;               /* [L]: side blocks; zeroed where not kept */
    const lst_t5_block_t **kept;       /* [n_keep]: &blk[keep[k]], the blocks in order */
    float *rel;                        /* [buckets, H]: the first kept block's */
    float *final_ln;                   /* [ds] */
} lst_side_stack_t;

/* Pointers into one buffer with the side layout; the arrays are allocated
 * once (lst_side_weights_alloc), so binding allocates nothing. */
typedef struct {
    lst_side_stack_t st[2];            /* [0] side_encoder, [1] side_decoder */
    float *up_w, *up_b;                /* [d, ds], [d] */
    float *merge;                      /* [1] side-tuning's merge gate alpha_m; else NULL */
    void *store;                       /* the arrays' allocation */
} lst_side_weights_t;

typedef struct lst_side {
    lst_t5_config_t cfg;   /* the side blocks' config (the backbone's side_config at r) */
    lst_side_opts_t opts;  /* resolved: explicit lists, owned */
    int d_backbone;        /* backbone d_model */
    int L[2];              /* backbone layers per stack */
    int n_params;
    lst_param_t *params;   /* unkept gates are present but not trainable; the
                              ablations have no ladders or gates at all */
    size_t n_floats;
    float *flat;
    lst_side_weights_t w;
} lst_side_t;

/* Validates the options against the backbone (r divides into non-zero side
 * sizes, kept lists ascending, unique and in range, at least one per
 * stack, a known mode) and allocates zeroed parameters. n_keep[st] < 0
 * keeps every layer of that stack (s->opts then holds the resolved list).
 * The table follows the mode: side-tuning and compression have no
 * downsamples.{i} or gates.{i}; side-tuning adds merge_gate [1] last. */
int lst_side_create(lst_side_t *s, const lst_backbone_t *bb,
                    const lst_side_opts_t *o, lst_err_t *err);
/* The same table and shapes without the parameters (flat NULL, w unbound):
 * enough for counting and the memory plan. Release with lst_side_free. */
int lst_side_shape_for(lst_side_t *s, const lst_backbone_t *bb, const lst_side_opts_t *o,
                       lst_err_t *err);
/* The same for a T5 backbone of config c: the registry's counts
 * (methods.c) speak of configs. Defined in t5/t5_backbone.c. */
int lst_side_shape(lst_side_t *s, const lst_t5_config_t *c, const lst_side_opts_t *o,
                   lst_err_t *err);
void lst_side_free(lst_side_t *s);

/* The gate of a kept layer: g = sigmoid(alpha / T) and 1 - g, both from
 * double precision (1 - g computed as sigmoid(-alpha / T), not by
 * subtraction: a saturated gate would otherwise lose its few significant
 * digits, and with them the ladder's gradient). */
void lst_side_gate(const float *alpha, float T, float *g, float *one_minus_g);

/* The arrays of a weights view of s (zeroed); release with
 * lst_side_weights_free. */
int lst_side_weights_alloc(const lst_side_t *s, lst_side_weights_t *w, lst_err_t *err);
void lst_side_weights_free(lst_side_weights_t *w);
/* Points an allocated w at any buffer with s's layout (gradients, moments). */
void lst_side_bind(const lst_side_t *s, float *flat, lst_side_weights_t *w);

/* Reads every side parameter from a safetensors file (names as in
 * lst_side_init.safetensors; strict shapes; a missing tensor is an error). */
int lst_side_load(lst_side_t *s, const char *path, lst_err_t *err);

/* Ladders and upsample N(0, 0.01^2), biases 0, gates alpha = gate_init
 * (side-tuning: the merge gate; its default is 0 like the ladder gates). */
void lst_side_init_ladders(lst_side_t *s, uint64_t seed, float gate_init);
/* The random-init ablation: ladders as above; side blocks' layer norms 1,
 * every other block weight (and the relative bias) N(0, 0.01^2). */
void lst_side_init_random(lst_side_t *s, uint64_t seed);

/* The structural-pruning initialisation (LST-SPEC section 3) of the side
 * blocks, final norms and relative bias from the backbone (its side_prune;
 * T5: t5/prune.c). importance: a buffer with the backbone's layout holding
 * the empirical Fisher, or NULL for magnitude (|W|). */
int lst_side_init_prune(lst_side_t *s, const lst_backbone_t *bb,
                        const float *importance, lst_err_t *err);

/* Empirical Fisher: for each example alone (batch 1, padding removed,
 * dropout off), the full backbone gradient of its mean loss, squared and
 * summed into imp (backbone layout, zeroed by the caller). */
int lst_fisher_importance(const lst_backbone_t *bb, const lst_batch_t *batch,
                          float *imp, lst_err_t *err);
/* The same, calling progress(ctx, done, total) after each example (progress
 * NULL: none): the pass is a full backward per example, minutes on a large
 * backbone, and a user watches it. */
typedef void (*lst_fisher_progress_fn)(void *ctx, int done, int total);
int lst_fisher_importance_cb(const lst_backbone_t *bb, const lst_batch_t *batch, float *imp,
                             lst_fisher_progress_fn progress, void *ctx, lst_err_t *err);



/* ---- side_forward.c: the LST forward and backward ---------------------- */

/* What the side network takes from, and shows of, the backbone (a tap
 * cache: train/tapcache.h). Ladder mode only; the backbone in eval mode
 * (no dropout), or the taps are not a function of the example alone.
 *   tap[st]   given taps [n_keep[st], B, T, d] in the batch's padded
 *             layout: the backbone blocks of stack st do not run. Training
 *             gives both stacks or neither (the backbone decoder needs the
 *             encoder's output); generation gives the encoder's with
 *             enc_out.
 *   enc_out   [B, Ts, d] the backbone encoder's output (after its final
 *             norm), given with tap[0] when the backbone decoder runs.
 *   sink      called with every tap the forward computes (k: the kept
 *             layer's index, x: [B, T, d]) and, when the encoder ran, with
 *             its output (st 0, k -1): the rows a cache stores. */
typedef struct {
    const float *tap[2];
    const float *enc_out;
    void (*sink)(void *ctx, int st, int k, const float *x, int B, int T);
    void *ctx;
} lst_side_taps_t;

/* Everything one LST step keeps: one backbone block's transient buffers,
 * one tap per KEPT layer, and the (small) side activations. The backbone
 * computes no gradient. Side-tuning plans no taps or ladder buffers
 * (taps, D, M stay NULL) but the backbone decoder output and the merged
 * head input; compression plans no backbone buffer at all (bb_* NULL). */
typedef struct {
    int B, Ts, Td;
    /* backbone, transient */
    float *bb_x, *bb_y;          /* [B, Tm, d] ping-pong hidden states */
    float *bb_enc_out;           /* [B, Ts, d] backbone encoder output */
    lst_bb_run_t *bb_run;        /* the backbone's own transient buffers (backbone.h),
                                    carved from the arena after bb_enc_out */
    /* ladders and side, kept for backward */
    float *taps[2];              /* [n_keep, B, T, d]: backbone outputs of kept layers */
    float *s0[2];                /* [B, T, ds] first_downsample output */
    float *D[2], *M[2], *S[2];   /* [n_keep, B, T, ds]: ladder, mixed input, block output */
    lst_t5_block_acts_t *blk[2]; /* [n_keep] side block activations */
    float *rstd[2];              /* [B*T] side final norm */
    float *fin[2];               /* [B, T, ds] side stack output (after norm, dropout) */
    float *bias[2];              /* [H, T, T] side relative bias */
    float *up;                   /* [B, Td, d] upsample output -> LM head input
                                    (side-tuning: the upsample output only) */
    float *bb_dec_out;           /* [B, Td, d] side-tuning: backbone decoder output
                                    after its final norm and dropout */
    float *head;                 /* [B, Td, d] side-tuning: g*bb_dec_out + (1-g)*up */
    float dmerge;                /* side-tuning, training: d(loss)/d(alpha_m), left
                                    by the forward for lst_side_backward */
    float *logits;               /* [B, Td, V]; when training only a chunk of rows */
    float *emb;                  /* [B, Tm, d] embedding scratch */
    float *attn_scratch;         /* lst_attention_forward_workspace(B, Tm, Tm, H) */
    /* backward buffers (only when allocated for training) */
    int backward;
    float *dup;                  /* [B, Td, d]: d(loss)/d(upsample output) */
    float *dfin, *ds_cur, *ds_next, *dD; /* [B, Tm, ds] */
    float *denc;                 /* [B, Ts, ds] */
    float *dbias;                /* [H, Tm, Tm] */
    lst_t5_bwd_scratch_t bwd;    /* side block backward scratch */
    lst_side_weights_t grad_w;   /* the gradients' view (bound at every backward) */
    float *arena;
    size_t arena_floats;
    const lst_backbone_ops_t *bb_ops; /* whose bb_run this is (the static table) */
    const lst_side_taps_t *io;   /* given taps and the tap sink (NULL: none), set by
                                    the caller before a forward; the backward reads
                                    the same taps */
} lst_side_acts_t;

/* The training acts' own tap slots [n_keep[st], B, T, d] at the coming
 * batch's shape: where a tap cache puts the taps it gives (io->tap[st]). */
float *lst_side_tap_buffer(lst_side_acts_t *a, int st);

/* backward: also plan the backward buffers (training). One allocation,
 * made before the first step; nothing is allocated inside a step. */
int lst_side_acts_alloc(lst_side_acts_t *a, const lst_backbone_t *bb, const lst_side_t *s,
                        int B, int Ts, int Td, int backward, lst_err_t *err);
void lst_side_acts_free(lst_side_acts_t *a);
/* Floats lst_side_acts_alloc would allocate (the memory plan). */
size_t lst_side_acts_floats(const lst_backbone_t *bb, const lst_side_t *s, int B, int Ts, int Td,
                            int backward);

/* Dropout: bb_drop for the backbone (unused in compression), side_drop for
 * the side network (NULL: eval mode). Returns the loss if batch->labels (as
 * lst_t5_forward: over the batch's label count), else 0. With acts
 * allocated for training the logits are never whole: the LM head, the loss
 * and the head's backward run a chunk of lst_side_logit_rows rows at a
 * time (a->logits is then scratch); otherwise a->logits holds them all. */
int lst_side_logit_rows(int rows, int V);
double lst_side_forward(const lst_backbone_t *bb, const lst_side_t *s,
                        const lst_batch_t *batch, lst_side_acts_t *a,
                        const lst_drop_t *bb_drop, const lst_drop_t *side_drop);

/* Encoder stacks only, eval mode: fills bb_enc_out (not in compression)
 * and fin[0] (batch->Td and the decoder fields are not used). */
void lst_side_encode(const lst_backbone_t *bb, const lst_side_t *s,
                     const lst_batch_t *batch, lst_side_acts_t *a);

/* ---- side_decode.c: greedy generation, backbone and side decoders
 * stepping together with their key/value caches (side-tuning steps every
 * backbone decoder layer for dec_out; compression has no backbone
 * decoder). ---------------------------------------------------------- */
/* batch: input_ids/src_mask [B, Ts] (decoder fields ignored). out: [B,
 * max_len] generated ids (EOS included when produced, 0 after); out_len[b]:
 * ids before EOS. If logits is non-NULL and teacher != NULL, the decoder is
 * fed teacher [B, max_len] instead of its own argmax and logits [B,
 * max_len, V] receives every step's logits (for testing). */
/* The most bytes lst_side_generate holds for a batch [B, Ts] and max_len
 * steps (the memory plan of evaluation); fmt: the backbone's weight format,
 * now or once frozen. */
size_t lst_side_generate_bytes(const lst_backbone_t *bb, const lst_side_t *s, int B, int Ts,
                               int max_len, lst_wformat_t fmt);
int lst_side_generate(const lst_backbone_t *bb, const lst_side_t *s,
                      const lst_batch_t *batch, int max_len, int32_t *out,
                      int *out_len, const int32_t *teacher, float *logits,
                      lst_err_t *err);
/* The same (no teacher) with the encoder's taps given or observed (io: tap[0]
 * with enc_out, or a sink; see lst_side_taps_t). */
int lst_side_generate_io(const lst_backbone_t *bb, const lst_side_t *s,
                         const lst_batch_t *batch, const lst_side_taps_t *io, int max_len,
                         int32_t *out, int *out_len, lst_err_t *err);

/* Gradient of the forward's loss w.r.t. every side parameter, accumulated into
 * grads (s's layout). Needs the forward's acts (allocated with backward)
 * and side_drop. */
int lst_side_backward(const lst_backbone_t *bb, const lst_side_t *s,
                      const lst_batch_t *batch, const lst_side_acts_t *a,
                      const lst_drop_t *side_drop, float *grads, lst_err_t *err);
#endif
