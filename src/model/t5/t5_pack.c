/* t5_pack.c: a frozen backbone's block linears stored once in a weight
 * format of the table in ops/wformat.h, for its forward, which is all a
 * side method runs of it:
 * - bf16 (LST-SPEC section 9, an option): every block linear rounded to
 *   bf16 and packed (float32 sums), its float32 copy released; half the
 *   block weights, and the CPU's bf16 dot products. Embedding, LM head,
 *   relative biases and norms stay float32.
 * - float32 panels (the default, on AVX-512 CPUs): packed in place; the
 *   same numbers and bytes, without SGEMM packing every weight again on
 *   every call. The cross-attention's key and value stay in the Hugging
 *   Face layout (the folded cross-attention reads them as float32).
 * A format that packs in place keeps the parameter storage; the others get
 * one store of their own, and the float32 linears leave the parameters. */
#include <stdlib.h>
#include <string.h>

#include "../../ops/ops.h"
#include "../../ops/wformat.h"
#include "t5.h"
#include "t5_tensors.h"

void lst_t5_linear(float *y, const float *x, const float *W, lst_t5_packed_t Wp, const float *b,
                   int N, int in, int out) {
    if (!Wp.data) lst_matmul_forward(y, x, W, b, N, in, out);
    else lst_wformat(Wp.fmt)->matmul(y, x, Wp.data, b, N, in, out, Wp.ws);
}

