/* evaluate.c: see evaluate.h. Rows are generated in batches with dynamic
 * padding; generation stops early once every row has produced EOS. */
#include "evaluate.h"

#include <stdlib.h>
#include <string.h>

void lst_preds_free(char **preds, int n) {
    if (!preds) return;
    for (int i = 0; i < n; i++) free(preds[i]);
    free(preds);
}

/* A batch's evaluation tap cache (rows first.. of the split): its given
 * taps or its sink (lst_tc_batch_begin) and the buffers they are read into. */
typedef struct {
    lst_tapcache_t *tc;
    lst_side_taps_t io;
    int64_t *ex;
    float *p0, *p1;
} eval_taps_t;

static int taps_begin(eval_taps_t *t, lst_batch_t *b, int first, lst_err_t *err) {
    const lst_tc_key_t *k = lst_tc_key(t->tc);
    t->ex = lst_malloc(b->B, sizeof *t->ex, err);
    t->p0 = lst_malloc(lst_tc_part_floats(k, 0, b->B, b->Ts, 1), sizeof(float), err);
    t->p1 = lst_malloc(lst_tc_part_floats(k, 1, b->B, b->Ts, 1), sizeof(float), err);
    if (!t->ex || !t->p0 || !t->p1) return -1;
    for (int i = 0; i < b->B; i++) t->ex[i] = first + i;
    b->example_ids = t->ex;
    return lst_tc_batch_begin(t->tc, b, t->p0, t->p1, &t->io, "lst", err);
}

static void taps_end(eval_taps_t *t, int ok) {
    lst_tc_batch_end(t->tc, &t->io, ok, "lst");
    free(t->ex);
    free(t->p0);
    free(t->p1);
}

/* Decodes generated ids into out[0..n) (ids outside the tokenizer, the
 * model being wider, decode as nothing). */
static int decode_rows(const lst_tokenizer_t *tok, int32_t *gen, const int *glen, int n,
                       int max_gen, char **out, lst_err_t *err) {
    for (int i = 0; i < n; i++) {
        int k = 0;
        int32_t *row = gen + (size_t)i * max_gen;
        for (int t = 0; t < glen[i]; t++)
            if (row[t] < lst_tokenizer_vocab_size(tok)) row[k++] = row[t];
        out[i] = NULL;
        if (lst_tokenizer_decode(tok, row, k, &out[i], err)) {
            for (int j = 0; j < i; j++) {
                free(out[j]);
                out[j] = NULL;
            }
            return -1;
        }
    }
    return 0;
}

static int generate_rows(const lst_backbone_t *bb, const lst_side_t *s, const lst_tokenizer_t *tok,
                         int32_t *const *src, const int *len, int n, int first, lst_tapcache_t *tc,
                         int max_gen, char **out, lst_err_t *err) {
    const int B = n;
    int Ts = 1;
    for (int i = 0; i < n; i++) Ts = len[i] > Ts ? len[i] : Ts;
    int32_t *ids = lst_calloc((size_t)B * Ts, sizeof(int32_t), err);
    uint8_t *mask = lst_calloc((size_t)B * Ts, 1, err);
    int32_t *gen = lst_malloc((size_t)B * max_gen, sizeof(int32_t), err);
    int *glen = lst_malloc(B, sizeof(int), err);
    eval_taps_t taps = {tc && s ? tc : NULL};
    int rc = -1;
    if (!ids || !mask || !gen || !glen) goto done;
    for (int i = 0; i < n; i++) {
        memcpy(ids + (size_t)i * Ts, src[i], sizeof(int32_t) * len[i]);
        memset(mask + (size_t)i * Ts, 1, len[i]);
    }
    lst_batch_t b = {B, Ts, 1, ids, mask, NULL, NULL, NULL};
    if (taps.tc && taps_begin(&taps, &b, first, err)) goto done;
    /* s == NULL: the method trained the backbone itself */
    if (s ? lst_side_generate_io(bb, s, &b, taps.tc ? &taps.io : NULL, max_gen, gen, glen, err)
          : lst_bb_generate(bb, &b, max_gen, gen, glen, NULL, NULL, err))
        goto done;
    rc = decode_rows(tok, gen, glen, n, max_gen, out, err);
done:
    if (taps.tc) taps_end(&taps, rc == 0);
    free(ids);
    free(mask);
    free(gen);
    free(glen);
    return rc;
}

