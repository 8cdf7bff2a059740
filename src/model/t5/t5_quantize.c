/* t5_quantize.c: `lst quantize`: a checkpoint's block linears written
 * already packed in a frozen-backbone format (int8, q4 or bf16), so that a
 * big model loads without converting, and without ever holding its float32
 * weights, here or at load. The file is a safetensors file like any other:
 * each block linear is a U8 tensor of its packed bytes under its Hugging
 * Face name, every other tensor is copied as it was, and "__metadata__"
 * says the format (LST_WEIGHT_FORMAT_KEY) and the packing's version. The
 * loader (t5_params.c) reads it only in that format. Tensors are read,
 * packed and written one at a time (lst_st_write_stream_meta). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/fileio.h"
#include "../../io/st_set.h"
#include "../../ops/wformat.h"
#include "t5.h"

typedef struct {
    const lst_st_entry_t *src; /* the tensors in output order */
    const lst_wformat_traits_t *tr;
    float *tmp;                /* the largest linear in float32 */
} quant_ctx_t;

static int is_linear(const lst_st_entry_t *e) {
    return lst_t5_is_block_linear(e->name) && e->t->ndim == 2;
}

static int fill(void *vctx, int i, void *dst, lst_err_t *err) {
    const quant_ctx_t *q = vctx;
    const lst_st_entry_t *e = &q->src[i];
    if (!is_linear(e)) {
        memcpy(dst, e->t->data, e->t->nbytes);
    } else {
        const int M = (int)e->t->shape[0], K = (int)e->t->shape[1];
        if (lst_st_read_f32(e->file, e->name, 2, e->t->shape, q->tmp, err)) return -1;
        q->tr->pack(dst, q->tmp, M, K);
    }
    lst_st_release(e->file, e->t);
    return 0;
}

/* Copies dir/name to out/name if it exists (the tokenizer's files). */
static int copy_beside(const char *dir, const char *out, const char *name, int required,
                       lst_err_t *err) {
    char from[4400], to[4400];
    snprintf(from, sizeof from, "%s/%s", dir, name);
    snprintf(to, sizeof to, "%s/%s", out, name);
    FILE *f = fopen(from, "rb");
    if (!f) return required ? lst_fail(err, "%s: cannot open", from) : 0;
    fclose(f);
    size_t len;
    char *text = lst_read_file(from, (size_t)1 << 30, &len, err);
    if (!text) return -1;
    const int rc = lst_write_atomic(to, text, len, err);
    free(text);
    return rc;
}

int lst_t5_quantize(const char *dir, lst_wformat_t fmt, const char *out, lst_err_t *err) {
    const lst_wformat_traits_t *tr = lst_wformat(fmt);
    if (tr->in_place || fmt == LST_WF_F32 || !tr->dtype)
        return lst_fail(err, "%s is not a packed weight format (bf16, int8, q4)", tr->name);
    lst_st_set_t set;
    if (lst_st_set_open(&set, dir, err)) return -1;
    if (lst_st_set_meta(&set, LST_WEIGHT_FORMAT_KEY)) {
        lst_fail(err, "%s is already packed as %s", lst_st_set_path(&set),
                 lst_st_set_meta(&set, LST_WEIGHT_FORMAT_KEY));
        lst_st_set_close(&set);
        return -1;
    }
    lst_st_out_t *outs = lst_calloc(set.n ? set.n : 1, sizeof *outs, err);
    size_t biggest = 1;
    for (int i = 0; outs && i < set.n; i++) {
        const lst_st_entry_t *e = &set.by_name[i];
        outs[i] = (lst_st_out_t){e->name, e->t->dtype, e->t->ndim, {0}, NULL};
        memcpy(outs[i].shape, e->t->shape, sizeof outs[i].shape);
        if (is_linear(e)) {
            outs[i].dtype = LST_DT_U8;
            outs[i].ndim = 1;
            outs[i].shape[0] = (int64_t)tr->bytes((int)e->t->shape[0], (int)e->t->shape[1]);
            outs[i].shape[1] = 0;
            if ((size_t)e->t->numel > biggest) biggest = (size_t)e->t->numel;
        }
    }
    quant_ctx_t q = {set.by_name, tr, outs ? lst_malloc(biggest, sizeof(float), err) : NULL};
    int rc = -1;
    char path[4400];
    const char *meta[] = {LST_WEIGHT_FORMAT_KEY, tr->dtype, LST_WEIGHT_VERSION_KEY,
                          LST_WEIGHT_VERSION, NULL, NULL, NULL};
    const char *id = lst_st_set_meta(&set, "lst_init_id");
    if (id) {
        meta[4] = "lst_init_id";
        meta[5] = id;
    }
    if (q.tmp && !lst_mkdir_p(out, err)) {
        snprintf(path, sizeof path, "%s/model.safetensors", out);
        rc = lst_st_write_stream_meta(path, outs, set.n, fill, &q, meta, err);
    }
    static const char *beside[] = {"spiece.model", "tokenizer.json", "tokenizer_config.json",
                                   "special_tokens_map.json", "added_tokens.json",
                                   "generation_config.json"};
    for (size_t i = 0; !rc && i < sizeof beside / sizeof beside[0]; i++)
        rc = copy_beside(dir, out, beside[i], 0, err);
    if (!rc) rc = copy_beside(dir, out, "config.json", 1, err); /* last: the pair is complete */
    free(q.tmp);
    free(outs);
    lst_st_set_close(&set);
    return rc;
}
