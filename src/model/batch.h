/* batch.h: the batch every backbone, the side network and the trainer
 * share (sequence-to-sequence: source ids, decoder ids, labels). It knows
 * nothing of a model: ids are checked against a vocabulary by the backbone
 * (lst_backbone_check_batch). */
#ifndef LST_BATCH_H
#define LST_BATCH_H

#include <stdint.h>

typedef struct {
    int B, Ts, Td;
    const int32_t *input_ids;  /* [B, Ts] */
    const uint8_t *src_mask;   /* [B, Ts] 1 = token, 0 = padding */
    const int32_t *dec_ids;    /* [B, Td] */
    const uint8_t *dec_mask;   /* [B, Td] or NULL (causal masking only) */
    const int32_t *labels;     /* [B, Td], -100 = ignore; NULL: no loss */
    /* What makes a share of a larger batch compute its part of the whole:
     * example_ids [B] is each row's global index (its dropout masks' key,
     * ops.h), NULL: the row number; label_count is the labels (!= -100)
     * counted over the WHOLE batch, the loss normaliser (0: this batch's). */
    const int64_t *example_ids;
    int64_t label_count;
} lst_batch_t;

/* The loss normaliser of a batch: label_count, or its own labels counted. */
int64_t lst_batch_label_count(const lst_batch_t *b);

#endif
