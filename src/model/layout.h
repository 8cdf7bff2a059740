/* layout.h: a table of named parameters packed in one flat float buffer.
 * The backbone, the side network and every baseline describe their
 * parameters this way, so gradients, optimizer moments, checkpoints and
 * parameter counts all work from the same table. */
#ifndef LST_LAYOUT_H
#define LST_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

typedef struct {
    char name[128];
    int ndim;         /* 1 or 2 */
    int64_t shape[2];
    size_t offset;    /* in floats, into the flat buffer */
    size_t numel;
    int trainable;    /* 0: present (saved, counted) but never updated */
    int ext;          /* non-zero: added by a fine-tuning method, not in the checkpoint
                         (for the T5 backbone: the index + 1 of its part, t5_hooks.h) */
} lst_param_t;

typedef struct {
    lst_param_t *p;
    int n, cap;
    size_t total;     /* floats */
} lst_layout_t;

/* Appends a parameter of shape [d0] (d1 == 0) or [d0, d1]. */
int lst_layout_add(lst_layout_t *L, lst_err_t *err, int64_t d0, int64_t d1,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void lst_layout_free(lst_layout_t *L);

/* Index of `name`, or -1. */
int lst_layout_find(const lst_param_t *p, int n, const char *name);
/* flat + offset of `name`, or NULL. */
float *lst_layout_ptr(const lst_param_t *p, int n, float *flat, const char *name);

/* The table's tensors (float32, by name) from a safetensors file: every
 * name must be present with its shape (train/export.c writes them). */
int lst_layout_load(const char *path, const lst_param_t *p, int n, float *flat, lst_err_t *err);

#endif
