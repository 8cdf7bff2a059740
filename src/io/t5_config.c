/* t5_config.c: parse and write Hugging Face T5 config.json files.
 *
 * Absent (or null) keys keep transformers' T5Config defaults. Every type
 * error names the file and the key. feed_forward_proj decides the FFN
 * activation; when it is absent, dense_act_fn / is_gated_act are used. */
#include "t5_config.h"

#include "../core/fsfile.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/fileio.h"

#define CONFIG_MAX_BYTES (16 * 1024 * 1024)
#define T5_MAX_LAYERS 1024
#define ID_CHARS "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

void lst_t5_config_default(lst_t5_config_t *c) {
    memset(c, 0, sizeof *c);
    c->vocab_size = 32128;
    c->d_model = 512;
    c->d_kv = 64;
    c->d_ff = 2048;
    c->num_layers = 6;
    c->num_decoder_layers = 6;
    c->num_heads = 8;
    c->rel_buckets = 32;
    c->rel_max_distance = 128;
    c->dropout_rate = 0.1f;
    c->layer_norm_eps = 1e-6f;
    c->act = LST_ACT_RELU;
    c->gated = 0;
    c->tie_word_embeddings = 1;
    c->pad_token_id = 0;
    c->eos_token_id = 1;
    c->decoder_start_token_id = 0;
}

/* The JSON text of j, shortened, for error messages. */
static const char *json_text(const cJSON *j, char *buf, size_t cap) {
    char *s = cJSON_PrintUnformatted(j);
    if (!s) {
        snprintf(buf, cap, "(unprintable)");
        return buf;
    }
    if (strlen(s) > 60) snprintf(buf, cap, "%.57s...", s);
    else snprintf(buf, cap, "%s", s);
    cJSON_free(s);
    return buf;
}

static const cJSON *get(const cJSON *root, const char *key) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    return j && !cJSON_IsNull(j) ? j : NULL;
}

/* Integer key >= min; untouched if absent. */
static int get_int(const cJSON *root, const char *key, int min, int *out, const char *what,
                   lst_err_t *err) {
    const cJSON *j = get(root, key);
    if (!j) return 0;
    const char *kind = min >= 1 ? "a positive integer" : "a non-negative integer";
    char buf[96];
    double v = cJSON_IsNumber(j) ? j->valuedouble : NAN;
    if (!cJSON_IsNumber(j) || !isfinite(v) || v != floor(v) || v < (double)INT_MIN ||
        v > (double)INT_MAX || v < (double)min)
        return lst_fail(err, "%s: key '%s' must be %s, got %s", what, key, kind,
                        json_text(j, buf, sizeof buf));
    *out = (int)v;
    return 0;
}

static int get_float(const cJSON *root, const char *key, float *out, const char *what,
                     lst_err_t *err) {
    const cJSON *j = get(root, key);
    if (!j) return 0;
    char buf[96];
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble))
        return lst_fail(err, "%s: key '%s' must be a number, got %s", what, key,
                        json_text(j, buf, sizeof buf));
    *out = (float)j->valuedouble;
    return 0;
}

static int get_bool(const cJSON *root, const char *key, int *out, const char *what,
                    lst_err_t *err) {
    const cJSON *j = get(root, key);
    if (!j) return 0;
    char buf[96];
    if (!cJSON_IsBool(j))
        return lst_fail(err, "%s: key '%s' must be true or false, got %s", what, key,
                        json_text(j, buf, sizeof buf));
    *out = cJSON_IsTrue(j) ? 1 : 0;
    return 0;
}

static int get_string(const cJSON *root, const char *key, const char **out,
                      const char *what, lst_err_t *err) {
    const cJSON *j = get(root, key);
    if (!j) return 0;
    char buf[96];
    if (!cJSON_IsString(j))
        return lst_fail(err, "%s: key '%s' must be a string, got %s", what, key,
                        json_text(j, buf, sizeof buf));
    *out = j->valuestring;
    return 0;
}

/* dense_act_fn names transformers uses for T5 (ACT2FN: "gelu" is the exact
 * erf form, "gelu_new"/"gelu_pytorch_tanh" the tanh approximation). */
