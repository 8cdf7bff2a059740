/* t5_pack.c: the frozen backbone's block linears packed once for its
 * forward, which is all a side method runs of it:
 * - bf16 (LST-SPEC section 9, an option): every block linear rounded to
 *   bf16 and packed for lst_matmul_forward_bf16 (float32 sums), its float32
 *   copy released; half the block weights, and the CPU's bf16 dot products.
 *   Embedding, LM head, relative biases and norms stay float32.
 * - float32 (the default, on AVX-512 CPUs): packed in place for
 *   lst_matmul_forward_f32p; the same numbers and bytes, without SGEMM
 *   packing every weight again on every call. */
#include <stdlib.h>
#include <string.h>

#include "../ops/cpu/matmul_bf16.h"
#include "../ops/cpu/matmul_f32p.h"
#include "methods.h"
#include "t5.h"
#include "t5_tensors.h"

void lst_t5_linear(float *y, const float *x, const float *W, lst_t5_packed_t Wp, const float *b,
                   int N, int in, int out) {
    if (!Wp.data) lst_matmul_forward(y, x, W, b, N, in, out);
    else if (Wp.f32) lst_matmul_forward_f32p(y, x, Wp.data, b, N, in, out);
    else lst_matmul_forward_bf16(y, x, Wp.data, b, N, in, out);
}

void lst_t5_unpack(float *W, lst_t5_packed_t Wp, int M, int K) {
    if (Wp.f32) lst_f32p_unpack_weights(W, Wp.data, M, K);
    else lst_bf16_unpack_weights(W, Wp.data, M, K);
}

/* The linears of one block: float32 field, packed field, [M, K]; cross_kv:
 * the decoder's cross-attention key or value. */
typedef struct {
    float **w;
    lst_t5_packed_t *p;
    int M, K, cross_kv;
} lin_t;

static int block_linears(lst_t5_block_t *b, const lst_t5_config_t *c, int decoder, lin_t *out) {
    int n = 0;
    for (int i = 0; i < lst_t5_n_block_tensors; i++) {
        const lst_t5_tensor_t *t = &lst_t5_block_tensors[i];
        if (t->packed == LST_T5_NO_FIELD || !lst_t5_tensor_in(t, c, decoder, 0)) continue;
        out[n++] = (lin_t){(float **)((char *)b + t->field), (lst_t5_packed_t *)((char *)b + t->packed),
                           (int)lst_t5_dim(c, 0, t->rows), (int)lst_t5_dim(c, 0, t->cols), t->cross_kv};
    }
    return n;
}

/* Every block linear of m, encoder blocks first (malloc'ed, *n of them). */
static lin_t *model_linears(lst_t5_t *m, int *n, lst_err_t *err) {
    const lst_t5_config_t *c = &m->cfg;
    const int nb = c->num_layers + c->num_decoder_layers;
    lin_t *all = lst_malloc((size_t)nb * 12 + 1, sizeof *all, err);
    *n = 0;
    for (int i = 0; all && i < nb; i++) {
        const int dec = i >= c->num_layers;
        *n += block_linears(dec ? &m->w.dec[i - c->num_layers] : &m->w.enc[i], c, dec, all + *n);
    }
    return all;
}

static int ends_with(const char *s, const char *suffix) {
    const size_t n = strlen(s), m = strlen(suffix);
    return n > m && !strcmp(s + n - m, suffix) && s[n - m - 1] == '.';
}

int lst_t5_is_block_linear(const char *name) {
    for (int i = 0; i < lst_t5_n_block_tensors; i++)
        if (lst_t5_block_tensors[i].packed != LST_T5_NO_FIELD &&
            ends_with(name, lst_t5_block_tensors[i].name))
            return 1;
    return 0;
}

/* Sums the bf16 panels of every block linear, the float32 bytes of the rest. */
static int bf16_bytes_one(void *vctx, const lst_t5_visit_t *v, const char *prefix, int stack,
                          int layer, lst_err_t *err) {
    size_t *bytes = vctx;
    if (!v) return 0;
    if (v->row && v->row->packed != LST_T5_NO_FIELD)
        *bytes += 2 * lst_bf16_packed_size((int)v->rows, (int)v->cols);
    else
        *bytes += 4 * (size_t)v->rows * (size_t)(v->cols ? v->cols : 1);
    return 0;
}

size_t lst_t5_bf16_bytes(const lst_t5_config_t *c, int vocab) {
    size_t bytes = 0;
    lst_t5_walk(c, vocab, bf16_bytes_one, &bytes, NULL);
    return bytes;
}

int lst_t5_to_bf16(lst_t5_t *m, lst_err_t *err) { return lst_t5_to_bf16_from(m, NULL, NULL, err); }

/* The parameter whose float32 copy sits at ptr (a block linear). */
static const lst_param_t *param_at(const lst_t5_t *m, const float *ptr) {
    for (int i = 0; i < m->n_params; i++)
        if (m->flat + m->params[i].offset == ptr) return &m->params[i];
    return NULL;
}

