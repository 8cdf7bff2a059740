/* data.h: tokenized (source, target) examples and the batches made from
 * them: sources truncated to max_src - 1 pieces + EOS, targets (with EOS)
 * truncated to max_tgt (LST_MAX_TARGET_IDS by default), dynamic padding to the longest row of a batch. */
#ifndef LST_DATA_H
#define LST_DATA_H

#include <stdint.h>

#include "../core/error.h"
#include "../io/glue.h"
#include "../io/tokenizer.h"
#include "../model/batch.h"

typedef struct {
    int n;
    int32_t **src, **tgt;  /* per example, EOS-terminated */
    int *src_len, *tgt_len;
    char **target_text;    /* the label string, for metrics */
} lst_tokdata_t;

/* Targets longer than this many ids (EOS included) are cut to it, like
 * sources at --max-source-length (128): one 25 KB target once made a run
 * pad every batch to thousands of decoder positions (2.3 GB and 62 s for
 * two steps). 128 is also the final generation length, so a longer target
 * could never be produced anyway; GLUE's targets are 2-3 ids. The metrics
 * compare against the whole target text, which is kept. */
#define LST_MAX_TARGET_IDS 128

/* max_tgt <= 0: LST_MAX_TARGET_IDS. */
int lst_tokdata_build(lst_tokdata_t *d, const lst_dataset_t *ds, const lst_tokenizer_t *tok,
                      int max_src, int max_tgt, lst_err_t *err);
void lst_tokdata_free(lst_tokdata_t *d);
/* Cuts every target of some datasets (NULL entries skipped) to the longest
 * label among them, like the reference; returns that length (ids incl. EOS). */
int lst_tokdata_cap_targets(lst_tokdata_t *const *ds, int n);

/* A padded batch (owns its arrays). */
typedef struct {
    int32_t *input_ids, *dec_ids, *labels;
    uint8_t *src_mask;
    int64_t *example_ids;
    lst_batch_t view;
} lst_padded_batch_t;

/* Rows idx[0..B-1] of d. Labels -100 on padding; decoder inputs = labels
 * shifted right from start_id; no decoder padding mask (causal only, as
 * the reference trains). Each row's example id is its index in d (its
 * dropout key), and the label count the batch's own. */
int lst_batch_make(lst_padded_batch_t *b, const lst_tokdata_t *d, const int *idx, int B,
                   int start_id, lst_err_t *err);
void lst_batch_release(lst_padded_batch_t *b);

/* The order of epoch `epoch` under `seed`: a Fisher-Yates shuffle drawn
 * from Philox (seed, epoch), so any epoch's order is known without
 * replaying the earlier ones (exact resume mid-run). */
void lst_epoch_order(int *order, int n, uint64_t seed, int epoch);

#endif
