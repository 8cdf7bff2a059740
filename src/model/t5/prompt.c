/* prompt.c: prompt tuning (LST-SPEC section 6) as a method part
 * (t5_hooks.h): prompt_len vectors of width d_model, prompt.weight,
 * prepended to the encoder's input (t5.c encoder_input). It has no block
 * tensors and no block hooks. */
#include <string.h>

#include "t5_hooks.h"

static int enable(lst_t5_ext_t *e, const lst_method_t *m, const lst_t5_config_t *c,
                  int freeze_layers, lst_err_t *err) {
    if (m->prompt_len < 1) return lst_fail(err, "--prompt-len %d must be positive", m->prompt_len);
    if (freeze_layers)
        return lst_fail(err, "--freeze-layers does not apply to prompt tuning (the prompt sits "
                        "below every layer)");
    e->prompt_len = m->prompt_len;
    return 0;
}

static int count(const lst_method_t *m, const lst_t5_config_t *c, int vocab, int64_t *n,
                 lst_err_t *err) {
    if (m->prompt_len < 1) return lst_fail(err, "prompt: length %d must be positive", m->prompt_len);
    *n = (int64_t)m->prompt_len * c->d_model;
    return 0;
}

static int layout_model(lst_layout_t *L, const lst_t5_config_t *c, const lst_t5_ext_t *e,
                        int vocab, lst_err_t *err) {
    if (!e->prompt_len) return 0;
    return lst_t5_part_add(L, &lst_t5_part_prompt, err, e->prompt_len, c->d_model, "prompt.weight");
}

/* The first prompt_len rows of the (loaded) vocabulary embedding (the
 * reference's intent; see LST-SPEC section 6). */
static void init(const lst_param_t *p, float *x, const lst_t5_t *m, lst_rng_t *r) {
    const size_t rows = (size_t)p->shape[0], have = (size_t)m->vocab, d = m->cfg.d_model;
    for (size_t row = 0; row < rows; row++)
        memcpy(x + row * d, m->w.shared + (row % have) * d, sizeof(float) * d);
}

const lst_t5_part_t lst_t5_part_prompt = {
    .name = "prompt",
    .enable = enable,
    .count = count,
    .layout_model = layout_model,
    .init = init,
};
