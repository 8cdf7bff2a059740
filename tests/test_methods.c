/* test_methods.c: the baselines of LST-SPEC section 6 in the T5 engine:
 * each method's trainable parameters against finite differences (dropout
 * on, LoRA dropout included), one AdamW step changing exactly the intended
 * parameters, frozen parameters getting no gradient at all, the layer
 * freezing of the paper's Figure 6, generation equal to the full forward,
 * and parameter tables equal to lst_method_params' counts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/rng.h"
#include "../src/train/batch_file.h"
#include "../src/model/methods.h"
#include "../src/model/t5/peft.h"
#include "../src/train/adamw.h"
#include "bb_util.h"
#include "test.h"

typedef struct {
    lst_t5_t m;
    lst_batch_file_t bf;
    lst_t5_acts_t a;
} fixture_t;

static int open_method(fixture_t *f, const char *model, const char *method, int freeze) {
    char dir[256], bpath[300];
    snprintf(dir, sizeof dir, "tests/data/%s", model);
    snprintf(bpath, sizeof bpath, "%s/batch.safetensors", dir);
    lst_err_t err;
    lst_t5_config_t cfg;
    char cpath[300];
    snprintf(cpath, sizeof cpath, "%s/config.json", dir);
    lst_method_t me;
    lst_method_default(&me, method);
    me.lora_rank = 4;
    me.prompt_len = 5;
    lst_t5_ext_t ext;
    memset(f, 0, sizeof *f);
    if (lst_t5_config_load(&cfg, cpath, &err) || lst_method_ext(&me, freeze, &cfg, &ext, &err) ||
        lst_t5_load_ext(&f->m, dir, 0, &ext, &err) || lst_batch_load(&f->bf, bpath, 0, &err) ||
        lst_t5_acts_alloc(&f->a, &f->m, f->bf.view.B, f->bf.view.Ts, f->bf.view.Td, 1, &err)) {
        CHECK(0, "%s/%s: %s", model, method, err.msg);
        return -1;
    }
    lst_t5_ext_init(&f->m, 3);
    return 0;
}

static void close_method(fixture_t *f) {
    lst_t5_acts_free(&f->a);
    lst_batch_free(&f->bf);
    lst_t5_free(&f->m);
}

/* Gives every added parameter a non-trivial value (LoRA B and biases
 * start at 0, which would hide LoRA A's and the downstream gradients). */
static void perturb_ext(lst_t5_t *m) {
    lst_rng_t r;
    lst_rng_seed(&r, 9);
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].ext)
            for (size_t j = 0; j < m->params[i].numel; j++)
                m->flat[m->params[i].offset + j] += 0.05f * (float)lst_rng_normal(&r);
}

#define GUARD 64

