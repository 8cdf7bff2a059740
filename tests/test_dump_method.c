/* test_dump_method.c: `lst dump --method`, the backbone methods' forward
 * and gradients that bench/crosscheck_hf.py compares with PEFT. The
 * gradients it writes are checked against finite differences of the loss
 * it writes (with --method-weights moved by +-h), the weights file is
 * shown to be read (a zero LoRA update is the plain model, a non-zero one
 * is not), and a wrong weights file is refused naming the tensor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/io/safetensors.h"
#include "test.h"

static const char *MODEL = "tests/data/t5-tiny-relu";
static const char *BATCH = "tests/data/t5-tiny-relu/batch.safetensors";

static char *tmp(const char *fmt, const char *tag) {
    static char buf[8][512]; /* a test holds up to 8 paths at once */
    static int k;
    k = (k + 1) % 8;
    char name[128];
    snprintf(name, sizeof name, fmt, tag);
    snprintf(buf[k], sizeof buf[k], "%s/%s", lst_test_tmpdir(), name);
    return buf[k];
}

/* Runs `lst dump <args> --out out`; 0 on exit 0. */
static int dump(const char *out, const char *args) {
    char *log = NULL;
    int rc = lst_test_run(&log, "dump --model %s --batch %s %s --out %s", MODEL, BATCH, args, out);
    CHECK(rc == 0, "dump %s: exit %d: %s", args, rc, log ? log : "");
    free(log);
    return rc;
}

/* Every grad.<name> of a dump as a float32 tensor <name> (the method's own
 * tensors), values from fill(index, count): a weights file. */
static void write_weights(const char *from, const char *path, float (*fill)(size_t, const char *)) {
    lst_st_file_t f = {0};
    lst_err_t err;
    CHECK(lst_st_open(&f, from, &err) == 0, "%s", err.msg);
    lst_st_out_t *o = calloc(f.n, sizeof *o);
    float **data = calloc(f.n, sizeof *data);
    int n = 0;
    for (int i = 0; i < f.n; i++) {
        const lst_st_tensor_t *t = &f.tensors[i];
        if (strncmp(t->name, "grad.", 5)) continue;
        data[n] = malloc(sizeof(float) * (size_t)t->numel);
        for (int64_t j = 0; j < t->numel; j++) data[n][j] = fill((size_t)j, t->name + 5);
        o[n] = (lst_st_out_t){.name = t->name + 5, .dtype = LST_DT_F32, .ndim = t->ndim,
                              .data = data[n]};
        memcpy(o[n].shape, t->shape, sizeof o[n].shape);
        n++;
    }
    CHECK(n > 0, "%s: no gradients", from);
    CHECK(lst_st_write(path, o, n, &err) == 0, "%s", err.msg);
    for (int i = 0; i < n; i++) free(data[i]);
    free(data);
    free(o);
    lst_st_close(&f);
}

/* A deterministic spread of values (a hash of the index and the name). */
static float spread(size_t j, const char *name) {
    unsigned h = 2166136261u;
    for (const char *c = name; *c; c++) h = (h ^ (unsigned char)*c) * 16777619u;
    h ^= (unsigned)j * 2654435761u;
    h = (h ^ (h >> 15)) * 2246822519u;
    return ((float)((h >> 8) & 0xffff) / 65535.0f - 0.5f) * 0.2f;
}

static float zero_b(size_t j, const char *name) {
    return strstr(name, "lora_B") || strstr(name, ".bias") ? 0.0f : spread(j, name);
}

static float read1(const char *path, const char *name, int64_t at) {
    lst_st_file_t f = {0};
    lst_err_t err;
    float v = NAN;
    CHECK(lst_st_open(&f, path, &err) == 0, "%s", err.msg);
    const lst_st_tensor_t *t = lst_st_find(&f, name);
    CHECK(t && t->dtype == LST_DT_F32 && at < t->numel, "%s: no %s[%lld]", path, name, (long long)at);
    if (t && t->dtype == LST_DT_F32 && at < t->numel) memcpy(&v, (const char *)t->data + 4 * at, 4);
    lst_st_close(&f);
    return v;
}

/* Max |a - b| over tensor name of two files. */
static double max_diff(const char *pa, const char *pb, const char *name) {
    lst_st_file_t a = {0}, b = {0};
    lst_err_t err;
    CHECK(lst_st_open(&a, pa, &err) == 0 && lst_st_open(&b, pb, &err) == 0, "%s", err.msg);
    const lst_st_tensor_t *ta = lst_st_find(&a, name), *tb = lst_st_find(&b, name);
    double m = INFINITY;
    CHECK(ta && tb && ta->numel == tb->numel, "%s: missing or of another size", name);
    if (ta && tb && ta->numel == tb->numel) {
        m = 0;
        for (int64_t i = 0; i < ta->numel; i++) {
            float x, y;
            memcpy(&x, (const char *)ta->data + 4 * i, 4);
            memcpy(&y, (const char *)tb->data + 4 * i, 4);
            m = fmax(m, fabs((double)x - y));
        }
    }
    lst_st_close(&a);
    lst_st_close(&b);
    return m;
}

