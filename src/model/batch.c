/* batch.c: the loss normaliser of a batch. */
#include "batch.h"

int64_t lst_batch_label_count(const lst_batch_t *b) {
    if (b->label_count > 0 || !b->labels) return b->label_count;
    int64_t n = 0;
    for (int i = 0; i < b->B * b->Td; i++) n += b->labels[i] != -100;
    return n;
}
