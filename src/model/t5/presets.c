/* presets.c: published T5 shapes and randomly initialised HF checkpoints.
 *
 * The tensor list mirrors T5ForConditionalGeneration.named_parameters() as
 * save_pretrained writes it (no encoder/decoder.embed_tokens aliases of
 * `shared`), compared against tests/data/t5-tiny-{relu,gated}. Each tensor
 * is filled in chunks whose Philox counters are fixed by their position, so
 * the OpenMP split cannot change a single bit of the output. */
#include "presets.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "../../core/rng.h"
#include "../../core/streams.h"
#include "../../io/model_pair.h"
#include "../../io/safetensors.h"
#include "t5_tensors.h"

/* ---- presets ---------------------------------------------------------- */

static const struct {
    const char *name;
    int d_model, d_ff, d_kv, heads, layers;
} presets[] = {
    {"t5-tiny", 64, 256, 16, 4, 4},
    {"t5-small", 512, 2048, 64, 8, 6},
    {"t5-base", 768, 3072, 64, 12, 12},
    {"t5-large", 1024, 4096, 64, 16, 24},
    {"t5-3b", 1024, 16384, 128, 32, 24},
};

int lst_preset_config(const char *name, lst_t5_config_t *c, lst_err_t *err) {
    for (size_t i = 0; name && i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(name, presets[i].name) != 0) continue;
        lst_t5_config_default(c);
        c->vocab_size = 32128;
        c->d_model = presets[i].d_model;
        c->d_ff = presets[i].d_ff;
        c->d_kv = presets[i].d_kv;
        c->num_heads = presets[i].heads;
        c->num_layers = presets[i].layers;
        c->num_decoder_layers = presets[i].layers;
        /* everything else (32 buckets, distance 128, dropout 0.1, eps 1e-6,
         * relu, tied) is transformers' default, set above */
        return 0;
    }
    return lst_fail(err, "unknown preset '%s' (valid: %s)", name ? name : "(null)",
                    LST_PRESET_NAMES);
}

/* ---- parameter count -------------------------------------------------- */

int64_t lst_preset_param_count(const lst_t5_config_t *c) {
    int64_t n;
    return c && !lst_t5_count(c, c->vocab_size, &n) ? n : -1;
}

/* ---- tensor list ------------------------------------------------------ */

typedef struct {
    char name[128];
    int ndim;
    int64_t shape[2];
    double std; /* < 0: a layer norm, filled with ones */
} spec_t;

typedef struct {
    spec_t *v;
    int n, cap;
} spec_list_t;

/* One spec per tensor of the model (a lst_t5_visit_fn). */
static int add_spec(void *vctx, const lst_t5_visit_t *v, const char *prefix, int stack, int layer,
                    lst_err_t *err) {
    spec_list_t *l = vctx;
    if (!v) return 0;
    if (l->n >= l->cap) return lst_fail(err, "internal: more tensors than counted");
    spec_t *s = &l->v[l->n++];
    snprintf(s->name, sizeof s->name, "%s", v->name);
    s->ndim = v->cols ? 2 : 1;
    s->shape[0] = v->rows;
    s->shape[1] = v->cols;
    s->std = v->std;
    return 0;
}

static int build_specs(const lst_t5_config_t *c, spec_list_t *l, lst_err_t *err) {
    /* per block at most every row of the table, plus 4 model-level tensors */
    int64_t cap = 4 + (int64_t)lst_t5_n_block_tensors * ((int64_t)c->num_layers + c->num_decoder_layers);
    if (cap > 1000000) return lst_fail(err, "config has too many layers (%d + %d)",
                                       c->num_layers, c->num_decoder_layers);
    l->v = lst_calloc((size_t)cap, sizeof *l->v, err);
    if (!l->v) return -1;
    l->n = 0;
    l->cap = (int)cap;
    return lst_t5_walk(c, c->vocab_size, add_spec, l, err);
}

/* ---- filling ---------------------------------------------------------- */

/* Normals per chunk; even, so every chunk starts on a Philox block
 * boundary (one normal = two 32-bit words, four words per block). */
#define FILL_CHUNK ((int64_t)1 << 16)

typedef struct {
    const spec_list_t *specs;
    uint64_t seed;
} fill_ctx_t;

/* Seed of tensor i's own stream: one Philox block keyed by the user seed,
 * the counter's upper half tagged so it never meets lst_rng's own use. */
static uint64_t tensor_seed(uint64_t seed, int index) {
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint32_t ctr[4] = {(uint32_t)index, 0, LST_STREAM_PRESET_W2, LST_STREAM_PRESET_W3};
    uint32_t out[4];
    lst_philox4x32(key, ctr, out);
    return (uint64_t)out[1] << 32 | out[0];
}

static int fill_tensor(void *vctx, int index, void *dst, lst_err_t *err) {
    const fill_ctx_t *ctx = vctx;
    if (index < 0 || index >= ctx->specs->n)
        return lst_fail(err, "internal: tensor index %d out of range", index);
    const spec_t *s = &ctx->specs->v[index];
    const int64_t numel = s->ndim == 1 ? s->shape[0] : s->shape[0] * s->shape[1];
    unsigned char *out = dst; /* bytes: dst need not be float-aligned */
    if (s->std < 0) {
        const float one = 1.0f;
        for (int64_t j = 0; j < numel; j++) memcpy(out + 4 * j, &one, 4);
        return 0;
    }
    const uint64_t sub = tensor_seed(ctx->seed, index);
    const int64_t nchunks = (numel + FILL_CHUNK - 1) / FILL_CHUNK;
    const double std = s->std;
#pragma omp parallel for schedule(static) if (nchunks > 1)
    for (int64_t k = 0; k < nchunks; k++) {
        lst_rng_t r;
        lst_rng_seed(&r, sub);
        r.counter = (uint64_t)k * (uint64_t)(FILL_CHUNK / 2);
        const int64_t end = (k + 1) * FILL_CHUNK < numel ? (k + 1) * FILL_CHUNK : numel;
        for (int64_t j = k * FILL_CHUNK; j < end; j++) {
            const float v = (float)(std * lst_rng_normal(&r));
            memcpy(out + 4 * j, &v, 4);
        }
    }
    return 0;
}

