/* test_hf_layouts.c: checkpoints as Hugging Face users bring them, each
 * with its documented result (issue 17): stray tensors named as unused, an
 * encoder-only or quantized config refused from config.json alone by plan,
 * params and train, a tokenizer that does not belong to the model refused
 * (mT5-sized vocabulary, another end of sequence, a BPE tokenizer without
 * spiece.model), each with its reason. Sharded and bin-only layouts are in
 * test_shards.c, sentinels in test_tokenizer.c. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/fileio.h"
#include "../src/io/safetensors.h"
#include "test.h"

static char *tmp(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/hf_%s", lst_test_tmpdir(), name);
    return buf[k];
}

/* t5-tiny (the real 32128-row vocabulary) and a small task, once. */
static int base(void) {
    static int done = 0, ok = 0;
    if (done) return ok;
    done = 1;
    char *log = NULL;
    int rc = lst_test_run(&log, "init --preset t5-tiny --out %s --seed 4", tmp("tiny"));
    CHECK(rc == 0, "init: %s", log ? log : "");
    free(log);
    FILE *f = fopen(tmp("task.jsonl"), "w");
    for (int i = 0; f && i < 16; i++)
        fprintf(f, "{\"source\": \"review: it was %s\", \"target\": \"%s\"}\n", i % 2 ? "bad" : "good",
                i % 2 ? "no" : "yes");
    if (f) fclose(f);
    ok = rc == 0 && f;
    return ok;
}

/* A copy of the tiny model as dir `name`, its config.json's top-level keys
 * set from json_edit (an object; NULL: unchanged), plus extra tensors
 * (names, each [2, 3] zeros; NULL-terminated) in a second shard-free file
 * rewrite. */
static const char *variant(const char *name, const char *json_edit, const char *const *extra) {
    const char *dir = tmp(name);
    char cmd[2000], path[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s && cp -r %s %s", dir, tmp("tiny"), dir);
    CHECK(system(cmd) == 0, "%s", cmd);
    lst_err_t err;
    if (json_edit) {
        snprintf(path, sizeof path, "%s/config.json", dir);
        char *text = lst_read_file(path, 1 << 20, NULL, &err);
        cJSON *c = text ? cJSON_Parse(text) : NULL, *e = cJSON_Parse(json_edit), *it;
        CHECK(c && e, "config edit %s", json_edit);
        cJSON_ArrayForEach(it, e) {
            cJSON_DeleteItemFromObjectCaseSensitive(c, it->string);
            cJSON_AddItemToObject(c, it->string, cJSON_Duplicate(it, 1));
        }
        char *out = cJSON_Print(c);
        CHECK(out && lst_write_atomic(path, out, strlen(out), &err) == 0, "write %s", path);
        free(out);
        free(text);
        cJSON_Delete(c);
        cJSON_Delete(e);
    }
    if (extra) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        lst_st_file_t in = {0};
        CHECK(lst_st_open(&in, path, &err) == 0, "%s", err.msg);
        int n_extra = 0;
        while (extra[n_extra]) n_extra++;
        lst_st_out_t *o = calloc((size_t)in.n + n_extra, sizeof *o);
        static const float zeros[6];
        for (int i = 0; i < in.n; i++) {
            o[i] = (lst_st_out_t){.name = in.tensors[i].name, .dtype = in.tensors[i].dtype,
                                  .ndim = in.tensors[i].ndim, .data = in.tensors[i].data};
            memcpy(o[i].shape, in.tensors[i].shape, sizeof o[i].shape);
        }
        for (int i = 0; i < n_extra; i++)
            o[in.n + i] = (lst_st_out_t){.name = extra[i], .dtype = LST_DT_F32, .ndim = 2,
                                         .shape = {2, 3}, .data = zeros};
        char out[720];
        snprintf(out, sizeof out, "%s.new", path);
        CHECK(lst_st_write(out, o, in.n + n_extra, &err) == 0, "%s", err.msg);
        lst_st_close(&in);
        free(o);
        CHECK(rename(out, path) == 0, "rename %s", out);
    }
    return dir;
}