static int act_parse(const char *s, lst_act_t *act) {
    if (strcmp(s, "relu") == 0) *act = LST_ACT_RELU;
    else if (strcmp(s, "gelu") == 0) *act = LST_ACT_GELU;
    else if (strcmp(s, "gelu_new") == 0 || strcmp(s, "gelu_pytorch_tanh") == 0)
        *act = LST_ACT_GELU_NEW;
    else if (strcmp(s, "silu") == 0 || strcmp(s, "swish") == 0) *act = LST_ACT_SILU;
    else return -1;
    return 0;
}

/* "relu", "gelu", "gated-gelu", "gated-relu", "[gated-]silu" (and
 * "[gated-]gelu_new"). */
static int proj_parse(const char *s, lst_act_t *act, int *gated) {
    const char *a = s;
    *gated = 0;
    if (strncmp(s, "gated-", 6) == 0) {
        *gated = 1;
        a = s + 6;
    }
    /* transformers: "gated-gelu" runs gelu_new; a plain "gelu" runs the
     * exact gelu. */
    if (strcmp(a, "relu") == 0) *act = LST_ACT_RELU;
    else if (strcmp(a, "gelu_new") == 0) *act = LST_ACT_GELU_NEW;
    else if (strcmp(a, "gelu") == 0) *act = *gated ? LST_ACT_GELU_NEW : LST_ACT_GELU;
    else if (strcmp(a, "silu") == 0) *act = LST_ACT_SILU;
    else return -1;
    return 0;
}

/* What lst cannot fine-tune, refused from config.json alone (before any
 * weight is read): a quantized checkpoint and an encoder-only T5. */
static int refuse_kind(const cJSON *root, const char *what, lst_err_t *err) {
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
    if (q && !cJSON_IsNull(q)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(q, "quant_method");
        return lst_fail(err, "%s: the checkpoint is quantized (quantization_config%s%s%s): lst reads "
                        "float32, bf16 or f16 weights; use the unquantized checkpoint (lst quantize "
                        "makes an int8 or 4-bit frozen backbone from it)", what,
                        cJSON_IsString(m) ? ", quant_method \"" : "", cJSON_IsString(m) ? m->valuestring : "",
                        cJSON_IsString(m) ? "\"" : "");
    }
    const cJSON *ed = cJSON_GetObjectItemCaseSensitive(root, "is_encoder_decoder");
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    int named_encoder = cJSON_IsArray(arch) && cJSON_GetArraySize(arch) > 0;
    const cJSON *list = named_encoder ? arch : NULL, *a;
    cJSON_ArrayForEach(a, list)
        if (!cJSON_IsString(a) || !strstr(a->valuestring, "EncoderModel")) named_encoder = 0;
    const int encoder_only = cJSON_IsFalse(ed) || named_encoder;
    if (encoder_only)
        return lst_fail(err, "%s: an encoder-only T5 (T5EncoderModel): it has no decoder, and LST "
                        "trains a side network beside both stacks; use the full "
                        "T5ForConditionalGeneration checkpoint", what);
    return 0;
}

