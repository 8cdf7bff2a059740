/* test_init.c: `lst init` and the presets behind it.
 *
 * The expected tensor list is spelled out here independently of
 * presets.c, from the layout of Hugging Face's T5ForConditionalGeneration
 * (as in tests/data/t5-tiny-relu and t5-tiny-gated). Only t5-tiny is written:
 * the bigger presets are checked through their configs and counts. */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../src/io/safetensors.h"
#include "../src/io/t5_config.h"
#include "../src/model/t5/presets.h"
#include "test.h"

/* ---- helpers ---------------------------------------------------------- */

typedef struct {
    char name[128];
    int ndim;
    int64_t shape[2];
} want_t;

static int want_add(want_t *w, int n, int ndim, int64_t a, int64_t b, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int want_add(want_t *w, int n, int ndim, int64_t a, int64_t b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w[n].name, sizeof w[n].name, fmt, ap);
    va_end(ap);
    w[n].ndim = ndim;
    w[n].shape[0] = a;
    w[n].shape[1] = b;
    return n + 1;
}

static int want_attn(want_t *w, int n, const char *p, int d, int inner, int bias, int buckets,
                     int heads) {
    n = want_add(w, n, 2, inner, d, "%s.q.weight", p);
    n = want_add(w, n, 2, inner, d, "%s.k.weight", p);
    n = want_add(w, n, 2, inner, d, "%s.v.weight", p);
    n = want_add(w, n, 2, d, inner, "%s.o.weight", p);
    if (bias) n = want_add(w, n, 2, buckets, heads, "%s.relative_attention_bias.weight", p);
    return n;
}

static int want_ffn(want_t *w, int n, const char *p, int d, int ff, int gated) {
    if (gated) {
        n = want_add(w, n, 2, ff, d, "%s.wi_0.weight", p);
        n = want_add(w, n, 2, ff, d, "%s.wi_1.weight", p);
    } else {
        n = want_add(w, n, 2, ff, d, "%s.wi.weight", p);
    }
    return want_add(w, n, 2, d, ff, "%s.wo.weight", p);
}

/* The HF T5ForConditionalGeneration tensors for c; w needs room for 512. */
static int want_list(const lst_t5_config_t *c, want_t *w) {
    const int d = c->d_model, inner = c->num_heads * c->d_kv;
    char p[128];
    int n = want_add(w, 0, 2, c->vocab_size, d, "shared.weight");
    for (int i = 0; i < c->num_layers; i++) {
        snprintf(p, sizeof p, "encoder.block.%d.layer.0.SelfAttention", i);
        n = want_attn(w, n, p, d, inner, i == 0, c->rel_buckets, c->num_heads);
        n = want_add(w, n, 1, d, 0, "encoder.block.%d.layer.0.layer_norm.weight", i);
        snprintf(p, sizeof p, "encoder.block.%d.layer.1.DenseReluDense", i);
        n = want_ffn(w, n, p, d, c->d_ff, c->gated);
        n = want_add(w, n, 1, d, 0, "encoder.block.%d.layer.1.layer_norm.weight", i);
    }
    n = want_add(w, n, 1, d, 0, "encoder.final_layer_norm.weight");
    for (int i = 0; i < c->num_decoder_layers; i++) {
        snprintf(p, sizeof p, "decoder.block.%d.layer.0.SelfAttention", i);
        n = want_attn(w, n, p, d, inner, i == 0, c->rel_buckets, c->num_heads);
        n = want_add(w, n, 1, d, 0, "decoder.block.%d.layer.0.layer_norm.weight", i);
        snprintf(p, sizeof p, "decoder.block.%d.layer.1.EncDecAttention", i);
        n = want_attn(w, n, p, d, inner, 0, 0, 0);
        n = want_add(w, n, 1, d, 0, "decoder.block.%d.layer.1.layer_norm.weight", i);
        snprintf(p, sizeof p, "decoder.block.%d.layer.2.DenseReluDense", i);
        n = want_ffn(w, n, p, d, c->d_ff, c->gated);
        n = want_add(w, n, 1, d, 0, "decoder.block.%d.layer.2.layer_norm.weight", i);
    }
    n = want_add(w, n, 1, d, 0, "decoder.final_layer_norm.weight");
    if (!c->tie_word_embeddings) n = want_add(w, n, 2, c->vocab_size, d, "lm_head.weight");
    return n;
}

