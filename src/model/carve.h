/* carve.h: carving one allocation into buffers, so that a step's buffers
 * are known (and allocated) before the first step and a memory plan can
 * count them from shapes alone: a first pass with base == NULL sizes the
 * allocation, a second hands out 64-byte aligned slices of it.
 * (lst_carve's body lives in t5/t5_acts.c, where it was born.) */
#ifndef LST_CARVE_H
#define LST_CARVE_H

#include <stddef.h>

typedef struct {
    float *base;
    size_t used; /* floats */
} lst_carve_t;

/* n floats (NULL in the sizing pass); used advances by n rounded up to 16. */
float *lst_carve(lst_carve_t *c, size_t n);

#endif
