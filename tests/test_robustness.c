/* test_robustness.c: malformed input through the command line, every
 * command and every kind of file: models (safetensors header and weights),
 * config.json, side configs, batches, GLUE / custom data, tokenizer models,
 * options and run directories.
 *
 * Each case must exit 1 (bad input) or 2 (bad option), print "lst <cmd>:"
 * and a message naming the problem, never crash (status < 128, no sanitizer
 * report) and leave no output behind: neither the --out path nor a *.tmp.*
 * file in its directory. Cases already covered by test_dump_errors.c,
 * test_train.c, test_glue.c, test_tokenizer.c and test_init.c are not
 * repeated here. Fuzzer findings get their regression case here too. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../src/io/safetensors.h"
#include "test.h"

static const char *SRC = "tests/data/t5-tiny-relu";
static const char *BATCH = "tests/data/t5-tiny-relu/batch.safetensors";

/* "<tmpdir>/robust/<name>" (8 rotating buffers); makes the folder. */
static const char *tmp(const char *name) {
    static char buf[8][600];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/robust", lst_test_tmpdir());
    mkdir(buf[k], 0755);
    snprintf(buf[k], sizeof buf[k], "%s/robust/%s", lst_test_tmpdir(), name);
    return buf[k];
}

static void sh(const char *fmt, const char *a, const char *b) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    CHECK(system(cmd) == 0, "shell failed: %s", cmd);
}

static void put(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot write %s", path);
    if (!f) return;
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

static void put_str(const char *path, const char *text) { put(path, text, strlen(text)); }

/* A temporary file left in dir (the writers' "<name>.tmp.XXXXXX"). */
static int has_tmp_file(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) found = 1;
    closedir(d);
    return found;
}

/* Runs `lst <args>` and checks the contract; `out` is the path the command
 * would have written (file or run directory), or NULL. */
static void expect(int line, int code, const char *needle, const char *out, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void expect(int line, int code, const char *needle, const char *out, const char *fmt, ...) {
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char *log = NULL;
    int rc = lst_test_run(&log, "%s", args);
    const char *l = log ? log : "";
    CHECK(rc < 128, "line %d: crashed (status %d): %s", line, rc, l);
    CHECK(rc == code, "line %d: exit %d, wanted %d: %s", line, rc, code, l);
    CHECK(strstr(l, needle), "line %d: message lacks '%s': %s", line, needle, l);
    char cmd[32] = "";
    sscanf(args, "%31s", cmd);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "lst %s", cmd);
    CHECK(strstr(l, prefix), "line %d: no '%s' prefix: %s", line, prefix, l);
    CHECK(!strstr(l, "Sanitizer") && !strstr(l, "runtime error"), "line %d: sanitizer report: %s",
          line, l);
    if (out) {
        CHECK(!lst_test_file_exists(out), "line %d: %s left behind", line, out);
        remove(out); /* so that one failure does not spill into the next case */
        char dir[600];
        snprintf(dir, sizeof dir, "%s", out);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        CHECK(!has_tmp_file(dir), "line %d: a *.tmp.* file left in %s", line, dir);
    }
    free(log);
}

/* ------------------------------------------------------------ models */

/* tmp/<name>/ with the relu checkpoint's config.json and model.safetensors. */
static const char *copy_model(const char *name) {
    const char *dir = tmp(name);
    sh("mkdir -p '%s' && cp tests/data/t5-tiny-relu/config.json tests/data/t5-tiny-relu/model.safetensors '%s'/",
       dir, dir);
    return dir;
}

/* Rewrites DIR/model.safetensors with its header JSON edited by `edit`
 * (data block unchanged). */
static void edit_header(const char *dir, void (*edit)(cJSON *root, uint64_t data_size)) {
    char path[700];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "open %s", path);
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)size);
    CHECK(fread(b, 1, (size_t)size, f) == (size_t)size, "read %s", path);
    fclose(f);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
    cJSON *root = cJSON_ParseWithLength((const char *)b + 8, (size_t)hlen);
    CHECK(root != NULL, "header of %s", path);
    edit(root, (uint64_t)size - 8 - hlen);
    char *h = cJSON_PrintUnformatted(root);
    size_t n = strlen(h), pad = (8 - n % 8) % 8;
    f = fopen(path, "wb");
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((n + pad) >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(h, 1, n, f);
    fwrite("        ", 1, pad, f);
    fwrite(b + 8 + hlen, 1, (size_t)size - 8 - hlen, f);
    fclose(f);
    cJSON_free(h);
    cJSON_Delete(root);
    free(b);
}