static int parse_root(lst_t5_config_t *c, const cJSON *root, const char *what,
                      lst_err_t *err) {
    if (!cJSON_IsObject(root)) return lst_fail(err, "%s: top level is not a JSON object", what);
    if (refuse_kind(root, what, err)) return -1;
    const char *mt = NULL;
    if (get_string(root, "model_type", &mt, what, err) != 0) return -1;
    if (mt && strcmp(mt, "t5") != 0 && strcmp(mt, "mt5") != 0)
        return lst_fail(err, "%s: key 'model_type' is \"%s\", expected \"t5\" or \"mt5\"", what,
                        mt);

    static const struct {
        const char *key;
        size_t off;
        int min;
    } ints[] = {
        {"vocab_size", offsetof(lst_t5_config_t, vocab_size), 1},
        {"d_model", offsetof(lst_t5_config_t, d_model), 1},
        {"d_kv", offsetof(lst_t5_config_t, d_kv), 1},
        {"d_ff", offsetof(lst_t5_config_t, d_ff), 1},
        {"num_layers", offsetof(lst_t5_config_t, num_layers), 1},
        {"num_heads", offsetof(lst_t5_config_t, num_heads), 1},
        {"relative_attention_num_buckets", offsetof(lst_t5_config_t, rel_buckets), 1},
        {"relative_attention_max_distance", offsetof(lst_t5_config_t, rel_max_distance), 1},
        {"pad_token_id", offsetof(lst_t5_config_t, pad_token_id), 0},
        {"eos_token_id", offsetof(lst_t5_config_t, eos_token_id), 0},
        {"decoder_start_token_id", offsetof(lst_t5_config_t, decoder_start_token_id), 0},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (get_int(root, ints[i].key, ints[i].min, (int *)((char *)c + ints[i].off), what,
                    err) != 0)
            return -1;
    c->num_decoder_layers = c->num_layers;
    if (get_int(root, "num_decoder_layers", 1, &c->num_decoder_layers, what, err) != 0)
        return -1;
    if (get_float(root, "dropout_rate", &c->dropout_rate, what, err) != 0 ||
        get_float(root, "layer_norm_epsilon", &c->layer_norm_eps, what, err) != 0 ||
        get_bool(root, "tie_word_embeddings", &c->tie_word_embeddings, what, err) != 0)
        return -1;

    const char *id = NULL;
    if (get_string(root, "lst_init_id", &id, what, err) != 0) return -1;
    if (id && (strlen(id) >= sizeof c->init_id || !*id || strspn(id, ID_CHARS) != strlen(id)))
        return lst_fail(err, "%s: key 'lst_init_id' must be 1 to %zu letters and digits", what,
                        sizeof c->init_id - 1);
    if (id) snprintf(c->init_id, sizeof c->init_id, "%s", id);

    const char *proj = NULL, *dense = NULL;
    int gated = -1;
    if (get_string(root, "feed_forward_proj", &proj, what, err) != 0 ||
        get_string(root, "dense_act_fn", &dense, what, err) != 0 ||
        get_bool(root, "is_gated_act", &gated, what, err) != 0)
        return -1;
    if (proj) {
        if (proj_parse(proj, &c->act, &c->gated) != 0)
            return lst_fail(err, "%s: key 'feed_forward_proj' has unsupported value \"%s\" "
                            "(expected relu, gelu, silu, gated-gelu, gated-relu or gated-silu)", what, proj);
    } else {
        if (dense && act_parse(dense, &c->act) != 0)
            return lst_fail(err, "%s: key 'dense_act_fn' has unsupported value \"%s\" "
                            "(expected relu, gelu, gelu_new or silu)", what, dense);
        if (gated >= 0) c->gated = gated;
    }
    return lst_t5_config_validate(c, what, err);
}

int lst_t5_config_parse(lst_t5_config_t *c, const char *json, const char *what,
                        lst_err_t *err) {
    if (!what) what = "config";
    lst_t5_config_default(c);
    if (!json) return lst_fail(err, "%s: no JSON text", what);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root) {
        size_t at = end && end >= json ? (size_t)(end - json) : 0;
        int line = 1;
        for (size_t i = 0; i < at && json[i]; i++) line += json[i] == '\n';
        return lst_fail(err, "%s: invalid JSON at line %d (byte %zu)", what, line, at);
    }
    int rc = parse_root(c, root, what, err);
    cJSON_Delete(root);
    return rc;
}

int lst_t5_config_load(lst_t5_config_t *c, const char *path, lst_err_t *err) {
    lst_t5_config_default(c);
    FILE *fp = lst_fopen_regular(path, err);
    if (!fp) return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(fp);
            return lst_fail(err, "%s: out of memory", path);
        }
        size_t k = fread(buf + len, 1, cap - len - 1, fp);
        len += k;
        if (k == 0) break;
        if (cap - len < 2) {
            if (cap >= CONFIG_MAX_BYTES) {
                free(buf);
                fclose(fp);
                return lst_fail(err, "%s: larger than %d bytes, not a config.json", path,
                                CONFIG_MAX_BYTES);
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) free(buf);
            buf = nb;
            cap *= 2;
        }
    }
    int rerr = ferror(fp);
    fclose(fp);
    if (rerr) {
        free(buf);
        return lst_fail(err, "%s: read error", path);
    }
    buf[len] = 0;
    if (strlen(buf) != len) {
        free(buf);
        return lst_fail(err, "%s: invalid JSON (contains a NUL byte)", path);
    }
    int rc = lst_t5_config_parse(c, buf, path, err);
    free(buf);
    return rc;
}

