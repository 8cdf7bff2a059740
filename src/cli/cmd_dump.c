/* cmd_dump.c: `lst dump`: one forward + backward of the backbone on a
 * batch, writing every tensor a port needs to be checked against a
 * reference (logits, loss, taps, hidden states, a gradient per parameter). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../train/batch_file.h"
#include "../io/safetensors.h"
#include "../train/side_config.h"
#include "../model/side.h"
#include "../model/t5/peft.h"
#include "../model/t5/t5_backbone.h" /* the backbone dump is T5's (its taps, its tensor names) */
#include "../train/adamw.h"
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

/* Writes the listed outputs (bad: listing them ran out of memory). */
static int out_write(const outlist_t *o, int bad, const char *path, lst_err_t *err) {
    if (bad) return lst_fail(err, "out of memory listing outputs");
    return lst_st_write(path, o->t, o->n, err);
}

static void out_free(outlist_t *o) {
    for (int i = 0; i < o->n; i++) free(o->names[i]);
    free(o->names);
    free(o->t);
}

/* Adds every parameter of a table under "<prefix><name>" (only trainable
 * ones if trainable_only). */
static int out_add_params(outlist_t *o, const char *prefix, const lst_param_t *p, int n,
                          const float *flat, int trainable_only) {
    char name[256];
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if (trainable_only && !p[i].trainable) continue;
        snprintf(name, sizeof name, "%s%s", prefix, p[i].name);
        bad |= out_add(o, name, flat + p[i].offset, p[i].ndim, p[i].shape);
    }
    return bad;
}

/* The LST part of dump: logits, loss and side gradients of the LST model,
 * optionally the initial side network (init.*) and N AdamW steps. */
