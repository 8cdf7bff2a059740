/* t5_hooks.c: the per-linear, per-norm and per-sub-layer hooks of a T5
 * block (t5_hooks.h), asking each method part for its share, and the
 * parts' shared plumbing (layout, binding, saved activations). */
#include "t5_hooks.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "../../ops/ops.h"

const lst_t5_part_t *const lst_t5_parts[] = {&lst_t5_part_bitfit, &lst_t5_part_adapter,
                                             &lst_t5_part_lora, &lst_t5_part_prompt};
const int lst_t5_n_parts = (int)(sizeof lst_t5_parts / sizeof lst_t5_parts[0]);

/* Where linear id's float32 and packed weights live in lst_t5_block_t. */
#define LIN(w, p) {offsetof(lst_t5_block_t, w), offsetof(lst_t5_block_t, p)}
static const struct {
    size_t w, p;
} lin_field[LST_N_LIN] = {LIN(q, pq),   LIN(k, pk),   LIN(v, pv),   LIN(o, po),
                          LIN(cq, pcq), LIN(ck, pck), LIN(cv, pcv), LIN(co, pco),
                          LIN(wi, pwi), LIN(wi1, pwi1), LIN(wo, pwo)};
#undef LIN

static float *lin_w(const lst_t5_block_t *b, lst_t5_lin_t id) {
    return *(float *const *)((const char *)b + lin_field[id].w);
}

static lst_t5_packed_t lin_p(const lst_t5_block_t *b, lst_t5_lin_t id) {
    return *(const lst_t5_packed_t *)((const char *)b + lin_field[id].p);
}

/* The first part's bias of linear id in x (BitFit's), or NULL. */
static float *lin_bias(const lst_t5_block_ext_t *x, lst_t5_lin_t id) {
    for (int i = 0; i < lst_t5_n_parts; i++) {
        float *b = lst_t5_parts[i]->lin_bias ? lst_t5_parts[i]->lin_bias(x, id) : NULL;
        if (b) return b;
    }
    return NULL;
}

void lst_t5_lin_fwd(const lst_t5_block_t *w, lst_t5_lin_t id, float *y, const float *x, int N,
                    int in, int out, const lst_drop_t *drop, const lst_t5_ext_acts_t *a) {
    lst_t5_linear(y, x, lin_w(w, id), lin_p(w, id), lin_bias(&w->ext, id), N, in, out);
    for (int i = 0; i < lst_t5_n_parts; i++)
        if (lst_t5_parts[i]->lin_fwd) lst_t5_parts[i]->lin_fwd(w, id, y, x, N, in, out, drop, a);
}

void lst_t5_lin_bwd(const lst_t5_block_t *w, const lst_t5_block_t *g, const lst_t5_lin_t *ids,
                    int n, float *dx, float *const *dy, const float *x, int N, int in, int out,
                    const lst_drop_t *drop, const lst_t5_ext_acts_t *a, lst_t5_bwd_scratch_t *s) {
    for (int k = 0; k < n; k++)
        lst_matmul_backward(dx, lin_w(g, ids[k]), lin_bias(&g->ext, ids[k]), dy[k], x,
                            lin_w(w, ids[k]), N, in, out);
    for (int k = 0; k < n; k++)
        for (int i = 0; i < lst_t5_n_parts; i++)
            if (lst_t5_parts[i]->lin_bwd)
                lst_t5_parts[i]->lin_bwd(w, g, ids[k], dx, dy[k], x, N, in, out, drop, a, s);
}

int lst_t5_lin_plain(const lst_t5_block_t *w, lst_t5_lin_t id) {
    for (int i = 0; i < lst_t5_n_parts; i++)
        if (lst_t5_parts[i]->lin_touches && lst_t5_parts[i]->lin_touches(&w->ext, id)) return 0;
    return 1;
}

void lst_t5_norm_fwd(const lst_t5_block_t *w, lst_t5_sub_t sub, float *n, int N, int d) {
    for (int i = 0; i < lst_t5_n_parts; i++)
        if (lst_t5_parts[i]->norm_fwd) lst_t5_parts[i]->norm_fwd(w, sub, n, N, d);
}

void lst_t5_norm_bwd(const lst_t5_block_t *g, lst_t5_sub_t sub, const float *dn, int N, int d) {
    for (int i = 0; i < lst_t5_n_parts; i++)
        if (lst_t5_parts[i]->norm_bwd) lst_t5_parts[i]->norm_bwd(g, sub, dn, N, d);
}

