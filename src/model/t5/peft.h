/* peft.h: the baselines' additions to the backbone (LST-SPEC section 6):
 * which parameters each method adds and trains, their names, and their
 * initialisation, each read from the method's parts (t5_hooks.h:
 * bitfit.c, lora.c, adapter.c, prompt.c), which also hold its computation.
 *
 * Names of the added parameters (beside the Hugging Face ones):
 *   BitFit    <linear>.bias ([out]); <block>.layer.N.layer_norm.bias ([d]);
 *             lm_head.bias ([V])
 *   adapters  <block>.layer.0.adapter.{down,up}.{weight,bias} after the
 *             self-attention; <block>.layer.{1|2}.adapter... after the FFN
 *   LoRA      <attention>.{q,v}.lora_A.weight ([r, d]), lora_B.weight ([I, r])
 *   prompt    prompt.weight ([prompt_len, d]) */
#ifndef LST_PEFT_H
#define LST_PEFT_H

#include "../methods.h"
#include "t5.h"

/* The extension of a backbone method (full, adapters, lora, bitfit,
 * prompt) with freeze_layers; fails on side-network methods. */
int lst_method_ext(const lst_method_t *m, int freeze_layers, const lst_t5_config_t *c,
                   lst_t5_ext_t *ext, lst_err_t *err);
/* 1 for the methods that train inside the backbone. */
int lst_method_is_backbone(const char *name);

/* Appends the extension's parameters of one block (t5_params.c calls it). */
int lst_t5_ext_layout_block(lst_layout_t *L, const lst_t5_config_t *c, const lst_t5_ext_t *e,
                            const char *prefix, int decoder, lst_err_t *err);
/* Appends the model-level ones (LM head bias, prompt). */
int lst_t5_ext_layout_model(lst_layout_t *L, const lst_t5_config_t *c, const lst_t5_ext_t *e,
                            int vocab, lst_err_t *err);
/* Marks what trains (lst_param_t.trainable) by the extension's rules. */
void lst_t5_ext_mark(lst_param_t *p, int n, const lst_t5_config_t *c, const lst_t5_ext_t *e);

/* Initial values of the added parameters: BitFit biases 0; adapters as
 * torch.nn.Linear (weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)));
 * LoRA A Kaiming-uniform (the same bound), B 0; prompt = the first
 * prompt_len rows of the (loaded) vocabulary embedding. Philox(seed). */
void lst_t5_ext_init(lst_t5_t *m, uint64_t seed);

/* Reads the method's trained values from a .safetensors file (a run's
 * tuned.safetensors, or tensors a cross-check chose): every added tensor
 * (LoRA A and B, biases, adapters, the prompt) must be there with its
 * shape, a trainable backbone tensor is read where present, and a tensor
 * that is not a trainable parameter of m is an error naming it. */
int lst_t5_load_method_weights(lst_t5_t *m, const char *path, lst_err_t *err);

#endif