/* Whole file into a malloc'ed buffer (NULL if unreadable). */
static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0, k;
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) break;
            buf = nb;
        }
        k = fread(buf + n, 1, cap - n, f);
        n += k;
    } while (k > 0);
    fclose(f);
    *len = n;
    return buf;
}

static int files_equal(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    unsigned char *x = slurp(a, &na), *y = slurp(b, &nb);
    int eq = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return eq;
}

/* Runs `lst init` into tmpdir/sub; returns the exit status. */
static int run_init(const char *sub, const char *extra) {
    char *out = NULL;
    int rc = lst_test_run(&out, "init --preset t5-tiny --out '%s/%s' %s", lst_test_tmpdir(), sub,
                          extra);
    if (rc != 0) fprintf(stderr, "\n    lst init output: %s", out ? out : "(none)");
    free(out);
    return rc;
}

static void path_of(char *buf, size_t n, const char *sub, const char *file) {
    snprintf(buf, n, "%s/%s/%s", lst_test_tmpdir(), sub, file);
}

/* mean and standard deviation of a tensor read as f32 */
static int tensor_moments(const lst_st_file_t *f, const char *name, double *mean, double *sd,
                          int64_t *count) {
    const lst_st_tensor_t *t = lst_st_find(f, name);
    if (!t) return -1;
    float *v = malloc((size_t)t->numel * sizeof *v);
    lst_err_t err;
    if (!v || lst_st_read_f32(f, name, -1, NULL, v, &err) != 0) {
        free(v);
        return -1;
    }
    double s1 = 0, s2 = 0;
    for (int64_t i = 0; i < t->numel; i++) s1 += v[i], s2 += (double)v[i] * v[i];
    free(v);
    *count = t->numel;
    *mean = s1 / (double)t->numel;
    *sd = sqrt(s2 / (double)t->numel - *mean * *mean);
    return 0;
}

/* Checks names, shapes, dtype, count and total size of dir's checkpoint. */
static void check_layout(const char *sub, const lst_t5_config_t *c) {
    char path[512];
    lst_err_t err;
    path_of(path, sizeof path, sub, "model.safetensors");
    lst_st_file_t f;
    int rc = lst_st_open(&f, path, &err);
    CHECK(rc == 0, "open %s: %s", path, err.msg);
    if (rc != 0) {
        lst_st_close(&f);
        return;
    }
    static want_t w[512];
    const int n = want_list(c, w);
    CHECK(f.n == n, "%s holds %d tensors, want %d", path, f.n, n);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const lst_st_tensor_t *t = lst_st_find(&f, w[i].name);
        CHECK(t != NULL, "tensor %s missing", w[i].name);
        if (!t) continue;
        CHECK(t->dtype == LST_DT_F32, "%s dtype %s", w[i].name, lst_dtype_name(t->dtype));
        CHECK(t->ndim == w[i].ndim, "%s ndim %d want %d", w[i].name, t->ndim, w[i].ndim);
        for (int k = 0; k < w[i].ndim && k < t->ndim; k++)
            CHECK(t->shape[k] == w[i].shape[k], "%s dim %d is %lld want %lld", w[i].name, k,
                  (long long)t->shape[k], (long long)w[i].shape[k]);
        total += t->numel;
    }
    CHECK(total == lst_preset_param_count(c), "file holds %lld values, param count says %lld",
          (long long)total, (long long)lst_preset_param_count(c));
    lst_st_close(&f);

    path_of(path, sizeof path, sub, "config.json");
    lst_t5_config_t got;
    rc = lst_t5_config_load(&got, path, &err);
    CHECK(rc == 0, "load %s: %s", path, err.msg);
    if (rc != 0) return;
    CHECK(got.vocab_size == c->vocab_size && got.d_model == c->d_model && got.d_kv == c->d_kv &&
              got.d_ff == c->d_ff && got.num_heads == c->num_heads &&
              got.num_layers == c->num_layers &&
              got.num_decoder_layers == c->num_decoder_layers &&
              got.rel_buckets == c->rel_buckets && got.rel_max_distance == c->rel_max_distance,
          "config.json shapes differ from the preset");
    CHECK(got.gated == c->gated && got.act == c->act &&
              got.tie_word_embeddings == c->tie_word_embeddings,
          "config.json FFN/tying: gated %d act %d tied %d, want %d %d %d", got.gated,
          (int)got.act, got.tie_word_embeddings, c->gated, (int)c->act, c->tie_word_embeddings);
    CHECK(fabsf(got.dropout_rate - 0.1f) < 1e-6f && fabsf(got.layer_norm_eps - 1e-6f) < 1e-12f,
          "config.json dropout %g eps %g", got.dropout_rate, got.layer_norm_eps);
}

