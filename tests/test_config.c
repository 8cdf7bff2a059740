/* test_config.c: T5 config.json parsing, defaults, error messages, and the
 * save/load round trip. */
#include "test.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../src/io/t5_config.h"

static int same_config(const lst_t5_config_t *a, const lst_t5_config_t *b) {
    return a->vocab_size == b->vocab_size && a->d_model == b->d_model && a->d_kv == b->d_kv &&
           a->d_ff == b->d_ff && a->num_layers == b->num_layers &&
           a->num_decoder_layers == b->num_decoder_layers && a->num_heads == b->num_heads &&
           a->rel_buckets == b->rel_buckets && a->rel_max_distance == b->rel_max_distance &&
           a->dropout_rate == b->dropout_rate && a->layer_norm_eps == b->layer_norm_eps &&
           a->act == b->act && a->gated == b->gated &&
           a->tie_word_embeddings == b->tie_word_embeddings &&
           a->pad_token_id == b->pad_token_id && a->eos_token_id == b->eos_token_id &&
           a->decoder_start_token_id == b->decoder_start_token_id;
}

/* Parses json expecting failure with a message containing all given words. */
static void expect_parse_fail(const char *json, const char *w1, const char *w2, int line) {
    lst_t5_config_t c;
    lst_err_t err = {{0}};
    if (lst_t5_config_parse(&c, json, "cfg.json", &err) == 0) {
        lst_test_fail(__FILE__, line, "accepted: %s", json);
        return;
    }
    if (strncmp(err.msg, "cfg.json", 8) != 0)
        lst_test_fail(__FILE__, line, "message does not name the file: %s", err.msg);
    if (w1 && !strstr(err.msg, w1))
        lst_test_fail(__FILE__, line, "message lacks '%s': %s", w1, err.msg);
    if (w2 && !strstr(err.msg, w2))
        lst_test_fail(__FILE__, line, "message lacks '%s': %s", w2, err.msg);
}

TEST(config_tiny_relu) {
    lst_t5_config_t c;
    lst_err_t err;
    int rc = lst_t5_config_load(&c, "tests/data/t5-tiny-relu/config.json", &err);
    CHECK(rc == 0, "%s", err.msg);
    CHECK(c.act == LST_ACT_RELU && c.gated == 0, "act %d gated %d", (int)c.act, c.gated);
    CHECK(c.tie_word_embeddings == 1, "tied");
    CHECK(c.num_layers == 3 && c.num_decoder_layers == 3, "layers %d %d", c.num_layers,
          c.num_decoder_layers);
    CHECK(c.vocab_size == 512 && c.d_model == 64 && c.d_kv == 16 && c.d_ff == 192 &&
              c.num_heads == 4,
          "sizes");
    CHECK(c.rel_buckets == 32 && c.rel_max_distance == 128, "rel");
    CHECK(c.dropout_rate == 0.0f && c.layer_norm_eps == 1e-6f, "dropout/eps");
    CHECK(c.pad_token_id == 0 && c.eos_token_id == 1 && c.decoder_start_token_id == 0, "ids");
}

TEST(config_tiny_gated) {
    lst_t5_config_t c;
    lst_err_t err;
    int rc = lst_t5_config_load(&c, "tests/data/t5-tiny-gated/config.json", &err);
    CHECK(rc == 0, "%s", err.msg);
    CHECK(c.act == LST_ACT_GELU_NEW && c.gated == 1, "act %d gated %d", (int)c.act, c.gated);
    CHECK(c.tie_word_embeddings == 0, "untied");
    CHECK(c.num_layers == 2 && c.num_decoder_layers == 3, "layers %d %d", c.num_layers,
          c.num_decoder_layers);
    CHECK(c.d_ff == 160, "d_ff %d", c.d_ff);
}

