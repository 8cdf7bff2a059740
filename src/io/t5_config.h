/* t5_config.h: Hugging Face T5 config.json <-> lst_t5_config_t.
 *
 * Absent keys take transformers' T5Config defaults (vocab_size 32128,
 * d_model 512, d_kv 64, d_ff 2048, num_layers 6, num_decoder_layers =
 * num_layers, num_heads 8, relative_attention_num_buckets 32,
 * relative_attention_max_distance 128, dropout_rate 0.1,
 * layer_norm_epsilon 1e-6, feed_forward_proj "relu", tie_word_embeddings
 * true, pad 0, eos 1, decoder_start 0). feed_forward_proj "gated-gelu" means
 * gated FFN with gelu_new (tanh); "relu" plain; "gelu" the exact erf gelu
 * (as transformers maps it); "gated-relu" too; "gated-silu" (UL2, Flan-UL2)
 * a gated FFN with silu = x sigmoid(x). */
#ifndef LST_T5_CONFIG_H
#define LST_T5_CONFIG_H

#include "../core/error.h"

/* gelu_new: tanh approximation (v1.1 "gated-gelu"); gelu: exact erf form
 * (transformers' "gelu"). */
typedef enum { LST_ACT_RELU = 0, LST_ACT_GELU_NEW, LST_ACT_GELU, LST_ACT_SILU } lst_act_t;

typedef struct {
    int vocab_size;
    int d_model;
    int d_kv;
    int d_ff;
    int num_layers;         /* encoder blocks */
    int num_decoder_layers; /* decoder blocks */
    int num_heads;
    int rel_buckets;        /* relative_attention_num_buckets */
    int rel_max_distance;   /* relative_attention_max_distance */
    float dropout_rate;
    float layer_norm_eps;
    lst_act_t act;          /* dense activation */
    int gated;              /* 1: wi_0/wi_1 gated FFN */
    int tie_word_embeddings;
    int pad_token_id;
    int eos_token_id;
    int decoder_start_token_id;
    /* "lst_init_id": lst init's fingerprint of the weights it wrote beside
     * this config (also in model.safetensors' __metadata__); "" if none */
    char init_id[40];
} lst_t5_config_t;

/* Fills transformers' defaults. */
void lst_t5_config_default(lst_t5_config_t *c);

/* Parses a config.json file. Malformed JSON, wrong types (e.g. a string
 * d_model), non-positive sizes, unknown feed_forward_proj, or model_type other
 * than "t5" give an error naming the file and key. */
int lst_t5_config_load(lst_t5_config_t *c, const char *path, lst_err_t *err);

/* Parses from a NUL-terminated JSON string (`what` names it in errors). */
int lst_t5_config_parse(lst_t5_config_t *c, const char *json, const char *what,
                        lst_err_t *err);

/* Writes a config.json that transformers can load (atomically). */
int lst_t5_config_save(const lst_t5_config_t *c, const char *path,
                       lst_err_t *err);

/* Checks internal consistency: positive sizes, and sizes small enough that
 * every tensor the config implies has at most 2^31 - 1 entries (each
 * dimension at most 2^24), so that all the size arithmetic downstream fits
 * 64 bits (num_heads = d_kv = 2147483647 once gave "18446734315544038656
 * floats"). The message names the keys and the product. */
int lst_t5_config_validate(const lst_t5_config_t *c, const char *what,
                           lst_err_t *err);

#endif
