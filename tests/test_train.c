/* test_train.c: `lst train` end to end on a small custom task with a tiny
 * random backbone: the run directory's files, reproducibility (same seed,
 * same numbers), exact resume after an interruption, eval/predict, and
 * clear errors for bad options. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/core/fileio.h"
#include "../src/io/safetensors.h"
#include "test.h"

#include <sys/stat.h>
#include <sys/wait.h>

static const char *tmp(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", lst_test_tmpdir(), name);
    return buf[k];
}

/* A tiny random checkpoint (made once) and a small two-class task whose
 * answer is a word of the input, so a side network can learn it. */
static int setup(void) {
    static int done = 0, ok = 0;
    if (done) return ok;
    done = 1;
    char *log = NULL;
    int rc = lst_test_run(&log, "init --preset t5-tiny --out %s --seed 3", tmp("tiny"));
    CHECK(rc == 0, "init: %s", log ? log : "");
    free(log);
    const char *words[2][4] = {{"good", "great", "fine", "nice"}, {"bad", "awful", "poor", "sad"}};
    const char *names[2] = {"train.jsonl", "valid.jsonl"};
    for (int f = 0; f < 2; f++) {
        FILE *o = fopen(tmp(names[f]), "w");
        if (!o) return 0;
        for (int i = 0; i < (f ? 16 : 48); i++) {
            int y = (i * 7 + f) % 2;
            fprintf(o, "{\"source\": \"review: the film was %s today\", \"target\": \"%s\"}\n",
                    words[y][(i / 2) % 4], y ? "no" : "yes");
        }
        fclose(o);
    }
    ok = rc == 0;
    return ok;
}

static const char *train_args(void) {
    static char a[2048];
    snprintf(a, sizeof a,
             "--model %s --task custom --train %s --valid %s --test %s --r 4 --epochs 2 "
             "--batch 8 --eval-batch 16 --warmup 4 --fisher-samples 8 --gen-validation 3 "
             "--checkpoint-every 1 --seed 5 --quiet",
             tmp("tiny"), tmp("train.jsonl"), tmp("valid.jsonl"), tmp("valid.jsonl"));
    return a;
}

/* metrics.json without the fields that measure the machine, not the run */
static char *metrics_core(const char *run) {
    char p[600];
    snprintf(p, sizeof p, "%s/metrics.json", run);
    lst_err_t err;
    char *t = lst_read_file(p, 1 << 20, NULL, &err);
    if (!t) {
        CHECK(0, "%s", err.msg);
        return NULL;
    }
    const char *cut[] = {"\"peak_rss_mib\"", "\"wall_s\"", "\"step_ms_median\"", "\"finished_utc\""};
    for (int i = 0; i < 4; i++) {
        char *q = strstr(t, cut[i]);
        if (q) {
            char *e = strchr(q, '\n');
            memmove(q, e ? e : q + strlen(q), strlen(e ? e : q + strlen(q)) + 1);
        }
    }
    return t;
}

/* Resumes the halted run `cut` and expects the metrics of the run `full`
 * that was not interrupted. */
static void resume_matches(const char *full, const char *cut, const char *what) {
    char *log = NULL;
    int rc = lst_test_run(&log, "train --resume %s --quiet", cut);
    CHECK(rc == 0, "%s: resume: %s", what, log ? log : "");
    free(log);
    char *a = metrics_core(full), *b = metrics_core(cut);
    CHECK(a && b && !strcmp(a, b), "%s: resumed metrics differ:\n%s\n%s", what, a ? a : "", b ? b : "");
    free(a);
    free(b);
}

static int same_file(const char *a, const char *b) {
    lst_err_t err;
    size_t na, nb;
    char *x = lst_read_file(a, 1 << 26, &na, &err), *y = lst_read_file(b, 1 << 26, &nb, &err);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

TEST(train_run_directory_and_reproducibility) {
    if (!setup()) return;
    char *log = NULL;
    int rc = lst_test_run(&log, "train %s --out %s", train_args(), tmp("runA"));
    CHECK(rc == 0, "train: %s", log ? log : "");
    free(log);
    const char *files[] = {"run.json", "metrics.json", "log.csv", "side.safetensors", "checkpoint.safetensors"};
    char p[600];
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", tmp("runA"), files[i]);
        CHECK(lst_test_file_exists(p), "%s missing", files[i]);
    }
    char *m = metrics_core(tmp("runA"));
    CHECK(m && strstr(m, "\"best_epoch\"") && strstr(m, "\"test\"") && strstr(m, "\"trainable_percent\"") &&
              strstr(m, "\"epochs\""),
          "metrics.json lacks fields: %s", m ? m : "");
    { /* the plan: persistent parts + the larger of the step's buffers and evaluation's */
        snprintf(p, sizeof p, "%s/metrics.json", tmp("runA"));
        lst_err_t e;
        char *raw = lst_read_file(p, 1 << 20, NULL, &e);
        cJSON *j = raw ? cJSON_Parse(raw) : NULL, *mem = cJSON_GetObjectItem(j, "memory");
        free(raw);
        double v[8] = {0};
        const char *keys[] = {"weights_mib", "gradients_mib", "optimizer_mib", "best_copy_mib",
                              "activations_mib", "workspace_mib", "evaluation_mib", "planned_mib"};
        int have = 0;
        for (int i = 0; i < 8; i++) {
            cJSON *x = cJSON_GetObjectItem(mem, keys[i]);
            if (cJSON_IsNumber(x)) v[i] = x->valuedouble, have++;
        }
        const double step = v[4] + v[5], want = v[0] + v[1] + v[2] + v[3] + (v[6] > step ? v[6] : step);
        CHECK(have == 8 && v[6] > 0 && fabs(v[7] - want) < 1e-3 * want,
              "memory plan: %d fields, evaluation %.3f MiB, planned %.3f, expected %.3f", have, v[6],
              v[7], want);
        cJSON_Delete(j);
    }
    /* side weights carry the golden names */
    lst_st_file_t f = {0};
    lst_err_t err;
    snprintf(p, sizeof p, "%s/side.safetensors", tmp("runA"));
    if (lst_st_open(&f, p, &err) == 0) {
        CHECK(lst_st_find(&f, "upsample.weight") && lst_st_find(&f, "side_encoder.gates.0") &&
                  lst_st_find(&f, "side_decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"),
              "side.safetensors names");
        lst_st_close(&f);
    }
    /* the same seed gives the same numbers */
    rc = lst_test_run(NULL, "train %s --out %s", train_args(), tmp("runA2"));
    CHECK(rc == 0, "second run failed");
    char *m2 = metrics_core(tmp("runA2"));
    CHECK(m && m2 && !strcmp(m, m2), "same seed, different metrics:\n%s\n%s", m ? m : "", m2 ? m2 : "");
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/side.safetensors", tmp("runA"));
    snprintf(b, sizeof b, "%s/side.safetensors", tmp("runA2"));
    CHECK(same_file(a, b), "same seed, different side weights");
    free(m);
    free(m2);
    /* a run directory is not overwritten */
    rc = lst_test_run(&log, "train %s --out %s", train_args(), tmp("runA"));
    CHECK(rc == 1 && log && strstr(log, "--resume"), "reused run dir: %d %s", rc, log ? log : "");
    free(log);
}