void lst_t5_sub_fwd(const lst_t5_block_t *w, lst_t5_sub_t sub, float *y, int N, int d,
                    const lst_t5_ext_acts_t *a) {
    for (int i = 0; i < lst_t5_n_parts; i++)
        if (lst_t5_parts[i]->sub_fwd) lst_t5_parts[i]->sub_fwd(w, sub, y, N, d, a);
}

/* The parts in reverse: the backward of a chain of additions. */
void lst_t5_sub_bwd(const lst_t5_block_t *w, const lst_t5_block_t *g, lst_t5_sub_t sub, float *dy,
                    int N, int d, const lst_t5_ext_acts_t *a, lst_t5_bwd_scratch_t *s) {
    for (int i = lst_t5_n_parts - 1; i >= 0; i--)
        if (lst_t5_parts[i]->sub_bwd) lst_t5_parts[i]->sub_bwd(w, g, sub, dy, N, d, a, s);
}

int lst_t5_parts_layout_block(lst_layout_t *L, const lst_t5_config_t *c, const lst_t5_ext_t *e,
                              const char *prefix, int decoder, lst_err_t *err) {
    for (int i = 0; i < lst_t5_n_parts; i++)
        if (lst_t5_parts[i]->layout_block &&
            lst_t5_parts[i]->layout_block(L, c, e, prefix, decoder, err))
            return -1;
    return 0;
}

int lst_t5_parts_layout_model(lst_layout_t *L, const lst_t5_config_t *c, const lst_t5_ext_t *e,
                              int vocab, lst_err_t *err) {
    for (int i = 0; i < lst_t5_n_parts; i++)
        if (lst_t5_parts[i]->layout_model && lst_t5_parts[i]->layout_model(L, c, e, vocab, err))
            return -1;
    return 0;
}

void lst_t5_parts_bind(lst_t5_block_ext_t *x, const lst_t5_ext_t *e, const lst_t5_config_t *c,
                       const char *prefix, int decoder, lst_t5_pick_fn pick, void *ctx) {
    memset(x, 0, sizeof *x);
    for (int i = 0; i < lst_t5_n_parts; i++)
        if (lst_t5_parts[i]->bind) lst_t5_parts[i]->bind(x, e, c, prefix, decoder, pick, ctx);
}

void lst_t5_parts_needs(const lst_t5_ext_t *e, lst_t5_needs_t *n) {
    memset(n, 0, sizeof *n);
    for (int i = 0; i < lst_t5_n_parts; i++)
        if (lst_t5_parts[i]->needs) lst_t5_parts[i]->needs(e, n);
}

void lst_t5_parts_step_floats(const lst_t5_block_ext_t *x, size_t rows, size_t B, size_t d,
                              size_t I, lst_t5_step_floats_t *f) {
    memset(f, 0, sizeof *f);
    for (int i = 0; i < lst_t5_n_parts; i++)
        if (lst_t5_parts[i]->step_floats) lst_t5_parts[i]->step_floats(x, rows, B, d, I, f);
}

void lst_t5_parts_carve_acts(lst_carve_t *cv, lst_t5_ext_acts_t *a, const lst_t5_ext_t *e,
                             size_t N, size_t Ns, size_t d, int decoder, float *xs) {
    for (int i = 0; i < lst_t5_n_parts; i++)
        if (lst_t5_parts[i]->carve_acts) lst_t5_parts[i]->carve_acts(cv, a, e, N, Ns, d, decoder);
    a->xs = xs;
}

int lst_t5_part_add(lst_layout_t *L, const lst_t5_part_t *part, lst_err_t *err, int64_t d0,
                    int64_t d1, const char *fmt, ...) {
    char name[sizeof L->p[0].name];
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof name) return lst_fail(err, "parameter name too long: %s", name);
    if (lst_layout_add(L, err, d0, d1, "%s", name)) return -1;
    int k = 0;
    while (k < lst_t5_n_parts && lst_t5_parts[k] != part) k++;
    L->p[L->n - 1].ext = k + 1;
    return 0;
}

int lst_t5_lin_name(char *buf, size_t cap, const lst_t5_config_t *c, const char *prefix,
                    int decoder, lst_t5_lin_t id) {
    for (int i = 0; i < lst_t5_n_block_tensors; i++) {
        const lst_t5_tensor_t *t = &lst_t5_block_tensors[i];
        if (t->field != lin_field[id].w || !lst_t5_tensor_in(t, c, decoder, 0)) continue;
        lst_t5_tensor_name(buf, cap, prefix, t, decoder);
        char *dot = strrchr(buf, '.'); /* "....q.weight" -> "....q" */
        if (dot) *dot = '\0';
        return 0;
    }
    return -1;
}