/* Each dimension at most T5_MAX_DIM and each weight matrix at most
 * T5_MAX_TENSOR entries: products of two dimensions then fit 64 bits with
 * room to spare, and a whole model (at most 2 x 1024 blocks of a few dozen
 * such tensors) stays below 2^47 floats. The largest real T5s (mT5-XXL:
 * vocabulary 250112 x d_model 4096, 1.0e9 entries) are well inside. */
#define T5_MAX_DIM (1 << 24)
#define T5_MAX_TENSOR INT_MAX

static int check_sizes(const lst_t5_config_t *c, const char *what, lst_err_t *err) {
    const struct {
        const char *key;
        int v;
    } dims[] = {
        {"vocab_size", c->vocab_size}, {"d_model", c->d_model}, {"d_kv", c->d_kv},
        {"d_ff", c->d_ff}, {"num_heads", c->num_heads},
        {"relative_attention_num_buckets", c->rel_buckets},
    };
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i].v > T5_MAX_DIM)
            return lst_fail(err, "%s: key '%s' is %d, more than the %d lst supports", what,
                            dims[i].key, dims[i].v, T5_MAX_DIM);
    /* all operands <= 2^24: each product below is exact in int64 */
    const int64_t inner = (int64_t)c->num_heads * c->d_kv;
    const struct {
        const char *what;
        int64_t a, b;
    } mats[] = {
        {"the embedding: vocab_size x d_model", c->vocab_size, c->d_model},
        {"an attention projection: d_model x num_heads x d_kv", c->d_model, inner},
        {"a feed-forward weight: d_model x d_ff", c->d_model, c->d_ff},
        {"the relative bias: relative_attention_num_buckets x num_heads", c->rel_buckets,
         c->num_heads},
    };
    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
        const int64_t b = mats[i].b;
        /* a * b > max without forming a * b, which may pass 2^63 for inner */
        if (b > T5_MAX_TENSOR / mats[i].a)
            return lst_fail(err, "%s: %s is %lld x %lld, more than the %d entries lst "
                            "supports in one tensor", what, mats[i].what, (long long)mats[i].a,
                            (long long)b, T5_MAX_TENSOR);
    }
    return 0;
}

int lst_t5_config_validate(const lst_t5_config_t *c, const char *what, lst_err_t *err) {
    if (!what) what = "config";
    const struct {
        const char *key;
        int v;
        int min;
    } chk[] = {
        {"vocab_size", c->vocab_size, 1},
        {"d_model", c->d_model, 1},
        {"d_kv", c->d_kv, 1},
        {"d_ff", c->d_ff, 1},
        {"num_layers", c->num_layers, 1},
        {"num_decoder_layers", c->num_decoder_layers, 1},
        {"num_heads", c->num_heads, 1},
        /* bidirectional bucketing halves the buckets */
        {"relative_attention_num_buckets", c->rel_buckets, 2},
        {"relative_attention_max_distance", c->rel_max_distance, 1},
    };
    for (size_t i = 0; i < sizeof chk / sizeof chk[0]; i++)
        if (chk[i].v < chk[i].min)
            return lst_fail(err, "%s: key '%s' must be at least %d, got %d", what, chk[i].key,
                            chk[i].min, chk[i].v);
    /* Layer counts size the parameter table before any weight is read, so a
     * corrupt config.json with num_layers 1e8 made lst dump build a table of
     * billions of entries until the OOM killer stopped it, instead of failing
     * on the first missing tensor. T5 checkpoints have at most a few dozen. */
    if (c->num_layers > T5_MAX_LAYERS || c->num_decoder_layers > T5_MAX_LAYERS)
        return lst_fail(err, "%s: key '%s' is %d, more than the %d layers lst supports", what,
                        c->num_layers > T5_MAX_LAYERS ? "num_layers" : "num_decoder_layers",
                        c->num_layers > T5_MAX_LAYERS ? c->num_layers : c->num_decoder_layers,
                        T5_MAX_LAYERS);
    if (check_sizes(c, what, err)) return -1;
    if (!(c->layer_norm_eps > 0) || !isfinite(c->layer_norm_eps))
        return lst_fail(err, "%s: key 'layer_norm_epsilon' must be > 0, got %g", what,
                        (double)c->layer_norm_eps);
    if (!(c->dropout_rate >= 0 && c->dropout_rate < 1))
        return lst_fail(err, "%s: key 'dropout_rate' must be in [0, 1), got %g", what,
                        (double)c->dropout_rate);
    if (c->act != LST_ACT_RELU && c->act != LST_ACT_GELU_NEW && c->act != LST_ACT_GELU &&
        c->act != LST_ACT_SILU)
        return lst_fail(err, "%s: invalid activation %d", what, (int)c->act);
    if (c->gated != 0 && c->gated != 1)
        return lst_fail(err, "%s: invalid gated flag %d", what, c->gated);
    const struct {
        const char *key;
        int v;
    } ids[] = {
        {"pad_token_id", c->pad_token_id},
        {"eos_token_id", c->eos_token_id},
        {"decoder_start_token_id", c->decoder_start_token_id},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].v < 0 || ids[i].v >= c->vocab_size)
            return lst_fail(err, "%s: key '%s' is %d, outside the vocabulary [0, %d)", what,
                            ids[i].key, ids[i].v, c->vocab_size);
    return 0;
}