static void method_fd(const char *model, const char *method, int freeze) {
    fixture_t f;
    if (open_method(&f, model, method, freeze)) return;
    perturb_ext(&f.m);
    const size_t nt = f.m.n_trainable_floats;
    CHECK(nt > 0 && f.m.n_trainable > 0, "%s: nothing trainable", method);
    /* the gradient buffer covers only the trainable parameters: a guard
     * band after it must stay untouched */
    float *g = calloc(nt + GUARD, sizeof(float));
    for (int i = 0; i < GUARD; i++) g[nt + i] = 12345.0f;
    lst_drop_t d = {0.1f, 77, 5};
    lst_err_t err;
    lst_t5_forward(&f.m, &f.bf.view, &f.a, &d);
    CHECK(lst_t5_backward(&f.m, &f.bf.view, &f.a, &d, g, &err) == 0, "%s", err.msg);
    for (int i = 0; i < GUARD; i++)
        CHECK(g[nt + i] == 12345.0f, "%s: a gradient was written past the trainable parameters",
              method);
    int checked = 0;
    for (int i = 0; i < f.m.n_trainable; i++) {
        const lst_param_t *p = &f.m.params[i];
        size_t j = 0;
        for (size_t q = 1; q < p->numel; q++)
            if (fabsf(g[p->offset + q]) > fabsf(g[p->offset + j])) j = q;
        if (strstr(p->name, ".k.bias")) {
            /* a key bias shifts every score of a query row by the same
             * amount: softmax is invariant, the gradient is exactly 0 */
            CHECK(fabsf(g[p->offset + j]) < 1e-5f, "%s %s: gradient %g, not 0", method, p->name,
                  g[p->offset + j]);
            checked++;
            continue;
        }
        float *x = f.m.flat + p->offset;
        const float keep = x[j];
        const double an = g[p->offset + j];
        /* 4-point central difference; a step that crosses a ReLU kink is
         * retried 4x smaller (a wrong gradient does not converge) */
        double fd = 0;
        for (double e = 2e-3; e > 1e-4; e /= 4) {
            const double st[4] = {e, -e, 2 * e, -2 * e};
            double l[4];
            for (int t = 0; t < 4; t++) {
                x[j] = keep + (float)st[t];
                l[t] = lst_t5_forward(&f.m, &f.bf.view, &f.a, &d);
            }
            x[j] = keep;
            fd = (8 * (l[0] - l[1]) - (l[2] - l[3])) / (12 * e);
            if (fabs(fd - an) <= 2e-2 * fabs(fd) + 5e-4) break;
        }
        CHECK(fabs(fd - an) <= 2e-2 * fabs(fd) + 5e-4, "%s %s[%zu]: analytic %.6g, numeric %.6g",
              method, p->name, j, an, fd);
        CHECK(fabs(an) > 0 || fabs(fd) < 1e-6, "%s %s: zero gradient", method, p->name);
        checked++;
    }
    CHECK(checked == f.m.n_trainable, "%s: %d of %d tensors checked", method, checked,
          f.m.n_trainable);
    /* a frozen parameter really does not matter to the gradient computation:
     * a spread of frozen tensors moved by FD steps keeps the loss function's
     * analytic gradient of trainable ones consistent (checked above); here:
     * frozen parameters are exactly the non-trainable tail of the table */
    for (int i = f.m.n_trainable; i < f.m.n_params; i++)
        CHECK(!f.m.params[i].trainable, "%s: trainable parameter %s after the frozen ones", method,
              f.m.params[i].name);
    free(g);
    close_method(&f);
}

TEST(method_full_finite_difference) { method_fd("t5-tiny-relu", "full", 0); }
TEST(method_adapters_finite_difference) { method_fd("t5-tiny-gated", "adapters", 0); }
TEST(method_lora_finite_difference) { method_fd("t5-tiny-relu", "lora", 0); }
TEST(method_lora_gated_finite_difference) { method_fd("t5-tiny-gated", "lora", 0); }
TEST(method_bitfit_finite_difference) { method_fd("t5-tiny-gated", "bitfit", 0); }
TEST(method_prompt_finite_difference) { method_fd("t5-tiny-relu", "prompt", 0); }
/* Figure 6's layer freezing: the first k layers, encoder first */
TEST(method_full_freeze2_finite_difference) { method_fd("t5-tiny-relu", "full", 2); }
TEST(method_adapters_freeze4_finite_difference) { method_fd("t5-tiny-relu", "adapters", 4); }
TEST(method_lora_freeze3_finite_difference) { method_fd("t5-tiny-gated", "lora", 3); }

/* What each method trains, by name (LST-SPEC section 6). */
static int intended(const char *method, const char *name, int layer, int freeze) {
    if (layer >= 0 && layer < freeze) return 0;
    if (freeze >= 3 && !strcmp(name, "encoder.final_layer_norm.weight")) return 0; /* 3 + 3 layers */
    if (!strcmp(method, "full")) return !(freeze && !strcmp(name, "shared.weight"));
    if (!strcmp(method, "adapters")) return strstr(name, ".adapter.") || strstr(name, "layer_norm.weight");
    if (!strcmp(method, "bitfit")) return strstr(name, ".bias") != NULL;
    if (!strcmp(method, "lora")) return strstr(name, ".bias") || strstr(name, ".lora_");
    if (!strcmp(method, "prompt")) return !strcmp(name, "prompt.weight");
    return -1;
}

