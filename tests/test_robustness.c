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
#include <sys/wait.h>

#include "../src/io/model_pair.h"
#include "../src/io/safetensors.h"
#include "../src/io/tokenizer.h"
#include "../src/train/data.h"
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

/* ------------------------------------------------------------ issue 12: options, outputs, special files */

/* Like expect, but fmt is a shell fragment run as "( fragment ) 2>&1" with
 * $LST the lst binary, for redirections, ulimit and timeouts; cmd names
 * the subcommand for the "lst <cmd>:" prefix. */
static void expect_sh(int line, int code, const char *needle, const char *out, const char *cmd,
                      const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void expect_sh(int line, int code, const char *needle, const char *out, const char *cmd,
                      const char *fmt, ...) {
    char frag[4096], full[4300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(frag, sizeof frag, fmt, ap);
    va_end(ap);
    setenv("LST", lst_test_bin(), 1);
    snprintf(full, sizeof full, "( %s ) 2>&1", frag);
    FILE *p = popen(full, "r");
    CHECK(p != NULL, "line %d: popen", line);
    if (!p) return;
    char log[16384];
    size_t n = fread(log, 1, sizeof log - 1, p);
    log[n] = 0;
    int st = pclose(p);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    CHECK(rc != 124, "line %d: hung (killed by timeout): %s", line, log);
    CHECK(rc < 128, "line %d: killed (status %d): %s", line, rc, log);
    CHECK(rc == code, "line %d: exit %d, wanted %d: %s", line, rc, code, log);
    CHECK(strstr(log, needle), "line %d: message lacks '%s': %s", line, needle, log);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "lst %s:", cmd);
    CHECK(strstr(log, prefix), "line %d: no '%s' prefix: %s", line, prefix, log);
    CHECK(!strstr(log, "Sanitizer") && !strstr(log, "runtime error"), "line %d: sanitizer report: %s",
          line, log);
    if (out) {
        CHECK(!lst_test_file_exists(out), "line %d: %s left behind", line, out);
        char dir[600];
        snprintf(dir, sizeof dir, "%s", out);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        CHECK(!has_tmp_file(dir), "line %d: a *.tmp.* file left in %s", line, dir);
    }
}

/* 7: --checkpoint-every 2147483648 was stored in an int (negative) and
 * 4294967297 became 1; every integer option of every command is checked
 * against the type it is stored in. */
TEST(robust_int_options_fit_their_type) {
    const char *out = tmp("run_int"), *m = tiny();
    const char *train_cases[] = {"--checkpoint-every 2147483648", "--checkpoint-every 4294967297",
                                 "--epochs 4294967297", "--batch 4294967297", "--warmup 4294967296",
                                 "--r 4294967297", "--max-source-length 4294967298",
                                 "--fisher-samples 4294967297", "--gen-validation 4294967297",
                                 "--seed 18446744073709551617", "--max-steps 9223372036854775808"};
    for (size_t i = 0; i < sizeof train_cases / sizeof train_cases[0]; i++)
        expect(__LINE__ + (int)i * 1000, 2, "--", out, "train --model '%s' --task sst2 --data /nonexistent/glue --out '%s' %s --quiet",
               m, out, train_cases[i]);
    expect(__LINE__, 2, "--checkpoint-every: 2147483648 is outside [1, 2147483647]", out,
           "train --model '%s' --task sst2 --data /nonexistent/glue --out '%s' --checkpoint-every 2147483648", m, out);
    expect(__LINE__, 2, "--lora-rank: 4294967297 is outside", out,
           "train --model '%s' --task sst2 --data /nonexistent/glue --out '%s' --method lora --lora-rank 4294967297", m, out);
    expect(__LINE__, 2, "--gen-length: 4294967297 is outside", NULL, "eval --run nowhere --gen-length 4294967297");
    expect(__LINE__, 2, "--gen-length: 4294967297 is outside", NULL,
           "predict --run nowhere --gen-length 4294967297 < /dev/null");
    expect(__LINE__, 2, "--batch: 4294967297 is outside", NULL,
           "plan --model t5-tiny --batch 4294967297 --src-len 8 --tgt-len 2");
    expect(__LINE__, 2, "--steps: 4294967297 is outside", NULL,
           "bench --model t5-tiny --batch 1 --src-len 8 --tgt-len 2 --steps 4294967297");
    expect(__LINE__, 2, "--adapter-dim: 4294967297 is outside", NULL,
           "plan --model t5-tiny --batch 1 --src-len 8 --tgt-len 2 --method adapters --adapter-dim 4294967297");
    expect(__LINE__, 2, "--r: 4294967297 is outside", NULL, "params --model t5-tiny --method lst --r 4294967297");
    expect(__LINE__, 2, "--seed: 4294967297 is outside", tmp("int_dump.safetensors"),
           "dump --model %s --batch %s --side-config tests/data/t5-tiny-relu/lst_golden.json --seed 4294967297 "
           "--out '%s'", SRC, BATCH, tmp("int_dump.safetensors"));
    expect(__LINE__, 2, "--seed: '99999999999999999999' is not an integer", tmp("init_int"),
           "init --preset t5-tiny --out '%s' --seed 99999999999999999999", tmp("init_int"));
    /* compare checks with lst train's own ranges instead of failing each child */
    expect(__LINE__, 2, "--epochs: 4294967297 is outside", tmp("cmp_int"),
           "compare --model '%s' --task sst2 --data /nonexistent/glue --methods lst --out '%s' --epochs 4294967297", m, tmp("cmp_int"));
    expect(__LINE__, 2, "--r: 2000 is outside", tmp("cmp_int"),
           "compare --model '%s' --task sst2 --data /nonexistent/glue --methods lst --out '%s' --r 2000", m, tmp("cmp_int"));
    /* no sign but '-', no spaces: strtol took both */
    expect(__LINE__, 2, "--epochs: '+5' is not an integer", out,
           "train --model '%s' --task sst2 --data /nonexistent/glue --out '%s' --epochs +5", m, out);
    expect(__LINE__, 2, "--epochs: ' 5' is not an integer", out,
           "train --model '%s' --task sst2 --data /nonexistent/glue --out '%s' --epochs ' 5'", m, out);
}

/* 8: --max-memory 0.5 meant "no limit" (0 bytes). */
TEST(robust_max_memory_whole_bytes) {
    const char *out = tmp("run_mem"), *m = tiny();
    const char *bad[] = {"0.5", "0", "0.1K", "-1G", "1T", "G", "1.5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect(__LINE__ + (int)i * 1000, 2, "--max-memory", out,
               "train --model '%s' --task sst2 --data /nonexistent/glue --out '%s' --max-memory '%s'", m, out, bad[i]);
    expect(__LINE__, 2, "whole number of bytes, at least 1", out,
           "train --model '%s' --task sst2 --data /nonexistent/glue --out '%s' --max-memory 0.5", m, out);
    /* accepted sizes go on to the run (here: no GLUE data, exit 1) */
    const char *good[] = {"1.5K", "4g", "512M", "100000"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        expect(__LINE__ + (int)i * 1000, 1, "SST-2", out,
               "train --model '%s' --task sst2 --data /nonexistent/glue --out '%s' --max-memory %s --quiet", m,
               out, good[i]);
}

/* 9: predict and eval exited 0 with their output lost; main now closes
 * stdout for every command. */
TEST(robust_stdout_errors) {
    const char *run = finished_run();
    if (run) {
        const char *in = tmp("full_in.txt");
        put_str(in, "review: film 1 was good\nreview: film 2 was bad\n");
        expect_sh(__LINE__, 1, "error writing stdout", NULL, "predict",
                  "\"$LST\" predict --run '%s' --gen-length 2 < '%s' > /dev/full", run, in);
        expect_sh(__LINE__, 1, "error writing stdout", NULL, "eval",
                  "\"$LST\" eval --run '%s' --split validation --gen-length 2 > /dev/full", run);
        expect_sh(__LINE__, 1, "stdin is a directory", NULL, "predict",
                  "\"$LST\" predict --run '%s' --gen-length 2 < '%s'", run, lst_test_tmpdir());
    }
    expect_sh(__LINE__, 1, "error writing stdout", NULL, "plan",
              "\"$LST\" plan --model t5-tiny --batch 2 --src-len 8 --tgt-len 2 > /dev/full");
    expect_sh(__LINE__, 1, "error writing stdout", NULL, "params",
              "\"$LST\" params --model t5-tiny --method lst > /dev/full");
    expect_sh(__LINE__, 1, "error writing stdout", NULL, "init",
              "\"$LST\" init --preset t5-tiny --out '%s' > /dev/full", tmp("init_full"));
    expect_sh(__LINE__, 1, "error writing stdout", NULL, "tokenize",
              "echo hello | \"$LST\" tokenize --spm data/t5/spiece.model > /dev/full");
    expect_sh(__LINE__, 1, "stdin is a directory", NULL, "tokenize",
              "\"$LST\" tokenize --spm data/t5/spiece.model < '%s'", lst_test_tmpdir());
    expect_sh(__LINE__, 1, "error writing stdout", NULL, "help", "\"$LST\" --help > /dev/full");
}

/* 10: under ulimit -f, SIGXFSZ killed lst (exit 153) and left *.tmp.*
 * files; now the write fails with EFBIG, is reported, and the writer
 * removes its temporary file. */
TEST(robust_file_size_limit) {
    const char *out = tmp("xfsz/dump.safetensors");
    sh("mkdir -p '%s/robust/xfsz'%s", lst_test_tmpdir(), "");
    expect_sh(__LINE__, 1, "File too large", out, "dump",
              "ulimit -f 64; \"$LST\" dump --model %s --batch %s --out '%s'", SRC, BATCH, out);
    const char *init = tmp("xfsz/init");
    expect_sh(__LINE__, 1, "File too large", NULL, "init",
              "ulimit -f 64; \"$LST\" init --preset t5-tiny --out '%s'", init);
    char probe[700];
    snprintf(probe, sizeof probe, "%s/model.safetensors", init);
    CHECK(!lst_test_file_exists(probe), "%s written past the limit", probe);
    CHECK(!has_tmp_file(init), "a *.tmp.* file left in %s", init);
}

/* 11: a FIFO (or another non-regular file) as any input blocked forever in
 * open(); each reader now refuses it. The timeout turns a hang into a
 * failure instead of a stuck suite. */
TEST(robust_fifo_inputs) {
    char fifo[600]; /* tmp()'s buffers rotate */
    snprintf(fifo, sizeof fifo, "%s", tmp("fifo.jsonl"));
    remove(fifo);
    sh("mkfifo '%s'%s", fifo, "");
    /* the model's two files, each in turn a FIFO */
    const char *files[] = {"model.safetensors", "config.json"};
    for (int i = 0; i < 2; i++) {
        const char *dir = copy_model(i ? "fifo_cfg" : "fifo_st");
        char p[700];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        remove(p);
        sh("mkfifo '%s'%s", p, "");
        expect_sh(__LINE__ + i * 1000, 1, "is a FIFO, not a regular file", tmp("fifo_out.safetensors"),
                  "dump", "timeout 20 \"$LST\" dump --model '%s' --batch %s --out '%s'", dir, BATCH,
                  tmp("fifo_out.safetensors"));
        expect_sh(__LINE__ + i * 1000, 1, "is a FIFO", NULL, "params",
                  "timeout 20 \"$LST\" params --model '%s' --method lst", dir);
    }
    expect_sh(__LINE__, 1, "is a FIFO, not a regular file", tmp("fifo_out.safetensors"), "dump",
              "timeout 20 \"$LST\" dump --model %s --batch '%s' --out '%s'", SRC, fifo, tmp("fifo_out.safetensors"));
    expect_sh(__LINE__, 1, "is a FIFO", tmp("fifo_out.safetensors"), "dump",
              "timeout 20 \"$LST\" dump --model %s --batch %s --side-config '%s' --out '%s'", SRC, BATCH, fifo,
              tmp("fifo_out.safetensors"));
    expect_sh(__LINE__, 1, "is a FIFO", NULL, "tokenize",
              "timeout 20 \"$LST\" tokenize --spm '%s' < /dev/null", fifo);
    const char *data = tmp("fifo_data.jsonl");
    put_str(data, "{\"source\": \"a\", \"target\": \"b\"}\n");
    const char *out = tmp("run_fifo");
    expect_sh(__LINE__, 1, "is a FIFO", out, "train",
              "timeout 20 \"$LST\" train --model '%s' --task custom --train '%s' --valid '%s' --out '%s' --quiet",
              tiny(), fifo, data, out);
    expect_sh(__LINE__, 1, "is a FIFO", out, "train",
              "timeout 20 \"$LST\" train --model '%s' --task custom --train '%s' --valid '%s' --out '%s' --quiet",
              tiny(), data, fifo, out);
    expect_sh(__LINE__, 1, "is a FIFO", out, "train",
              "timeout 20 \"$LST\" train --model '%s' --task custom --train '%s' --valid '%s' --spm '%s' --out '%s' "
              "--quiet", tiny(), data, data, fifo, out);
    /* a directory read as a file says so */
    sh("mkdir -p '%s/config.json'%s", tmp("fifo_dirs"), "");
    expect_sh(__LINE__, 1, "is a directory, not a regular file", NULL, "params",
              "\"$LST\" params --model '%s' --method lst", tmp("fifo_dirs"));
}

/* 17: bad options gave exit 1 when they were checked only after the run
 * or model was opened (or by the side network). */
TEST(robust_options_before_opening) {
    const char *out = tmp("run_opts17"), *m = tiny();
    expect(__LINE__, 2, "unknown task 'foo'", out, "train --model '%s' --task foo --out '%s'", m, out);
    expect(__LINE__, 2, "layer 1 is given twice", out,
           "train --model '%s' --task sst2 --data /nonexistent/glue --out '%s' --side-layers 1,1", m, out);
    expect(__LINE__, 2, "layer 0 comes after a higher one", out,
           "train --model '%s' --task sst2 --data /nonexistent/glue --out '%s' --encoder-side-layers 1,0", m, out);
    expect(__LINE__, 2, "side layer 4 is outside the backbone's 0..3", out, "train --model '%s' --task sst2 --data /nonexistent/glue --out '%s' --decoder-side-layers 0,4", m,
           out);
    expect(__LINE__, 2, "--gen-length: 0 is outside", NULL, "eval --run '%s' --gen-length 0", tmp("no_run"));
    expect(__LINE__, 2, "--gen-length: 0 is outside", NULL, "predict --run '%s' --gen-length 0 < /dev/null",
           tmp("no_run"));
    expect(__LINE__, 2, "unknown method 'foo'", NULL, "params --model '%s' --method foo", tmp("no_model"));
    expect(__LINE__, 2, "side layer 4 is outside", NULL, "params --model t5-tiny --method lst --side-layers 2,4");
    expect(__LINE__, 2, "layer 2 is given twice", NULL,
           "plan --model t5-tiny --batch 1 --src-len 8 --tgt-len 2 --side-layers 2,2");
    expect(__LINE__, 2, "--seed: 'x' is not an integer", NULL,
           "dump --model '%s' --batch x --side-config y --seed x --out z", tmp("no_model"));
    expect(__LINE__, 2, "--side needs --side-config", NULL, "dump --model '%s' --batch x --side s --out z",
           tmp("no_model"));
    expect(__LINE__, 2, "unknown task 'foo'", tmp("cmp17"),
           "compare --model '%s' --task foo --methods lst --out '%s'", m, tmp("cmp17"));
    expect(__LINE__, 2, "layer 3 is given twice", tmp("cmp17"),
           "compare --model '%s' --task sst2 --data /nonexistent/glue --methods lst --out '%s' --side-layers 3,3", m, tmp("cmp17"));
}

/* 18: num_heads = d_kv = 2147483647 reported "18446734315544038656 floats":
 * config validation now bounds every tensor a config implies, so no size
 * downstream can overflow, and names the keys. */
TEST(robust_config_sizes_overflow) {
    static const struct {
        const char *edit, *needle;
    } cases[] = {
        {"c['num_heads'] = c['d_kv'] = 2147483647", "key 'd_kv' is 2147483647, more than the 16777216"},
        {"c['num_heads'] = 65536; c['d_kv'] = 65536", "d_model x num_heads x d_kv is 64 x 4294967296"},
        {"c['d_model'] = 4096; c['d_ff'] = 1048576", "d_model x d_ff is 4096 x 1048576"},
        {"c['vocab_size'] = 16777216; c['d_model'] = 4096", "vocab_size x d_model is 16777216 x 4096"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "cfg_big%zu", i);
        const char *dir = copy_model(name);
        char cmd[1200];
        snprintf(cmd, sizeof cmd,
                 "python3 -c \"import json; p='%s/config.json'; c=json.load(open(p)); %s; "
                 "json.dump(c, open(p, 'w'))\"", dir, cases[i].edit);
        CHECK(system(cmd) == 0, "editing %s", dir);
        const char *out = tmp("big_out.safetensors");
        char *log = NULL;
        int rc = lst_test_run(&log, "dump --model '%s' --batch %s --out '%s'", dir, BATCH, out);
        CHECK(rc == 1 && log && strstr(log, cases[i].needle) && !strstr(log, "18446"),
              "case %zu: exit %d: %s", i, rc, log ? log : "");
        free(log);
        expect(__LINE__ + (int)i * 1000, 1, cases[i].needle, NULL, "params --model '%s' --method full", dir);
        expect(__LINE__ + (int)i * 1000, 1, cases[i].needle, NULL,
               "plan --model '%s' --batch 1 --src-len 4 --tgt-len 2", dir);
    }
}

/* 19: lst init wrote model.safetensors and config.json one after the
 * other; a kill between the two renames left new weights beside the old
 * config, accepted as one model. Both now carry one lst_init_id. */
TEST(robust_init_pair_consistent) {
    const char *a = tmp("pair_a"), *b = tmp("pair_b");
    char *log = NULL;
    int rc = lst_test_run(&log, "init --preset t5-tiny --out '%s' --seed 1 && %s init --preset t5-tiny --out '%s' "
                          "--seed 2", a, lst_test_bin(), b);
    CHECK(rc == 0, "init: %s", log ? log : "");
    free(log);
    log = NULL;
    CHECK(lst_test_run(&log, "params --model '%s' --method lst", a) == 0, "params: %s", log ? log : "");
    free(log);
    /* the same (config, seed) gives the same bytes, id included */
    log = NULL;
    rc = lst_test_run(&log, "init --preset t5-tiny --out '%s/again' --seed 1 && cmp '%s/again/model.safetensors' "
                      "'%s/model.safetensors' && cmp '%s/again/config.json' '%s/config.json'", a, a, a, a, a);
    CHECK(rc == 0, "init is not reproducible: %s", log ? log : "");
    free(log);
    /* the kill between the renames: seed 2's weights beside seed 1's config */
    sh("cp '%s/model.safetensors' '%s/model.safetensors'", b, a);
    expect(__LINE__, 1, "are not from the same lst init", NULL, "params --model '%s' --method lst", a);
    expect(__LINE__, 1, "pair_a/config.json and", NULL, "params --model '%s' --method lst", a);
    /* every command that loads the model refuses it, not only params */
    expect(__LINE__, 1, "are not from the same lst init", tmp("pair.st"), "dump --model '%s' --batch %s --out '%s'",
           a, BATCH, tmp("pair.st"));
    /* weights from lst init beside a config without an id (an older lst, or Hugging Face's) */
    const char *c = copy_model("pair_c");
    sh("cp '%s/model.safetensors' '%s/'", b, c);
    expect(__LINE__, 1, "lst_init_id none in the config", NULL, "params --model '%s' --method full", c);
    /* checkpoints without any id load as before */
    log = NULL;
    CHECK(lst_test_run(&log, "params --model %s --method lst", SRC) == 0, "params: %s", log ? log : "");
    free(log);
    /* the check itself, as the model loader calls it */
    lst_t5_config_t cfg;
    lst_err_t err = {{0}};
    lst_st_set_t f;
    char p[700];
    snprintf(p, sizeof p, "%s/config.json", b);
    CHECK(lst_t5_config_load(&cfg, p, &err) == 0, "%s", err.msg);
    CHECK(strlen(cfg.init_id) == 16, "config id '%s'", cfg.init_id);
    if (lst_st_set_open(&f, b, &err) == 0) {
        CHECK(lst_model_pair_check(b, &cfg, &f, &err) == 0, "%s", err.msg);
        cfg.init_id[0] ^= 1;
        CHECK(lst_model_pair_check(b, &cfg, &f, &err) != 0 && strstr(err.msg, "model.safetensors"),
              "a different id passed: %s", err.msg);
        lst_st_set_close(&f);
    }
    /* the id key is checked as any config key */
    CHECK(lst_t5_config_parse(&cfg, "{\"lst_init_id\": \"a\\\"b\"}", "cfg", &err) != 0 &&
              strstr(err.msg, "lst_init_id"), "a quote in lst_init_id passed");
}

/* A single 25 KB target made one run use 2.3 GB and 62 s for 2 steps:
 * targets are now cut to LST_MAX_TARGET_IDS ids, EOS last, like sources. */
TEST(robust_target_length_limit) {
    lst_err_t err = {{0}};
    lst_tokenizer_t *tok = lst_tokenizer_load("data/t5/spiece.model", &err);
    CHECK(tok != NULL, "%s", err.msg);
    if (!tok) return;
    char *big = malloc(25001);
    for (int i = 0; i < 25000; i++) big[i] = i % 5 == 4 ? ' ' : "abcd"[i % 5];
    big[25000] = 0;
    lst_example_t ex[2] = {{"short source", big}, {"another", "yes"}};
    lst_dataset_t ds = {ex, 2};
    lst_tokdata_t d;
    CHECK(lst_tokdata_build(&d, &ds, tok, 128, 0, &err) == 0, "%s", err.msg);
    CHECK(d.tgt_len[0] == LST_MAX_TARGET_IDS, "long target kept %d ids", d.tgt_len[0]);
    CHECK(d.tgt[0][LST_MAX_TARGET_IDS - 1] == 1, "no EOS at the cut");
    CHECK(d.tgt_len[1] == 2, "short target changed: %d ids", d.tgt_len[1]);
    CHECK(!strcmp(d.target_text[0], big), "the target text (for metrics) was cut too");
    lst_tokdata_free(&d);
    free(big);
    lst_tokenizer_free(tok);
}

/* A side config with a NUL byte was read up to the NUL (cJSON stops
 * there), so '{"r": 4}\\0garbage' passed as {"r": 4}. */
TEST(robust_side_config_nul) {
    const char *cfg = tmp("side_nul.json");
    static const char text[] = "{\"r\": 4, \"init\": \"random\"}\0garbage";
    put(cfg, text, sizeof text - 1);
    const char *out = tmp("side_nul_out.safetensors");
    expect(__LINE__, 1, "a NUL byte", out, "dump --model %s --batch %s --side-config '%s' --out '%s'", SRC, BATCH,
           cfg, out);
}