int lst_t5_to_bf16_from(lst_t5_t *m, lst_t5_fill_fn fill, void *ctx, lst_err_t *err) {
    if (m->packed) return 0;
    if (m->packed_f32) return lst_fail(err, "bf16 backbone: the backbone is already packed in float32");
    /* pack every block linear */
    int nl;
    lin_t *lin = model_linears(m, &nl, err);
    if (!lin) return lst_fail_ctx(err, "bf16 backbone weights");
    size_t total = 0;
    for (int k = 0; k < nl; k++) total += lst_bf16_packed_size(lin[k].M, lin[k].K);
    uint16_t *packed = lst_malloc(total ? total : 1, sizeof(uint16_t), err);
    if (!packed) {
        free(lin);
        return lst_fail_ctx(err, "bf16 backbone weights");
    }
    /* the float32 parameters that stay: everything but the block linears */
    lst_param_t *np = lst_malloc(m->n_params, sizeof *np, err);
    size_t keep = 0;
    int nk = 0;
    for (int i = 0; np && i < m->n_params; i++)
        if (!lst_t5_is_block_linear(m->params[i].name)) {
            np[nk] = m->params[i];
            np[nk++].offset = keep;
            keep += m->params[i].numel;
        }
    float *nf = np ? lst_malloc(keep ? keep : 1, sizeof(float), err) : NULL;
    if (!nf) {
        free(lin);
        free(packed);
        free(np);
        return lst_fail_ctx(err, "bf16 backbone weights");
    }
    /* fill: each linear's float32 values come one at a time through a
     * buffer of one tensor (the model's float32 copy is never touched, so
     * its pages never become resident) */
    size_t biggest = 0;
    for (int i = 0; fill && i < m->n_params; i++)
        if (lst_t5_is_block_linear(m->params[i].name) && m->params[i].numel > biggest) biggest = m->params[i].numel;
    float *tmp = fill ? lst_malloc(biggest ? biggest : 1, sizeof(float), err) : NULL;
    if (fill && !tmp) {
        free(lin);
        free(packed);
        free(np);
        free(nf);
        return lst_fail_ctx(err, "bf16 backbone weights");
    }
    size_t off = 0;
    for (int k = 0; k < nl; k++) {
        const float *src = *lin[k].w;
        if (fill) {
            const lst_param_t *p = param_at(m, src);
            if (!p || fill(p, tmp, ctx, err)) {
                free(lin);
                free(tmp);
                free(packed);
                free(np);
                free(nf);
                return p ? -1 : lst_fail(err, "bf16: a block linear has no parameter");
            }
            src = tmp;
        }
        lst_bf16_pack_weights(packed + off, src, lin[k].M, lin[k].K);
        off += lst_bf16_packed_size(lin[k].M, lin[k].K);
    }
    free(tmp);
    for (int i = 0, j = 0; i < m->n_params; i++)
        if (!lst_t5_is_block_linear(m->params[i].name)) {
            memcpy(nf + np[j].offset, m->flat + m->params[i].offset, sizeof(float) * np[j].numel);
            j++;
        }
    free(m->flat);
    free(m->params);
    m->flat = nf;
    m->params = np;
    m->n_params = nk;
    m->n_floats = keep;
    m->n_trainable = 0;
    m->n_trainable_floats = 0;
    for (int i = 0; i < nk && np[i].trainable; i++) {
        m->n_trainable++;
        m->n_trainable_floats += np[i].numel;
    }
    m->packed = packed;
    m->packed_elems = total;
    /* rebind: the linears' float32 pointers become NULL, the packed ones set */
    lst_t5_bind_fill(m, m->flat, &m->w);
    off = 0;
    for (int k = 0; k < nl; k++) {
        *lin[k].p = (lst_t5_packed_t){packed + off, 0};
        off += lst_bf16_packed_size(lin[k].M, lin[k].K);
    }
    free(lin);
    return 0;
}

int lst_t5_pack_f32(lst_t5_t *m, lst_err_t *err) {
    if (m->packed || m->packed_f32 || !lst_f32p_native()) return 0;
    int nl;
    lin_t *lin = model_linears(m, &nl, err);
    if (!lin) return lst_fail_ctx(err, "packing the backbone");
    size_t biggest = 0;
    for (int k = 0; k < nl; k++)
        if ((size_t)lin[k].M * lin[k].K > biggest) biggest = (size_t)lin[k].M * lin[k].K;
    float *tmp = lst_malloc(biggest ? biggest : 1, sizeof(float), err);
    unsigned char *gone = lst_calloc(m->n_params ? m->n_params : 1, 1, err);
    if (!tmp || !gone) {
        free(lin);
        free(tmp);
        free(gone);
        return lst_fail_ctx(err, "packing the backbone");
    }
    /* each linear through one tensor's buffer, back into its own storage */
    for (int k = 0; k < nl; k++) {
        if (lin[k].cross_kv || !*lin[k].w) continue;
        float *w = *lin[k].w;
        const lst_param_t *p = param_at(m, w);
        if (p) gone[p - m->params] = 1;
        memcpy(tmp, w, sizeof(float) * (size_t)lin[k].M * lin[k].K);
        lst_f32p_pack_weights(w, tmp, lin[k].M, lin[k].K);
        *lin[k].p = (lst_t5_packed_t){w, 1};
        *lin[k].w = NULL;
    }
    free(tmp);
    free(lin);
    /* the packed linears leave the table (their bytes no longer read as
     * Hugging Face tensors); what stays keeps its offset. Frozen: nothing
     * of it trains. */
    int nk = 0;
    for (int i = 0; i < m->n_params; i++)
        if (!gone[i]) m->params[nk++] = m->params[i];
    free(gone);
    m->n_params = nk;
    m->n_trainable = 0;
    m->n_trainable_floats = 0;
    m->packed_f32 = 1;
    return 0;
}

int lst_t5_freeze(lst_t5_t *m, int bf16, lst_err_t *err) {
    return bf16 ? lst_t5_to_bf16(m, err) : lst_t5_pack_f32(m, err);
}
