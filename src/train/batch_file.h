/* batch_file.h: a token batch read from safetensors under the golden names
 * (input_ids, attention_mask, decoder_input_ids, decoder_attention_mask,
 * labels). Integer tensors may be I64 or I32. */
#ifndef LST_BATCH_FILE_H
#define LST_BATCH_FILE_H

#include <stdint.h>

#include "../core/error.h"
#include "../model/batch.h"

typedef struct {
    int32_t *input_ids, *dec_ids, *labels;
    uint8_t *src_mask, *dec_mask;
    lst_batch_t view; /* points at the arrays above */
} lst_batch_file_t;

/* input_ids [B, Ts] is required; attention_mask [B, Ts] defaults to all
 * ones; labels [B, Td] optional; decoder_input_ids [B, Td] defaults to
 * labels shifted right (start token `start_id`, -100 -> pad 0);
 * decoder_attention_mask is read when present (masks must be 0/1). */
int lst_batch_load(lst_batch_file_t *b, const char *path, int start_id,
                   lst_err_t *err);
void lst_batch_free(lst_batch_file_t *b);

#endif
