/* evaluate.h: greedy generation over a dataset, decoding, and the task's
 * metrics (LST-SPEC section 5). */
#ifndef LST_EVALUATE_H
#define LST_EVALUATE_H

#include "../io/tokenizer.h"
#include "../model/side.h"
#include "data.h"
#include "metrics.h"
#include "tapcache.h"

/* s: the side network, or NULL when the method trained the backbone (its
 * additions live in bb). task NULL: custom data, scored by exact-match accuracy. preds (optional):
 * receives n malloc'ed prediction strings (free with lst_preds_free). */
int lst_evaluate(const lst_backbone_t *bb, const lst_side_t *s, const lst_tokenizer_t *tok,
                 const lst_tokdata_t *d, const lst_task_t *task, int max_gen, int batch,
                 lst_metrics_t *m, char ***preds, lst_err_t *err);
/* The same with the split's evaluation tap cache (tapcache.h; NULL: none):
 * the encoder's taps of rows it stores are read, the others stored. */
int lst_evaluate_tc(const lst_backbone_t *bb, const lst_side_t *s, const lst_tokenizer_t *tok,
                    const lst_tokdata_t *d, const lst_task_t *task, int max_gen, int batch,
                    lst_tapcache_t *tc, lst_metrics_t *m, char ***preds, lst_err_t *err);
void lst_preds_free(char **preds, int n);

/* The most bytes lst_evaluate holds at once over data d in batches of
 * `batch` (each padded to the longest source of d) with max_gen steps, the
 * prediction strings aside (a few bytes a row): the memory plan of
 * evaluation. fmt: the side methods' backbone weights' format, now or once
 * frozen. taps: the key of d's evaluation tap cache (its given taps are
 * held too), or NULL. */
size_t lst_evaluate_bytes(const lst_backbone_t *bb, const lst_side_t *s, const lst_tokdata_t *d,
                          int max_gen, int batch, lst_wformat_t fmt, const lst_tc_key_t *taps);

/* Generates for raw ids rows (used by predict): src[i] of length len[i]. */
int lst_generate_texts(const lst_backbone_t *bb, const lst_side_t *s, const lst_tokenizer_t *tok,
                       int32_t *const *src, const int *len, int n, int max_gen,
                       char **out, lst_err_t *err);

#endif