/* ---- tests ------------------------------------------------------------ */

TEST(init_tiny_layout) {
    char *out = NULL;
    int rc = lst_test_run(&out, "init --preset t5-tiny --out '%s/tiny' --seed 1",
                          lst_test_tmpdir());
    CHECK(rc == 0, "lst init exit %d: %s", rc, out ? out : "");
    CHECK(out && strstr(out, "2516608"), "output does not give the parameter count: %s",
          out ? out : "");
    free(out);
    if (rc != 0) return;
    lst_t5_config_t c;
    lst_err_t err;
    CHECK(lst_preset_config("t5-tiny", &c, &err) == 0, "t5-tiny: %s", err.msg);
    check_layout("tiny", &c);
}

TEST(init_tiny_values) {
    if (run_init("vals", "--seed 3") != 0) {
        CHECK(0, "lst init failed");
        return;
    }
    char path[512];
    lst_err_t err;
    lst_st_file_t f;
    path_of(path, sizeof path, "vals", "model.safetensors");
    if (lst_st_open(&f, path, &err) != 0) {
        CHECK(0, "open: %s", err.msg);
        lst_st_close(&f);
        return;
    }
    /* every layer norm is exactly 1 */
    int norms = 0;
    for (int i = 0; i < f.n; i++) {
        const lst_st_tensor_t *t = &f.tensors[i];
        if (!strstr(t->name, "layer_norm")) continue;
        norms++;
        float v[64];
        const int64_t shape[1] = {64};
        CHECK(lst_st_read_f32(&f, t->name, 1, shape, v, &err) == 0, "%s", err.msg);
        int ones = 0;
        for (int k = 0; k < 64; k++) ones += v[k] == 1.0f;
        CHECK(ones == 64, "%s: %d of 64 values are 1", t->name, ones);
    }
    CHECK(norms == 4 * 2 + 4 * 3 + 2, "%d layer norms", norms);

    double mean, sd;
    int64_t cnt;
    CHECK(tensor_moments(&f, "shared.weight", &mean, &sd, &cnt) == 0, "shared.weight");
    CHECK(fabs(mean) < 0.01 && fabs(sd - 1.0) < 0.01, "shared.weight mean %g sd %g", mean, sd);

    /* pool the 12 q matrices (4096 values each): sd (64*16)^-0.5 = 1/32 */
    const char *kinds[3] = {"encoder.block.%d.layer.0.SelfAttention.q.weight",
                            "decoder.block.%d.layer.0.SelfAttention.q.weight",
                            "decoder.block.%d.layer.1.EncDecAttention.q.weight"};
    double s2 = 0, s1 = 0;
    int64_t total = 0;
    for (int k = 0; k < 3; k++)
        for (int b = 0; b < 4; b++) {
            char name[128];
            snprintf(name, sizeof name, kinds[k], b);
            CHECK(tensor_moments(&f, name, &mean, &sd, &cnt) == 0, "%s", name);
            s1 += mean * (double)cnt;
            s2 += (sd * sd + mean * mean) * (double)cnt;
            total += cnt;
        }
    const double qmean = s1 / (double)total, qsd = sqrt(s2 / (double)total - qmean * qmean);
    CHECK(fabs(qsd * 32.0 - 1.0) < 0.03, "q sd %g, want %g", qsd, 1.0 / 32.0);
    CHECK(fabs(qmean) < 0.002, "q mean %g", qmean);

    /* the other scales, looser (one tensor each) */
    CHECK(tensor_moments(&f, "encoder.block.1.layer.0.SelfAttention.k.weight", &mean, &sd, &cnt) ==
                  0 && fabs(sd * 8.0 - 1.0) < 0.05,
          "k sd %g want 1/8", sd);
    CHECK(tensor_moments(&f, "encoder.block.1.layer.0.SelfAttention.o.weight", &mean, &sd, &cnt) ==
                  0 && fabs(sd * 8.0 - 1.0) < 0.05,
          "o sd %g want 1/8", sd);
    CHECK(tensor_moments(&f, "decoder.block.2.layer.2.DenseReluDense.wi.weight", &mean, &sd,
                         &cnt) == 0 && fabs(sd * 8.0 - 1.0) < 0.05,
          "wi sd %g want 1/8", sd);
    CHECK(tensor_moments(&f, "decoder.block.2.layer.2.DenseReluDense.wo.weight", &mean, &sd,
                         &cnt) == 0 && fabs(sd * 16.0 - 1.0) < 0.05,
          "wo sd %g want 1/16", sd);
    /* distinct tensors must not repeat each other's values */
    float a[16], b[16];
    const lst_st_tensor_t *ta = lst_st_find(&f, "encoder.block.1.layer.0.SelfAttention.k.weight");
    const lst_st_tensor_t *tb = lst_st_find(&f, "encoder.block.1.layer.0.SelfAttention.v.weight");
    if (ta && tb) {
        memcpy(a, ta->data, sizeof a);
        memcpy(b, tb->data, sizeof b);
        CHECK(memcmp(a, b, sizeof a) != 0, "k and v of the same block are identical");
    }
    lst_st_close(&f);
}