TEST(config_defaults_t5_small) {
    lst_t5_config_t c, d;
    lst_err_t err;
    CHECK(lst_t5_config_parse(&c, "{}", "empty", &err) == 0, "%s", err.msg);
    lst_t5_config_default(&d);
    CHECK(same_config(&c, &d), "{} differs from defaults");
    CHECK(c.vocab_size == 32128 && c.d_model == 512 && c.d_kv == 64 && c.d_ff == 2048 &&
              c.num_layers == 6 && c.num_decoder_layers == 6 && c.num_heads == 8,
          "t5-small sizes");
    CHECK(c.rel_buckets == 32 && c.rel_max_distance == 128 && c.dropout_rate == 0.1f &&
              c.layer_norm_eps == 1e-6f,
          "t5-small rel/dropout/eps");
    CHECK(c.act == LST_ACT_RELU && !c.gated && c.tie_word_embeddings, "t5-small ffn/tied");
    CHECK(c.pad_token_id == 0 && c.eos_token_id == 1 && c.decoder_start_token_id == 0, "ids");
    CHECK(lst_t5_config_validate(&d, "defaults", &err) == 0, "%s", err.msg);
}

TEST(config_decoder_layers_fallback) {
    lst_t5_config_t c;
    lst_err_t err;
    CHECK(lst_t5_config_parse(&c, "{\"num_layers\": 4}", "x", &err) == 0 &&
              c.num_decoder_layers == 4,
          "absent: %d", c.num_decoder_layers);
    CHECK(lst_t5_config_parse(&c, "{\"num_decoder_layers\": null, \"num_layers\": 5}", "x",
                              &err) == 0 &&
              c.num_decoder_layers == 5,
          "null: %d", c.num_decoder_layers);
    CHECK(lst_t5_config_parse(&c, "{\"num_layers\": 4, \"num_decoder_layers\": 2}", "x",
                              &err) == 0 &&
              c.num_layers == 4 && c.num_decoder_layers == 2,
          "explicit");
}

TEST(config_bad_json) {
    expect_parse_fail("{\"d_model\": 64,", "invalid JSON", NULL, __LINE__);
    expect_parse_fail("{} extra", "invalid JSON", NULL, __LINE__);
    expect_parse_fail("", "invalid JSON", NULL, __LINE__);
    expect_parse_fail("[1, 2]", "object", NULL, __LINE__);
    lst_t5_config_t c;
    lst_err_t err;
    char path[600];
    snprintf(path, sizeof path, "%s/cfg_missing/config.json", lst_test_tmpdir());
    CHECK(lst_t5_config_load(&c, path, &err) == -1 && strstr(err.msg, path),
          "missing file: %s", err.msg);
    snprintf(path, sizeof path, "%s/bad_config.json", lst_test_tmpdir());
    FILE *fp = fopen(path, "w");
    if (fp) {
        fputs("{\n  \"d_model\": 64\n  \"d_ff\": 2\n}\n", fp);
        fclose(fp);
    }
    CHECK(lst_t5_config_load(&c, path, &err) == -1 && strstr(err.msg, path) &&
              strstr(err.msg, "line 3"),
          "bad file: %s", err.msg);
}

TEST(config_wrong_types) {
    lst_t5_config_t c;
    lst_err_t err;
    CHECK(lst_t5_config_parse(&c, "{\"d_model\": \"abc\"}", "config.json", &err) == -1 &&
              strcmp(err.msg, "config.json: key 'd_model' must be a positive integer, got "
                              "\"abc\"") == 0,
          "d_model string: %s", err.msg);
    expect_parse_fail("{\"d_ff\": 64.5}", "'d_ff'", "64.5", __LINE__);
    expect_parse_fail("{\"vocab_size\": 1e12}", "'vocab_size'", "integer", __LINE__);
    expect_parse_fail("{\"num_heads\": true}", "'num_heads'", "true", __LINE__);
    expect_parse_fail("{\"num_layers\": [6]}", "'num_layers'", NULL, __LINE__);
    expect_parse_fail("{\"dropout_rate\": \"0.1\"}", "'dropout_rate'", "number", __LINE__);
    expect_parse_fail("{\"tie_word_embeddings\": \"yes\"}", "'tie_word_embeddings'", "yes",
                      __LINE__);
    expect_parse_fail("{\"feed_forward_proj\": 3}", "'feed_forward_proj'", "string",
                      __LINE__);
    expect_parse_fail("{\"eos_token_id\": -1}", "'eos_token_id'", NULL, __LINE__);
    expect_parse_fail("{\"model_type\": \"bert\"}", "'model_type'", "bert", __LINE__);
    CHECK(lst_t5_config_parse(&c, "{\"model_type\": \"mt5\", \"d_model\": 1e2}", "x", &err) ==
                  0 &&
              c.d_model == 100,
          "mt5 / integral exponent: %s", err.msg);
}