#define Q_W "encoder.block.0.layer.0.SelfAttention.q.weight"
#define K_W "encoder.block.0.layer.0.SelfAttention.k.weight"
#define WI_W "encoder.block.0.layer.1.DenseReluDense.wi.weight"

static cJSON *entry(cJSON *root, const char *name) {
    cJSON *e = cJSON_GetObjectItemCaseSensitive(root, name);
    CHECK(e != NULL, "no %s in the header", name);
    return e;
}

static void set_offsets(cJSON *e, double a, double b) {
    cJSON_ReplaceItemInObjectCaseSensitive(e, "data_offsets",
                                           cJSON_CreateDoubleArray((const double[]){a, b}, 2));
}

static void ed_unknown_dtype(cJSON *r, uint64_t n) {
    cJSON_ReplaceItemInObjectCaseSensitive(entry(r, Q_W), "dtype", cJSON_CreateString("F64"));
}
static void ed_overlap(cJSON *r, uint64_t n) {
    cJSON *o = cJSON_GetObjectItemCaseSensitive(entry(r, Q_W), "data_offsets");
    set_offsets(entry(r, K_W), cJSON_GetArrayItem(o, 0)->valuedouble,
                cJSON_GetArrayItem(o, 1)->valuedouble);
}
static void ed_size_mismatch(cJSON *r, uint64_t n) {
    cJSON_ReplaceItemInObjectCaseSensitive(entry(r, Q_W), "shape",
                                           cJSON_CreateIntArray((const int[]){64, 65}, 2));
}
static void ed_out_of_range(cJSON *r, uint64_t n) {
    set_offsets(entry(r, Q_W), (double)n, (double)n + 64 * 64 * 4);
}
static void ed_duplicate(cJSON *r, uint64_t n) {
    cJSON_AddItemToObject(r, Q_W, cJSON_Duplicate(entry(r, Q_W), 1));
}
static void ed_negative_dim(cJSON *r, uint64_t n) {
    cJSON_ReplaceItemInObjectCaseSensitive(entry(r, Q_W), "shape",
                                           cJSON_CreateIntArray((const int[]){-64, -64}, 2));
}
static void ed_huge_offsets(cJSON *r, uint64_t n) {
    /* offsets far past the end of the file (a petabyte in) */
    set_offsets(entry(r, Q_W), 1e15, 1e15 + 64 * 64 * 4);
}

static void dump_fails(int line, const char *model, const char *batch, const char *needle) {
    const char *out = tmp("dump_out.safetensors");
    expect(line, 1, needle, out, "dump --model '%s' --batch '%s' --out '%s'", model, batch, out);
}

TEST(robust_model_header_corruptions) {
    static const struct {
        const char *name;
        void (*edit)(cJSON *, uint64_t);
        const char *needle;
    } cases[] = {
        {"m_dtype", ed_unknown_dtype, "unknown dtype 'F64'"},
        {"m_overlap", ed_overlap, "overlap"},
        {"m_size", ed_size_mismatch, "size mismatch"},
        {"m_range", ed_out_of_range, "out of range"},
        {"m_dup", ed_duplicate, "duplicate tensor name '" Q_W "'"},
        {"m_negdim", ed_negative_dim, "shape entry 0"},
        {"m_huge", ed_huge_offsets, "out of range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *dir = copy_model(cases[i].name);
        edit_header(dir, cases[i].edit);
        dump_fails(__LINE__ + (int)i * 1000, dir, BATCH, cases[i].needle);
    }
}

TEST(robust_model_header_length_and_json) {
    char path[700];
    /* header length far beyond the end of the file */
    const char *dir = copy_model("m_hlen");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "r+b");
    fwrite("\x00\x00\x00\x00\x00\x10\x00\x00", 1, 8, f);
    fclose(f);
    dump_fails(__LINE__, dir, BATCH, "extends beyond the end of the file");
    /* a header that is not JSON (a byte in the middle of it replaced) */
    dir = copy_model("m_notjson");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    f = fopen(path, "r+b");
    fseek(f, 40, SEEK_SET);
    fputc('\x01', f);
    fclose(f);
    dump_fails(__LINE__, dir, BATCH, "not valid JSON");
    /* an empty weights file, and a directory where the file should be */
    dir = copy_model("m_empty");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    put(path, "", 0);
    dump_fails(__LINE__, dir, BATCH, "m_empty/model.safetensors: file is empty");
    dir = copy_model("m_isdir");
    sh("rm '%s/model.safetensors' && mkdir '%s/model.safetensors'", dir, dir);
    dump_fails(__LINE__, dir, BATCH, "not a regular file");
    /* 7 bytes: not even a header length */
    dir = copy_model("m_seven");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    put(path, "\x08\x00\x00\x00\x00\x00\x00", 7);
    dump_fails(__LINE__, dir, BATCH, "need at least 8");
}