static int layer_of(const char *name, int L) {
    int i;
    if (sscanf(name, "encoder.block.%d.", &i) == 1) return i;
    if (sscanf(name, "decoder.block.%d.", &i) == 1) return L + i;
    return -1;
}

static void one_step(const char *method, int freeze) {
    fixture_t f;
    if (open_method(&f, "t5-tiny-gated", method, freeze)) return;
    lst_t5_t *m = &f.m;
    float *before = malloc(sizeof(float) * m->n_floats);
    memcpy(before, m->flat, sizeof(float) * m->n_floats);
    lst_adamw_cfg_t ac;
    lst_adamw_cfg_default(&ac);
    lst_adamw_t opt;
    lst_err_t err;
    float *g = calloc(m->n_trainable_floats, sizeof(float));
    CHECK(lst_adamw_init(&opt, &ac, m->n_trainable_floats, &err) == 0, "%s", err.msg);
    /* two steps: LoRA's B starts at 0, so A moves from the second step */
    for (int step = 0; step < 2; step++) {
        lst_drop_t d = {0.1f, 5, (uint64_t)step};
        lst_t5_forward(m, &f.bf.view, &f.a, &d);
        memset(g, 0, sizeof(float) * m->n_trainable_floats);
        CHECK(lst_t5_backward(m, &f.bf.view, &f.a, &d, g, &err) == 0, "%s", err.msg);
        lst_adamw_step(&opt, m->params, m->n_trainable, m->flat, g, 1e-2);
    }
    int n_changed = 0;
    for (int i = 0; i < m->n_params; i++) {
        const lst_param_t *p = &m->params[i];
        int changed = memcmp(before + p->offset, m->flat + p->offset, sizeof(float) * p->numel) != 0;
        int want = intended(method, p->name, layer_of(p->name, m->cfg.num_layers), freeze);
        CHECK(p->trainable == want, "%s: %s trainable %d, the method says %d", method, p->name,
              p->trainable, want);
        /* relative-bias rows of buckets the batch never uses keep their
         * values; the tensor as a whole still moves */
        CHECK(changed == want, "%s: %s %s after two steps", method, p->name,
              changed ? "changed" : "did not change");
        n_changed += changed;
    }
    CHECK(n_changed == m->n_trainable, "%s: %d tensors changed, %d trainable", method, n_changed,
          m->n_trainable);
    /* the count the paper's table uses */
    lst_method_t me;
    lst_method_default(&me, method);
    me.lora_rank = 4;
    me.prompt_len = 5;
    int64_t tr, bb;
    if (!freeze) {
        CHECK(lst_method_params(&me, &m->cfg, m->vocab, &tr, &bb, &err) == 0, "%s", err.msg);
        CHECK((size_t)tr == m->n_trainable_floats, "%s: table has %zu trainable floats, "
              "lst_method_params counts %lld", method, m->n_trainable_floats, (long long)tr);
    }
    free(g);
    free(before);
    lst_adamw_free(&opt);
    close_method(&f);
}

TEST(method_full_step_changes_exactly_its_parameters) { one_step("full", 0); }
TEST(method_adapters_step_changes_exactly_its_parameters) { one_step("adapters", 0); }
TEST(method_lora_step_changes_exactly_its_parameters) { one_step("lora", 0); }
TEST(method_bitfit_step_changes_exactly_its_parameters) { one_step("bitfit", 0); }
TEST(method_prompt_step_changes_exactly_its_parameters) { one_step("prompt", 0); }
TEST(method_full_freeze3_step_changes_exactly_its_parameters) { one_step("full", 3); }
TEST(method_bitfit_freeze5_step_changes_exactly_its_parameters) { one_step("bitfit", 5); }