/* Rewrites weights file w with element `at` of tensor name moved by delta. */
static void moved(const char *w, const char *out, const char *name, int64_t at, float delta) {
    lst_st_file_t f = {0};
    lst_err_t err;
    CHECK(lst_st_open(&f, w, &err) == 0, "%s", err.msg);
    lst_st_out_t *o = calloc(f.n, sizeof *o);
    float *copy = NULL;
    for (int i = 0; i < f.n; i++) {
        const lst_st_tensor_t *t = &f.tensors[i];
        o[i] = (lst_st_out_t){.name = t->name, .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
        memcpy(o[i].shape, t->shape, sizeof o[i].shape);
        if (strcmp(t->name, name)) continue;
        copy = malloc(t->nbytes);
        memcpy(copy, t->data, t->nbytes);
        copy[at] += delta;
        o[i].data = copy;
    }
    CHECK(copy != NULL, "%s: no %s", w, name);
    CHECK(lst_st_write(out, o, f.n, &err) == 0, "%s", err.msg);
    free(copy);
    free(o);
    lst_st_close(&f);
}

/* The element of tensor name with the largest magnitude: a finite
 * difference of a float32 loss resolves it (a small one is lost in the
 * loss's rounding). */
static int64_t argmax_abs(const char *path, const char *name) {
    lst_st_file_t f = {0};
    lst_err_t err;
    int64_t best = 0;
    CHECK(lst_st_open(&f, path, &err) == 0, "%s", err.msg);
    const lst_st_tensor_t *t = lst_st_find(&f, name);
    CHECK(t && t->dtype == LST_DT_F32, "%s: no float32 %s", path, name);
    float m = -1, v;
    for (int64_t i = 0; t && i < t->numel; i++) {
        memcpy(&v, (const char *)t->data + 4 * i, 4);
        if (fabsf(v) > m) m = fabsf(v), best = i;
    }
    lst_st_close(&f);
    return best;
}

/* The gradient dump writes for the largest element of `name` against the
 * central difference of the loss it writes, the weights moved by +-h. */
static void check_fd(const char *method_args, const char *tag, const char *name) {
    char args[512];
    const char *seeded = tmp("seeded_%s.st", tag), *w = tmp("w_%s.st", tag);
    snprintf(args, sizeof args, "%s", method_args);
    if (dump(seeded, args)) return;
    write_weights(seeded, w, spread);
    const char *out = tmp("out_%s.st", tag);
    snprintf(args, sizeof args, "%s --method-weights %s", method_args, w);
    if (dump(out, args)) return;
    char gname[300];
    snprintf(gname, sizeof gname, "grad.%s", name);
    const int64_t at = argmax_abs(out, gname);
    const double g = read1(out, gname, at);
    /* a step that moves the loss by about 1e-3 (thousands of its float32 ulps,
     * little curvature) */
    const double h = fmin(3e-2, fmax(1e-4, 5e-4 / fmax(fabs(g), 1e-6)));
    double loss[2];
    for (int s = 0; s < 2; s++) {
        const char *ws = tmp(s ? "wp_%s.st" : "wm_%s.st", tag), *os = tmp("o_%s.st", tag);
        moved(w, ws, name, at, (float)(s ? h : -h));
        snprintf(args, sizeof args, "%s --method-weights %s --no-grad", method_args, ws);
        if (dump(os, args)) return;
        loss[s] = read1(os, "loss", 0);
    }
    const double fd = (loss[1] - loss[0]) / (2 * h);
    CHECK(fabs(g) > 1e-4, "%s: gradient %.3g too small to test", gname, g);
    CHECK(fabs(fd - g) <= 0.03 * fabs(g), "%s[%lld]: dump's gradient %.6g, finite difference "
          "%.6g", gname, (long long)at, g, fd);
}

TEST(dump_method_lora_gradient_matches_finite_difference) {
    check_fd("--method lora --lora-rank 4", "lora_a", "encoder.block.1.layer.0.SelfAttention.v.lora_A.weight");
    check_fd("--method lora --lora-rank 4", "lora_b", "decoder.block.0.layer.1.EncDecAttention.q.lora_B.weight");
    check_fd("--method lora --lora-rank 4", "lora_bias", "decoder.block.2.layer.2.layer_norm.bias");
}

TEST(dump_method_prompt_gradient_matches_finite_difference) {
    check_fd("--method prompt --prompt-len 5", "prompt", "prompt.weight");
}

/* The weights file is what dump runs: A with B and the biases at zero is the
 * plain model (to float32 rounding), a non-zero B is not. */
TEST(dump_method_weights_are_used) {
    const char *plain = tmp("plain%s.st", ""), *seeded = tmp("seeded%s.st", "_z");
    const char *wz = tmp("wz%s.st", ""), *wn = tmp("wn%s.st", "");
    const char *oz = tmp("oz%s.st", ""), *on = tmp("on%s.st", "");
    char args[600];
    if (dump(plain, "--no-grad") || dump(seeded, "--method lora --lora-rank 2")) return;
    write_weights(seeded, wz, zero_b);
    write_weights(seeded, wn, spread);
    snprintf(args, sizeof args, "--method lora --lora-rank 2 --no-grad --method-weights %s", wz);
    if (dump(oz, args)) return;
    snprintf(args, sizeof args, "--method lora --lora-rank 2 --no-grad --method-weights %s", wn);
    if (dump(on, args)) return;
    const double dz = max_diff(plain, oz, "logits"), dn = max_diff(plain, on, "logits");
    CHECK(dz < 1e-5, "a zero LoRA update moved the logits by %.3g", dz);
    CHECK(dn > 1e-3, "a non-zero LoRA update moved the logits by only %.3g", dn);
}

/* The encoder's taps carry the prompt's rows: [B, P + Ts, d]. */
TEST(dump_method_prompt_taps_include_the_prompt) {
    const char *out = tmp("ptaps%s.st", "");
    if (dump(out, "--method prompt --prompt-len 6 --no-grad")) return;
    lst_st_file_t f = {0}, b = {0};
    lst_err_t err;
    CHECK(lst_st_open(&f, out, &err) == 0 && lst_st_open(&b, BATCH, &err) == 0, "%s", err.msg);
    const lst_st_tensor_t *tap = lst_st_find(&f, "encoder_tap.3"), *ids = lst_st_find(&b, "input_ids");
    CHECK(tap && ids && tap->shape[1] == ids->shape[1] + 6, "encoder tap of %lld rows for %lld "
          "tokens and 6 prompt vectors", tap ? (long long)tap->shape[1] : -1LL,
          ids ? (long long)ids->shape[1] : -1LL);
    CHECK(lst_st_find(&f, "grad.prompt.weight") == NULL, "--no-grad wrote a gradient");
    lst_st_close(&f);
    lst_st_close(&b);
}

static void expect_refused(const char *args, const char *needle, int line) {
    char *log = NULL;
    const char *out = tmp("refused%s.st", "");
    int rc = lst_test_run(&log, "dump --model %s --batch %s %s --out %s", MODEL, BATCH, args, out);
    CHECK(rc != 0, "line %d: exit 0 for %s", line, args);
    CHECK(log && strstr(log, needle), "line %d: message lacks '%s': %s", line, needle, log ? log : "");
    CHECK(!lst_test_file_exists(out), "line %d: output left behind", line);
    free(log);
}

TEST(dump_method_refuses_wrong_weights_and_options) {
    const char *seeded = tmp("seeded%s.st", "_r"), *w = tmp("w%s.st", "_r");
    if (dump(seeded, "--method lora --lora-rank 4")) return;
    write_weights(seeded, w, spread);
    char args[600];
    /* another rank: the shape is wrong, and named */
    snprintf(args, sizeof args, "--method lora --lora-rank 2 --method-weights %s", w);
    expect_refused(args, "lora_A.weight", __LINE__);
    /* another method's tensors: not a trained parameter of bitfit */
    snprintf(args, sizeof args, "--method bitfit --method-weights %s", w);
    expect_refused(args, "lora_A.weight' is not a trained parameter", __LINE__);
    /* a prompt weights file for LoRA: its tensors are missing */
    const char *ps = tmp("pseeded%s.st", ""), *pw = tmp("pw%s.st", "");
    if (dump(ps, "--method prompt --prompt-len 3")) return;
    write_weights(ps, pw, spread);
    snprintf(args, sizeof args, "--method lora --lora-rank 4 --method-weights %s", pw);
    expect_refused(args, "not found", __LINE__);
    expect_refused("--method lst", "backbone method", __LINE__);
    expect_refused("--method nope", "unknown", __LINE__);
    expect_refused("--method-weights x.st", "needs --method", __LINE__);
    expect_refused("--method prompt --lora-rank 4", "--lora-rank applies", __LINE__);
}
