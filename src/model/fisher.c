/* fisher.c: the empirical Fisher importance of every backbone parameter
 * (LST-SPEC section 3), the input of the Fisher pruning initialisation.
 *
 * Each example is its own batch of one with its padding removed (source:
 * positions with src_mask 1; decoder: positions with a label other than
 * -100), so that the importance does not depend on how examples were
 * batched or padded. Its mean-loss gradient through the whole model is
 * squared and summed into imp. Dropout is off (the forward has none). */
#include <stdlib.h>
#include <string.h>

#include "side.h"

/* Rows of one example, packed without padding. */
typedef struct {
    int32_t *src, *dec, *lab;
    uint8_t *src_mask;
} row_buf_t;

/* Packs row b of the batch into rb; fills *Ts and *Td (0 when empty). */
static void pack_row(const lst_batch_t *bt, int b, row_buf_t *rb, int *Ts, int *Td) {
    int ns = 0, nd = 0;
    for (int t = 0; t < bt->Ts; t++) {
        size_t i = (size_t)b * bt->Ts + t;
        if (bt->src_mask && !bt->src_mask[i]) continue;
        rb->src[ns] = bt->input_ids[i];
        rb->src_mask[ns] = 1;
        ns++;
    }
    for (int t = 0; t < bt->Td; t++) {
        size_t i = (size_t)b * bt->Td + t;
        if (bt->labels[i] == -100) continue;
        rb->dec[nd] = bt->dec_ids[i];
        rb->lab[nd] = bt->labels[i];
        nd++;
    }
    *Ts = ns;
    *Td = nd;
}

int lst_fisher_importance(const lst_backbone_t *bb, const lst_batch_t *batch,
                          float *imp, lst_err_t *err) {
    return lst_fisher_importance_cb(bb, batch, imp, NULL, NULL, err);
}

int lst_fisher_importance_cb(const lst_backbone_t *bb, const lst_batch_t *batch, float *imp,
                             lst_fisher_progress_fn progress, void *ctx, lst_err_t *err) {
    if (!batch->labels)
        return lst_fail(err, "Fisher importance needs labels: the batch has none");
    if (lst_bb_check_batch(bb, batch, err)) return lst_fail_ctx(err, "Fisher importance");
    const size_t n_floats = lst_bb_table(bb).n_floats;

    row_buf_t rb = {0};
    float *grad = NULL;
    lst_bb_acts_t *acts = NULL;
    int rc = -1;
    rb.src = lst_malloc((size_t)batch->Ts, sizeof *rb.src, err);
    rb.src_mask = lst_malloc((size_t)batch->Ts, 1, err);
    rb.dec = lst_malloc((size_t)batch->Td, sizeof *rb.dec, err);
    rb.lab = lst_malloc((size_t)batch->Td, sizeof *rb.lab, err);
    grad = lst_malloc(n_floats, sizeof *grad, err);
    if (!rb.src || !rb.src_mask || !rb.dec || !rb.lab || !grad) goto done;

    /* Sized for the longest row: the forward and backward take their
     * strides from the batch, so every shorter row fits the same buffers. */
    int max_s = 0, max_d = 0;
    for (int b = 0; b < batch->B; b++) {
        int ns, nd;
        pack_row(batch, b, &rb, &ns, &nd);
        if (ns == 0) {
            lst_fail(err, "Fisher importance: row %d of the batch has no source token "
                          "(attention_mask all 0)", b);
            goto done;
        }
        if (nd == 0) {
            lst_fail(err, "Fisher importance: row %d of the batch has no label (all -100)", b);
            goto done;
        }
        if (ns > max_s) max_s = ns;
        if (nd > max_d) max_d = nd;
    }
    if (!(acts = lst_bb_acts_new(bb, 1, max_s, max_d, 1, err))) goto done;

    for (int b = 0; b < batch->B; b++) {
        lst_batch_t one = {.B = 1, .input_ids = rb.src, .src_mask = rb.src_mask,
                              .dec_ids = rb.dec, .dec_mask = NULL, .labels = rb.lab};
        pack_row(batch, b, &rb, &one.Ts, &one.Td);
        memset(grad, 0, sizeof(float) * n_floats);
        lst_bb_forward(bb, &one, acts, NULL);
        if (lst_bb_backward(bb, &one, acts, NULL, grad, err)) {
            lst_fail_ctx(err, "Fisher importance, row %d", b);
            goto done;
        }
        for (size_t i = 0; i < n_floats; i++) imp[i] += grad[i] * grad[i];
        if (progress) progress(ctx, b + 1, batch->B);
    }
    rc = 0;
done:
    lst_bb_acts_free(bb, acts);
    free(grad);
    free(rb.src);
    free(rb.src_mask);
    free(rb.dec);
    free(rb.lab);
    return rc;
}