void lst_t5_unpack(float *W, lst_t5_packed_t Wp, int M, int K) {
    lst_wformat(Wp.fmt)->unpack(W, Wp.data, M, K);
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

size_t lst_t5_block_unpacked_floats(const lst_t5_config_t *c, int decoder) {
    size_t n = 0;
    for (int i = 0; i < lst_t5_n_block_tensors; i++) {
        const lst_t5_tensor_t *t = &lst_t5_block_tensors[i];
        if (t->packed == LST_T5_NO_FIELD || !lst_t5_tensor_in(t, c, decoder, 0)) continue;
        n += (size_t)lst_t5_dim(c, 0, t->rows) * (size_t)lst_t5_dim(c, 0, t->cols);
    }
    return n;
}

void lst_t5_block_unpacked(const lst_t5_config_t *c, const lst_t5_block_t *b, int decoder,
                           lst_t5_block_t *out, float *scratch) {
    *out = *b;
    lin_t lin[32];
    const int n = block_linears(out, c, decoder, lin);
    for (int k = 0; k < n; k++) {
        if (*lin[k].w || !lin[k].p->data) continue; /* float32 already */
        lst_t5_unpack(scratch, *lin[k].p, lin[k].M, lin[k].K);
        *lin[k].w = scratch;
        *lin[k].p = (lst_t5_packed_t){0};
        scratch += (size_t)lin[k].M * lin[k].K;
    }
}

/* Every block linear of m, encoder blocks first (malloc'ed, *n of them). */
static lin_t *model_linears(lst_t5_t *m, int *n, lst_err_t *err) {
    const lst_t5_config_t *c = &m->cfg;
    const int nb = c->num_layers + c->num_decoder_layers;
    lin_t *all = lst_malloc((size_t)nb * lst_t5_n_block_tensors + 1, sizeof *all, err);
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

/* Sums the format's bytes for every block linear it stores, float32 for
 * the rest (a lst_t5_visit_fn; ctx: {bytes, format}). */
typedef struct {
    size_t bytes, packed, ws; /* float32 rest, the store's linears, its workspace */
    const lst_wformat_traits_t *tr;
} bytes_ctx_t;

/* The store of a format that does not pack in place: the packed linears
 * (packed_bytes), then, 64-byte aligned, the product's workspace for the
 * largest of them (one call at a time, as the forward runs them), which is
 * workspace, not weights, to the plan (lst_t5_pack_workspace). */
static size_t ws_offset(size_t packed) { return (packed + 63) & ~(size_t)63; }

static int bytes_one(void *vctx, const lst_t5_visit_t *v, const char *prefix, int stack, int layer,
                     lst_err_t *err) {
    bytes_ctx_t *b = vctx;
    if (!v) return 0;
    if (v->row && v->row->packed != LST_T5_NO_FIELD && !b->tr->in_place) {
        b->packed += b->tr->bytes((int)v->rows, (int)v->cols);
        const size_t w = b->tr->workspace((int)v->cols, (int)v->rows);
        if (w > b->ws) b->ws = w;
    } else
        b->bytes += 4 * (size_t)v->rows * (size_t)(v->cols ? v->cols : 1);
    return 0;
}

size_t lst_t5_weight_bytes(const lst_t5_config_t *c, int vocab, lst_wformat_t fmt) {
    bytes_ctx_t b = {0, 0, 0, lst_wformat(fmt)};
    lst_t5_walk(c, vocab, bytes_one, &b, NULL);
    return b.bytes + b.packed;
}

size_t lst_t5_pack_workspace(const lst_t5_config_t *c, int vocab, lst_wformat_t fmt) {
    bytes_ctx_t b = {0, 0, 0, lst_wformat(fmt)};
    lst_t5_walk(c, vocab, bytes_one, &b, NULL);
    return b.ws ? ws_offset(b.packed) + b.ws - b.packed : 0; /* with the alignment pad */
}

size_t lst_t5_bf16_bytes(const lst_t5_config_t *c, int vocab) {
    return lst_t5_weight_bytes(c, vocab, LST_WF_BF16);
}

/* The parameter whose float32 copy sits at ptr (a block linear). */
static const lst_param_t *param_at(const lst_t5_t *m, const float *ptr) {
    for (int i = 0; i < m->n_params; i++)
        if (m->flat + m->params[i].offset == ptr) return &m->params[i];
    return NULL;
}

/* In place (the same bytes): each linear through one tensor's buffer back
 * into its own storage; the packed ones leave the parameter table (their
 * bytes no longer read as Hugging Face tensors), the rest keep their
 * offsets. The cross-attention's key and value stay float32. */
static int pack_in_place(lst_t5_t *m, lst_wformat_t fmt, lin_t *lin, int nl, lst_err_t *err) {
    const lst_wformat_traits_t *tr = lst_wformat(fmt);
    size_t biggest = 0;
    for (int k = 0; k < nl; k++)
        if ((size_t)lin[k].M * lin[k].K > biggest) biggest = (size_t)lin[k].M * lin[k].K;
    float *tmp = lst_malloc(biggest ? biggest : 1, sizeof(float), err);
    unsigned char *gone = lst_calloc(m->n_params ? m->n_params : 1, 1, err);
    if (!tmp || !gone) {
        free(tmp);
        free(gone);
        return -1;
    }
    for (int k = 0; k < nl; k++) {
        if (lin[k].cross_kv || !*lin[k].w) continue;
        float *w = *lin[k].w;
        const lst_param_t *p = param_at(m, w);
        if (p) gone[p - m->params] = 1;
        memcpy(tmp, w, sizeof(float) * (size_t)lin[k].M * lin[k].K);
        tr->pack(w, tmp, lin[k].M, lin[k].K);
        *lin[k].p = (lst_t5_packed_t){w, fmt};
        *lin[k].w = NULL;
    }
    free(tmp);
    int nk = 0;
    for (int i = 0; i < m->n_params; i++)
        if (!gone[i]) m->params[nk++] = m->params[i];
    free(gone);
    m->n_params = nk;
    return 0;
}

/* Into a store of the format's own: the float32 parameters that stay (all
 * but the block linears) move to a new buffer, every linear is packed from
 * its float32 values (fill: one tensor at a time from elsewhere, so a
 * loader never holds the float32 backbone; else m->flat), and the model is
 * bound again (the linears' float32 pointers become NULL). */
static int pack_store(lst_t5_t *m, lst_wformat_t fmt, lin_t *lin, int nl, lst_t5_fill_fn fill,
                      lst_t5_fill_bytes_fn fill_bytes, void *ctx, lst_err_t *err) {
    const lst_wformat_traits_t *tr = lst_wformat(fmt);
    size_t total = 0, keep = 0, biggest = 0, ws = 0;
    for (int k = 0; k < nl; k++) {
        total += tr->bytes(lin[k].M, lin[k].K);
        if (tr->workspace(lin[k].K, lin[k].M) > ws) ws = tr->workspace(lin[k].K, lin[k].M);
    }
    const size_t packed = total, room = ws ? ws_offset(total) + ws : total;
    int nk = 0;
    for (int i = 0; i < m->n_params; i++) {
        if (!lst_t5_is_block_linear(m->params[i].name)) keep += m->params[i].numel;
        else if (m->params[i].numel > biggest) biggest = m->params[i].numel;
    }
    char *store = lst_malloc(room ? room : 1, 1, err);
    lst_param_t *np = lst_malloc(m->n_params ? m->n_params : 1, sizeof *np, err);
    float *nf = lst_malloc(keep ? keep : 1, sizeof(float), err);
    float *tmp = fill ? lst_malloc(biggest ? biggest : 1, sizeof(float), err) : NULL;
    int rc = -1;
    if (!store || !np || !nf || (fill && !tmp)) goto out;
    size_t off = 0;
    for (int k = 0; k < nl; k++) {
        const float *src = *lin[k].w;
        const size_t bytes = tr->bytes(lin[k].M, lin[k].K);
        const lst_param_t *p = fill || fill_bytes ? param_at(m, src) : NULL;
        if ((fill || fill_bytes) && !p) {
            lst_fail(err, "%s: a block linear has no parameter", tr->name);
            goto out;
        }
        if (fill_bytes) { /* already in the format (lst quantize's file) */
            if (fill_bytes(p, store + off, bytes, ctx, err)) goto out;
        } else {
            if (fill && fill(p, tmp, ctx, err)) goto out;
            tr->pack(store + off, fill ? tmp : src, lin[k].M, lin[k].K);
        }
        off += bytes;
    }
    for (int i = 0; i < m->n_params; i++) {
        if (lst_t5_is_block_linear(m->params[i].name)) continue;
        np[nk] = m->params[i];
        np[nk].offset = nk ? np[nk - 1].offset + np[nk - 1].numel : 0;
        memcpy(nf + np[nk].offset, m->flat + m->params[i].offset, sizeof(float) * np[nk].numel);
        nk++;
    }
    free(m->flat);
    free(m->params);
    m->flat = nf;
    m->params = np;
    m->n_params = nk;
    m->n_floats = keep;
    m->packed = store;
    m->packed_bytes = total;
    nf = NULL;
    np = NULL;
    store = NULL;
    lst_t5_bind_fill(m, m->flat, &m->w);
    off = 0;
    for (int k = 0; k < nl; k++) { /* rebinding cleared the packed members: set them */
        *lin[k].p = (lst_t5_packed_t){(char *)m->packed + off, fmt,
                                      ws ? (char *)m->packed + ws_offset(packed) : NULL};
        off += tr->bytes(lin[k].M, lin[k].K);
    }
    rc = 0;
out:
    free(store);
    free(np);
    free(nf);
    free(tmp);
    return rc;
}

static int pack(lst_t5_t *m, lst_wformat_t fmt, lst_t5_fill_fn fill, lst_t5_fill_bytes_fn fill_bytes,
                void *ctx, lst_err_t *err) {
    const lst_wformat_traits_t *tr = lst_wformat(fmt);
    if (m->fmt == fmt || fmt == LST_WF_F32) return 0;
    /* a speed-only format where the CPU lacks its kernel, or on a backbone
     * packed otherwise already: SGEMM (or that format) stays */
    if (tr->speed_only && (!tr->native() || m->fmt != LST_WF_F32)) return 0;
    if (m->fmt != LST_WF_F32)
        return lst_fail(err, "%s backbone: the backbone is already packed as %s", tr->name,
                        lst_wformat(m->fmt)->name);
    int nl;
    lin_t *lin = model_linears(m, &nl, err);
    if (!lin) return lst_fail_ctx(err, "packing the backbone as %s", tr->name);
    const int rc = tr->in_place ? pack_in_place(m, fmt, lin, nl, err)
                                : pack_store(m, fmt, lin, nl, fill, fill_bytes, ctx, err);
    free(lin);
    if (rc) return lst_fail_ctx(err, "packing the backbone as %s", tr->name);
    m->n_trainable = 0; /* frozen: forward and decoding only */
    m->n_trainable_floats = 0;
    m->fmt = fmt;
    return 0;
}

int lst_t5_pack(lst_t5_t *m, lst_wformat_t fmt, lst_t5_fill_fn fill, void *ctx, lst_err_t *err) {
    return pack(m, fmt, fill, NULL, ctx, err);
}

int lst_t5_pack_prepacked(lst_t5_t *m, lst_wformat_t fmt, lst_t5_fill_bytes_fn fill, void *ctx,
                          lst_err_t *err) {
    if (lst_wformat(fmt)->in_place || fmt == LST_WF_F32)
        return lst_fail(err, "%s weights are not stored packed", lst_wformat(fmt)->name);
    return pack(m, fmt, NULL, fill, ctx, err);
}

int lst_t5_to_bf16(lst_t5_t *m, lst_err_t *err) { return lst_t5_pack(m, LST_WF_BF16, NULL, NULL, err); }

int lst_t5_to_bf16_from(lst_t5_t *m, lst_t5_fill_fn fill, void *ctx, lst_err_t *err) {
    return lst_t5_pack(m, LST_WF_BF16, fill, ctx, err);
}

int lst_t5_pack_f32(lst_t5_t *m, lst_err_t *err) { return lst_t5_pack(m, LST_WF_F32P, NULL, NULL, err); }

int lst_t5_freeze(lst_t5_t *m, lst_wformat_t dtype, lst_err_t *err) {
    return lst_t5_pack(m, lst_wformat(dtype)->frozen, NULL, NULL, err);
}

int lst_t5_streams(lst_wformat_t dtype) {
    const lst_wformat_t f = lst_wformat(dtype)->frozen;
    return f != LST_WF_F32 && !lst_wformat(f)->in_place;
}
