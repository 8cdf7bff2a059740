/* test_dump_errors.c: `lst dump` on malformed models and batches: each is
 * refused with a message naming the problem, a non-zero exit, and no
 * output file left behind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/io/safetensors.h"
#include "test.h"

static const char *SRC = "tests/data/t5-tiny-relu";

/* Copies the relu checkpoint into tmp/<name>/ leaving out tensor `drop` and
 * (if cfg_json) writing that config.json instead of the original. */
static void make_model(const char *name, const char *drop, const char *cfg_json) {
    char dir[512], path[600], cmd[1400];
    snprintf(dir, sizeof dir, "%s/%s", lst_test_tmpdir(), name);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/config.json %s/model.safetensors %s/", dir,
             SRC, SRC, dir);
    CHECK(system(cmd) == 0, "copy failed");
    if (cfg_json) {
        snprintf(path, sizeof path, "%s/config.json", dir);
        FILE *f = fopen(path, "w");
        fputs(cfg_json, f);
        fclose(f);
    }
    if (!drop) return;
    lst_st_file_t in = {0};
    lst_err_t err;
    snprintf(path, sizeof path, "%s/model.safetensors", SRC);
    CHECK(lst_st_open(&in, path, &err) == 0, "%s", err.msg);
    lst_st_out_t *outs = calloc(in.n, sizeof *outs);
    int n = 0;
    for (int i = 0; i < in.n; i++) {
        if (!strcmp(in.tensors[i].name, drop)) continue;
        outs[n].name = in.tensors[i].name;
        outs[n].dtype = in.tensors[i].dtype;
        outs[n].ndim = in.tensors[i].ndim;
        memcpy(outs[n].shape, in.tensors[i].shape, sizeof outs[n].shape);
        outs[n].data = in.tensors[i].data;
        n++;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(lst_st_write(path, outs, n, &err) == 0, "%s", err.msg);
    free(outs);
    lst_st_close(&in);
}

/* Runs dump and expects failure mentioning `needle` and no output file. */
static void expect_fail(const char *model_dir, const char *batch, const char *needle, int line) {
    char out[512], *log = NULL;
    snprintf(out, sizeof out, "%s/out_%d.safetensors", lst_test_tmpdir(), line);
    int rc = lst_test_run(&log, "dump --model %s --batch %s --out %s", model_dir, batch, out);
    CHECK(rc == 1, "line %d: exit %d, wanted 1: %s", line, rc, log ? log : "");
    CHECK(log && strstr(log, needle), "line %d: message lacks '%s': %s", line, needle, log ? log : "");
    CHECK(log && strstr(log, "lst dump:"), "line %d: message not prefixed: %s", line, log ? log : "");
    CHECK(!lst_test_file_exists(out), "line %d: output file left behind", line);
    free(log);
}

static char *tmp(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", lst_test_tmpdir(), name);
    return buf[k];
}

TEST(dump_rejects_missing_tensor) {
    make_model("m_missing", "encoder.block.1.layer.0.SelfAttention.k.weight", NULL);
    expect_fail(tmp("m_missing"), "tests/data/t5-tiny-relu/batch.safetensors",
                "encoder.block.1.layer.0.SelfAttention.k.weight", __LINE__);
}

TEST(dump_rejects_config_that_disagrees_with_weights) {
    make_model("m_dff", NULL,
               "{\"d_model\": 64, \"d_ff\": 128, \"d_kv\": 16, \"num_heads\": 4, \"num_layers\": 3,"
               " \"vocab_size\": 512, \"feed_forward_proj\": \"relu\"}");
    expect_fail(tmp("m_dff"), "tests/data/t5-tiny-relu/batch.safetensors", "DenseReluDense.wi.weight",
                __LINE__);
    make_model("m_vocab", NULL,
               "{\"d_model\": 64, \"d_ff\": 192, \"d_kv\": 16, \"num_heads\": 4, \"num_layers\": 3,"
               " \"vocab_size\": 600}");
    expect_fail(tmp("m_vocab"), "tests/data/t5-tiny-relu/batch.safetensors", "vocab_size", __LINE__);
    make_model("m_layers", NULL,
               "{\"d_model\": 64, \"d_ff\": 192, \"d_kv\": 16, \"num_heads\": 4, \"num_layers\": 4,"
               " \"vocab_size\": 512}");
    expect_fail(tmp("m_layers"), "tests/data/t5-tiny-relu/batch.safetensors", "encoder.block.3", __LINE__);
}

TEST(dump_rejects_bad_files) {
    char cmd[1200];
    make_model("m_trunc", NULL, NULL);
    snprintf(cmd, sizeof cmd, "truncate -s 100000 %s/model.safetensors", tmp("m_trunc"));
    CHECK(system(cmd) == 0, "truncate");
    expect_fail(tmp("m_trunc"), "tests/data/t5-tiny-relu/batch.safetensors", "m_trunc/model.safetensors",
                __LINE__);
    make_model("m_json", NULL, "{\"d_model\": 64,,}");
    expect_fail(tmp("m_json"), "tests/data/t5-tiny-relu/batch.safetensors", "config.json", __LINE__);
    expect_fail(tmp("no_such_model"), "tests/data/t5-tiny-relu/batch.safetensors", "no_such_model",
                __LINE__);
    expect_fail(SRC, tmp("no_such_batch.safetensors"), "no_such_batch", __LINE__);
}

