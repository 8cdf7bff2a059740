/* backbone.c: choosing the backbone implementation. T5 is the only one; a
 * second reads config.json's model_type here and calls its own opener. */
#include "backbone_open.h"

#include <string.h>

#include "t5/t5_backbone.h"

int lst_backbone_open(lst_backbone_t *bb, const char *dir, int vocab_limit, const lst_method_t *m,
                      int freeze_layers, lst_wformat_t fmt, uint64_t seed, lst_err_t *err) {
    return lst_t5_backbone_open(bb, dir, vocab_limit, m, freeze_layers, fmt, seed, err);
}

int lst_backbone_shape(lst_backbone_t *bb, const char *model, int vocab, const lst_method_t *m,
                       int freeze_layers, lst_err_t *err) {
    return lst_t5_backbone_named(bb, model, vocab, m, freeze_layers, err);
}

int lst_backbone_bench(lst_backbone_t *bb, const char *model, int vocab, const lst_method_t *m,
                       int freeze_layers, lst_wformat_t fmt, lst_err_t *err) {
    return lst_t5_backbone_bench(bb, model, vocab, m, freeze_layers, fmt, err);
}

void lst_bb_free(lst_backbone_t *bb) {
    if (bb->ops && bb->owned && bb->model) bb->ops->free(bb->model);
    memset(bb, 0, sizeof *bb);
}