TEST(init_reproducible) {
    int ok = run_init("rep_a", "--seed 11") == 0 && run_init("rep_b", "--seed 11") == 0 &&
             run_init("rep_c", "--seed 12") == 0;
    CHECK(ok, "lst init failed");
    if (!ok) return;
    char a[512], b[512], c[512];
    path_of(a, sizeof a, "rep_a", "model.safetensors");
    path_of(b, sizeof b, "rep_b", "model.safetensors");
    path_of(c, sizeof c, "rep_c", "model.safetensors");
    CHECK(files_equal(a, b), "same seed: model.safetensors differs");
    CHECK(!files_equal(a, c), "seeds 11 and 12 gave the same model.safetensors");
    path_of(a, sizeof a, "rep_a", "config.json");
    path_of(b, sizeof b, "rep_b", "config.json");
    CHECK(files_equal(a, b), "same seed: config.json differs");
}

/* The chunked OpenMP fill must not depend on the thread count. */
TEST(init_thread_independent) {
    const char *old = getenv("OMP_NUM_THREADS");
    char *saved = old ? strdup(old) : NULL;
    setenv("OMP_NUM_THREADS", "1", 1);
    int r1 = run_init("thr_1", "--seed 5");
    setenv("OMP_NUM_THREADS", "3", 1);
    int r3 = run_init("thr_3", "--seed 5");
    if (saved) setenv("OMP_NUM_THREADS", saved, 1); else unsetenv("OMP_NUM_THREADS");
    free(saved);
    CHECK(r1 == 0 && r3 == 0, "lst init failed");
    char a[512], b[512];
    path_of(a, sizeof a, "thr_1", "model.safetensors");
    path_of(b, sizeof b, "thr_3", "model.safetensors");
    CHECK(files_equal(a, b), "1 and 3 threads wrote different model.safetensors");
}

TEST(init_gated) {
    if (run_init("gated", "--gated --seed 2") != 0) {
        CHECK(0, "lst init --gated failed");
        return;
    }
    lst_t5_config_t c;
    lst_err_t err;
    CHECK(lst_preset_config("t5-tiny", &c, &err) == 0, "%s", err.msg);
    c.gated = 1;
    c.act = LST_ACT_GELU_NEW;
    c.tie_word_embeddings = 0;
    CHECK(lst_preset_param_count(&c) == 4703872, "gated tiny count %lld",
          (long long)lst_preset_param_count(&c));
    check_layout("gated", &c);

    char path[512];
    lst_st_file_t f;
    path_of(path, sizeof path, "gated", "model.safetensors");
    if (lst_st_open(&f, path, &err) == 0) {
        CHECK(lst_st_find(&f, "encoder.block.0.layer.1.DenseReluDense.wi_0.weight"), "no wi_0");
        CHECK(lst_st_find(&f, "decoder.block.3.layer.2.DenseReluDense.wi_1.weight"), "no wi_1");
        CHECK(!lst_st_find(&f, "encoder.block.0.layer.1.DenseReluDense.wi.weight"), "has wi");
        CHECK(lst_st_find(&f, "lm_head.weight"), "no lm_head.weight");
        double mean, sd;
        int64_t cnt;
        CHECK(tensor_moments(&f, "lm_head.weight", &mean, &sd, &cnt) == 0 &&
                  fabs(sd - 1.0) < 0.01,
              "lm_head sd %g", sd);
    } else {
        CHECK(0, "open: %s", err.msg);
    }
    lst_st_close(&f);
}

