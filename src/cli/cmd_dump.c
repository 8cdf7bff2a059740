/* cmd_dump.c: `lst dump`: one forward + backward of the backbone on a
 * batch, writing every tensor a port needs to be checked against a
 * reference (logits, loss, taps, hidden states, a gradient per parameter). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/batch.h"
#include "../io/safetensors.h"
#include "../model/t5.h"
#include "cli.h"

typedef struct {
    lst_st_out_t *t;
    char **names;
    int n, cap;
} outlist_t;

static int out_add(outlist_t *o, const char *name, const float *data, int ndim,
                   const int64_t *shape) {
    if (o->n == o->cap) {
        int cap = o->cap ? o->cap * 2 : 64;
        lst_st_out_t *nt = realloc(o->t, sizeof *nt * cap);
        if (!nt) return -1;
        o->t = nt;
        char **nn = realloc(o->names, sizeof *nn * cap);
        if (!nn) return -1;
        o->names = nn;
        o->cap = cap;
    }
    char *nm = strdup(name);
    if (!nm) return -1;
    lst_st_out_t *t = &o->t[o->n];
    memset(t, 0, sizeof *t);
    o->names[o->n++] = nm;
    t->name = nm;
    t->dtype = LST_DT_F32;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->data = data;
    return 0;
}

static void out_free(outlist_t *o) {
    for (int i = 0; i < o->n; i++) free(o->names[i]);
    free(o->names);
    free(o->t);
}

int lst_cmd_dump(int argc, char **argv) {
    lst_opt_t opts[] = {
        {"model", 0, 1, "checkpoint directory (config.json + model.safetensors)", NULL},
        {"batch", 0, 1, "batch .safetensors (input_ids, attention_mask, labels, ...)", NULL},
        {"out", 0, 1, "output .safetensors", NULL},
        {"no-grad", 1, 0, "forward only: skip the gradients", NULL},
    };
    const int n_opts = sizeof opts / sizeof opts[0];
    int rc = lst_args_parse("dump", "--model DIR --batch FILE --out FILE", opts, n_opts,
                            argc, argv);
    if (rc) return rc == 1 ? 0 : rc;

    lst_err_t err = {{0}};
    lst_t5_t m = {0};
    lst_batch_file_t bf = {0};
    lst_t5_acts_t acts = {0};
    float *grads = NULL;
    outlist_t out = {0};
    int status = 1;
    if (lst_t5_load(&m, lst_opt(opts, n_opts, "model"), 0, &err)) goto fail;
    if (lst_batch_load(&bf, lst_opt(opts, n_opts, "batch"), m.cfg.decoder_start_token_id, &err))
        goto fail;
    const lst_t5_batch_t *b = &bf.view;
    if (lst_t5_check_batch(&m, b, &err)) {
        lst_fail_ctx(&err, "%s", lst_opt(opts, n_opts, "batch"));
        goto fail;
    }
    int want_grad = !lst_opt(opts, n_opts, "no-grad") && b->labels;
    if (lst_t5_acts_alloc(&acts, &m, b->B, b->Ts, b->Td, want_grad, &err)) goto fail;
    float loss = (float)lst_t5_forward(&m, b, &acts, NULL);
    if (want_grad) {
        grads = lst_calloc(m.n_floats, sizeof(float), &err);
        if (!grads || lst_t5_backward(&m, b, &acts, NULL, grads, &err)) goto fail;
    }

    const lst_t5_config_t *c = &m.cfg;
    const int d = c->d_model;
    char name[256];
    int64_t sh[3] = {b->B, b->Td, m.vocab};
    int bad = out_add(&out, "logits", acts.logits, 3, sh);
    int64_t one = 1;
    if (b->labels) bad |= out_add(&out, "loss", &loss, 1, &one);
    int64_t se[3] = {b->B, b->Ts, d}, sd[3] = {b->B, b->Td, d};
    for (int i = 0; i <= c->num_layers; i++) {
        snprintf(name, sizeof name, "encoder_tap.%d", i);
        bad |= out_add(&out, name, acts.enc_taps + (size_t)i * b->B * b->Ts * d, 3, se);
    }
    for (int i = 0; i <= c->num_decoder_layers; i++) {
        snprintf(name, sizeof name, "decoder_tap.%d", i);
        bad |= out_add(&out, name, acts.dec_taps + (size_t)i * b->B * b->Td * d, 3, sd);
    }
    bad |= out_add(&out, "encoder_last_hidden_state", acts.enc_out, 3, se);
    bad |= out_add(&out, "decoder_last_hidden_state", acts.dec_out, 3, sd);
    for (int i = 0; grads && i < m.n_params; i++) {
        const lst_param_t *p = &m.params[i];
        snprintf(name, sizeof name, "grad.%s", p->name);
        bad |= out_add(&out, name, grads + p->offset, p->ndim, p->shape);
    }
    if (bad) {
        lst_fail(&err, "out of memory listing outputs");
        goto fail;
    }
    if (lst_st_write(lst_opt(opts, n_opts, "out"), out.t, out.n, &err)) goto fail;
    status = 0;
fail:
    if (status) lst_cli_error("dump", err.msg);
    out_free(&out);
    free(grads);
    lst_t5_acts_free(&acts);
    lst_batch_free(&bf);
    lst_t5_free(&m);
    return status;
}
