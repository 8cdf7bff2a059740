/* export.h: a finished run's trained tensors in the forms other tools read.
 *
 *   side.safetensors / tuned.safetensors   the trained tensors, with what it
 *       takes to use them in "__metadata__": the method, the backbone's
 *       fingerprint, and the method's sizes (side networks: r, the kept
 *       layers of each stack, gate_T, the side mode; lora_rank and alpha,
 *       prompt_len, adapter_dim)
 *   adapter_config.json + adapter_model.safetensors   LoRA and prompt
 *       tuning also in PEFT's adapter layout, so that
 *       peft.PeftModel.from_pretrained(T5ForConditionalGeneration..., RUNDIR)
 *       loads them (PEFT's tensor names: base_model.model.<HF module>.lora_A
 *       .weight, prompt_embeddings)
 *   bitfit_biases.safetensors   LoRA here also trains BitFit biases (as the
 *       reference does); PEFT has no place for a bias on T5's bias-free
 *       linears, so they are written beside the adapter, in Hugging Face
 *       module names (<module>.bias), for a loader to add (docs/peft.md).
 *
 * Every file goes through the atomic writer (rundir.h). */
#ifndef LST_EXPORT_H
#define LST_EXPORT_H

#include "../core/error.h"
#include "trainer.h"
#include "tuner.h"

/* The metadata pairs of the trained file (key, value, ..., NULL) into
 * meta (room for cap entries, keys and values counted apart), their text in
 * buf; returns 0, or -1 when cap or the buffer is too small. */
int lst_export_meta(const lst_train_opts_t *o, const lst_tuner_t *tu, const char **meta, int cap,
                    char *buf, size_t len);

/* Writes the trained file (with its metadata) and, for lora and prompt,
 * the PEFT adapter and the LoRA's biases, into run directory dir. */
int lst_export_trained(const char *dir, const lst_train_opts_t *o, const lst_tuner_t *tu,
                       lst_err_t *err);

#endif