TEST(config_feed_forward_proj) {
    lst_t5_config_t c;
    lst_err_t err;
    CHECK(lst_t5_config_parse(&c, "{\"feed_forward_proj\": \"gated-relu\"}", "x", &err) == 0 &&
              c.act == LST_ACT_RELU && c.gated == 1,
          "gated-relu");
    CHECK(lst_t5_config_parse(&c, "{\"feed_forward_proj\": \"gelu\"}", "x", &err) == 0 &&
              c.act == LST_ACT_GELU && c.gated == 0,
          "plain gelu is transformers' exact gelu");
    CHECK(lst_t5_config_parse(&c, "{\"feed_forward_proj\": \"gelu_new\"}", "x", &err) == 0 &&
              c.act == LST_ACT_GELU_NEW && c.gated == 0,
          "gelu_new");
    CHECK(lst_t5_config_parse(&c, "{\"feed_forward_proj\": \"gated-silu\"}", "x", &err) == 0 &&
              c.act == LST_ACT_SILU && c.gated == 1,
          "gated-silu (UL2)");
    CHECK(lst_t5_config_parse(&c, "{\"dense_act_fn\": \"silu\", \"is_gated_act\": true}", "x", &err) == 0 &&
              c.act == LST_ACT_SILU && c.gated == 1,
          "dense_act_fn silu");
    CHECK(lst_t5_config_parse(&c, "{\"feed_forward_proj\": \"gated-gelu\"}", "x", &err) == 0 &&
              c.act == LST_ACT_GELU_NEW && c.gated == 1,
          "gated-gelu");
    expect_parse_fail("{\"feed_forward_proj\": \"swiglu\"}", "'feed_forward_proj'", "swiglu",
                      __LINE__);
    /* without feed_forward_proj, dense_act_fn/is_gated_act decide */
    CHECK(lst_t5_config_parse(&c, "{\"dense_act_fn\": \"gelu_new\", \"is_gated_act\": true}",
                              "x", &err) == 0 &&
              c.act == LST_ACT_GELU_NEW && c.gated == 1,
          "dense_act_fn fallback: %s", err.msg);
    /* feed_forward_proj wins */
    CHECK(lst_t5_config_parse(&c,
                              "{\"feed_forward_proj\": \"relu\", \"dense_act_fn\": "
                              "\"gelu_new\", \"is_gated_act\": true}",
                              "x", &err) == 0 &&
              c.act == LST_ACT_RELU && c.gated == 0,
          "feed_forward_proj wins");
    expect_parse_fail("{\"dense_act_fn\": \"tanh\"}", "'dense_act_fn'", "tanh", __LINE__);
    expect_parse_fail("{\"is_gated_act\": 1}", "'is_gated_act'", NULL, __LINE__);
}

TEST(config_bad_values) {
    expect_parse_fail("{\"d_model\": -64}", "'d_model'", "-64", __LINE__);
    expect_parse_fail("{\"d_ff\": 0}", "'d_ff'", NULL, __LINE__);
    expect_parse_fail("{\"num_heads\": 0}", "'num_heads'", NULL, __LINE__);
    expect_parse_fail("{\"num_decoder_layers\": -1}", "'num_decoder_layers'", NULL, __LINE__);
    expect_parse_fail("{\"relative_attention_num_buckets\": 1}",
                      "'relative_attention_num_buckets'", NULL, __LINE__);
    expect_parse_fail("{\"layer_norm_epsilon\": 0}", "'layer_norm_epsilon'", NULL, __LINE__);
    expect_parse_fail("{\"layer_norm_epsilon\": -1e-6}", "'layer_norm_epsilon'", NULL,
                      __LINE__);
    expect_parse_fail("{\"dropout_rate\": 1.0}", "'dropout_rate'", NULL, __LINE__);
    expect_parse_fail("{\"dropout_rate\": -0.1}", "'dropout_rate'", NULL, __LINE__);
    expect_parse_fail("{\"vocab_size\": 4, \"eos_token_id\": 7}", "'eos_token_id'", NULL,
                      __LINE__);
    lst_t5_config_t c;
    lst_err_t err;
    lst_t5_config_default(&c);
    c.d_kv = 0;
    CHECK(lst_t5_config_validate(&c, "mine", &err) == -1 && strstr(err.msg, "mine") &&
              strstr(err.msg, "d_kv"),
          "validate: %s", err.msg);
}