/* Greedy generation with the cache equals the full forward, per method. */
static void method_generate(const char *method) {
    fixture_t f;
    if (open_method(&f, "t5-tiny-gated", method, 0)) return;
    perturb_ext(&f.m);
    lst_batch_t full = f.bf.view;
    full.dec_mask = NULL; /* causal masking only, as generation sees it */
    const lst_batch_t *b = &full;
    const int B = b->B, T = b->Td, V = f.m.vocab;
    lst_t5_forward(&f.m, b, &f.a, NULL);
    int32_t *out = calloc((size_t)B * T, sizeof(int32_t)), *teacher = calloc((size_t)B * T, sizeof(int32_t));
    int *len = calloc(B, sizeof(int));
    float *lg = calloc((size_t)T * B * V, sizeof(float));
    for (int r = 0; r < B; r++)
        for (int t = 0; t + 1 < T; t++) teacher[r * T + t] = b->dec_ids[r * T + t + 1];
    lst_err_t err;
    lst_batch_t enc = *b;
    CHECK(lst_t5_generate(&f.m, &enc, T, out, len, teacher, lg, &err) == 0, "%s", err.msg);
    double worst = 0, maxabs = 1;
    for (int t = 0; t < T; t++)
        for (int r = 0; r < B; r++)
            for (int v = 0; v < V; v++) {
                double want = f.a.logits[((size_t)r * T + t) * V + v];
                double got = lg[((size_t)t * B + r) * V + v];
                if (fabs(want - got) > worst) worst = fabs(want - got);
                if (fabs(want) > maxabs) maxabs = fabs(want);
            }
    CHECK(worst <= 1e-5 * maxabs, "%s: cached generation logits differ from the forward by %.3g "
          "(max |logit| %.3g)", method, worst, maxabs);
    free(out);
    free(teacher);
    free(len);
    free(lg);
    close_method(&f);
}

TEST(method_adapters_generate_equals_forward) { method_generate("adapters"); }
TEST(method_lora_generate_equals_forward) { method_generate("lora"); }
TEST(method_bitfit_generate_equals_forward) { method_generate("bitfit"); }
TEST(method_prompt_generate_equals_forward) { method_generate("prompt"); }

/* Freezing layers frees the activations of the frozen ones. */
TEST(method_freeze_layers_shrinks_activations) {
    lst_err_t err;
    lst_t5_config_t cfg;
    CHECK(lst_t5_config_load(&cfg, "tests/data/t5-tiny-relu/config.json", &err) == 0, "%s", err.msg);
    lst_method_t me;
    lst_method_default(&me, "full");
    size_t prev = 0;
    for (int k = 0; k <= 6; k++) {
        lst_t5_ext_t e;
        lst_t5_t m;
        CHECK(lst_method_ext(&me, k, &cfg, &e, &err) == 0, "%s", err.msg);
        CHECK(lst_t5_create_ext(&m, &cfg, cfg.vocab_size, &e, &err) == 0, "%s", err.msg);
        size_t n = lst_t5_acts_floats(&m, 4, 32, 4, 1);
        /* the frozen layers share one transient set: from 2 frozen layers on
         * every further one frees its activations */
        if (k >= 2 && k <= 3) CHECK(n < prev, "freezing %d layers keeps %zu floats, %d keeps %zu", k, n, k - 1, prev);
        if (k == 1) CHECK(n <= prev, "freezing 1 layer grew the activations");
        prev = n;
        lst_t5_free(&m);
    }
    lst_t5_ext_t e;
    CHECK(lst_method_ext(&me, 7, &cfg, &e, &err) != 0, "7 layers of 6 accepted");
    CHECK(strstr(err.msg, "6 layers") != NULL, "message: %s", err.msg);
}

