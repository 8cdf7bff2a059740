/* batch_file.c: loads and validates a token batch file (see batch_file.h). */
#include <stdlib.h>
#include <string.h>

#include "batch_file.h"
#include "../io/safetensors.h"

/* Reads an integer tensor of shape [rows, cols] (rows/cols < 0: take the
 * file's) into int32, refusing values that do not fit. */
static int read_ids(const lst_st_file_t *f, const char *name, int *rows,
                    int *cols, int32_t **out, lst_err_t *err) {
    const lst_st_tensor_t *t = lst_st_find(f, name);
    if (!t) return lst_fail(err, "%s: tensor '%s' not found", f->path, name);
    if (t->ndim != 2 || t->shape[0] <= 0 || t->shape[1] <= 0 ||
        t->shape[0] > 1000000 || t->shape[1] > 1000000)
        return lst_fail(err, "%s: tensor '%s' must be a non-empty 2-d [batch, length] tensor",
                        f->path, name);
    if ((*rows >= 0 && t->shape[0] != *rows) || (*cols >= 0 && t->shape[1] != *cols))
        return lst_fail(err, "%s: tensor '%s' has shape [%lld, %lld], expected [%d, %d]",
                        f->path, name, (long long)t->shape[0], (long long)t->shape[1],
                        *rows, *cols);
    *rows = (int)t->shape[0];
    *cols = (int)t->shape[1];
    size_t n = (size_t)*rows * *cols;
    int64_t *tmp = lst_malloc(n, sizeof *tmp, err);
    *out = lst_malloc(n, sizeof **out, err);
    int64_t shape[2] = {*rows, *cols};
    int rc = (!tmp || !*out) ? -1 : lst_st_read_i64(f, name, 2, shape, tmp, err);
    for (size_t i = 0; !rc && i < n; i++) {
        if (tmp[i] < INT32_MIN || tmp[i] > INT32_MAX)
            rc = lst_fail(err, "%s: %s[%zu][%zu] = %lld does not fit a token id", f->path,
                          name, i / *cols, i % *cols, (long long)tmp[i]);
        else (*out)[i] = (int32_t)tmp[i];
    }
    free(tmp);
    return rc;
}

static int read_mask(const lst_st_file_t *f, const char *name, int rows, int cols,
                     uint8_t **out, lst_err_t *err) {
    int32_t *ids = NULL;
    int rc = read_ids(f, name, &rows, &cols, &ids, err);
    size_t n = (size_t)rows * cols;
    if (!rc) *out = lst_malloc(n, 1, err);
    if (!rc && !*out) rc = -1;
    for (size_t i = 0; !rc && i < n; i++) {
        if (ids[i] != 0 && ids[i] != 1)
            rc = lst_fail(err, "%s: %s[%zu][%zu] = %d, a mask must be 0 or 1", f->path, name,
                          i / cols, i % cols, ids[i]);
        else (*out)[i] = (uint8_t)ids[i];
    }
    free(ids);
    return rc;
}

int lst_batch_load(lst_batch_file_t *b, const char *path, int start_id,
                   lst_err_t *err) {
    memset(b, 0, sizeof *b);
    lst_st_file_t f = {0};
    if (lst_st_open(&f, path, err)) return -1;
    int B = -1, Ts = -1, Td = -1;
    int rc = read_ids(&f, "input_ids", &B, &Ts, &b->input_ids, err);
    if (!rc) {
        if (lst_st_find(&f, "attention_mask")) {
            rc = read_mask(&f, "attention_mask", B, Ts, &b->src_mask, err);
        } else {
            b->src_mask = lst_malloc((size_t)B * Ts, 1, err);
            if (b->src_mask) memset(b->src_mask, 1, (size_t)B * Ts);
            else rc = -1;
        }
    }
    if (!rc && lst_st_find(&f, "labels")) rc = read_ids(&f, "labels", &B, &Td, &b->labels, err);
    if (!rc && lst_st_find(&f, "decoder_input_ids")) {
        rc = read_ids(&f, "decoder_input_ids", &B, &Td, &b->dec_ids, err);
    } else if (!rc && b->labels) {
        b->dec_ids = lst_malloc((size_t)B * Td, sizeof(int32_t), err);
        if (!b->dec_ids) rc = -1;
        for (int r = 0; !rc && r < B; r++)
            for (int t = 0; t < Td; t++) {
                int32_t v = t ? b->labels[r * Td + t - 1] : start_id;
                b->dec_ids[r * Td + t] = v == -100 ? 0 : v;
            }
    } else if (!rc) {
        rc = lst_fail(err, "%s: needs 'decoder_input_ids' or 'labels'", path);
    }
    if (!rc && lst_st_find(&f, "decoder_attention_mask"))
        rc = read_mask(&f, "decoder_attention_mask", B, Td, &b->dec_mask, err);
    lst_st_close(&f);
    if (rc) {
        lst_batch_free(b);
        return -1;
    }
    b->view = (lst_batch_t){B, Ts, Td, b->input_ids, b->src_mask, b->dec_ids,
                               b->dec_mask, b->labels};
    return 0;
}

void lst_batch_free(lst_batch_file_t *b) {
    free(b->input_ids);
    free(b->dec_ids);
    free(b->labels);
    free(b->src_mask);
    free(b->dec_mask);
    memset(b, 0, sizeof *b);
}