/* Writes a batch with the given input ids (one row of 4) and labels. */
static void make_batch(const char *name, const int64_t *ids, const int64_t *labels,
                       const int64_t *mask) {
    lst_st_out_t t[3] = {{"input_ids", LST_DT_I64, 2, {1, 4}, ids},
                         {"labels", LST_DT_I64, 2, {1, 4}, labels},
                         {"attention_mask", LST_DT_I64, 2, {1, 4}, mask}};
    lst_err_t err;
    CHECK(lst_st_write(tmp(name), t, mask ? 3 : 2, &err) == 0, "%s", err.msg);
}

TEST(dump_rejects_bad_batches) {
    int64_t ok[4] = {5, 6, 7, 1}, big[4] = {5, 600, 7, 1}, neg[4] = {5, -3, 7, 1};
    int64_t badlab[4] = {3, 512, -100, -100}, mask2[4] = {1, 1, 2, 0};
    make_batch("b_big.safetensors", big, ok, NULL);
    expect_fail(SRC, tmp("b_big.safetensors"), "input_ids[0][1] = 600", __LINE__);
    make_batch("b_neg.safetensors", neg, ok, NULL);
    expect_fail(SRC, tmp("b_neg.safetensors"), "input_ids[0][1] = -3", __LINE__);
    make_batch("b_lab.safetensors", ok, badlab, NULL);
    expect_fail(SRC, tmp("b_lab.safetensors"), "labels[0][1] = 512", __LINE__);
    make_batch("b_mask.safetensors", ok, ok, mask2);
    expect_fail(SRC, tmp("b_mask.safetensors"), "attention_mask", __LINE__);
    /* A model file is not a batch. */
    expect_fail(SRC, "tests/data/t5-tiny-relu/model.safetensors", "input_ids", __LINE__);
}

TEST(dump_derives_decoder_inputs_from_labels) {
    /* Labels alone: decoder_input_ids = labels shifted right (start 0). The
     * golden batch without decoder_input_ids must give the same logits. */
    int64_t ids[4] = {5, 6, 7, 1}, lab[4] = {8, 9, 1, -100};
    make_batch("b_lab_only.safetensors", ids, lab, NULL);
    char *log = NULL;
    int rc = lst_test_run(&log, "dump --model %s --batch %s --out %s", SRC,
                          tmp("b_lab_only.safetensors"), tmp("d_lab_only.safetensors"));
    CHECK(rc == 0, "dump failed: %s", log ? log : "");
    free(log);
    lst_st_out_t t[3] = {{"input_ids", LST_DT_I64, 2, {1, 4}, ids},
                         {"labels", LST_DT_I64, 2, {1, 4}, lab},
                         {"decoder_input_ids", LST_DT_I64, 2, {1, 4}, (int64_t[]){0, 8, 9, 1}}};
    lst_err_t err;
    CHECK(lst_st_write(tmp("b_explicit.safetensors"), t, 3, &err) == 0, "%s", err.msg);
    rc = lst_test_run(NULL, "dump --model %s --batch %s --out %s", SRC,
                      tmp("b_explicit.safetensors"), tmp("d_explicit.safetensors"));
    CHECK(rc == 0, "dump failed");
    lst_st_file_t a = {0}, b = {0};
    if (lst_st_open(&a, tmp("d_lab_only.safetensors"), &err) == 0 &&
        lst_st_open(&b, tmp("d_explicit.safetensors"), &err) == 0) {
        const lst_st_tensor_t *la = lst_st_find(&a, "logits"), *lb = lst_st_find(&b, "logits");
        CHECK(la && lb && la->nbytes == lb->nbytes && !memcmp(la->data, lb->data, la->nbytes),
              "logits differ");
    } else {
        CHECK(0, "%s", err.msg);
    }
    lst_st_close(&a);
    lst_st_close(&b);
}

TEST(dump_usage_errors) {
    char *log = NULL;
    int rc = lst_test_run(&log, "dump --model %s --batch x", SRC);
    CHECK(rc == 2 && log && strstr(log, "--out"), "missing --out: %d %s", rc, log ? log : "");
    free(log);
    rc = lst_test_run(&log, "dump --model %s --batch x --out y --bogus 1", SRC);
    CHECK(rc == 2 && log && strstr(log, "--bogus"), "unknown option: %d", rc);
    free(log);
    rc = lst_test_run(&log, "frobnicate");
    CHECK(rc == 2 && log && strstr(log, "frobnicate"), "unknown command: %d", rc);
    free(log);
}

TEST(dump_out_dir_missing) {
    char *log = NULL;
    int rc = lst_test_run(&log, "dump --model %s --batch %s/batch.safetensors --out %s/nope/dir/o.safetensors",
                          SRC, SRC, lst_test_tmpdir());
    CHECK(rc == 1 && log && strstr(log, "nope/dir"), "exit %d: %s", rc, log ? log : "");
    free(log);
}
