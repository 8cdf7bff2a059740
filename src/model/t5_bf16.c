/* t5_bf16.c: the frozen backbone in bf16 (LST-SPEC section 9, an option):
 * every block linear is rounded to bf16 once and packed for
 * lst_matmul_forward_bf16 (float32 sums), and its float32 copy released,
 * which halves the backbone's block weights and runs its forward on the
 * CPU's bf16 dot products. Embedding, LM head, relative biases and norms
 * stay float32. */
#include <stdlib.h>
#include <string.h>

#include "../ops/cpu/matmul_bf16.h"
#include "methods.h"
#include "t5.h"

void lst_t5_linear(float *y, const float *x, const float *W, const uint16_t *Wp, const float *b,
                   int N, int in, int out) {
    if (Wp) lst_matmul_forward_bf16(y, x, Wp, b, N, in, out);
    else lst_matmul_forward(y, x, W, b, N, in, out);
}

/* The linears of one block: float32 field, packed field, [M, K]. */
typedef struct {
    float **w;
    const uint16_t **p;
    int M, K;
} lin_t;

static int block_linears(lst_t5_block_t *b, const lst_t5_config_t *c, int decoder, lin_t *out) {
    const int d = c->d_model, I = c->num_heads * c->d_kv, F = c->d_ff;
    int n = 0;
#define L(f, m, k) out[n++] = (lin_t){&b->f, &b->p##f, m, k}
    L(q, I, d);
    L(k, I, d);
    L(v, I, d);
    L(o, d, I);
    if (decoder) {
        L(cq, I, d);
        L(ck, I, d);
        L(cv, I, d);
        L(co, d, I);
    }
    L(wi, F, d);
    if (c->gated) L(wi1, F, d);
    L(wo, d, F);
#undef L
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

int lst_t5_is_block_linear(const char *name) {
    const char *suffix[] = {".SelfAttention.q.weight", ".SelfAttention.k.weight",
                            ".SelfAttention.v.weight", ".SelfAttention.o.weight",
                            ".EncDecAttention.q.weight", ".EncDecAttention.k.weight",
                            ".EncDecAttention.v.weight", ".EncDecAttention.o.weight",
                            ".DenseReluDense.wi.weight", ".DenseReluDense.wi_0.weight",
                            ".DenseReluDense.wi_1.weight", ".DenseReluDense.wo.weight"};
    const size_t n = strlen(name);
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        const size_t m = strlen(suffix[i]);
        if (n > m && !strcmp(name + n - m, suffix[i])) return 1;
    }
    return 0;
}

size_t lst_t5_bf16_bytes(const lst_t5_config_t *c, int vocab) {
    const size_t d = c->d_model, I = (size_t)c->num_heads * c->d_kv, F = c->d_ff;
    const size_t lin_enc = 4 * I * d + (c->gated ? 2 : 1) * F * d + d * F;
    const size_t lin_dec = lin_enc + 4 * I * d;
    const size_t all = (size_t)lst_t5_param_count(c, vocab);
    const size_t rest = all - c->num_layers * lin_enc - c->num_decoder_layers * lin_dec;
    size_t packed = 0;
    for (int s = 0; s < 2; s++) {
        lst_t5_block_t b;
        lin_t l[12];
        memset(&b, 0, sizeof b);
        const int n = block_linears(&b, c, s, l), nl = s ? c->num_decoder_layers : c->num_layers;
        for (int i = 0; i < n; i++) packed += (size_t)nl * lst_bf16_packed_size(l[i].M, l[i].K);
    }
    return 4 * rest + 2 * packed;
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
        *lin[k].p = packed + off;
        off += lst_bf16_packed_size(lin[k].M, lin[k].K);
    }
    free(lin);
    return 0;
}