/* Shortest %g text that reads back as the same float. */
static void fmt_float(char *buf, size_t cap, float v) {
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, cap, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    /* keep it a JSON float so transformers reads a float */
    if (!strpbrk(buf, ".eE") && strlen(buf) + 3 < cap) strcat(buf, ".0");
}

int lst_t5_config_save(const lst_t5_config_t *c, const char *path, lst_err_t *err) {
    if (lst_t5_config_validate(c, path, err) != 0) return -1;
    if (c->act == LST_ACT_GELU && c->gated)
        return lst_fail(err, "%s: a gated FFN with the exact gelu has no transformers "
                        "feed_forward_proj name", path);
    const char *dense = c->act == LST_ACT_RELU ? "relu"
                        : c->act == LST_ACT_GELU ? "gelu"
                        : c->act == LST_ACT_SILU ? "silu" : "gelu_new";
    const char *proj = c->act == LST_ACT_RELU ? (c->gated ? "gated-relu" : "relu")
                       : c->act == LST_ACT_GELU ? "gelu"
                       : c->act == LST_ACT_SILU ? (c->gated ? "gated-silu" : "silu")
                                                : (c->gated ? "gated-gelu" : "gelu_new");
    char drop[48], eps[48], text[4096], id[80] = "";
    if (c->init_id[0]) snprintf(id, sizeof id, "  \"lst_init_id\": \"%s\",\n", c->init_id);
    fmt_float(drop, sizeof drop, c->dropout_rate);
    fmt_float(eps, sizeof eps, c->layer_norm_eps);
    int len = snprintf(text, sizeof text,
        "{\n"
        "  \"architectures\": [\n    \"T5ForConditionalGeneration\"\n  ],\n"
        "  \"d_ff\": %d,\n"
        "  \"d_kv\": %d,\n"
        "  \"d_model\": %d,\n"
        "  \"decoder_start_token_id\": %d,\n"
        "  \"dense_act_fn\": \"%s\",\n"
        "  \"dropout_rate\": %s,\n"
        "  \"eos_token_id\": %d,\n"
        "  \"feed_forward_proj\": \"%s\",\n"
        "  \"initializer_factor\": 1.0,\n"
        "  \"is_encoder_decoder\": true,\n"
        "  \"is_gated_act\": %s,\n"
        "  \"layer_norm_epsilon\": %s,\n"
        "%s"
        "  \"model_type\": \"t5\",\n"
        "  \"num_decoder_layers\": %d,\n"
        "  \"num_heads\": %d,\n"
        "  \"num_layers\": %d,\n"
        "  \"pad_token_id\": %d,\n"
        "  \"relative_attention_max_distance\": %d,\n"
        "  \"relative_attention_num_buckets\": %d,\n"
        "  \"tie_word_embeddings\": %s,\n"
        "  \"use_cache\": true,\n"
        "  \"vocab_size\": %d\n"
        "}\n",
        c->d_ff, c->d_kv, c->d_model, c->decoder_start_token_id, dense, drop,
        c->eos_token_id, proj, c->gated ? "true" : "false", eps, id, c->num_decoder_layers,
        c->num_heads, c->num_layers, c->pad_token_id, c->rel_max_distance, c->rel_buckets,
        c->tie_word_embeddings ? "true" : "false", c->vocab_size);
    if (len < 0 || (size_t)len >= sizeof text)
        return lst_fail(err, "%s: config text too long", path);

    return lst_write_atomic(path, text, (size_t)len, err);
}