/* ---- output directory ------------------------------------------------- */

/* mkdir -p: every missing component is created; the end must be a directory. */
static int make_dirs(const char *dir, lst_err_t *err) {
    const size_t n = strlen(dir);
    if (n == 0) return lst_fail(err, "empty output directory name");
    char *p = lst_malloc(n + 1, 1, err);
    if (!p) return -1;
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        if (p[i - 1] == '/') continue; /* "a//b" */
        const char save = p[i];
        p[i] = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            lst_fail(err, "cannot create directory '%s': %s", p, strerror(errno));
            free(p);
            return -1;
        }
        p[i] = save;
    }
    free(p);
    struct stat st;
    if (stat(dir, &st) != 0)
        return lst_fail(err, "cannot create directory '%s': %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return lst_fail(err, "'%s' exists and is not a directory", dir);
    return 0;
}

static char *join(const char *dir, const char *file, lst_err_t *err) {
    const size_t n = strlen(dir) + strlen(file) + 2;
    char *p = lst_malloc(n, 1, err);
    if (p) snprintf(p, n, "%s/%s", dir, file);
    return p;
}

/* ---- writing ---------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

/* lst_init_id: a fingerprint of what is written, the config's every field,
 * the seed and each tensor's name, shape and scale, so that the same
 * (config, seed), which gives the same bytes, gives the same id, and any
 * other pair a different one (model_pair.h). */
static void init_id(const lst_t5_config_t *c, const spec_list_t *specs, uint64_t seed,
                    char out[40]) {
    char text[512];
    int k = snprintf(text, sizeof text, "lst-init-1 %llu %d %d %d %d %d %d %d %d %d %.9g %.9g %d %d %d %d %d %d",
                     (unsigned long long)seed, c->vocab_size, c->d_model, c->d_kv, c->d_ff,
                     c->num_layers, c->num_decoder_layers, c->num_heads, c->rel_buckets,
                     c->rel_max_distance, (double)c->dropout_rate, (double)c->layer_norm_eps,
                     (int)c->act, c->gated, c->tie_word_embeddings, c->pad_token_id,
                     c->eos_token_id, c->decoder_start_token_id);
    uint64_t h = fnv(0xcbf29ce484222325ULL, text, k > 0 ? (size_t)k : 0);
    for (int i = 0; i < specs->n; i++) {
        const spec_t *s = &specs->v[i];
        k = snprintf(text, sizeof text, "|%s %d %lld %lld %.17g", s->name, s->ndim,
                     (long long)s->shape[0], (long long)s->shape[1], s->std);
        h = fnv(h, text, k > 0 ? (size_t)k : 0);
    }
    snprintf(out, 40, "%016llx", (unsigned long long)h);
}

int lst_preset_write_random(const lst_t5_config_t *c, const char *dir, uint64_t seed,
                            lst_err_t *err) {
    if (!c || !dir) return lst_fail(err, "lst_preset_write_random: NULL argument");
    if (lst_t5_config_validate(c, "config", err) != 0) return -1;
    if (lst_preset_param_count(c) < 0)
        return lst_fail(err, "config is too large: its parameter count overflows");

    spec_list_t specs = {0};
    lst_st_out_t *outs = NULL;
    char *model_path = NULL, *config_path = NULL;
    int rc = -1;

    if (build_specs(c, &specs, err) != 0) goto done;
    if (make_dirs(dir, err) != 0) goto done;
    model_path = join(dir, "model.safetensors", err);
    config_path = join(dir, "config.json", err);
    outs = lst_calloc((size_t)specs.n, sizeof *outs, err);
    if (!model_path || !config_path || !outs) goto done;
    for (int i = 0; i < specs.n; i++) {
        outs[i].name = specs.v[i].name;
        outs[i].dtype = LST_DT_F32;
        outs[i].ndim = specs.v[i].ndim;
        outs[i].shape[0] = specs.v[i].shape[0];
        outs[i].shape[1] = specs.v[i].shape[1];
        outs[i].data = NULL; /* produced by fill_tensor just before it is written */
    }
    /* weights first, config.json last, both carrying one id: a kill between
     * the two renames leaves a pair that loading refuses (model_pair.h) */
    lst_t5_config_t cfg = *c;
    init_id(c, &specs, seed, cfg.init_id);
    const char *meta[] = {LST_INIT_ID_KEY, cfg.init_id, NULL};
    fill_ctx_t ctx = {&specs, seed};
    if (lst_st_write_stream_meta(model_path, outs, specs.n, fill_tensor, &ctx, meta, err) != 0)
        goto done;
    if (lst_t5_config_save(&cfg, config_path, err) != 0) goto done;
    rc = 0;
done:
    free(outs);
    free(model_path);
    free(config_path);
    free(specs.v);
    return rc;
}