TEST(init_unknown_preset) {
    char *out = NULL;
    int rc = lst_test_run(&out, "init --preset t5-huge --out '%s/huge'", lst_test_tmpdir());
    CHECK(rc != 0, "unknown preset accepted");
    const char *names[] = {"t5-tiny", "t5-small", "t5-base", "t5-large", "t5-3b"};
    for (int i = 0; i < 5; i++)
        CHECK(out && strstr(out, names[i]), "message does not list %s: %s", names[i],
              out ? out : "");
    CHECK(out && strstr(out, "lst init:"), "message lacks 'lst init:': %s", out ? out : "");
    free(out);
    char path[512];
    snprintf(path, sizeof path, "%s/huge", lst_test_tmpdir());
    CHECK(!lst_test_file_exists(path), "directory created for an unknown preset");

    lst_t5_config_t c;
    lst_err_t err;
    CHECK(lst_preset_config("t5-huge", &c, &err) == -1, "library accepted t5-huge");
    CHECK(strstr(err.msg, "t5-huge") && strstr(err.msg, "t5-base"), "message: %s", err.msg);
    CHECK(lst_preset_config(NULL, &c, &err) == -1, "library accepted NULL");
}

TEST(init_usage_errors) {
    const char *bad[] = {"--seed abc", "--seed -1", "--seed 12x", "--seed ''",
                         "--seed 99999999999999999999999", "--bogus 1", "--seed 1 --seed 2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = NULL;
        int rc = lst_test_run(&out, "init --preset t5-tiny --out '%s/bad' %s", lst_test_tmpdir(),
                              bad[i]);
        CHECK(rc == 2, "'%s': exit %d, want 2 (%s)", bad[i], rc, out ? out : "");
        free(out);
    }
    char *out = NULL;
    int rc = lst_test_run(&out, "init --out '%s/bad'", lst_test_tmpdir());
    CHECK(rc == 2, "missing --preset: exit %d", rc);
    free(out);
    rc = lst_test_run(&out, "init --preset t5-tiny");
    CHECK(rc == 2, "missing --out: exit %d", rc);
    free(out);
    rc = lst_test_run(&out, "init --help");
    CHECK(rc == 0 && out && strstr(out, "--preset"), "--help: exit %d", rc);
    free(out);
    char path[512];
    snprintf(path, sizeof path, "%s/bad", lst_test_tmpdir());
    CHECK(!lst_test_file_exists(path), "a usage error still created %s", path);
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

TEST(init_out_is_file) {
    char dir[512], file[600];
    snprintf(dir, sizeof dir, "%s/isfile", lst_test_tmpdir());
    mkdir(dir, 0777);
    snprintf(file, sizeof file, "%s/plain", dir);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL, "cannot create %s", file);
    if (!f) return;
    fputs("x", f);
    fclose(f);

    char *out = NULL;
    int rc = lst_test_run(&out, "init --preset t5-tiny --out '%s'", file);
    CHECK(rc == 1, "--out at a regular file: exit %d (%s)", rc, out ? out : "");
    CHECK(out && strstr(out, "lst init:") && strstr(out, "not a directory"), "message: %s",
          out ? out : "");
    free(out);
    rc = lst_test_run(&out, "init --preset t5-tiny --out '%s/sub'", file);
    CHECK(rc == 1, "--out below a regular file: exit %d (%s)", rc, out ? out : "");
    free(out);

    size_t len = 0;
    FILE *g = fopen(file, "rb");
    char buf[8] = {0};
    if (g) {
        len = fread(buf, 1, sizeof buf, g);
        fclose(g);
    }
    CHECK(len == 1 && buf[0] == 'x', "the regular file was modified");
    CHECK(count_entries(dir) == 1, "%d entries in %s, want only the file", count_entries(dir),
          dir);
}