/* Rewrites DIR/model.safetensors through lst_st_write, tensor `name`
 * changed by `edit` (which may point data at its own buffer). */
static void edit_weights(const char *dir, const char *name,
                         void (*edit)(lst_st_out_t *t, const lst_st_tensor_t *orig)) {
    lst_st_file_t in;
    lst_err_t err;
    char path[700];
    snprintf(path, sizeof path, "%s/model.safetensors", SRC);
    CHECK(lst_st_open(&in, path, &err) == 0, "%s", err.msg);
    lst_st_out_t *outs = calloc((size_t)in.n, sizeof *outs);
    for (int i = 0; i < in.n; i++) {
        outs[i].name = in.tensors[i].name;
        outs[i].dtype = in.tensors[i].dtype;
        outs[i].ndim = in.tensors[i].ndim;
        memcpy(outs[i].shape, in.tensors[i].shape, sizeof outs[i].shape);
        outs[i].data = in.tensors[i].data;
        if (!strcmp(in.tensors[i].name, name)) edit(&outs[i], &in.tensors[i]);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(lst_st_write(path, outs, in.n, &err) == 0, "%s", err.msg);
    free(outs);
    lst_st_close(&in);
}

static void w_int_dtype(lst_st_out_t *t, const lst_st_tensor_t *o) { t->dtype = LST_DT_I32; }
static void w_transposed(lst_st_out_t *t, const lst_st_tensor_t *o) {
    t->shape[0] = o->shape[1];
    t->shape[1] = o->shape[0];
}
static void w_extra_dim(lst_st_out_t *t, const lst_st_tensor_t *o) {
    t->ndim = 3;
    t->shape[0] = 1;
    t->shape[1] = o->shape[0];
    t->shape[2] = o->shape[1];
}
static float g_nan_buf[512 * 64];
static void w_nan(lst_st_out_t *t, const lst_st_tensor_t *o) {
    memcpy(g_nan_buf, o->data, o->nbytes < sizeof g_nan_buf ? o->nbytes : sizeof g_nan_buf);
    for (size_t i = 0; i < sizeof g_nan_buf / sizeof *g_nan_buf; i += 7) g_nan_buf[i] = NAN;
    t->data = g_nan_buf;
}

TEST(robust_model_weight_mismatches) {
    const char *dir = copy_model("w_int");
    edit_weights(dir, "shared.weight", w_int_dtype);
    dump_fails(__LINE__, dir, BATCH, "'shared.weight'");
    dir = copy_model("w_transposed");
    edit_weights(dir, WI_W, w_transposed);
    dump_fails(__LINE__, dir, BATCH, WI_W);
    dir = copy_model("w_3d");
    edit_weights(dir, Q_W, w_extra_dim);
    dump_fails(__LINE__, dir, BATCH, Q_W);
}

/* Weights holding NaN are not malformed files: dump computes (NaN logits)
 * or refuses with a message; either way no crash and no partial file. */
TEST(robust_model_nan_weights) {
    const char *dir = copy_model("w_nan");
    edit_weights(dir, "shared.weight", w_nan);
    const char *out = tmp("nan_out.safetensors");
    char *log = NULL;
    int rc = lst_test_run(&log, "dump --model '%s' --batch '%s' --out '%s'", dir, BATCH, out);
    const char *l = log ? log : "";
    CHECK(rc == 0 || rc == 1, "exit %d: %s", rc, l);
    CHECK(!strstr(l, "Sanitizer") && !strstr(l, "runtime error"), "sanitizer report: %s", l);
    CHECK(rc != 0 || lst_test_file_exists(out), "exit 0 without an output file");
    CHECK(rc == 0 || (!lst_test_file_exists(out) && strstr(l, "lst dump:")), "exit 1: %s", l);
    free(log);
}

/* ------------------------------------------------------------ config.json */

static void config_fails(int line, const char *name, const char *json, const char *needle) {
    const char *dir = copy_model(name);
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", dir);
    put_str(path, json);
    dump_fails(line, dir, BATCH, needle);
}

#define TINY_DIMS "\"d_model\": 64, \"d_ff\": 192, \"d_kv\": 16, \"num_layers\": 3, \"vocab_size\": 512"

TEST(robust_config_json) {
    config_fails(__LINE__, "c_str", "{\"d_model\": \"64\", \"d_ff\": 192}", "key 'd_model'");
    config_fails(__LINE__, "c_bool", "{" TINY_DIMS ", \"num_heads\": true}", "key 'num_heads'");
    config_fails(__LINE__, "c_frac", "{" TINY_DIMS ", \"num_heads\": 4.5}", "key 'num_heads'");
    config_fails(__LINE__, "c_neg", "{\"d_model\": 64, \"d_ff\": 192, \"d_kv\": -16}", "key 'd_kv'");
    /* num_heads absent: the default 8 disagrees with the weights' 4 heads */
    config_fails(__LINE__, "c_heads", "{" TINY_DIMS "}", "SelfAttention.q.weight");
    config_fails(__LINE__, "c_proj", "{" TINY_DIMS ", \"num_heads\": 4, \"feed_forward_proj\": \"swish\"}",
                 "feed_forward_proj");
    config_fails(__LINE__, "c_type", "{" TINY_DIMS ", \"num_heads\": 4, \"model_type\": \"bert\"}",
                 "model_type");
    config_fails(__LINE__, "c_array", "[64, 192]", "not a JSON object");
    config_fails(__LINE__, "c_eos", "{" TINY_DIMS ", \"num_heads\": 4, \"eos_token_id\": 512}",
                 "eos_token_id");
    config_fails(__LINE__, "c_eps", "{" TINY_DIMS ", \"num_heads\": 4, \"layer_norm_epsilon\": 0}",
                 "layer_norm_epsilon");
    /* regression: a huge layer count was trusted before the weights were read
     * (lst dump was OOM-killed after minutes) */
    config_fails(__LINE__, "c_layers", "{" TINY_DIMS ", \"num_heads\": 4, \"num_decoder_layers\": 100000000}",
                 "key 'num_decoder_layers' is 100000000");
    config_fails(__LINE__, "c_trunc", "{" TINY_DIMS ", \"num_heads\": 4,", "invalid JSON");
    const char *dir = copy_model("c_nul");
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", dir);
    put(path, "{\"d_model\": 64\0}", 16);
    dump_fails(__LINE__, dir, BATCH, "NUL");
    dir = copy_model("c_missing");
    sh("rm '%s/config.json'%s", dir, "");
    dump_fails(__LINE__, dir, BATCH, "c_missing/config.json");
}

/* ------------------------------------------------------------ side config */

static void side_fails(int line, const char *name, const char *json, const char *side,
                       const char *needle) {
    const char *cfg = tmp(name);
    put_str(cfg, json);
    const char *out = tmp("side_out.safetensors");
    expect(line, 1, needle, out, "dump --model %s --batch %s --side-config '%s' %s%s --out '%s'", SRC,
           BATCH, cfg, side ? "--side " : "", side ? side : "", out);
}

TEST(robust_side_config) {
    side_fails(__LINE__, "s_range.json", "{\"r\": 4, \"encoder_side_layers\": [0, 3], \"init\": \"random\"}",
               NULL, "encoder_side_layers");
    side_fails(__LINE__, "s_width.json", "{\"r\": 32, \"init\": \"random\"}", NULL, "leaves no width");
    side_fails(__LINE__, "s_json.json", "{\"r\": 4, \"init\": \"random\"", NULL, "s_json.json");
    side_fails(__LINE__, "s_order.json", "{\"r\": 4, \"decoder_side_layers\": [2, 1], \"init\": \"random\"}",
               NULL, "ascending");
    side_fails(__LINE__, "s_init.json", "{\"r\": 4, \"init\": \"pruned\"}", NULL, "'init'");
    side_fails(__LINE__, "s_betas.json",
               "{\"r\": 4, \"init\": \"random\", \"adamw\": {\"betas\": [1.5, 0.9], \"steps\": 1}}", NULL,
               "betas");
    side_fails(__LINE__, "s_r.json", "{\"r\": 2.5, \"init\": \"random\"}", NULL, "'r'");
    side_fails(__LINE__, "s_empty.json", "{\"r\": 4, \"encoder_side_layers\": [], \"init\": \"random\"}",
               NULL, "at least one encoder layer");
    /* weights made for r = 4 under a config that says r = 2 */
    side_fails(__LINE__, "s_shape.json", "{\"r\": 2}", "tests/data/t5-tiny-relu/lst_side_init.safetensors",
               "side_encoder");
    /* no weights and no "init" */
    side_fails(__LINE__, "s_noinit.json", "{\"r\": 4}", NULL, "give --side FILE");
}

/* ------------------------------------------------------------ batches */

static const char *batch(const char *name, const lst_st_out_t *t, int n) {
    const char *path = tmp(name);
    lst_err_t err;
    CHECK(lst_st_write(path, t, n, &err) == 0, "%s", err.msg);
    return path;
}

TEST(robust_batches) {
    int64_t ids[4] = {5, 6, 7, 1}, lab[4] = {8, 9, 1, -100}, m3[4] = {1, 1, 3, 0};
    int64_t big[4] = {5, 6, 4294967296LL, 1};
    float fl[4] = {5, 6, 7, 1};
    const char *b;
    b = batch("b_noinput.safetensors", (lst_st_out_t[]){{"labels", LST_DT_I64, 2, {1, 4}, lab}}, 1);
    dump_fails(__LINE__, SRC, b, "tensor 'input_ids' not found");
    b = batch("b_noteacher.safetensors", (lst_st_out_t[]){{"input_ids", LST_DT_I64, 2, {1, 4}, ids}}, 1);
    dump_fails(__LINE__, SRC, b, "needs 'decoder_input_ids' or 'labels'");
    b = batch("b_shapes.safetensors",
              (lst_st_out_t[]){{"input_ids", LST_DT_I64, 2, {1, 4}, ids},
                               {"labels", LST_DT_I64, 2, {1, 4}, lab},
                               {"decoder_input_ids", LST_DT_I64, 2, {1, 3}, ids}},
              3);
    dump_fails(__LINE__, SRC, b, "'decoder_input_ids' has shape [1, 3], expected [1, 4]");
    b = batch("b_mask_shape.safetensors",
              (lst_st_out_t[]){{"input_ids", LST_DT_I64, 2, {2, 2}, ids},
                               {"attention_mask", LST_DT_I64, 2, {1, 4}, m3},
                               {"labels", LST_DT_I64, 2, {2, 2}, lab}},
              3);
    dump_fails(__LINE__, SRC, b, "'attention_mask' has shape [1, 4], expected [2, 2]");
    b = batch("b_decmask.safetensors",
              (lst_st_out_t[]){{"input_ids", LST_DT_I64, 2, {1, 4}, ids},
                               {"labels", LST_DT_I64, 2, {1, 4}, lab},
                               {"decoder_attention_mask", LST_DT_I64, 2, {1, 4}, m3}},
              3);
    dump_fails(__LINE__, SRC, b, "decoder_attention_mask[0][2] = 3");
    b = batch("b_float.safetensors", (lst_st_out_t[]){{"input_ids", LST_DT_F32, 2, {1, 4}, fl},
                                                      {"labels", LST_DT_I64, 2, {1, 4}, lab}},
              2);
    dump_fails(__LINE__, SRC, b, "expected an integer dtype");
    b = batch("b_3d.safetensors", (lst_st_out_t[]){{"input_ids", LST_DT_I64, 3, {1, 2, 2}, ids},
                                                   {"labels", LST_DT_I64, 2, {1, 4}, lab}},
              2);
    dump_fails(__LINE__, SRC, b, "2-d [batch, length]");
    b = batch("b_empty.safetensors", (lst_st_out_t[]){{"input_ids", LST_DT_I64, 2, {0, 4}, ids},
                                                      {"labels", LST_DT_I64, 2, {1, 4}, lab}},
              2);
    dump_fails(__LINE__, SRC, b, "non-empty");
    b = batch("b_big.safetensors", (lst_st_out_t[]){{"input_ids", LST_DT_I64, 2, {1, 4}, big},
                                                    {"labels", LST_DT_I64, 2, {1, 4}, lab}},
              2);
    dump_fails(__LINE__, SRC, b, "does not fit a token id");
    b = batch("b_decids.safetensors", (lst_st_out_t[]){{"input_ids", LST_DT_I64, 2, {1, 4}, ids},
                                                       {"decoder_input_ids", LST_DT_I64, 2, {1, 4}, lab}},
              2);
    dump_fails(__LINE__, SRC, b, "decoder_input_ids[0][3] = -100");
    /* not a safetensors file at all */
    b = tmp("b_text.safetensors");
    put_str(b, "input_ids,labels\n5,6\n");
    dump_fails(__LINE__, SRC, b, "b_text.safetensors");
}

/* ------------------------------------------------------------ data files (lst train) */

/* A tiny random checkpoint with the real vocabulary (made once). */
static const char *tiny(void) {
    static int done;
    const char *dir = tmp("tiny");
    if (!done) {
        done = 1;
        char *log = NULL;
        int rc = lst_test_run(&log, "init --preset t5-tiny --out '%s' --seed 1", dir);
        CHECK(rc == 0, "init: %s", log ? log : "");
        free(log);
    }
    return dir;
}

/* A GLUE directory holding RTE with this train.tsv (dev.tsv and the split
 * file are valid). */
static const char *glue_dir(const char *name, const char *train, size_t n) {
    const char *root = tmp(name);
    char p[800];
    sh("mkdir -p '%s/RTE'%s", root, "");
    snprintf(p, sizeof p, "%s/RTE/train.tsv", root);
    put(p, train, n);
    snprintf(p, sizeof p, "%s/RTE/dev.tsv", root);
    put_str(p, "index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\tentailment\n1\tC.\tD.\tnot_entailment\n");
    snprintf(p, sizeof p, "%s/paper_splits.json", root);
    put_str(p, "{\"rte\": {\"dev_rows\": 2, \"dev_permutation\": [1, 0]}}");
    return root;
}

static void glue_fails(int line, const char *name, const char *train, size_t n, const char *needle) {
    const char *root = glue_dir(name, train, n);
    const char *out = tmp("run_glue");
    expect(line, 1, needle, out, "train --model '%s' --task rte --data '%s' --out '%s' --quiet", tiny(),
           root, out);
}

#define RTE_HDR "index\tsentence1\tsentence2\tlabel\n"

TEST(robust_glue_data) {
    const char cols[] = RTE_HDR "0\tA.\tB.\tentailment\n1\tA.\tnot_entailment\n";
    glue_fails(__LINE__, "g_cols", cols, sizeof cols - 1, "RTE/train.tsv:3: expected 4 tab-separated columns");
    const char label[] = RTE_HDR "0\tA.\tB.\tyes\n";
    glue_fails(__LINE__, "g_label", label, sizeof label - 1, "label 'yes' is not a rte label");
    glue_fails(__LINE__, "g_empty", "", 0, "RTE/train.tsv: empty file");
    const char utf8[] = RTE_HDR "0\tA \xe2\x82.\tB.\tentailment\n";
    glue_fails(__LINE__, "g_utf8", utf8, sizeof utf8 - 1, "RTE/train.tsv:2: invalid UTF-8");
    const char nul[] = RTE_HDR "0\tA\0.\tB.\tentailment\n";
    glue_fails(__LINE__, "g_nul", nul, sizeof nul - 1, "RTE/train.tsv:2: NUL byte");
    /* the GLUE directory itself missing */
    const char *out = tmp("run_glue");
    expect(__LINE__, 1, "no_such_glue/RTE/train.tsv", out,
           "train --model '%s' --task rte --data '%s' --out '%s' --quiet", tiny(), tmp("no_such_glue"), out);
}

static void custom_fails(int line, const char *name, const char *text, const char *needle) {
    const char *path = tmp(name);
    put_str(path, text);
    const char *good = tmp("good.jsonl");
    put_str(good, "{\"source\": \"a b c\", \"target\": \"yes\"}\n");
    const char *out = tmp("run_custom");
    expect(line, 1, needle, out,
           "train --model '%s' --task custom --train '%s' --valid '%s' --out '%s' --quiet", tiny(), path,
           good, out);
}

TEST(robust_custom_data) {
    custom_fails(__LINE__, "j_json.jsonl", "{\"source\": \"a\", \"target\": \"b\"}\n{\"source\": \"a\",\n",
                 "j_json.jsonl:2: invalid JSON");
    custom_fails(__LINE__, "j_field.jsonl", "{\"source\": \"a\", \"label\": \"b\"}\n",
                 "j_field.jsonl:1: missing field \"target\"");
    custom_fails(__LINE__, "j_type.jsonl", "{\"source\": [\"a\"], \"target\": \"b\"}\n",
                 "field \"source\" is not a string");
    custom_fails(__LINE__, "t_cols.tsv", "source\ttarget\na\tb\tc\n", "t_cols.tsv:2: expected 2");
    custom_fails(__LINE__, "t_hdr.tsv", "input\ttarget\na\tb\n", "t_hdr.tsv:1: header has no column 'source'");
    custom_fails(__LINE__, "x_ext.csv", "source,target\na,b\n", "must be a .tsv or .jsonl file");
    custom_fails(__LINE__, "j_empty.jsonl", "", "j_empty.jsonl: no examples");
}

/* ------------------------------------------------------------ tokenizer model */

TEST(robust_tokenizer_model) {
    const char *data = tmp("tok_data.jsonl");
    put_str(data, "{\"source\": \"a b c\", \"target\": \"yes\"}\n");
    const char *out = tmp("run_tok");
    /* a safetensors file given as the SentencePiece model, to train */
    expect(__LINE__, 1, "not a valid SentencePiece model", out,
           "train --model '%s' --task custom --train '%s' --valid '%s' --spm %s --out '%s' --quiet", tiny(),
           data, data, BATCH, out);
    /* the model cut in half, to train */
    const char *cut = tmp("half.model");
    sh("head -c 400000 data/t5/spiece.model > '%s'%s", cut, "");
    expect(__LINE__, 1, "half.model", out,
           "train --model '%s' --task custom --train '%s' --valid '%s' --spm '%s' --out '%s' --quiet", tiny(),
           data, data, cut, out);
    /* a directory, to tokenize */
    const char *dir = tmp("tok_dir");
    sh("mkdir -p '%s'%s", dir, "");
    expect(__LINE__, 1, "tok_dir", NULL, "tokenize --spm '%s' < /dev/null", dir);
}

/* ------------------------------------------------------------ options */

TEST(robust_options) {
    const char *out = tmp("run_opts");
    const char *m = tiny();
    static const struct {
        const char *args, *needle;
    } cases[] = {
        {"--frobnicate 1", "unknown option '--frobnicate'"},
        {"--quiet --lr", "option '--lr' needs a value"},
        {"--epochs abc", "--epochs: 'abc' is not an integer"},
        {"--lr 1e5", "--lr: 100000 is outside"},
        {"--lr nan", "--lr: 'nan' is not a number"},
        {"--seed 1 --seed 2", "option '--seed' given twice"},
        {"--quiet --quiet", "option '--quiet' given twice"},
        {"--max-source-length 1", "--max-source-length: 1 is outside"},
        {"--batch 99999999999999999999", "--batch: '99999999999999999999' is not an integer"},
        {"--r -4", "--r: -4 is outside"},
        {"--warmup 10x", "--warmup: '10x' is not an integer"},
        {"--encoder-side-layers 1,-2", "'1,-2'"},
        {"stray", "unexpected argument 'stray'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect(__LINE__ + (int)i * 1000, 2, cases[i].needle, out,
               "train --model '%s' --task sst2 --out '%s' %s", m, out, cases[i].args);
    const char *dump_out = tmp("opts_dump.safetensors");
    expect(__LINE__, 2, "--seed: 'x' is not an integer", dump_out,
           "dump --model %s --batch %s --side-config tests/data/t5-tiny-relu/lst_golden.json --seed x "
           "--out '%s'", SRC, BATCH, dump_out);
    expect(__LINE__, 2, "option '--no-grad' given twice", dump_out,
           "dump --model %s --batch %s --no-grad --no-grad --out '%s'", SRC, BATCH, dump_out);
    expect(__LINE__, 2, "option '--run' needs a value", NULL, "eval --run");
    expect(__LINE__, 2, "missing required option '--run'", NULL, "predict < /dev/null");
    expect(__LINE__, 2, "unexpected argument 'x.model'", NULL, "tokenize x.model < /dev/null");
    expect(__LINE__, 2, "--seed: '1.5' is not an integer", tmp("init_out"),
           "init --preset t5-tiny --out '%s' --seed 1.5", tmp("init_out"));
    /* options a method does not take: the same rule and message for train,
     * plan and bench, before anything runs */
    static const struct {
        const char *args, *needle;
    } methods[] = {
        {"--method full --backbone-dtype bf16", "--backbone-dtype applies to the side-network methods, not to full"},
        {"--method lora --r 4", "--r applies to the side-network methods, not to lora"},
        {"--method lst --freeze-layers 2", "--freeze-layers applies to full, adapters, lora and bitfit, not to lst"},
        {"--method prompt --freeze-layers 1", "not to prompt"},
        {"--method adapters --lora-rank 4", "--lora-rank applies to --method lora only"},
        {"--method bitfit --prompt-len 3", "--prompt-len applies to --method prompt only"},
    };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        expect(__LINE__ + (int)i * 1000, 2, methods[i].needle, out,
               "train --model '%s' --task sst2 --out '%s' %s", m, out, methods[i].args);
        expect(__LINE__ + (int)i * 1000, 2, methods[i].needle, NULL,
               "plan --model t5-tiny --batch 2 --src-len 8 --tgt-len 2 %s", methods[i].args);
        expect(__LINE__ + (int)i * 1000, 2, methods[i].needle, NULL,
               "bench --model t5-tiny --batch 2 --src-len 8 --tgt-len 2 --steps 1 %s",
               methods[i].args);
    }
}

/* ------------------------------------------------------------ run directories */

/* A finished run (tiny backbone, 1 step), made once; NULL if it failed. */
static const char *finished_run(void) {
    static int done, ok;
    const char *run = tmp("run_done");
    if (!done) {
        done = 1;
        const char *data = tmp("run_data.jsonl");
        FILE *f = fopen(data, "w");
        for (int i = 0; i < 8; i++)
            fprintf(f, "{\"source\": \"review: film %d was %s\", \"target\": \"%s\"}\n", i,
                    i % 2 ? "bad" : "good", i % 2 ? "no" : "yes");
        fclose(f);
        char *log = NULL;
        int rc = lst_test_run(&log,
                              "train --model '%s' --task custom --train '%s' --valid '%s' --out '%s' --r 4 "
                              "--epochs 1 --batch 4 --eval-batch 8 --warmup 1 --fisher-samples 2 "
                              "--gen-validation 2 --max-steps 1 --quiet",
                              tiny(), data, data, run);
        CHECK(rc == 0, "training the fixture run: %s", log ? log : "");
        free(log);
        ok = rc == 0;
    }
    return ok ? run : NULL;
}

TEST(robust_run_directories) {
    if (!finished_run()) return;
    char run[600];
    snprintf(run, sizeof run, "%s", finished_run());
    /* eval / predict on a run without side.safetensors (unfinished) */
    const char *nos = tmp("run_noside");
    sh("cp -r '%s' '%s'", run, nos);
    sh("rm '%s/side.safetensors'%s", nos, "");
    expect(__LINE__, 1, "run_noside/side.safetensors", NULL, "eval --run '%s'", nos);
    expect(__LINE__, 1, "has the run finished?", NULL, "predict --run '%s' < /dev/null", nos);
    /* side weights truncated */
    const char *cut = tmp("run_cut");
    sh("cp -r '%s' '%s'", run, cut);
    sh("truncate -s 1000 '%s/side.safetensors'%s", cut, "");
    expect(__LINE__, 1, "run_cut/side.safetensors", NULL, "eval --run '%s' --split validation", cut);
    /* run.json corrupt, or naming a model that is gone */
    const char *bad = tmp("run_badjson");
    sh("cp -r '%s' '%s'", run, bad);
    char p[800];
    snprintf(p, sizeof p, "%s/run.json", bad);
    put_str(p, "{\"version\": 1, \"model\": ");
    expect(__LINE__, 1, "run_badjson/run.json", NULL, "eval --run '%s'", bad);
    expect(__LINE__, 1, "run_badjson/run.json", NULL, "train --resume '%s'", bad);
    /* --resume on a directory that holds no run */
    const char *empty = tmp("run_empty");
    sh("mkdir -p '%s'%s", empty, "");
    expect(__LINE__, 1, "run_empty/run.json", NULL, "train --resume '%s' --quiet", empty);
    /* a new run into a directory that already holds one */
    expect(__LINE__, 1, "already holds a run", NULL,
           "train --model '%s' --task custom --train x.jsonl --valid x.jsonl --out '%s' --quiet", tiny(), run);
    /* predict: invalid UTF-8 on stdin line 2 (line 1 is answered) */
    const char *in = tmp("predict_in.txt");
    put_str(in, "review: film 1 was good\nreview: \xc3\x28\n");
    expect(__LINE__, 1, "stdin line 2: invalid UTF-8", NULL, "predict --run '%s' --gen-length 2 < '%s'", run, in);
    expect(__LINE__, 2, "--gen-length: 0 is outside", NULL, "eval --run '%s' --gen-length 0", run);
}

/* ------------------------------------------------------------ fuzzer findings */

/* fuzz/fuzz_batch: a failed lst_st_open kept f->path (and, past the mmap,
 * the mapping and tensor table) for a lst_st_close that no caller made:
 * every refused batch, model, side or checkpoint file leaked. The reader now
 * releases everything itself; the CLI cases above run leak-checked under
 * `make sanitize`. */
TEST(robust_st_open_failure_releases) {
    const char *files[] = {"st_missing.safetensors", "st_empty.safetensors", "st_badjson.safetensors",
                           "st_overlap.safetensors"};
    put(tmp(files[1]), "", 0);
    put(tmp(files[2]), "\x08\x00\x00\x00\x00\x00\x00\x00{\"a\": 1", 15);
    const char hdr[] = "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                       "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}";
    unsigned char buf[256] = {sizeof hdr - 1};
    memcpy(buf + 8, hdr, sizeof hdr - 1);
    put(tmp(files[3]), buf, 8 + sizeof hdr - 1 + 3);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        lst_st_file_t f;
        lst_err_t err = {{0}};
        CHECK(lst_st_open(&f, tmp(files[i]), &err) != 0, "%s opened", files[i]);
        CHECK(strstr(err.msg, files[i]), "message lacks the file: %s", err.msg);
        CHECK(f.path == NULL && f.map == NULL && f.tensors == NULL && f.n == 0,
              "%s: a failed open kept its resources", files[i]);
        lst_st_close(&f); /* still safe */
    }
}
