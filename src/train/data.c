/* data.c: see data.h. */
#include "data.h"

#include <stdlib.h>
#include <string.h>

#include "../core/rng.h"
#include "../core/streams.h"

void lst_tokdata_free(lst_tokdata_t *d) {
    for (int i = 0; i < d->n; i++) {
        if (d->src) free(d->src[i]);
        if (d->tgt) free(d->tgt[i]);
        if (d->target_text) free(d->target_text[i]);
    }
    free(d->src);
    free(d->tgt);
    free(d->src_len);
    free(d->tgt_len);
    free(d->target_text);
    memset(d, 0, sizeof *d);
}

/* Keeps the first max - 1 ids and ends with EOS (id 1), like the
 * tokenizer's truncation. */
static void truncate_ids(int32_t *ids, int *n, int max) {
    if (max > 0 && *n > max) {
        ids[max - 1] = 1;
        *n = max;
    }
}

int lst_tokdata_build(lst_tokdata_t *d, const lst_dataset_t *ds, const lst_tokenizer_t *tok,
                      int max_src, int max_tgt, lst_err_t *err) {
    memset(d, 0, sizeof *d);
    if (ds->n <= 0) return lst_fail(err, "empty dataset");
    if (max_tgt <= 0) max_tgt = LST_MAX_TARGET_IDS;
    d->src = lst_calloc(ds->n, sizeof *d->src, err);
    d->tgt = lst_calloc(ds->n, sizeof *d->tgt, err);
    d->src_len = lst_calloc(ds->n, sizeof *d->src_len, err);
    d->tgt_len = lst_calloc(ds->n, sizeof *d->tgt_len, err);
    d->target_text = lst_calloc(ds->n, sizeof *d->target_text, err);
    if (!d->src || !d->tgt || !d->src_len || !d->tgt_len || !d->target_text) {
        free(d->src); free(d->tgt); free(d->src_len); free(d->tgt_len); free(d->target_text);
        memset(d, 0, sizeof *d);
        return -1;
    }
    d->n = ds->n;
    for (int i = 0; i < ds->n; i++) {
        const lst_example_t *e = &ds->ex[i];
        if (lst_tokenizer_encode(tok, e->source, strlen(e->source), &d->src[i], &d->src_len[i], err) ||
            lst_tokenizer_encode(tok, e->target, strlen(e->target), &d->tgt[i], &d->tgt_len[i], err) ||
            !(d->target_text[i] = strdup(e->target))) {
            if (!d->target_text[i]) lst_fail(err, "out of memory");
            lst_tokdata_free(d);
            return lst_fail_ctx(err, "example %d", i + 1);
        }
        truncate_ids(d->src[i], &d->src_len[i], max_src);
        truncate_ids(d->tgt[i], &d->tgt_len[i], max_tgt);
    }
    return 0;
}

int lst_tokdata_cap_targets(lst_tokdata_t *const *ds, int n) {
    int m = 0;
    for (int k = 0; k < n; k++)
        for (int i = 0; ds[k] && i < ds[k]->n; i++)
            if (ds[k]->tgt_len[i] > m) m = ds[k]->tgt_len[i];
    for (int k = 0; k < n; k++)
        for (int i = 0; ds[k] && i < ds[k]->n; i++)
            if (ds[k]->tgt_len[i] > m) ds[k]->tgt_len[i] = m;
    return m;
}

void lst_batch_release(lst_padded_batch_t *b) {
    free(b->input_ids);
    free(b->dec_ids);
    free(b->labels);
    free(b->src_mask);
    free(b->example_ids);
    memset(b, 0, sizeof *b);
}

int lst_batch_make(lst_padded_batch_t *b, const lst_tokdata_t *d, const int *idx, int B,
                   int start_id, lst_err_t *err) {
    memset(b, 0, sizeof *b);
    int Ts = 1, Td = 1;
    for (int r = 0; r < B; r++) {
        if (d->src_len[idx[r]] > Ts) Ts = d->src_len[idx[r]];
        if (d->tgt_len[idx[r]] > Td) Td = d->tgt_len[idx[r]];
    }
    b->input_ids = lst_calloc((size_t)B * Ts, sizeof(int32_t), err);
    b->src_mask = lst_calloc((size_t)B * Ts, 1, err);
    b->labels = lst_malloc((size_t)B * Td, sizeof(int32_t), err);
    b->dec_ids = lst_malloc((size_t)B * Td, sizeof(int32_t), err);
    b->example_ids = lst_malloc((size_t)B, sizeof(int64_t), err);
    if (!b->input_ids || !b->src_mask || !b->labels || !b->dec_ids || !b->example_ids) {
        lst_batch_release(b);
        return lst_fail_ctx(err, "batch of %d x %d", B, Ts);
    }
    int64_t count = 0;
    for (int r = 0; r < B; r++) {
        const int i = idx[r];
        b->example_ids[r] = i;
        count += d->tgt_len[i];
        memcpy(b->input_ids + (size_t)r * Ts, d->src[i], sizeof(int32_t) * d->src_len[i]);
        memset(b->src_mask + (size_t)r * Ts, 1, d->src_len[i]);
        for (int t = 0; t < Td; t++) {
            b->labels[(size_t)r * Td + t] = t < d->tgt_len[i] ? d->tgt[i][t] : -100;
            int32_t prev = t ? b->labels[(size_t)r * Td + t - 1] : start_id;
            b->dec_ids[(size_t)r * Td + t] = prev == -100 ? 0 : prev;
        }
    }
    b->view = (lst_batch_t){.B = B, .Ts = Ts, .Td = Td, .input_ids = b->input_ids,
                               .src_mask = b->src_mask, .dec_ids = b->dec_ids,
                               .labels = b->labels, .example_ids = b->example_ids,
                               .label_count = count};
    return 0;
}

void lst_epoch_order(int *order, int n, uint64_t seed, int epoch) {
    lst_rng_t r;
    lst_rng_seed(&r, seed * LST_STREAM_EPOCH_MUL + (uint64_t)epoch + LST_STREAM_EPOCH_BASE);
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(((uint64_t)lst_rng_u32(&r) * (uint64_t)(i + 1)) >> 32);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}
