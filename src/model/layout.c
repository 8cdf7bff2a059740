/* layout.c: see layout.h. */
#include "layout.h"

#include "../io/safetensors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lst_layout_add(lst_layout_t *L, lst_err_t *err, int64_t d0, int64_t d1,
                   const char *fmt, ...) {
    if (L->n == L->cap) {
        int cap = L->cap ? L->cap * 2 : 64;
        lst_param_t *np = realloc(L->p, sizeof *np * cap);
        if (!np) return lst_fail(err, "out of memory building a parameter layout");
        L->p = np;
        L->cap = cap;
    }
    lst_param_t *p = &L->p[L->n++];
    memset(p, 0, sizeof *p);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->name, sizeof p->name, fmt, ap);
    va_end(ap);
    p->ndim = d1 > 0 ? 2 : 1;
    p->shape[0] = d0;
    p->shape[1] = d1 > 0 ? d1 : 0;
    p->numel = (size_t)d0 * (size_t)(d1 > 0 ? d1 : 1);
    p->offset = L->total;
    p->trainable = 1;
    L->total += p->numel;
    return 0;
}

void lst_layout_free(lst_layout_t *L) {
    free(L->p);
    memset(L, 0, sizeof *L);
}

int lst_layout_find(const lst_param_t *p, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(p[i].name, name)) return i;
    return -1;
}

float *lst_layout_ptr(const lst_param_t *p, int n, float *flat, const char *name) {
    int i = lst_layout_find(p, n, name);
    return i < 0 ? NULL : flat + p[i].offset;
}

int lst_layout_load(const char *path, const lst_param_t *p, int n, float *flat, lst_err_t *err) {
    lst_st_file_t f = {0};
    if (lst_st_open(&f, path, err)) return -1;
    for (int i = 0; i < n; i++)
        if (lst_st_read_f32(&f, p[i].name, p[i].ndim, p[i].shape, flat + p[i].offset, err)) {
            lst_st_close(&f);
            return -1;
        }
    lst_st_close(&f);
    return 0;
}