TEST(train_resume_is_exact) {
    if (!setup()) return;
    char *log = NULL;
    int rc = lst_test_run(&log, "train %s --out %s", train_args(), tmp("full"));
    CHECK(rc == 0, "train: %s", log ? log : "");
    free(log);
    /* interrupted twice: mid-epoch (step 4) and at the first epoch's end (step 6) */
    rc = lst_test_run(&log, "train %s --out %s --halt-after 4", train_args(), tmp("cut"));
    CHECK(rc == 3 && log && strstr(log, "halted"), "halt: %d %s", rc, log ? log : "");
    free(log);
    CHECK(!lst_test_file_exists(tmp("cut/metrics.json")), "an interrupted run wrote metrics");
    rc = lst_test_run(&log, "train --resume %s --quiet", tmp("cut"));
    CHECK(rc == 0, "resume: %s", log ? log : "");
    free(log);
    char *a = metrics_core(tmp("full")), *b = metrics_core(tmp("cut"));
    CHECK(a && b && !strcmp(a, b), "resumed metrics differ:\n%s\n%s", a ? a : "", b ? b : "");
    free(a);
    free(b);
    char x[600], y[600];
    snprintf(x, sizeof x, "%s/side.safetensors", tmp("full"));
    snprintf(y, sizeof y, "%s/side.safetensors", tmp("cut"));
    CHECK(same_file(x, y), "resumed side weights differ");
    /* the step log of the resumed run equals the uninterrupted one (but time) */
    snprintf(x, sizeof x, "cut -d, -f1-5 %s/log.csv > %s", tmp("full"), tmp("l1"));
    snprintf(y, sizeof y, "cut -d, -f1-5 %s/log.csv > %s", tmp("cut"), tmp("l2"));
    CHECK(system(x) == 0 && system(y) == 0 && same_file(tmp("l1"), tmp("l2")), "log.csv differs");
}

TEST(train_eval_and_predict) {
    if (!setup()) return;
    char *log = NULL;
    if (!lst_test_file_exists(tmp("runA/side.safetensors"))) {
        CHECK(lst_test_run(NULL, "train %s --out %s", train_args(), tmp("runA")) == 0, "train");
    }
    int rc = lst_test_run(&log, "eval --run %s --split test", tmp("runA"));
    CHECK(rc == 0 && log && strstr(log, "\"accuracy\"") && strstr(log, "\"examples\": 16"),
          "eval: %d %s", rc, log ? log : "");
    free(log);
    FILE *f = fopen(tmp("inputs.txt"), "w");
    fputs("review: the film was good today\nreview: the film was bad today\n\n", f);
    fclose(f);
    rc = lst_test_run(&log, "predict --run %s < %s", tmp("runA"), tmp("inputs.txt"));
    CHECK(rc == 0, "predict: %s", log ? log : "");
    int lines = 0;
    for (char *p = log; p && *p; p++) lines += *p == '\n';
    CHECK(lines == 3, "predict printed %d lines for 3 inputs: %s", lines, log ? log : "");
    free(log);
}