TEST(init_nested_out) {
    if (run_init("nest/a/b/", "") != 0) {
        CHECK(0, "lst init into a nested new directory failed");
        return;
    }
    char path[512];
    path_of(path, sizeof path, "nest/a/b", "model.safetensors");
    CHECK(lst_test_file_exists(path), "%s missing", path);
    path_of(path, sizeof path, "nest/a/b", "config.json");
    CHECK(lst_test_file_exists(path), "%s missing", path);
    /* rewriting an existing checkpoint directory is fine */
    CHECK(run_init("nest/a/b", "--seed 9") == 0, "second init into the same directory failed");
}

TEST(init_preset_counts) {
    static const struct {
        const char *name;
        int d, ff, kv, h, l;
        int64_t params;
    } p[] = {
        {"t5-tiny", 64, 256, 16, 4, 4, 2516608},
        {"t5-small", 512, 2048, 64, 8, 6, 60506624},
        {"t5-base", 768, 3072, 64, 12, 12, 222903552},
        {"t5-large", 1024, 4096, 64, 16, 24, 737668096},
        {"t5-3b", 1024, 16384, 128, 32, 24, 2851598336LL},
    };
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        lst_t5_config_t c;
        lst_err_t err;
        if (lst_preset_config(p[i].name, &c, &err) != 0) {
            CHECK(0, "%s: %s", p[i].name, err.msg);
            continue;
        }
        CHECK(c.d_model == p[i].d && c.d_ff == p[i].ff && c.d_kv == p[i].kv &&
                  c.num_heads == p[i].h && c.num_layers == p[i].l &&
                  c.num_decoder_layers == p[i].l,
              "%s shapes", p[i].name);
        CHECK(c.vocab_size == 32128 && c.rel_buckets == 32 && c.rel_max_distance == 128 &&
                  c.act == LST_ACT_RELU && !c.gated && c.tie_word_embeddings,
              "%s: vocab/buckets/act/tying", p[i].name);
        CHECK(fabsf(c.dropout_rate - 0.1f) < 1e-7f && c.layer_norm_eps == 1e-6f,
              "%s: dropout %g eps %g", p[i].name, c.dropout_rate, c.layer_norm_eps);
        CHECK(lst_preset_param_count(&c) == p[i].params, "%s: %lld parameters, want %lld",
              p[i].name, (long long)lst_preset_param_count(&c), (long long)p[i].params);
        CHECK(lst_t5_config_validate(&c, p[i].name, &err) == 0, "%s invalid: %s", p[i].name,
              err.msg);
    }
    lst_t5_config_t c;
    lst_err_t err;
    lst_preset_config("t5-small", &c, &err);
    c.d_model = 0;
    CHECK(lst_preset_param_count(&c) == -1, "count of an invalid config");
    CHECK(lst_preset_param_count(NULL) == -1, "count of NULL");
    lst_preset_config("t5-small", &c, &err);
    c.vocab_size = c.d_model = c.d_ff = 2000000000;
    c.num_layers = c.num_decoder_layers = 2000000000;
    CHECK(lst_preset_param_count(&c) == -1, "overflowing count not refused");
}

/* The library entry point on a config that is not a preset. */
TEST(init_write_random_library) {
    lst_t5_config_t c;
    lst_err_t err;
    CHECK(lst_preset_config("t5-tiny", &c, &err) == 0, "%s", err.msg);
    c.vocab_size = 100;
    c.d_model = 8;
    c.d_kv = 4;
    c.num_heads = 2;
    c.d_ff = 12;
    c.num_layers = 1;
    c.num_decoder_layers = 2;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/lib", lst_test_tmpdir());
    CHECK(lst_preset_write_random(&c, dir, 123, &err) == 0, "write: %s", err.msg);
    check_layout("lib", &c);

    lst_t5_config_t bad = c;
    bad.d_model = -1;
    snprintf(dir, sizeof dir, "%s/lib_bad", lst_test_tmpdir());
    CHECK(lst_preset_write_random(&bad, dir, 1, &err) == -1, "invalid config written");
    CHECK(!lst_test_file_exists(dir), "invalid config created its directory");
    CHECK(lst_preset_write_random(&c, "", 1, &err) == -1, "empty directory name accepted");
    CHECK(lst_preset_write_random(NULL, dir, 1, &err) == -1, "NULL config accepted");
}