static int count_tmp(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

TEST(config_save_load_roundtrip) {
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/cfg_rt", lst_test_tmpdir());
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/config.json", dir);
    const char *srcs[] = {"tests/data/t5-tiny-relu/config.json",
                          "tests/data/t5-tiny-gated/config.json"};
    lst_err_t err;
    for (int i = 0; i < 4; i++) {
        lst_t5_config_t a, b;
        if (i < 2) {
            CHECK(lst_t5_config_load(&a, srcs[i], &err) == 0, "%s", err.msg);
        } else {
            lst_t5_config_default(&a);
            a.dropout_rate = 0.1f;
            a.layer_norm_eps = 1e-5f;
            a.gated = i == 3;
            a.act = i == 3 ? LST_ACT_RELU : LST_ACT_GELU_NEW;
            a.num_decoder_layers = 2;
            a.tie_word_embeddings = 0;
            a.eos_token_id = 5;
        }
        CHECK(lst_t5_config_save(&a, path, &err) == 0, "save %d: %s", i, err.msg);
        CHECK(lst_t5_config_load(&b, path, &err) == 0, "reload %d: %s", i, err.msg);
        CHECK(same_config(&a, &b), "round trip %d differs", i);
    }
    CHECK(count_tmp(dir) == 0, "temp file left behind");

    /* what transformers needs to see */
    FILE *fp = fopen(path, "rb");
    char text[8192] = {0};
    size_t n = fp ? fread(text, 1, sizeof text - 1, fp) : 0;
    if (fp) fclose(fp);
    cJSON *j = cJSON_ParseWithLength(text, n);
    CHECK(j != NULL, "saved file is not JSON");
    if (j) {
        cJSON *arch = cJSON_GetObjectItem(j, "architectures");
        CHECK(cJSON_IsArray(arch) && cJSON_GetArraySize(arch) == 1 &&
                  strcmp(cJSON_GetArrayItem(arch, 0)->valuestring,
                         "T5ForConditionalGeneration") == 0,
              "architectures");
        CHECK(strcmp(cJSON_GetObjectItem(j, "model_type")->valuestring, "t5") == 0, "type");
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "is_encoder_decoder")), "enc-dec");
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "is_gated_act")), "is_gated_act");
        CHECK(strcmp(cJSON_GetObjectItem(j, "dense_act_fn")->valuestring, "relu") == 0,
              "dense_act_fn");
        CHECK(strcmp(cJSON_GetObjectItem(j, "feed_forward_proj")->valuestring,
                     "gated-relu") == 0,
              "feed_forward_proj");
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "use_cache")), "use_cache");
        CHECK(cJSON_GetObjectItem(j, "initializer_factor") &&
                  cJSON_GetObjectItem(j, "initializer_factor")->valuedouble == 1.0,
              "initializer_factor");
        CHECK(cJSON_GetObjectItem(j, "num_decoder_layers")->valueint == 2, "dec layers");
        CHECK(strstr(text, "\"layer_norm_epsilon\": 1e-05"), "eps written as 1e-05:\n%s",
              text);
        cJSON_Delete(j);
    }
    CHECK(strchr(text, '\n') && strstr(text, "\n  \"d_model\""), "not pretty printed");
}

TEST(config_save_failure) {
    char path[700];
    snprintf(path, sizeof path, "%s/cfg_nodir/sub/config.json", lst_test_tmpdir());
    lst_t5_config_t c;
    lst_err_t err;
    lst_t5_config_default(&c);
    CHECK(lst_t5_config_save(&c, path, &err) == -1 && strstr(err.msg, path),
          "missing dir: %s", err.msg);
    snprintf(path, sizeof path, "%s/cfg_invalid.json", lst_test_tmpdir());
    c.num_heads = -2;
    CHECK(lst_t5_config_save(&c, path, &err) == -1 && strstr(err.msg, "num_heads"),
          "invalid config saved: %s", err.msg);
    CHECK(!lst_test_file_exists(path), "invalid config file created");
}