int lst_generate_texts(const lst_backbone_t *bb, const lst_side_t *s, const lst_tokenizer_t *tok,
                       int32_t *const *src, const int *len, int n, int max_gen, char **out,
                       lst_err_t *err) {
    return generate_rows(bb, s, tok, src, len, n, 0, NULL, max_gen, out, err);
}

size_t lst_evaluate_bytes(const lst_backbone_t *bb, const lst_side_t *s, const lst_tokdata_t *d,
                          int max_gen, int batch, lst_wformat_t fmt, const lst_tc_key_t *taps) {
    if (d->n <= 0 || batch <= 0 || max_gen <= 0) return 0;
    const int B = d->n < batch ? d->n : batch;
    int Ts = 1;
    for (int i = 0; i < d->n; i++) Ts = d->src_len[i] > Ts ? d->src_len[i] : Ts;
    /* ids, mask, gen, glen of lst_generate_texts; the row pointers */
    size_t own = (size_t)B * Ts * (sizeof(int32_t) + 1) + (size_t)B * max_gen * sizeof(int32_t) +
                 (size_t)B * sizeof(int) + (size_t)d->n * sizeof(char *);
    if (taps && s) /* taps_begin's example ids and the buffers the taps are read into */
        own += (size_t)B * sizeof(int64_t) +
               sizeof(float) * (lst_tc_part_floats(taps, 0, B, Ts, 1) + lst_tc_part_floats(taps, 1, B, Ts, 1));
    return own + (s ? lst_side_generate_bytes(bb, s, B, Ts, max_gen, fmt)
                    : lst_bb_generate_bytes(bb, B, Ts, max_gen));
}

int lst_evaluate(const lst_backbone_t *bb, const lst_side_t *s, const lst_tokenizer_t *tok,
                 const lst_tokdata_t *d, const lst_task_t *task, int max_gen, int batch,
                 lst_metrics_t *m, char ***preds_out, lst_err_t *err) {
    return lst_evaluate_tc(bb, s, tok, d, task, max_gen, batch, NULL, m, preds_out, err);
}

int lst_evaluate_tc(const lst_backbone_t *bb, const lst_side_t *s, const lst_tokenizer_t *tok,
                    const lst_tokdata_t *d, const lst_task_t *task, int max_gen, int batch,
                    lst_tapcache_t *tc, lst_metrics_t *m, char ***preds_out, lst_err_t *err) {
    char **preds = lst_calloc(d->n, sizeof *preds, err);
    if (!preds) return -1;
    for (int i = 0; i < d->n; i += batch) {
        int nb = d->n - i < batch ? d->n - i : batch;
        if (generate_rows(bb, s, tok, d->src + i, d->src_len + i, nb, i, tc, max_gen, preds + i, err)) {
            lst_preds_free(preds, d->n);
            return lst_fail_ctx(err, "generating rows %d..%d", i + 1, i + nb);
        }
    }
    int rc = 0;
    if (task) {
        rc = lst_task_metrics(task, (const char *const *)preds,
                              (const char *const *)d->target_text, d->n, m, err);
    } else {
        int ok = 0;
        for (int i = 0; i < d->n; i++) ok += !strcmp(preds[i], d->target_text[i]);
        memset(m, 0, sizeof *m);
        m->n = 1;
        m->kinds[0] = LST_METRIC_ACC;
        m->values[0] = 100.0 * ok / d->n;
        m->score = m->values[0];
    }
    if (preds_out && !rc) *preds_out = preds;
    else lst_preds_free(preds, d->n);
    return rc;
}
