/* methods.c: parameter counts of the fine-tuning methods (see methods.h). */
#include "methods.h"
#include "t5/t5_tensors.h"

#include <stdio.h>
#include <string.h>

#define SIDE_OPTS LST_MOPT_SIDE
#define BB_OPTS LST_MOPT_FREEZE
static const lst_method_info_t registry[] = {
    {"lst", LST_SIDE_LADDER, 3e-3, 1, SIDE_OPTS, "Ladder Side-Tuning (the default)"},
    {"side-tuning", LST_SIDE_TUNING, 3e-3, 1, SIDE_OPTS, "the side-tuning ablation: one merge gate"},
    {"compression", LST_SIDE_COMPRESSION, 3e-3, 1, SIDE_OPTS, "the pruned side network alone"},
    {"full", -1, 3e-4, 1, BB_OPTS, "full fine-tuning"},
    {"adapters", -1, 3e-4, 0, BB_OPTS | LST_MOPT_ADAPTER_DIM, "Houlsby adapters"},
    {"lora", -1, 3e-4, 1, BB_OPTS | LST_MOPT_LORA_RANK, "LoRA on q and v, with BitFit biases"},
    {"bitfit", -1, 3e-4, 1, BB_OPTS, "BitFit biases"},
    {"prompt", -1, 0.3, 1, LST_MOPT_PROMPT_LEN, "prompt tuning"},
};
#define N_METHODS ((int)(sizeof registry / sizeof registry[0]))

const lst_method_info_t *lst_method_info(const char *name) {
    for (int i = 0; name && i < N_METHODS; i++)
        if (!strcmp(name, registry[i].name)) return &registry[i];
    return NULL;
}

const lst_method_info_t *lst_method_at(int i) { return i >= 0 && i < N_METHODS ? &registry[i] : NULL; }

int lst_method_count(void) { return N_METHODS; }

const char *lst_method_names(void) {
    static char names[256];
    if (!names[0])
        for (int i = 0; i < N_METHODS; i++) {
            strncat(names, i ? ", " : "", sizeof names - strlen(names) - 1);
            strncat(names, registry[i].name, sizeof names - strlen(names) - 1);
        }
    return names;
}

int lst_method_side_mode(const char *m, int *mode) {
    const lst_method_info_t *info = lst_method_info(m);
    if (!info || info->side_mode < 0) return -1;
    *mode = info->side_mode;
    return 0;
}

/* The side network's mode for a method name (LADDER for anything else). */
static int side_mode(const char *name) {
    int mode = LST_SIDE_LADDER;
    lst_method_side_mode(name, &mode);
    return mode;
}

void lst_method_default(lst_method_t *m, const char *name) {
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->side.r = 8;
    m->side.gate_T = 0.1f;
    m->side.n_keep[0] = m->side.n_keep[1] = -1;
    m->side.mode = side_mode(name);
    m->lora_rank = 32;
    m->prompt_len = 100;
}

int64_t lst_t5_param_count(const lst_t5_config_t *c, int vocab) {
    int64_t n;
    return lst_t5_count(c, vocab, &n) ? -1 : n;
}

/* BitFit biases: every linear's output width, every block layer norm. */
static int64_t bitfit_count(const lst_t5_config_t *c, int vocab) {
    const int64_t d = c->d_model, I = (int64_t)c->num_heads * c->d_kv, F = c->d_ff;
    const int64_t ffn = (c->gated ? 2 : 1) * F + d;
    const int64_t enc = 3 * I + d + ffn + 2 * d;          /* q k v o, FFN, 2 norms */
    const int64_t dec = 2 * (3 * I + d) + ffn + 3 * d;    /* self, cross, FFN, 3 norms */
    return c->num_layers * enc + c->num_decoder_layers * dec + vocab; /* + LM head bias */
}

int lst_method_params(const lst_method_t *m, const lst_t5_config_t *c, int vocab,
                      int64_t *trainable, int64_t *backbone, lst_err_t *err) {
    const int64_t d = c->d_model;
    const int64_t L = c->num_layers, Ld = c->num_decoder_layers;
    *backbone = lst_t5_param_count(c, vocab);
    if (!strcmp(m->name, "full")) {
        *trainable = *backbone;
    } else if (!strcmp(m->name, "lst")) {
        lst_side_t s;
        if (lst_side_shape(&s, c, &m->side, err)) return -1;
        *trainable = (int64_t)s.n_floats; /* unused gates too, as the reference */
        lst_side_free(&s);
    } else if (!strcmp(m->name, "side-tuning") || !strcmp(m->name, "compression")) {
        /* the mode's own table: no ladders or gates, so every entry trains */
        lst_side_opts_t o = m->side;
        o.mode = side_mode(m->name);
        lst_side_t s;
        if (lst_side_shape(&s, c, &o, err)) return -1;
        *trainable = 0;
        for (int i = 0; i < s.n_params; i++)
            if (s.params[i].trainable) *trainable += (int64_t)s.params[i].numel;
        lst_side_free(&s);
    } else if (!strcmp(m->name, "adapters")) {
        const int64_t h = m->adapter_dim > 0 ? m->adapter_dim : d / 16;
        if (h < 1) return lst_fail(err, "adapters: hidden size %lld must be positive", (long long)h);
        const int64_t adapter = d * h + h + h * d + d;
        const int64_t norms = (2 * L + 3 * Ld + 2) * d;
        *trainable = 2 * (L + Ld) * adapter + norms;
    } else if (!strcmp(m->name, "lora")) {
        const int64_t r = m->lora_rank, I = (int64_t)c->num_heads * c->d_kv;
        if (r < 1) return lst_fail(err, "lora: rank %lld must be positive", (long long)r);
        const int64_t per_matrix = r * d + I * r; /* A: [r, d], B: [I, r] */
        *trainable = (L + 2 * Ld) * 2 * per_matrix + bitfit_count(c, vocab);
    } else if (!strcmp(m->name, "bitfit")) {
        *trainable = bitfit_count(c, vocab);
    } else if (!strcmp(m->name, "prompt")) {
        if (m->prompt_len < 1) return lst_fail(err, "prompt: length %d must be positive", m->prompt_len);
        *trainable = (int64_t)m->prompt_len * d;
    } else {
        return lst_fail(err, "unknown method '%s' (%s)", m->name, lst_method_names());
    }
    return 0;
}
