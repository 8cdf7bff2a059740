/* bb_util.h: the backbone interface's view of a test's T5 model. */
#ifndef LST_TEST_BB_UTIL_H
#define LST_TEST_BB_UTIL_H

#include "../src/model/t5/t5_backbone.h"

/* Not owned (nothing to free); read m's dimensions now, so wrap after
 * loading or creating it. */
static inline lst_backbone_t test_bb(const lst_t5_t *m) {
    lst_backbone_t bb;
    lst_t5_backbone_wrap(&bb, (lst_t5_t *)m); /* a test freezes m itself, if at all */
    return bb;
}

/* The same as a pointer for one call (a compound literal: it lives to the
 * end of the enclosing block, so nothing may keep it). */
#define TEST_BB(m) ((const lst_backbone_t[]){test_bb(m)})

#endif