static int dump_lst(lst_backbone_t *m, const lst_batch_t *b, const char *side_path,
                    const char *cfg_path, int64_t seed, lst_wformat_t dtype, const char *out_path,
                    lst_err_t *err) {
    lst_side_config_t sc;
    lst_side_t side = {0};
    lst_side_acts_t acts = {0};
    lst_adamw_t opt = {0};
    outlist_t out = {0};
    float *grads = NULL, *grads0 = NULL, *init = NULL, *losses = NULL, *imp = NULL;
    float *logits0 = NULL;
    float loss0 = 0;
    int rc = -1;
    if (lst_side_config_load(&sc, m, cfg_path, err)) return -1;
    if (lst_side_create(&side, m, &sc.opts, err)) {
        lst_side_config_free(&sc);
        return -1;
    }
    if (side_path) {
        if (lst_side_load(&side, side_path, err)) goto done;
    } else if (!sc.init[0]) {
        lst_fail(err, "%s: give --side FILE, or \"init\" in the side config", cfg_path);
        goto done;
    } else if (!strcmp(sc.init, "random")) {
        lst_side_init_random(&side, (uint64_t)seed);
    } else {
        lst_side_init_ladders(&side, (uint64_t)seed, sc.gate_init);
        if (!strcmp(sc.init, "fisher")) {
            imp = lst_calloc(lst_bb_table(m).n_floats, sizeof(float), err);
            if (!imp || lst_fisher_importance(m, b, imp, err)) goto done;
        }
        if (lst_side_init_prune(&side, m, imp, err)) goto done;
    }
    /* from here on the backbone only runs forward: packed, as lst train runs it */
    if (lst_bb_freeze(m, dtype, err)) goto done; /* after the (float32) pruning init */
    if (!side_path) {
        init = lst_malloc(side.n_floats, sizeof(float), err);
        if (!init) goto done;
        memcpy(init, side.flat, sizeof(float) * side.n_floats);
    }
    grads = lst_calloc(side.n_floats, sizeof(float), err);
    grads0 = lst_calloc(side.n_floats, sizeof(float), err);
    losses = lst_calloc(sc.steps > 0 ? sc.steps : 1, sizeof(float), err);
    if (!grads || !grads0 || !losses) goto done;
    /* logits from an inference-mode pass (training keeps only chunks of them) */
    lst_side_acts_t ev;
    if (lst_side_acts_alloc(&ev, m, &side, b->B, b->Ts, b->Td, 0, err)) goto done;
    loss0 = (float)lst_side_forward(m, &side, b, &ev, NULL, NULL);
    const size_t n_logits = (size_t)b->B * b->Td * m->vocab;
    logits0 = lst_malloc(n_logits, sizeof(float), err);
    if (logits0) memcpy(logits0, ev.logits, sizeof(float) * n_logits);
    lst_side_acts_free(&ev);
    if (!logits0) goto done;
    if (lst_side_acts_alloc(&acts, m, &side, b->B, b->Ts, b->Td, 1, err)) goto done;
    if (b->labels) {
        lst_side_forward(m, &side, b, &acts, NULL, NULL);
        if (lst_side_backward(m, &side, b, &acts, NULL, grads0, err)) goto done;
    }
    int64_t sh[3] = {b->B, b->Td, m->vocab}, one = 1, nsteps = sc.steps;
    int bad = out_add(&out, "logits", logits0, 3, sh);
    if (b->labels) bad |= out_add(&out, "loss", &loss0, 1, &one);
    if (b->labels) bad |= out_add_params(&out, "grad.", side.params, side.n_params, grads0, 1);
    if (init) bad |= out_add_params(&out, "init.", side.params, side.n_params, init, 0);
    if (sc.steps > 0) {
        if (!b->labels) {
            lst_fail(err, "AdamW steps need labels in the batch");
            goto done;
        }
        if (lst_adamw_init(&opt, &sc.adamw, side.n_floats, err)) goto done;
        for (int t = 0; t < sc.steps; t++) {
            losses[t] = (float)lst_side_forward(m, &side, b, &acts, NULL, NULL);
            memset(grads, 0, sizeof(float) * side.n_floats);
            if (lst_side_backward(m, &side, b, &acts, NULL, grads, err)) goto done;
            lst_adamw_step(&opt, side.params, side.n_params, side.flat, grads, sc.adamw.lr);
        }
        char prefix[32];
        snprintf(prefix, sizeof prefix, "after%d.", sc.steps);
        bad |= out_add(&out, "adamw_losses", losses, 1, &nsteps);
        bad |= out_add_params(&out, prefix, side.params, side.n_params, side.flat, 0);
    }
    rc = out_write(&out, bad, out_path, err);
done:
    out_free(&out);
    free(grads);
    free(grads0);
    free(init);
    free(losses);
    free(imp);
    free(logits0);
    lst_adamw_free(&opt);
    lst_side_acts_free(&acts);
    lst_side_free(&side);
    lst_side_config_free(&sc);
    return rc;
}

/* The backbone part of dump (plain, or with a backbone method's tensors):
 * logits [B, Td, V], loss, taps [B, Te, d] (Te: the prompt's rows too) and
 * [B, Td, d], last hidden states, a gradient per trainable parameter. */
static int dump_backbone(lst_t5_t *m, const lst_batch_t *b, int want_grad, const char *out_path,
                         lst_err_t *err) {
    lst_t5_acts_t acts = {0};
    float *grads = NULL;
    outlist_t out = {0};
    int rc = -1;
    want_grad = want_grad && b->labels;
    if (lst_t5_acts_alloc(&acts, m, b->B, b->Ts, b->Td, want_grad, err)) goto done;
    float loss = (float)lst_t5_forward(m, b, &acts, NULL);
    if (want_grad) {
        grads = lst_calloc(m->n_trainable_floats ? m->n_trainable_floats : 1, sizeof(float), err);
        if (!grads || lst_t5_backward(m, b, &acts, NULL, grads, err)) goto done;
    }
    const lst_t5_config_t *c = &m->cfg;
    const int d = c->d_model, Te = lst_t5_enc_len(m, b->Ts);
    char name[256];
    int64_t sh[3] = {b->B, b->Td, m->vocab}, one = 1;
    int bad = out_add(&out, "logits", acts.logits, 3, sh);
    if (b->labels) bad |= out_add(&out, "loss", &loss, 1, &one);
    int64_t se[3] = {b->B, Te, d}, sd[3] = {b->B, b->Td, d};
    for (int i = 0; i <= c->num_layers; i++) {
        snprintf(name, sizeof name, "encoder_tap.%d", i);
        bad |= out_add(&out, name, acts.enc_taps + (size_t)i * b->B * Te * d, 3, se);
    }
    for (int i = 0; i <= c->num_decoder_layers; i++) {
        snprintf(name, sizeof name, "decoder_tap.%d", i);
        bad |= out_add(&out, name, acts.dec_taps + (size_t)i * b->B * b->Td * d, 3, sd);
    }
    bad |= out_add(&out, "encoder_last_hidden_state", acts.enc_out, 3, se);
    bad |= out_add(&out, "decoder_last_hidden_state", acts.dec_out, 3, sd);
    /* trainable parameters come first in the table, frozen ones have no gradient */
    for (int i = 0; grads && i < m->n_params && m->params[i].trainable; i++) {
        const lst_param_t *p = &m->params[i];
        snprintf(name, sizeof name, "grad.%s", p->name);
        bad |= out_add(&out, name, grads + p->offset, p->ndim, p->shape);
    }
    rc = out_write(&out, bad, out_path, err);
done:
    out_free(&out);
    free(grads);
    lst_t5_acts_free(&acts);
    return rc;
}

