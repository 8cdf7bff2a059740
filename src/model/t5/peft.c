/* peft.c: see peft.h. */
#include "peft.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../core/rng.h"
#include "../../core/streams.h"

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
    e->frozen_base = 1;
    if (!strcmp(m->name, "full")) {
        e->frozen_base = 0;
    } else if (!strcmp(m->name, "adapters")) {
        e->adapter_dim = m->adapter_dim > 0 ? m->adapter_dim : c->d_model / 16;
        if (e->adapter_dim < 1)
            return lst_fail(err, "adapters: hidden size d_model/16 is 0 for d_model %d; give --adapter-dim",
                            c->d_model);
        e->train_norms = 1;
    } else if (!strcmp(m->name, "lora")) {
        if (m->lora_rank < 1) return lst_fail(err, "--lora-rank %d must be positive", m->lora_rank);
        e->lora_rank = m->lora_rank;
        e->lora_alpha = 32.0f;
        e->lora_dropout = 0.1f;
        e->bitfit = 1; /* the reference trains BitFit biases with LoRA */
    } else if (!strcmp(m->name, "bitfit")) {
        e->bitfit = 1;
    } else if (!strcmp(m->name, "prompt")) {
        if (m->prompt_len < 1) return lst_fail(err, "--prompt-len %d must be positive", m->prompt_len);
        if (freeze_layers)
            return lst_fail(err, "--freeze-layers does not apply to prompt tuning (the prompt sits "
                            "below every layer)");
        e->prompt_len = m->prompt_len;
    } else {
        return lst_fail(err, "'%s' is not a backbone method (full, adapters, lora, bitfit, prompt)",
                        m->name);
    }
    return 0;
}

/* Appends and flags as added by the method. */
#define ADD(d0, d1, ...)                                               \
    do {                                                               \
        if (lst_layout_add(L, err, d0, d1, __VA_ARGS__)) return -1;    \
        L->p[L->n - 1].ext = 1;                                        \
    } while (0)

int lst_t5_ext_layout_block(lst_layout_t *L, const lst_t5_config_t *c, const lst_t5_ext_t *e,
                            const char *prefix, int decoder, lst_err_t *err) {
    const int64_t d = c->d_model, I = (int64_t)c->num_heads * c->d_kv, F = c->d_ff;
    const int ff = decoder ? 2 : 1;
    const char *att[2] = {"layer.0.SelfAttention", "layer.1.EncDecAttention"};
    if (e->bitfit) {
        for (int a = 0; a < 1 + decoder; a++) {
            ADD(I, 0, "%s.%s.q.bias", prefix, att[a]);
            ADD(I, 0, "%s.%s.k.bias", prefix, att[a]);
            ADD(I, 0, "%s.%s.v.bias", prefix, att[a]);
            ADD(d, 0, "%s.%s.o.bias", prefix, att[a]);
        }
        if (c->gated) {
            ADD(F, 0, "%s.layer.%d.DenseReluDense.wi_0.bias", prefix, ff);
            ADD(F, 0, "%s.layer.%d.DenseReluDense.wi_1.bias", prefix, ff);
        } else {
            ADD(F, 0, "%s.layer.%d.DenseReluDense.wi.bias", prefix, ff);
        }
        ADD(d, 0, "%s.layer.%d.DenseReluDense.wo.bias", prefix, ff);
        for (int l = 0; l <= ff; l++) ADD(d, 0, "%s.layer.%d.layer_norm.bias", prefix, l);
    }
    if (e->adapter_dim) {
        const int64_t A = e->adapter_dim;
        const int sub[2] = {0, ff};
        for (int k = 0; k < 2; k++) {
            ADD(A, d, "%s.layer.%d.adapter.down.weight", prefix, sub[k]);
            ADD(A, 0, "%s.layer.%d.adapter.down.bias", prefix, sub[k]);
            ADD(d, A, "%s.layer.%d.adapter.up.weight", prefix, sub[k]);
            ADD(d, 0, "%s.layer.%d.adapter.up.bias", prefix, sub[k]);
        }
    }
    if (e->lora_rank) {
        const int64_t r = e->lora_rank;
        for (int a = 0; a < 1 + decoder; a++)
            for (int qv = 0; qv < 2; qv++) {
                ADD(r, d, "%s.%s.%s.lora_A.weight", prefix, att[a], qv ? "v" : "q");
                ADD(I, r, "%s.%s.%s.lora_B.weight", prefix, att[a], qv ? "v" : "q");
            }
    }
    return 0;
}

int lst_t5_ext_layout_model(lst_layout_t *L, const lst_t5_config_t *c, const lst_t5_ext_t *e,
                            int vocab, lst_err_t *err) {
    if (e->bitfit) ADD(vocab, 0, "lm_head.bias");
    if (e->prompt_len) ADD(e->prompt_len, c->d_model, "prompt.weight");
    return 0;
}
#undef ADD

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

void lst_t5_ext_init(lst_t5_t *m, uint64_t seed) {
    lst_rng_t r;
    lst_rng_seed(&r, seed ^ LST_STREAM_EXT_INIT);
    for (int i = 0; i < m->n_params; i++) {
        const lst_param_t *p = &m->params[i];
        if (!p->ext) continue;
        float *x = m->flat + p->offset;
        const char *nm = p->name;
        if (strstr(nm, ".adapter.")) {
            /* torch.nn.Linear: U(-b, b), b = 1/sqrt(fan_in), weight and bias */
            int64_t fan_in = strstr(nm, ".down.") ? m->cfg.d_model
                                                  : (int64_t)m->ext.adapter_dim;
            float b = 1.0f / sqrtf((float)fan_in);
            for (size_t j = 0; j < p->numel; j++) x[j] = (2.0f * lst_rng_uniform(&r) - 1.0f) * b;
        } else if (strstr(nm, ".lora_A.")) {
            /* kaiming_uniform_(a = sqrt(5)): bound 1/sqrt(fan_in) */
            float b = 1.0f / sqrtf((float)p->shape[1]);
            for (size_t j = 0; j < p->numel; j++) x[j] = (2.0f * lst_rng_uniform(&r) - 1.0f) * b;
        } else if (!strcmp(nm, "prompt.weight")) {
            /* the first prompt_len rows of the vocabulary embedding (the
             * reference's intent; see LST-SPEC section 6) */
            size_t rows = (size_t)p->shape[0], have = (size_t)m->vocab;
            for (size_t row = 0; row < rows; row++)
                memcpy(x + row * m->cfg.d_model, m->w.shared + (row % have) * m->cfg.d_model,
                       sizeof(float) * m->cfg.d_model);
        } else {
            memset(x, 0, sizeof(float) * p->numel); /* BitFit biases, LoRA B */
        }
    }
}
