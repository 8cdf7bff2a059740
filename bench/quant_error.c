/* quant_error.c: what each frozen-backbone format (bf16, int8, q4) changes
 * against float32 on one batch (issue 14): the backbone's taps (every
 * encoder and decoder block output), its logits, and, with an LST side
 * network on top (r 8 or the given r, all layers kept, random side weights,
 * the same in every format), the LST logits and the side network's
 * gradients. Relative L2 and max |difference| / max |float32| of each.
 * Usage: quant_error MODEL_DIR BATCH.safetensors [r]   (make bench-quant) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/model/side.h"
#include "../src/model/t5/t5_backbone.h"
#include "../src/ops/wformat.h"
#include "../src/train/batch_file.h"

typedef struct {
    float *taps, *logits, *lst_logits, *grads;
    size_t n_taps, n_logits, n_grads;
} outs_t;

static void errors(const float *got, const float *ref, size_t n, double *rel, double *max) {
    double e = 0, w = 0, worst = 0, big = 1e-30;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)got[i] - ref[i];
        e += d * d;
        w += (double)ref[i] * ref[i];
        worst = fabs(d) > worst ? fabs(d) : worst;
        big = fabs(ref[i]) > big ? fabs(ref[i]) : big;
    }
    *rel = sqrt(e / (w > 0 ? w : 1e-30));
    *max = worst / big;
}

static float *copy(const float *x, size_t n) {
    float *y = malloc(sizeof(float) * (n ? n : 1));
    memcpy(y, x, sizeof(float) * n);
    return y;
}

/* The model of dir in format fmt: its taps and logits, then LST's. */
static int run(const char *dir, const lst_batch_t *b, int r, lst_wformat_t fmt, outs_t *o,
               lst_err_t *err) {
    lst_t5_t m;
    if (lst_t5_load(&m, dir, 0, err)) return -1;
    lst_backbone_t bb;
    lst_t5_backbone_wrap(&bb, &m);
    lst_side_opts_t so = {0};
    so.mode = LST_SIDE_LADDER;
    so.r = r;
    so.gate_T = 0.1f;
    so.n_keep[0] = so.n_keep[1] = -1;
    lst_side_t s = {0};
    lst_t5_acts_t ta = {0};
    lst_side_acts_t sa = {0};
    int rc = -1;
    if (lst_side_create(&s, &bb, &so, err)) goto out;
    lst_side_init_random(&s, 1);
    lst_side_init_ladders(&s, 2, 0.3f);
    if (fmt != LST_WF_F32 && lst_t5_pack(&m, fmt, NULL, NULL, err)) goto out;
    if (lst_t5_acts_alloc(&ta, &m, b->B, b->Ts, b->Td, 0, err)) goto out;
    lst_t5_forward(&m, b, &ta, NULL);
    const size_t d = m.cfg.d_model, ne = (size_t)(m.cfg.num_layers + 1) * b->B * b->Ts * d;
    const size_t nd = (size_t)(m.cfg.num_decoder_layers + 1) * b->B * b->Td * d;
    o->n_taps = ne + nd;
    o->taps = malloc(sizeof(float) * o->n_taps);
    memcpy(o->taps, ta.enc_taps, sizeof(float) * ne);
    memcpy(o->taps + ne, ta.dec_taps, sizeof(float) * nd);
    o->n_logits = (size_t)b->B * b->Td * m.vocab;
    o->logits = copy(ta.logits, o->n_logits);
    if (lst_side_acts_alloc(&sa, &bb, &s, b->B, b->Ts, b->Td, 1, err)) goto out;
    lst_side_forward(&bb, &s, b, &sa, NULL, NULL);
    o->n_grads = s.n_floats;
    o->grads = calloc(s.n_floats, sizeof(float));
    if (lst_side_backward(&bb, &s, b, &sa, NULL, o->grads, err)) goto out;
    lst_side_acts_free(&sa);
    if (lst_side_acts_alloc(&sa, &bb, &s, b->B, b->Ts, b->Td, 0, err)) goto out;
    lst_side_forward(&bb, &s, b, &sa, NULL, NULL);
    o->lst_logits = copy(sa.logits, o->n_logits);
    rc = 0;
out:
    lst_side_acts_free(&sa);
    lst_t5_acts_free(&ta);
    lst_side_free(&s);
    lst_t5_free(&m);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: quant_error MODEL_DIR BATCH.safetensors [r]\n");
        return 2;
    }
    const int r = argc > 3 ? atoi(argv[3]) : 8;
    lst_err_t err;
    lst_batch_file_t bf;
    if (lst_batch_load(&bf, argv[2], 0, &err)) {
        fprintf(stderr, "quant_error: %s\n", err.msg);
        return 1;
    }
    lst_batch_t b = bf.view;
    b.dec_mask = NULL;
    outs_t ref = {0};
    if (run(argv[1], &b, r, LST_WF_F32, &ref, &err)) {
        fprintf(stderr, "quant_error: %s\n", err.msg);
        return 1;
    }
    printf("%s, batch [%d, %d] -> [%d, %d], r %d: relative L2 / max |diff| / max |fp32|\n", argv[1],
           b.B, b.Ts, b.B, b.Td, r);
    printf("%-6s %-21s %-21s %-21s %-21s\n", "format", "backbone taps", "backbone logits",
           "LST logits", "LST side gradients");
    const lst_wformat_t fmts[3] = {LST_WF_BF16, LST_WF_INT8, LST_WF_Q4};
    for (int f = 0; f < 3; f++) {
        outs_t o = {0};
        if (run(argv[1], &b, r, fmts[f], &o, &err)) {
            fprintf(stderr, "quant_error: %s: %s\n", lst_wformat(fmts[f])->name, err.msg);
            return 1;
        }
        double e[4][2];
        errors(o.taps, ref.taps, ref.n_taps, &e[0][0], &e[0][1]);
        errors(o.logits, ref.logits, ref.n_logits, &e[1][0], &e[1][1]);
        errors(o.lst_logits, ref.lst_logits, ref.n_logits, &e[2][0], &e[2][1]);
        errors(o.grads, ref.grads, ref.n_grads, &e[3][0], &e[3][1]);
        printf("%-6s", lst_wformat(fmts[f])->name);
        for (int i = 0; i < 4; i++) printf(" %.2e / %.2e     ", e[i][0], e[i][1]);
        printf("\n");
        free(o.taps); free(o.logits); free(o.lst_logits); free(o.grads);
    }
    free(ref.taps); free(ref.logits); free(ref.lst_logits); free(ref.grads);
    lst_batch_free(&bf);
    return 0;
}