/* A checkpoint with a backbone method's tensors: seeded as lst train
 * seeds them, then the values of `weights` where given. */
static int load_method(lst_t5_t *m, const char *dir, int vocab, const lst_method_t *meth,
                       const char *weights, int64_t seed, lst_err_t *err) {
    if (lst_t5_load_method(m, dir, vocab, meth, 0, (uint64_t)seed, err)) return -1;
    return weights ? lst_t5_load_method_weights(m, weights, err) : 0;
}

/* The method options of dump: 0, or 2 after printing what is wrong. */
static int method_opts(const lst_opt_t *opts, int n, lst_method_t *meth) {
    const char *v = lst_opt(opts, n, "method");
    if (!v) {
        static const char *const only[] = {"method-weights", "lora-rank", "prompt-len", "adapter-dim"};
        for (int i = 0; i < 4; i++)
            if (lst_opt(opts, n, only[i])) {
                fprintf(stderr, "lst dump: --%s needs --method\n", only[i]);
                return 2;
            }
        return 0;
    }
    if (lst_opt_method_known("dump", "--method", v)) return 2;
    if (!lst_method_is_backbone(v) || lst_opt(opts, n, "side-config")) {
        fprintf(stderr, "lst dump: --method takes a backbone method (full, adapters, lora, bitfit, "
                        "prompt); a side network's dump is --side-config\n");
        return 2;
    }
    lst_method_default(meth, v);
    if (lst_opt_method_check("dump", opts, n, v)) return 2;
    const char *sizes[3] = {"adapter-dim", "lora-rank", "prompt-len"};
    int *dst[3] = {&meth->adapter_dim, &meth->lora_rank, &meth->prompt_len};
    for (int i = 0; i < 3; i++)
        if ((v = lst_opt(opts, n, sizes[i])) && lst_opt_i32("dump", sizes[i], v, 1, 1000000, dst[i]))
            return 2;
    return 0;
}