/* `lst train` on dir: exit status, output in *log. */
static int train(const char *dir, const char *extra, char **log) {
    return lst_test_run(log, "train --model %s --task custom --train %s --valid %s --max-steps 1 "
                        "--batch 4 --init magnitude --out %s/run %s", dir, tmp("task.jsonl"),
                        tmp("task.jsonl"), dir, extra ? extra : "");
}

static void expect_refused(const char *dir, const char *needle, int line) {
    static const char *const cmds[3] = {"train", "plan", "params"};
    for (int k = 0; k < 3; k++) {
        char *log = NULL;
        int rc = k == 0 ? train(dir, NULL, &log)
                 : k == 1 ? lst_test_run(&log, "plan --model %s --batch 2 --src-len 8 --tgt-len 2", dir)
                          : lst_test_run(&log, "params --model %s --method lst", dir);
        CHECK(rc != 0 && log && strstr(log, needle), "line %d: lst %s on %s: exit %d, wanted the "
              "reason '%s': %s", line, cmds[k], dir, rc, needle, log ? log : "");
        free(log);
    }
}

TEST(hf_layout_stray_tensors_named_unused) {
    if (!base()) return;
    static const char *const extra[] = {"lm_head.weight",
                                        "encoder.block.0.layer.0.SelfAttention.q.lora_A.weight", NULL};
    const char *dir = variant("stray", NULL, extra); /* t5-tiny is tied: its head is shared */
    char *log = NULL;
    int rc = train(dir, NULL, &log);
    CHECK(rc == 0 && log && strstr(log, "note: 2 tensors of") && strstr(log, "lm_head.weight") &&
              strstr(log, "lora_A.weight"),
          "stray tensors not reported: %d %s", rc, log ? log : "");
    CHECK(log && strstr(log, "rows 32100-32127"), "the dropped vocabulary rows are not named: %s",
          log ? log : "");
    free(log);
}

TEST(hf_layout_encoder_only_refused_from_config) {
    if (!base()) return;
    expect_refused(variant("enc_only", "{\"architectures\": [\"T5EncoderModel\"]}", NULL),
                   "encoder-only T5 (T5EncoderModel)", __LINE__);
    expect_refused(variant("enc_flag", "{\"is_encoder_decoder\": false}", NULL), "encoder-only",
                   __LINE__);
}

TEST(hf_layout_quantized_config_refused) {
    if (!base()) return;
    expect_refused(variant("quant", "{\"quantization_config\": {\"quant_method\": \"bitsandbytes\", "
                                    "\"load_in_8bit\": true}}", NULL),
                   "quantized (quantization_config, quant_method \"bitsandbytes\")", __LINE__);
}

TEST(hf_layout_foreign_tokenizer_refused) {
    if (!base()) return;
    char *log = NULL;
    /* mT5's vocabulary with T5's tokenizer (refused before any weight is read) */
    int rc = train(variant("mt5", "{\"vocab_size\": 250112}", NULL), NULL, &log);
    CHECK(rc != 0 && log && strstr(log, "250112 vocabulary rows") && strstr(log, "not this model's tokenizer"),
          "mT5-sized vocabulary: %d %s", rc, log ? log : "");
    free(log);
    rc = train(variant("eos", "{\"eos_token_id\": 2}", NULL), NULL, &log);
    CHECK(rc != 0 && log && strstr(log, "eos_token_id is 2"), "another EOS: %d %s", rc, log ? log : "");
    free(log);
    /* CodeT5's layout: a BPE tokenizer and no spiece.model */
    const char *dir = variant("bpe", NULL, NULL);
    char path[700];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    lst_err_t err;
    CHECK(lst_write_atomic(path, "{}", 2, &err) == 0, "%s", err.msg);
    rc = train(dir, NULL, &log);
    CHECK(rc == 2 && log && strstr(log, "has vocab.json but no spiece.model"), "BPE tokenizer: %d %s", rc,
          log ? log : "");
    free(log);
    /* --spm overrides: the same model trains with the T5 tokenizer given */
    rc = train(dir, "--spm data/t5/spiece.model", &log);
    CHECK(rc == 0, "--spm given: %d %s", rc, log ? log : "");
    free(log);
}