/* The paper's train-memory order on T5-base at batch 100, source 128
 * (Table 1 / Figure 6), from the memory plan: prompt > full > adapters ~
 * LoRA > BitFit > LST, and LST at most 35% of full fine-tuning. */
#include "../src/model/t5/presets.h"
#include "../src/train/tuner.h"

TEST(method_memory_order_t5_base_batch100) {
    lst_err_t err;
    lst_t5_config_t c;
    CHECK(lst_preset_config("t5-base", &c, &err) == 0, "%s", err.msg);
    const char *names[] = {"prompt", "full", "adapters", "lora", "bitfit", "lst"};
    size_t total[6];
    for (int i = 0; i < 6; i++) {
        lst_method_t m;
        lst_method_default(&m, names[i]);
        lst_side_opts_t side = m.side;
        if (!strcmp(names[i], "lst")) { /* the paper's T5-base layers */
            static const int keep[] = {1, 2, 3, 5, 6, 7, 9, 10, 11}; /* outlives the view */
            for (int st = 0; st < 2; st++) {
                side.n_keep[st] = 9;
                side.keep[st] = (int *)keep; /* a view: only read */
            }
        }
        lst_plan_t p;
        lst_backbone_t bb;
        CHECK(lst_t5_backbone_shape(&bb, &c, 32100, &m, 0, &err) == 0, "%s", err.msg);
        CHECK(lst_plan_compute(&bb, &m, &side, 0, 100, 128, 3, &p, &err) == 0, "%s", err.msg);
        lst_bb_free(&bb);
        CHECK(p.total == p.weights + p.gradients + p.optimizer + p.activations + p.workspace,
              "%s: the split does not add up", names[i]);
        CHECK(p.gradients == 4 * p.trainable && p.optimizer == 8 * p.trainable,
              "%s: gradients/optimizer are not per trained parameter", names[i]);
        total[i] = p.total;
    }
    for (int i = 0; i + 1 < 6; i++)
        CHECK(total[i] > total[i + 1], "%s (%.0f MiB) should need more than %s (%.0f MiB)", names[i],
              total[i] / 1048576.0, names[i + 1], total[i + 1] / 1048576.0);
    /* adapters ~ LoRA: within 15% of each other */
    CHECK(total[2] < 1.15 * total[3], "adapters %.0f MiB vs LoRA %.0f MiB", total[2] / 1048576.0,
          total[3] / 1048576.0);
    CHECK(total[5] <= 0.35 * total[1], "LST %.0f MiB is more than 35%% of full %.0f MiB",
          total[5] / 1048576.0, total[1] / 1048576.0);
}

/* Every method's split is made of parts no larger than the whole (a
 * negative part would wrap around), for a shape where inference logits
 * exceed the training buffers. */
TEST(method_plan_split_is_sane) {
    lst_err_t err;
    lst_t5_config_t c;
    CHECK(lst_preset_config("t5-tiny", &c, &err) == 0, "%s", err.msg);
    const char *names[] = {"lst", "side-tuning", "compression", "full", "adapters", "lora", "bitfit", "prompt"};
    for (int i = 0; i < 8; i++) {
        lst_method_t m;
        lst_method_default(&m, names[i]);
        lst_side_opts_t side = m.side;
        lst_plan_t p;
        lst_backbone_t bb;
        CHECK(lst_t5_backbone_shape(&bb, &c, 32100, &m, 0, &err) == 0, "%s", err.msg);
        CHECK(lst_plan_compute(&bb, &m, &side, 0, 32, 64, 3, &p, &err) == 0, "%s", err.msg);
        lst_bb_free(&bb);
        const size_t parts[5] = {p.weights, p.gradients, p.optimizer, p.activations, p.workspace};
        for (int k = 0; k < 5; k++)
            CHECK(parts[k] > 0 && parts[k] < p.total, "%s: part %d is %zu of %zu", names[i], k,
                  parts[k], p.total);
    }
}