TEST(train_bad_options) {
    if (!setup()) return;
    struct {
        const char *args, *needle;
        int code;
    } cases[] = {
        {"--task sst2 --out X", "--model", 2},
        {"--model M --task sst2 --out X --r zero", "--r", 2},
        {"--model M --task sst2 --out X --batch 0", "--batch", 2},
        {"--model M --task sst2 --out X --init best", "--init", 2},
        {"--model M --task sst2 --out X --side-layers 1,,2", "--side-layers '1,,2'", 2},
        {"--model M --task sst2 --out X --method lorax", "lorax", 2},
        {"--model M --task sst2 --out X --method lora --r 4", "--r applies", 2},
        {"--model M --task sst2 --out X --method full --lora-rank 4", "--lora-rank applies", 2},
        {"--resume X --epochs 3", "--resume", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *log = NULL;
        int rc = lst_test_run(&log, "train %s", cases[i].args);
        CHECK(rc == cases[i].code && log && strstr(log, cases[i].needle), "'%s': exit %d: %s",
              cases[i].args, rc, log ? log : "");
        free(log);
    }
    char *log = NULL;
    int rc = lst_test_run(&log, "train --model %s --task nosuch --out %s --quiet", tmp("tiny"), tmp("r_bad"));
    CHECK(rc == 2 && log && strstr(log, "unknown task 'nosuch'"), "task: %d %s", rc, log ? log : "");
    free(log);
    rc = lst_test_run(&log, "train --model %s --task sst2 --out %s --side-layers 1,9 --quiet", tmp("tiny"),
                      tmp("r_bad2"));
    CHECK(rc == 2 && log && strstr(log, "side layer 9"), "kept layer out of range: %d %s", rc, log ? log : "");
    free(log);
    rc = lst_test_run(&log, "train --model tests/data/t5-tiny-relu --task sst2 --out %s --quiet", tmp("r_bad3"));
    CHECK(rc == 1 && log && strstr(log, "smaller than the tokenizer"), "vocab: %d %s", rc, log ? log : "");
    free(log);
    rc = lst_test_run(&log, "train --resume %s --quiet", tmp("no_such_run"));
    CHECK(rc == 1 && log && strstr(log, "run.json"), "resume missing: %d %s", rc, log ? log : "");
    free(log);
    CHECK(!lst_test_file_exists(tmp("r_bad")) && !lst_test_file_exists(tmp("r_bad2")),
          "a failed start left a run directory");
}

TEST(train_memory_budget_and_nan_guard) {
    if (!setup()) return;
    char *log = NULL;
    int rc = lst_test_run(&log, "train %s --out %s --max-memory 1M", train_args(), tmp("r_mem"));
    CHECK(rc == 1 && log && strstr(log, "needs") && strstr(log, "--max-memory is 1.0 MiB"),
          "budget: %d %s", rc, log ? log : "");
    free(log);
    CHECK(!lst_test_file_exists(tmp("r_mem")), "a refused run left its directory");
    rc = lst_test_run(&log, "train %s --out %s --max-memory 2G", train_args(), tmp("r_mem2"));
    CHECK(rc == 0, "a run within budget failed: %s", log ? log : "");
    free(log);
    /* a backbone with a NaN weight: the guard stops at the first step and names it */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/config.json %s/", tmp("tiny_nan"), tmp("tiny"), tmp("tiny_nan"));
    CHECK(system(cmd) == 0, "copy");
    lst_st_file_t in = {0};
    lst_err_t err;
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", tmp("tiny"));
    if (lst_st_open(&in, path, &err) == 0) {
        lst_st_out_t *outs = calloc(in.n, sizeof *outs);
        float *bad = NULL;
        for (int i = 0; i < in.n; i++) {
            outs[i].name = in.tensors[i].name;
            outs[i].dtype = in.tensors[i].dtype;
            outs[i].ndim = in.tensors[i].ndim;
            memcpy(outs[i].shape, in.tensors[i].shape, sizeof outs[i].shape);
            outs[i].data = in.tensors[i].data;
            if (!strcmp(in.tensors[i].name, "encoder.final_layer_norm.weight")) {
                bad = malloc(in.tensors[i].nbytes);
                memcpy(bad, in.tensors[i].data, in.tensors[i].nbytes);
                bad[0] = NAN;
                outs[i].data = bad;
            }
        }
        snprintf(path, sizeof path, "%s/model.safetensors", tmp("tiny_nan"));
        CHECK(lst_st_write(path, outs, in.n, &err) == 0, "%s", err.msg);
        free(bad);
        free(outs);
        lst_st_close(&in);
    }
    setenv("LST_ALLOW_NONFINITE", "1", 1); /* refused at load otherwise (test_rundir.c) */
    rc = lst_test_run(&log,
                      "train --model %s --task custom --train %s --valid %s --r 4 --epochs 1 --batch 8 "
                      "--init random --quiet --out %s",
                      tmp("tiny_nan"), tmp("train.jsonl"), tmp("valid.jsonl"), tmp("r_nan"));
    unsetenv("LST_ALLOW_NONFINITE");
    CHECK(rc == 1 && log && strstr(log, "loss is nan at step 1"), "guard: %d %s", rc, log ? log : "");
    free(log);
    CHECK(!lst_test_file_exists(tmp("r_nan/metrics.json")), "a failed run wrote metrics");
    /* the checkpoint written before the blow-up still loads */
    if (lst_test_file_exists(tmp("r_nan/checkpoint.safetensors"))) {
        lst_st_file_t f = {0};
        lst_err_t err;
        CHECK(lst_st_open(&f, tmp("r_nan/checkpoint.safetensors"), &err) == 0, "%s", err.msg);
        lst_st_close(&f);
    }
}

/* The checkpoint file's inode (0: none); every checkpoint is a new file. */
static ino_t ckpt_inode(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* SIGKILL at arbitrary moments, then resume, until the run finishes: every
 * checkpoint left behind loads, and the final numbers are exactly those of
 * the uninterrupted run (train_resume_is_exact's "full"). */
TEST(train_kill_and_resume) {
    if (!setup()) return;
    if (!lst_test_file_exists(tmp("full/metrics.json"))) {
        CHECK(lst_test_run(NULL, "train %s --out %s", train_args(), tmp("full")) == 0, "train");
    }
    char run[512];
    snprintf(run, sizeof run, "%s", tmp("killed")); /* tmp()'s buffers rotate */
    char cmd[4096], ckpt[600], metrics[600];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", run);
    snprintf(metrics, sizeof metrics, "%s/metrics.json", run);
    unsigned seed = 12345;
    int kills = 0, attempts = 0;
    /* Kill delays of 50..650 ms; a machine fast enough to finish the whole
     * run inside them lands too few kills: then the run starts over with
     * delays 3x shorter (at most four rounds). A kill without progress
     * makes the next delays longer. */
    double scale = 1.0;
    for (int round = 0; round < 4 && kills < 2; round++, scale /= 3) {
        if (round > 0) {
            snprintf(cmd, sizeof cmd, "rm -rf %s", run);
            CHECK(system(cmd) == 0, "clearing %s", run);
            kills = 0;
        }
        while (!lst_test_file_exists(metrics) && attempts < 60 * (round + 1)) {
            attempts++;
            seed = seed * 1103515245u + 12345u;
            double delay = scale * (0.05 + (seed >> 16) % 600 / 1000.0); /* 50..650 ms */
            const int resume = lst_test_file_exists(ckpt);
            char how[2200];
            if (resume) snprintf(how, sizeof how, "train --resume %s --quiet", run);
            else snprintf(how, sizeof how, "train %s --out %s", train_args(), run);
            snprintf(cmd, sizeof cmd,
                     "%s %s > /dev/null 2>%s/kill_err.txt & pid=$!; sleep %.3f; "
                     "if kill -9 $pid 2>/dev/null; then wait $pid 2>/dev/null; exit 9; else wait $pid; fi",
                     lst_test_bin(), how, lst_test_tmpdir(), delay);
            const ino_t before = ckpt_inode(ckpt);
            int st = system(cmd);
            if (WIFEXITED(st) && WEXITSTATUS(st) == 9) {
                kills++;
                /* a kill that left no new checkpoint (each is a new file,
                 * renamed into place): on a loaded machine the delays are
                 * shorter than a start-up, so they grow until runs progress */
                if (ckpt_inode(ckpt) == before) scale *= 1.25;
            } else {
                char ep[600];
                snprintf(ep, sizeof ep, "%s/kill_err.txt", lst_test_tmpdir());
                lst_err_t e2;
                char *msg = lst_read_file(ep, 1 << 20, NULL, &e2);
                CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a run ended with status %d: %s", st,
                      msg ? msg : "");
                free(msg);
            }
            if (lst_test_file_exists(ckpt)) { /* the last checkpoint always loads */
                lst_st_file_t f = {0};
                lst_err_t err;
                CHECK(lst_st_open(&f, ckpt, &err) == 0, "checkpoint after a kill: %s", err.msg);
                CHECK(lst_st_find(&f, "state") != NULL, "checkpoint without state");
                lst_st_close(&f);
            }
        }
    }
    CHECK(lst_test_file_exists(metrics), "the run never finished (%d attempts)", attempts);
    CHECK(kills >= 2, "only %d kills landed: the test did not test anything", kills);
    char *a = metrics_core(tmp("full")), *b = metrics_core(run);
    CHECK(a && b && !strcmp(a, b), "after %d kills the metrics differ:\n%s\n%s", kills, a ? a : "",
          b ? b : "");
    free(a);
    free(b);
    char x[600], y[600];
    snprintf(x, sizeof x, "%s/side.safetensors", tmp("full"));
    snprintf(y, sizeof y, "%s/side.safetensors", run);
    CHECK(same_file(x, y), "after %d kills the side weights differ", kills);
    fprintf(stderr, "(%d kills) ", kills);
}

/* A damaged checkpoint state is refused with the key that is wrong. */
TEST(train_resume_refuses_damaged_state) {
    if (!setup()) return;
    char run[512];
    snprintf(run, sizeof run, "%s", tmp("damaged"));
    char *log = NULL;
    int rc = lst_test_run(&log, "train %s --out %s --halt-after 2", train_args(), run);
    CHECK(rc == 3, "halt: %d %s", rc, log ? log : "");
    free(log);
    char path[600];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", run);
    size_t len = 0;
    lst_err_t err;
    char *buf = lst_read_file(path, 1 << 26, &len, &err);
    CHECK(buf != NULL, "%s", err.msg);
    if (!buf) return;
    /* self-describing: the run's options and the RNG derivation travel with it */
    CHECK(memmem(buf, len, "\"run\":{", 7) && memmem(buf, len, "\"rng\":{", 7) &&
              memmem(buf, len, "\"step\":2", 8),
          "checkpoint state is not self-describing");
    /* same length, out of range: batch 9 of an epoch of 6 batches */
    char *p = memmem(buf, len, "\"batch_index\":", 14);
    CHECK(p && p[14] >= '0' && p[14] <= '9' && p[15] == ',', "state layout");
    if (p && p[15] == ',') p[14] = '9';
    CHECK(lst_write_atomic(path, buf, len, &err) == 0, "%s", err.msg);
    free(buf);
    rc = lst_test_run(&log, "train --resume %s --quiet", run);
    CHECK(rc == 1 && log && strstr(log, "'batch_index' = 9 does not fit"), "damaged: %d %s", rc,
          log ? log : "");
    free(log);
}

/* Every baseline through `lst train`: the run directory holds the method's
 * trained parameters (tuned.safetensors: exactly the trainable tensors),
 * metrics name the method and its share, eval and predict reload it, and
 * a run interrupted mid-epoch resumes to the same numbers. */
static const char *base_args(const char *method) {
    static char a[2048];
    snprintf(a, sizeof a,
             "--model %s --task custom --train %s --valid %s --test %s --method %s --epochs 1 "
             "--batch 8 --eval-batch 16 --warmup 2 --gen-validation 3 --checkpoint-every 1 "
             "--seed 5 --quiet%s",
             tmp("tiny"), tmp("train.jsonl"), tmp("valid.jsonl"), tmp("valid.jsonl"), method,
             !strcmp(method, "prompt") ? " --prompt-len 4"
             : !strcmp(method, "lora") ? " --lora-rank 4"
             : strcmp(method, "side-tuning") && strcmp(method, "compression") ? ""
             : " --r 4 --init magnitude");
    return a;
}

/* A tensor of file b with a's name mapped by prefix/suffix edits: same shape. */
static int same_shape(const lst_st_tensor_t *a, const lst_st_tensor_t *b) {
    if (!a || !b || a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

/* The PEFT export of a lora or prompt run against PEFT's documented layout
 * (adapter_config.json keys; adapter_model.safetensors: base_model.model.<HF
 * module>.lora_{A,B}.weight, or prompt_embeddings [P, d]) and against the
 * run's own tuned.safetensors; lora's biases beside it, in HF names. */
static void check_peft_export(const char *run, const char *method) {
    char path[800];
    lst_err_t err;
    snprintf(path, sizeof path, "%s/adapter_config.json", run);
    char *cfgtext = lst_read_file(path, 1 << 20, NULL, &err);
    cJSON *cfg = cfgtext ? cJSON_Parse(cfgtext) : NULL;
    free(cfgtext);
    CHECK(cfg, "%s: adapter_config.json: %s", method, err.msg);
    if (!cfg) return;
    const int lora = !strcmp(method, "lora");
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(cfg, "peft_type");
    const cJSON *tt = cJSON_GetObjectItemCaseSensitive(cfg, "task_type");
    CHECK(cJSON_IsString(pt) && !strcmp(pt->valuestring, lora ? "LORA" : "PROMPT_TUNING") &&
              cJSON_IsString(tt) && !strcmp(tt->valuestring, "SEQ_2_SEQ_LM"),
          "%s: peft_type / task_type", method);
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(cfg, lora ? "r" : "num_virtual_tokens");
    CHECK(cJSON_IsNumber(size) && size->valueint == 4, "%s: adapter size", method);
    if (lora) {
        const cJSON *tm = cJSON_GetObjectItemCaseSensitive(cfg, "target_modules");
        const cJSON *al = cJSON_GetObjectItemCaseSensitive(cfg, "lora_alpha");
        CHECK(cJSON_GetArraySize(tm) == 2 && !strcmp(cJSON_GetArrayItem(tm, 0)->valuestring, "q") &&
                  !strcmp(cJSON_GetArrayItem(tm, 1)->valuestring, "v") && cJSON_IsNumber(al) &&
                  al->valueint == 32,
              "lora: target_modules / lora_alpha");
    }
    cJSON_Delete(cfg);
    lst_st_file_t tuned = {0}, ad = {0}, bias = {0};
    snprintf(path, sizeof path, "%s/tuned.safetensors", run);
    CHECK(lst_st_open(&tuned, path, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", run);
    CHECK(lst_st_open(&ad, path, &err) == 0, "%s", err.msg);
    CHECK(lst_st_meta(&tuned, "lst_method") && !strcmp(lst_st_meta(&tuned, "lst_method"), method) &&
              lst_st_meta(&tuned, "backbone_weights_xxh3") &&
              lst_st_meta(&tuned, lora ? "lora_rank" : "prompt_len") &&
              !strcmp(lst_st_meta(&tuned, lora ? "lora_rank" : "prompt_len"), "4"),
          "%s: tuned.safetensors metadata", method);
    if (!lora) {
        const lst_st_tensor_t *pe = lst_st_find(&ad, "prompt_embeddings");
        CHECK(ad.n == 1 && same_shape(pe, lst_st_find(&tuned, "prompt.weight")),
              "prompt: adapter_model.safetensors is not one prompt_embeddings of the prompt's shape");
    } else {
        snprintf(path, sizeof path, "%s/bitfit_biases.safetensors", run);
        CHECK(lst_st_open(&bias, path, &err) == 0, "%s", err.msg);
        int n_lora = 0, n_bias = 0;
        for (int i = 0; i < tuned.n; i++) {
            const lst_st_tensor_t *t = &tuned.tensors[i];
            char peft[400];
            snprintf(peft, sizeof peft, "base_model.model.%s", t->name);
            if (strstr(t->name, ".lora_")) {
                n_lora++;
                CHECK(same_shape(t, lst_st_find(&ad, peft)), "lora: %s missing from the adapter", peft);
            } else {
                n_bias++;
                CHECK(strstr(t->name, ".bias") && same_shape(t, lst_st_find(&bias, t->name)),
                      "lora: %s missing from bitfit_biases.safetensors", t->name);
            }
        }
        /* t5-tiny: 4 encoder attentions + 4 x 2 decoder ones, each q and v, A and B */
        CHECK(ad.n == n_lora && n_lora == (4 + 2 * 4) * 2 * 2 && bias.n == n_bias && n_bias > 0,
              "lora: %d adapter tensors for %d LoRA tensors, %d biases for %d", ad.n, n_lora, bias.n,
              n_bias);
    }
    lst_st_close(&tuned);
    lst_st_close(&ad);
    lst_st_close(&bias);
}

TEST(train_baseline_methods_end_to_end) {
    if (!setup()) return;
    const char *methods[] = {"full", "adapters", "lora", "bitfit", "prompt", "side-tuning",
                             "compression"};
    for (int i = 0; i < 7; i++) {
        const int side = i >= 5;
        char run[600], path[700];
        snprintf(run, sizeof run, "%s/m_%s", lst_test_tmpdir(), methods[i]);
        char *log = NULL;
        int rc = lst_test_run(&log, "train %s --out %s", base_args(methods[i]), run);
        CHECK(rc == 0, "%s: %s", methods[i], log ? log : "");
        free(log);
        snprintf(path, sizeof path, "%s/metrics.json", run);
        lst_err_t err;
        char *m = lst_read_file(path, 1 << 20, NULL, &err);
        char want[64];
        snprintf(want, sizeof want, "\"method\":\t\"%s\"", methods[i]);
        CHECK(m && strstr(m, want) && strstr(m, "\"step_ms_median\"") && strstr(m, "\"memory\""),
              "%s: metrics.json: %s", methods[i], m ? m : err.msg);
        free(m);
        snprintf(path, sizeof path, "%s/%s.safetensors", run, side ? "side" : "tuned");
        lst_st_file_t f = {0};
        CHECK(lst_st_open(&f, path, &err) == 0, "%s: %s", methods[i], err.msg);
        if (side) { /* the ablations' side networks: no ladders; side-tuning's merge gate */
            CHECK(!lst_st_find(&f, "side_encoder.downsamples.0.weight") &&
                  (i == 6) == !lst_st_find(&f, "merge_gate"), "%s: side tensors", methods[i]);
        }
        int has_ext = 0, has_frozen = 0;
        for (int t = 0; t < f.n; t++) {
            const char *nm = f.tensors[t].name;
            has_ext |= strstr(nm, "adapter") || strstr(nm, "lora_") || strstr(nm, ".bias") ||
                       strstr(nm, "prompt");
            has_frozen |= strstr(nm, "SelfAttention.q.weight") != NULL;
        }
        if (!strcmp(methods[i], "full")) CHECK(has_frozen && !has_ext, "full: tensors saved");
        else if (!side) CHECK(has_ext && !has_frozen, "%s: the saved tensors are not the method's own", methods[i]);
        lst_st_close(&f);
        rc = lst_test_run(&log, "eval --run %s --split test", run);
        CHECK(rc == 0 && log && strstr(log, "accuracy"), "%s eval: %s", methods[i], log ? log : "");
        free(log);
        rc = lst_test_run(&log, "predict --run %s < %s", run, tmp("valid.jsonl"));
        CHECK(rc == 0, "%s predict: %s", methods[i], log ? log : "");
        free(log);
        if (side) {
            snprintf(path, sizeof path, "%s/side.safetensors", run);
            lst_st_file_t sf = {0};
            CHECK(lst_st_open(&sf, path, &err) == 0, "%s", err.msg);
            const char *r = lst_st_meta(&sf, "r"), *el = lst_st_meta(&sf, "encoder_side_layers");
            const char *mode = lst_st_meta(&sf, "side_mode"), *gt = lst_st_meta(&sf, "gate_T");
            CHECK(r && !strcmp(r, "4") && el && el[0] == '[' && gt && !strcmp(gt, "0.1") && mode &&
                      lst_st_meta(&sf, "backbone_config_xxh3"),
                  "%s: side.safetensors is not self-describing (r %s, layers %s, gate_T %s)",
                  methods[i], r ? r : "-", el ? el : "-", gt ? gt : "-");
            lst_st_close(&sf);
            continue;
        }
        if (i == 2 || i == 4) check_peft_export(run, methods[i]);
        /* the trained tensors are what lst dump --method reads (the PEFT cross-check) */
        const char *size = !strcmp(methods[i], "prompt") ? "--prompt-len 4"
                           : !strcmp(methods[i], "lora") ? "--lora-rank 4" : "";
        rc = lst_test_run(&log, "dump --model %s --vocab 32100 --batch "
                          "tests/data/t5-tiny-relu/batch.safetensors --method %s %s "
                          "--method-weights %s --no-grad --out %s/dump.safetensors",
                          tmp("tiny"), methods[i], size, path, run);
        CHECK(rc == 0, "%s: dump of tuned.safetensors: %s", methods[i], log ? log : "");
        free(log);
    }
    /* exact resume with a method's additions */
    char cut[600], full[600];
    snprintf(full, sizeof full, "%s/m_lora", lst_test_tmpdir());
    snprintf(cut, sizeof cut, "%s/m_lora_cut", lst_test_tmpdir());
    char *log = NULL;
    int rc = lst_test_run(&log, "train %s --out %s --halt-after 3", base_args("lora"), cut);
    CHECK(rc == 3, "halt: %d %s", rc, log ? log : "");
    free(log);
    resume_matches(full, cut, "lora");
    char x[700], y[700];
    snprintf(x, sizeof x, "%s/tuned.safetensors", full);
    snprintf(y, sizeof y, "%s/tuned.safetensors", cut);
    CHECK(same_file(x, y), "resumed lora weights differ");
}

/* LST with the bf16 backbone option: trains, records it in run.json, and
 * eval reloads the run the same way; refused for a method that trains the
 * backbone. */
TEST(train_bf16_backbone) {
    if (!setup()) return;
    char run[600];
    snprintf(run, sizeof run, "%s/bf16", lst_test_tmpdir());
    char *log = NULL;
    int rc = lst_test_run(&log, "train %s --out %s --backbone-dtype bf16", train_args(), run);
    CHECK(rc == 0, "train: %s", log ? log : "");
    free(log);
    char path[700];
    snprintf(path, sizeof path, "%s/run.json", run);
    lst_err_t err;
    char *j = lst_read_file(path, 1 << 20, NULL, &err);
    CHECK(j && strstr(j, "\"backbone_dtype\":\t\"bf16\""), "run.json: %s", j ? j : err.msg);
    free(j);
    rc = lst_test_run(&log, "eval --run %s --split test", run);
    CHECK(rc == 0 && log && strstr(log, "accuracy"), "eval: %s", log ? log : "");
    free(log);
    /* a dtype no row of the weight-format table has: refused by name */
    char *bad = NULL;
    j = lst_read_file(path, 1 << 20, NULL, &err);
    char *at = j ? strstr(j, "\"bf16\"") : NULL;
    CHECK(at != NULL, "run.json lost its dtype");
    if (at) {
        memcpy(at, "\"int3\"", 6);
        FILE *f = fopen(path, "w");
        CHECK(f && fputs(j, f) >= 0 && fclose(f) == 0, "rewriting %s", path);
        rc = lst_test_run(&bad, "eval --run %s --split test", run);
        CHECK(rc != 0 && bad && strstr(bad, "backbone_dtype 'int3'") && strstr(bad, "fp32, bf16"),
              "bad dtype: %d %s", rc, bad ? bad : "");
        free(bad);
    }
    free(j);
    rc = lst_test_run(&log, "train --model M --task sst2 --out X --method full --backbone-dtype bf16");
    CHECK(rc == 2 && log && strstr(log, "--backbone-dtype applies"), "full + bf16: %d %s", rc, log ? log : "");
    free(log);
    rc = lst_test_run(&log, "train --model M --task sst2 --out X --backbone-dtype fp16");
    CHECK(rc == 2 && log && strstr(log, "fp16"), "fp16: %d %s", rc, log ? log : "");
    free(log);
}

/* run.json and metrics.json say which lst wrote them (lst --version's
 * version and commit) and when. */
static void check_version_stamps(const cJSON *run, const char *where) {
    char *log = NULL;
    int rc = lst_test_run(&log, "--version");
    char version[64] = "", commit[64] = "";
    CHECK(rc == 0 && log && sscanf(log, "lst %63s (commit %63[^)])", version, commit) == 2,
          "lst --version: %d %s", rc, log ? log : "");
    free(log);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(run, "lst_version");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(run, "lst_commit");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(run, "started_utc");
    CHECK(cJSON_IsString(v) && !strcmp(v->valuestring, version) && cJSON_IsString(c) &&
              !strcmp(c->valuestring, commit) && cJSON_IsString(t) && strlen(t->valuestring) == 20 &&
              t->valuestring[4] == '-' && t->valuestring[19] == 'Z',
          "run.json does not carry lst %s (commit %s) and its start time", version, commit);
    char path[800];
    snprintf(path, sizeof path, "%s/run_tiny/metrics.json", where);
    lst_err_t err;
    char *m = lst_read_file(path, 1 << 20, NULL, &err);
    char want[200];
    snprintf(want, sizeof want, "\"lst_commit\":\t\"%s\"", commit);
    CHECK(m && strstr(m, want) && strstr(m, "\"finished_utc\""), "metrics.json: %s", m ? m : err.msg);
    free(m);
}

/* The tokenizer belongs to the model: run from another directory with no
 * --spm, training finds the model's own spiece.model when its directory has
 * one, else the bundled T5 tokenizer (found from the binary, not the
 * current directory); run.json records which. */
TEST(train_finds_its_tokenizer_from_any_directory) {
    if (!setup()) return;
    char bin[4096], cmd[12000], path[800];
    CHECK(realpath(lst_test_bin(), bin) != NULL, "realpath %s", lst_test_bin());
    const char *where = tmp("elsewhere");
    snprintf(cmd, sizeof cmd, "mkdir -p %s %s && cp %s/config.json %s/model.safetensors %s/ && "
             "cp data/t5/spiece.model %s/", where, tmp("tiny_own"), tmp("tiny"), tmp("tiny"),
             tmp("tiny_own"), tmp("tiny_own"));
    CHECK(system(cmd) == 0, "%s", cmd);
    const char *models[2] = {"tiny", "tiny_own"};
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "cd %s && %s train --model ../%s --task custom --train ../train.jsonl "
                 "--valid ../valid.jsonl --max-steps 1 --batch 8 --quiet --out run_%s > log_%s 2>&1",
                 where, bin, models[k], models[k], models[k]);
        CHECK(system(cmd) == 0, "train from %s with %s failed (see %s/log_%s)", where, models[k], where,
              models[k]);
        snprintf(path, sizeof path, "%s/run_%s/run.json", where, models[k]);
        lst_err_t err;
        char *text = lst_read_file(path, 1 << 20, NULL, &err);
        cJSON *j = text ? cJSON_Parse(text) : NULL;
        const cJSON *spm = cJSON_GetObjectItemCaseSensitive(j, "spm");
        const char *s = cJSON_IsString(spm) ? spm->valuestring : "";
        char want[200];
        snprintf(want, sizeof want, "%s/spiece.model", k ? "/tiny_own" : "/data/t5");
        const size_t n = strlen(s), w = strlen(want);
        CHECK(n > w && !strcmp(s + n - w, want) && !strstr(s, "elsewhere"),
              "%s: the tokenizer used is '%s', wanted one ending in %s", models[k], s, want);
        if (k == 0) check_version_stamps(j, where);
        cJSON_Delete(j);
        free(text);
    }
}

/* What a user watching a short custom run is told: a warmup longer than
 * the run is warned about (and --warmup-ratio sizes it instead), the
 * progress line's epoch total follows --max-steps, the Fisher pass reports
 * its progress, and eval names the split a custom run lacks. */
TEST(train_short_run_messages) {
    if (!setup()) return;
    char *log = NULL, run[600];
    snprintf(run, sizeof run, "%s/short_a", lst_test_tmpdir());
    int rc = lst_test_run(&log, "train --model %s --task custom --train %s --valid %s --epochs 5 "
                          "--max-steps 3 --batch 8 --out %s", tmp("tiny"), tmp("train.jsonl"),
                          tmp("valid.jsonl"), run);
    CHECK(rc == 0, "train: %s", log ? log : "");
    CHECK(log && strstr(log, "warning: the warmup (500 steps) is not shorter than the whole run (3 steps)"),
          "no warmup warning: %s", log ? log : "");
    CHECK(log && strstr(log, "epoch 1/1  step 3/3"), "epoch total ignores --max-steps: %s", log ? log : "");
    CHECK(log && strstr(log, "Fisher importance: 48/48 examples"), "no Fisher progress: %s", log ? log : "");
    free(log);
    rc = lst_test_run(&log, "eval --run %s --split test", run);
    CHECK(rc == 1 && log && strstr(log, "no test split"), "eval of a run without test: %d %s", rc,
          log ? log : "");
    free(log);
    snprintf(run, sizeof run, "%s/short_b", lst_test_tmpdir());
    rc = lst_test_run(&log, "train --model %s --task custom --train %s --valid %s --max-steps 4 "
                      "--batch 8 --warmup-ratio 0.5 --init magnitude --out %s", tmp("tiny"),
                      tmp("train.jsonl"), tmp("valid.jsonl"), run);
    CHECK(rc == 0 && log && !strstr(log, "warning: the warmup"), "warmup-ratio run: %s", log ? log : "");
    free(log);
    char path[700];
    snprintf(path, sizeof path, "%s/run.json", run);
    lst_err_t err;
    char *text = lst_read_file(path, 1 << 20, NULL, &err);
    CHECK(text && strstr(text, "\"warmup\":\t2,"), "--warmup-ratio 0.5 of 4 steps is not 2: %s",
          text ? text : err.msg);
    free(text);
    rc = lst_test_run(&log, "train --model M --task sst2 --out X --warmup 5 --warmup-ratio 0.1");
    CHECK(rc == 2 && log && strstr(log, "not both"), "--warmup with --warmup-ratio: %d %s", rc,
          log ? log : "");
    free(log);
}

/* --grad-accum: batch 4 x 2 micro-batches is batch 8 (every micro-batch
 * normalised by the whole step's labels, dropout keyed by example): the
 * same losses and gradient norms in the log, the same weights to float32
 * rounding of the sums' order, and half the step's activations. Prompt
 * tuning defaults to the paper's batch 50 x 2. */
TEST(train_grad_accum_equals_the_large_batch) {
    if (!setup()) return;
    char run[2][600];
    for (int k = 0; k < 2; k++) {
        snprintf(run[k], sizeof run[k], "%s/accum_%d", lst_test_tmpdir(), k);
        char *log = NULL;
        int rc = lst_test_run(&log, "train --model %s --task custom --train %s --valid %s --max-steps 4 "
                              "--warmup 2 --init magnitude --quiet %s --out %s", tmp("tiny"),
                              tmp("train.jsonl"), tmp("valid.jsonl"),
                              k ? "--batch 4 --grad-accum 2" : "--batch 8", run[k]);
        CHECK(rc == 0, "train: %s", log ? log : "");
        free(log);
    }
    /* the micro-batches pad to their own longest row: the same sums in
     * another blocking, so equal to float32 rounding, not to the bit */
    double lg[2][4][2] = {{{0}}};
    for (int k = 0; k < 2; k++) {
        char p[1300], line[256];
        snprintf(p, sizeof p, "%s/log.csv", run[k]);
        FILE *f = fopen(p, "r");
        CHECK(f != NULL, "%s", p);
        int step, epoch, rows = 0;
        double loss, lr, gn;
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "%d,%d,%lf,%lf,%lf", &step, &epoch, &loss, &lr, &gn) == 5 && step >= 1 &&
                step <= 4) {
                lg[k][step - 1][0] = loss;
                lg[k][step - 1][1] = gn;
                rows++;
            }
        if (f) fclose(f);
        CHECK(rows == 4, "%s: %d step rows", p, rows);
    }
    for (int t = 0; t < 4; t++)
        CHECK(fabs(lg[0][t][0] - lg[1][t][0]) <= 1e-5 * fabs(lg[0][t][0]) &&
                  fabs(lg[0][t][1] - lg[1][t][1]) <= 1e-4 * fabs(lg[0][t][1]),
              "step %d: loss %.6f / %.6f, gradient norm %.6f / %.6f (batch 8 / 4 x 2)", t + 1,
              lg[0][t][0], lg[1][t][0], lg[0][t][1], lg[1][t][1]);
    lst_st_file_t a = {0}, b = {0};
    lst_err_t err;
    char pa[700], pb[700];
    snprintf(pa, sizeof pa, "%s/side.safetensors", run[0]);
    snprintf(pb, sizeof pb, "%s/side.safetensors", run[1]);
    CHECK(lst_st_open(&a, pa, &err) == 0 && lst_st_open(&b, pb, &err) == 0, "%s", err.msg);
    double worst = 0;
    for (int i = 0; i < a.n && a.n == b.n; i++) {
        const lst_st_tensor_t *x = &a.tensors[i], *y = lst_st_find(&b, x->name);
        CHECK(y && y->numel == x->numel, "%s", x->name);
        for (int64_t j = 0; y && y->numel == x->numel && j < x->numel; j++) {
            float u, v;
            memcpy(&u, (const char *)x->data + 4 * j, 4);
            memcpy(&v, (const char *)y->data + 4 * j, 4);
            worst = fmax(worst, fabs((double)u - v));
        }
    }
    CHECK(a.n == b.n && worst < 1e-6, "side weights differ by %.3g", worst);
    lst_st_close(&a);
    lst_st_close(&b);
    char *m0 = NULL, *m1 = NULL;
    snprintf(pa, sizeof pa, "%s/metrics.json", run[0]);
    snprintf(pb, sizeof pb, "%s/metrics.json", run[1]);
    m0 = lst_read_file(pa, 1 << 20, NULL, &err);
    m1 = lst_read_file(pb, 1 << 20, NULL, &err);
    cJSON *j0 = m0 ? cJSON_Parse(m0) : NULL, *j1 = m1 ? cJSON_Parse(m1) : NULL;
    const cJSON *p0 = cJSON_GetObjectItem(cJSON_GetObjectItem(j0, "memory"), "activations_mib");
    const cJSON *p1 = cJSON_GetObjectItem(cJSON_GetObjectItem(j1, "memory"), "activations_mib");
    CHECK(cJSON_IsNumber(p0) && cJSON_IsNumber(p1) && p1->valuedouble < 0.6 * p0->valuedouble,
          "the planned activations of 4 x 2 are not about half of batch 8's");
    cJSON_Delete(j0);
    cJSON_Delete(j1);
    free(m0);
    free(m1);
    /* prompt tuning's defaults */
    char prun[600], *log = NULL;
    snprintf(prun, sizeof prun, "%s/accum_prompt", lst_test_tmpdir());
    int rc = lst_test_run(&log, "train --model %s --task custom --train %s --valid %s --method prompt "
                          "--prompt-len 4 --max-steps 1 --quiet --out %s", tmp("tiny"), tmp("train.jsonl"),
                          tmp("valid.jsonl"), prun);
    CHECK(rc == 0, "prompt: %s", log ? log : "");
    free(log);
    snprintf(pa, sizeof pa, "%s/run.json", prun);
    char *rj = lst_read_file(pa, 1 << 20, NULL, &err);
    CHECK(rj && strstr(rj, "\"batch\":\t50,") && strstr(rj, "\"grad_accum\":\t2,"),
          "prompt tuning's batch is not 50 x 2: %s", rj ? rj : err.msg);
    free(rj);
}

/* --eval-every and --patience: validations inside epochs (in metrics.json's
 * evaluations and log.csv's val_score), the best weights possibly from one
 * of them, and an early stop after N validations without a better score;
 * a run halted in the middle resumes to the same numbers. */
TEST(train_eval_every_and_patience) {
    if (!setup()) return;
    const char *args = "--task custom --epochs 10 --batch 8 --warmup 2 --init magnitude --eval-every 2 "
                       "--patience 3 --checkpoint-every 1 --seed 2 --quiet";
    char full[600], cut[600], *log = NULL;
    snprintf(full, sizeof full, "%s/es_full", lst_test_tmpdir());
    snprintf(cut, sizeof cut, "%s/es_cut", lst_test_tmpdir());
    int rc = lst_test_run(&log, "train --model %s --train %s --valid %s %s --out %s", tmp("tiny"),
                          tmp("train.jsonl"), tmp("valid.jsonl"), args, full);
    CHECK(rc == 0, "train: %s", log ? log : "");
    free(log);
    char path[700];
    lst_err_t err;
    snprintf(path, sizeof path, "%s/metrics.json", full);
    char *m = lst_read_file(path, 1 << 20, NULL, &err);
    cJSON *j = m ? cJSON_Parse(m) : NULL;
    const cJSON *ev = cJSON_GetObjectItem(j, "evaluations"), *st = cJSON_GetObjectItem(j, "steps");
    const cJSON *stop = cJSON_GetObjectItem(j, "stopped_early");
    /* 48 examples, batch 8: 6 steps an epoch, 60 in all, validations every 2 steps; the
     * score stops improving early on this tiny task, and 3 validations later the run stops */
    CHECK(cJSON_IsArray(ev) && cJSON_GetArraySize(ev) >= 2 && cJSON_IsTrue(stop) && cJSON_IsNumber(st) &&
              st->valuedouble < 60,
          "no early stop with evaluations: %s", m ? m : err.msg);
    int n_val = 0;
    snprintf(path, sizeof path, "%s/log.csv", full);
    char *lg = lst_read_file(path, 1 << 20, NULL, &err);
    for (char *p = lg; p && (p = strchr(p, '\n')); p++)
        if (p > lg && p[-1] != ',' && strncmp(p - 9, "val_score", 9)) n_val++;
    const int n_ep = cJSON_GetArraySize(cJSON_GetObjectItem(j, "epochs"));
    CHECK(lg && strstr(lg, ",val_score\n") && n_val == cJSON_GetArraySize(ev) + n_ep,
          "log.csv has %d rows with a val_score, metrics.json %d evaluations + %d epoch ends", n_val,
          cJSON_GetArraySize(ev), n_ep);
    free(lg);
    cJSON_Delete(j);
    free(m);
    rc = lst_test_run(&log, "train --model %s --train %s --valid %s %s --out %s --halt-after 5", tmp("tiny"),
                      tmp("train.jsonl"), tmp("valid.jsonl"), args, cut);
    CHECK(rc == 3, "halt: %d %s", rc, log ? log : "");
    free(log);
    resume_matches(full, cut, "--eval-every/--patience");
}
