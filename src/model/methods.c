/* methods.c: parameter counts of the fine-tuning methods (see methods.h). */
#include "methods.h"
#include "t5/t5_hooks.h"
#include "t5/t5_tensors.h"

#include <stdio.h>
#include <string.h>

#define SIDE_OPTS LST_MOPT_SIDE
#define BB_OPTS LST_MOPT_FREEZE
/* The parts of the backbone methods (t5/<part>.c). */
static const lst_t5_part_t *const adapters[] = {&lst_t5_part_adapter, NULL};
static const lst_t5_part_t *const lora[] = {&lst_t5_part_lora, &lst_t5_part_bitfit, NULL};
static const lst_t5_part_t *const bitfit[] = {&lst_t5_part_bitfit, NULL};
static const lst_t5_part_t *const prompt[] = {&lst_t5_part_prompt, NULL};
static const lst_method_info_t registry[] = {
    {"lst", LST_SIDE_LADDER, 3e-3, 1, SIDE_OPTS, "Ladder Side-Tuning (the default)", 0, NULL},
    {"side-tuning", LST_SIDE_TUNING, 3e-3, 1, SIDE_OPTS, "the side-tuning ablation: one merge gate",
     0, NULL},
    {"compression", LST_SIDE_COMPRESSION, 3e-3, 1, SIDE_OPTS, "the pruned side network alone", 0,
     NULL},
    {"full", -1, 3e-4, 1, BB_OPTS, "full fine-tuning", 1, NULL},
    {"adapters", -1, 3e-4, 0, BB_OPTS | LST_MOPT_ADAPTER_DIM, "Houlsby adapters", 0, adapters},
    {"lora", -1, 3e-4, 1, BB_OPTS | LST_MOPT_LORA_RANK, "LoRA on q and v, with BitFit biases", 0,
     lora},
    {"bitfit", -1, 3e-4, 1, BB_OPTS, "BitFit biases", 0, bitfit},
    {"prompt", -1, 0.3, 1, LST_MOPT_PROMPT_LEN, "prompt tuning", 0, prompt},
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

int lst_method_params(const lst_method_t *m, const lst_t5_config_t *c, int vocab,
                      int64_t *trainable, int64_t *backbone, lst_err_t *err) {
    const lst_method_info_t *info = lst_method_info(m->name);
    *backbone = lst_t5_param_count(c, vocab);
    if (info && info->whole_backbone) {
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
    } else if (info && info->parts) {
        /* the backbone methods: the sum of what each part trains */
        *trainable = 0;
        for (int i = 0; info->parts[i]; i++) {
            int64_t n;
            if (info->parts[i]->count(m, c, vocab, &n, err)) return -1;
            *trainable += n;
        }
    } else {
        return lst_fail(err, "unknown method '%s' (%s)", m->name, lst_method_names());
    }
    return 0;
}
