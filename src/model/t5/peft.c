/* peft.c: see peft.h. */
#include "peft.h"
#include "t5_hooks.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../core/rng.h"
#include "../../core/streams.h"
#include "../../io/safetensors.h"

int lst_method_is_backbone(const char *name) {
    const lst_method_info_t *info = lst_method_info(name);
    return info && info->side_mode < 0;
}

int lst_method_ext(const lst_method_t *m, int freeze_layers, const lst_t5_config_t *c,
                   lst_t5_ext_t *e, lst_err_t *err) {
    memset(e, 0, sizeof *e);
    const int layers = c->num_layers + c->num_decoder_layers;
    if (freeze_layers < 0 || freeze_layers > layers)
        return lst_fail(err, "--freeze-layers %d: the model has %d layers (%d encoder + %d decoder)",
                        freeze_layers, layers, c->num_layers, c->num_decoder_layers);
    e->freeze_layers = freeze_layers;
    const lst_method_info_t *info = lst_method_info(m->name);
    if (!info || info->side_mode >= 0)
        return lst_fail(err, "'%s' is not a backbone method (full, adapters, lora, bitfit, prompt)",
                        m->name);
    e->frozen_base = !info->whole_backbone;
    for (int i = 0; info->parts && info->parts[i]; i++)
        if (info->parts[i]->enable(e, m, c, freeze_layers, err)) return -1;
    return 0;
}

/* Each method part appends its own tensors (t5_hooks.h). */
int lst_t5_ext_layout_block(lst_layout_t *L, const lst_t5_config_t *c, const lst_t5_ext_t *e,
                            const char *prefix, int decoder, lst_err_t *err) {
    return lst_t5_parts_layout_block(L, c, e, prefix, decoder, err);
}

int lst_t5_ext_layout_model(lst_layout_t *L, const lst_t5_config_t *c, const lst_t5_ext_t *e,
                            int vocab, lst_err_t *err) {
    return lst_t5_parts_layout_model(L, c, e, vocab, err);
}

/* Global layer index of a block parameter (encoder first), or -1. */
static int layer_of(const char *name, const lst_t5_config_t *c) {
    int i;
    if (sscanf(name, "encoder.block.%d.", &i) == 1) return i;
    if (sscanf(name, "decoder.block.%d.", &i) == 1) return c->num_layers + i;
    return -1;
}

void lst_t5_ext_mark(lst_param_t *p, int n, const lst_t5_config_t *c, const lst_t5_ext_t *e) {
    const int k = e->freeze_layers, L = c->num_layers, Lall = L + c->num_decoder_layers;
    for (int i = 0; i < n; i++) {
        const char *nm = p[i].name;
        int t = p[i].ext || !e->frozen_base || (e->train_norms && strstr(nm, "layer_norm.weight"));
        int layer = layer_of(nm, c);
        if (layer >= 0 && layer < k) t = 0;
        if (k > 0 && !strcmp(nm, "shared.weight")) t = 0;
        if (k >= L && !strcmp(nm, "encoder.final_layer_norm.weight")) t = 0;
        if (k >= Lall && !strcmp(nm, "decoder.final_layer_norm.weight")) t = 0;
        p[i].trainable = t;
    }
}

/* One stream for every added tensor, in table order: each is initialised
 * by the part that added it (lst_param_t.ext: its index + 1). */
void lst_t5_ext_init(lst_t5_t *m, uint64_t seed) {
    lst_rng_t r;
    lst_rng_seed(&r, seed ^ LST_STREAM_EXT_INIT);
    for (int i = 0; i < m->n_params; i++) {
        const lst_param_t *p = &m->params[i];
        if (p->ext < 1 || p->ext > lst_t5_n_parts) continue;
        lst_t5_parts[p->ext - 1]->init(p, m->flat + p->offset, m, &r);
    }
}

int lst_t5_load_method_weights(lst_t5_t *m, const char *path, lst_err_t *err) {
    lst_st_file_t f = {0};
    if (lst_st_open(&f, path, err)) return -1;
    int rc = 0;
    for (int i = 0; i < m->n_params && !rc; i++) {
        const lst_param_t *p = &m->params[i];
        const int need = p->ext > 0; /* an added tensor: no value in the checkpoint */
        if (!need && !(p->trainable && lst_st_find(&f, p->name))) continue;
        rc = lst_st_read_f32(&f, p->name, p->ndim, p->shape, m->flat + p->offset, err);
    }
    /* a tensor the method does not have: another method's, or another rank's */
    for (int i = 0; i < f.n && !rc; i++) {
        const lst_st_tensor_t *t = &f.tensors[i];
        const int k = lst_layout_find(m->params, m->n_params, t->name);
        if (k < 0 || !m->params[k].trainable)
            rc = lst_fail(err, "%s: tensor '%s' is not a trained parameter of this method", path,
                          t->name);
    }
    lst_st_close(&f);
    if (rc) return lst_fail_ctx(err, "method weights");
    return 0;
}