int lst_cmd_dump(int argc, char **argv) {
    lst_opt_t opts[] = {
        {"model", 0, 1, "checkpoint directory (config.json + model.safetensors)", NULL},
        {"batch", 0, 1, "batch .safetensors (input_ids, attention_mask, labels, ...)", NULL},
        {"out", 0, 1, "output .safetensors", NULL},
        {"no-grad", 1, 0, "forward only: skip the gradients", NULL},
        {"side", 0, 0, "LST: side network weights (.safetensors)", NULL},
        {"side-config", 0, 0, "LST: side network JSON (r, kept layers, gate_T, init, adamw)", NULL},
        {"seed", 0, 0, "LST: seed of the ladder initialisation; --method: of the added tensors "
                       "(default 0)", NULL},
        {"backbone-dtype", 0, 0, "frozen backbone: fp32 (default), bf16, int8 or q4 (LST, or the "
                                 "plain forward with --no-grad)", NULL},
        {"method", 0, 0, "a backbone method's forward and gradients: full, adapters, lora, bitfit "
                         "or prompt", NULL},
        {"method-weights", 0, 0, "--method: its tensors (.safetensors, e.g. a run's "
                                 "tuned.safetensors; default: seeded as lst train does)", NULL},
        {"lora-rank", 0, 0, "lora: rank (default 32)", NULL},
        {"prompt-len", 0, 0, "prompt: vectors (default 100)", NULL},
        {"adapter-dim", 0, 0, "adapters: hidden size (default d_model/16)", NULL},
        {"vocab", 0, 0, "keep the first N rows of the embedding and LM head, as lst train does "
                        "for a tokenizer of N pieces (default: the checkpoint's rows)", NULL},
    };
    const int n_opts = sizeof opts / sizeof opts[0];
    int rc = lst_args_parse("dump", "--model DIR --batch FILE --out FILE", opts, n_opts,
                            argc, argv);
    if (rc) return rc == 1 ? 0 : rc;

    /* options first: a bad option is exit 2 whatever the files hold */
    const char *side_cfg = lst_opt(opts, n_opts, "side-config");
    if (lst_opt(opts, n_opts, "side") && !side_cfg) {
        lst_cli_error("dump", "--side needs --side-config (r and kept layers)");
        return 2;
    }
    lst_method_t meth = {{0}};
    if (method_opts(opts, n_opts, &meth)) return 2;
    int64_t seed = 0;
    const char *sv = lst_opt(opts, n_opts, "seed");
    if (sv && lst_opt_i64("dump", "seed", sv, 0, 0x7fffffff, &seed)) return 2;
    int vocab = 0;
    const char *vv = lst_opt(opts, n_opts, "vocab");
    if (vv && lst_opt_i32("dump", "vocab", vv, 1, 0x7fffffff, &vocab)) return 2;
    lst_wformat_t dtype = LST_WF_F32;
    const char *dv = lst_opt(opts, n_opts, "backbone-dtype");
    if (dv && lst_opt_dtype("dump", dv, &dtype)) return 2;
    if (dtype != LST_WF_F32 && !side_cfg && !lst_opt(opts, n_opts, "no-grad")) {
        fprintf(stderr, "lst dump: a %s backbone runs forward only: add --no-grad, or "
                        "--side-config for LST's gradients\n", dv);
        return 2;
    }

    lst_err_t err = {{0}};
    lst_t5_t m = {0};
    lst_batch_file_t bf = {0};
    int status = 1;
    const char *dir = lst_opt(opts, n_opts, "model");
    if (meth.name[0] ? load_method(&m, dir, vocab, &meth, lst_opt(opts, n_opts, "method-weights"),
                                   seed, &err)
                     : lst_t5_load(&m, dir, vocab, &err))
        goto fail;
    if (vocab > m.vocab) {
        lst_fail(&err, "--vocab %d: %s has %d rows", vocab, dir, m.vocab);
        goto fail;
    }
    if (lst_batch_load(&bf, lst_opt(opts, n_opts, "batch"), m.cfg.decoder_start_token_id, &err))
        goto fail;
    const lst_batch_t *b = &bf.view;
    if (lst_t5_check_batch(&m, b, &err)) {
        lst_fail_ctx(&err, "%s", lst_opt(opts, n_opts, "batch"));
        goto fail;
    }
    if (side_cfg) {
        lst_backbone_t bb; /* the LST part speaks to the backbone interface */
        lst_t5_backbone_wrap(&bb, &m);
        if (dump_lst(&bb, b, lst_opt(opts, n_opts, "side"), side_cfg, seed, dtype,
                     lst_opt(opts, n_opts, "out"), &err))
            goto fail;
        status = 0;
        goto fail;
    }
    if (dtype != LST_WF_F32 && lst_t5_freeze(&m, dtype, &err)) goto fail;
    if (dump_backbone(&m, b, !lst_opt(opts, n_opts, "no-grad"), lst_opt(opts, n_opts, "out"), &err))
        goto fail;
    status = 0;
fail:
    if (status) lst_cli_error("dump", err.msg);
    lst_batch_free(&bf);
    lst_t5_free(&m);
    return status;
}
