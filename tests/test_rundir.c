/* test_rundir.c: the run directory under hostile conditions (issue 12):
 * kills exactly before and after every rename and log sync of a run (the
 * fault-injection build of lst, build/lst-fault), edited run.json and
 * checkpoint states, leftovers in the directory, another backbone under a
 * run, non-finite weights, a finished run resumed, and the file layer's
 * own promises (close-on-exec temporaries, nothing left on failure). */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/core/fileio.h"
#include "../src/io/safetensors.h"
#include "../src/train/rundir.h"
#include "test.h"

static const char *tmp(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/rd_%s", lst_test_tmpdir(), name);
    return buf[k];
}

static char *slurp(const char *path, size_t *len) {
    lst_err_t err;
    return lst_read_file(path, 1 << 26, len, &err);
}

static int same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

/* A tiny model and a 16-example task: 2 batches an epoch, 2 epochs. */
static int setup(void) {
    static int done, ok;
    if (done) return ok;
    done = 1;
    char *log = NULL;
    int rc = lst_test_run(&log, "init --preset t5-tiny --out %s --seed 3", tmp("m"));
    CHECK(rc == 0, "init: %s", log ? log : "");
    free(log);
    const char *w[2] = {"good", "bad"};
    FILE *t = fopen(tmp("t.jsonl"), "w"), *v = fopen(tmp("v.jsonl"), "w");
    if (!t || !v) return 0;
    for (int i = 0; i < 16; i++)
        fprintf(t, "{\"source\": \"review: it was %s %d\", \"target\": \"%s\"}\n", w[i % 2], i,
                i % 2 ? "no" : "yes");
    for (int i = 0; i < 4; i++)
        fprintf(v, "{\"source\": \"review: it was %s\", \"target\": \"%s\"}\n", w[i % 2], i % 2 ? "no" : "yes");
    fclose(t);
    fclose(v);
    ok = rc == 0;
    return ok;
}

static const char *args(const char *model) {
    static char a[2048];
    snprintf(a, sizeof a,
             "--model %s --task custom --train %s --valid %s --r 4 --epochs 2 --batch 8 "
             "--eval-batch 16 --warmup 2 --gen-validation 3 --checkpoint-every 1 --seed 5 "
             "--init random --quiet",
             model, tmp("t.jsonl"), tmp("v.jsonl"));
    return a;
}

/* The uninterrupted run every interrupted one must equal. */
static const char *reference(void) {
    static int done;
    if (!done) {
        done = 1;
        char *log = NULL;
        int rc = lst_test_run(&log, "train %s --out %s", args(tmp("m")), tmp("ref"));
        CHECK(rc == 0, "reference run: %s", log ? log : "");
        free(log);
    }
    return tmp("ref");
}

/* metrics.json without the fields that measure the machine */
static char *metrics_core(const char *run) {
    char p[700];
    snprintf(p, sizeof p, "%s/metrics.json", run);
    char *t = slurp(p, NULL);
    const char *cut[] = {"\"peak_rss_mib\"", "\"wall_s\"", "\"step_ms_median\"", "\"finished_utc\""};
    for (int i = 0; t && i < 4; i++) {
        char *q = strstr(t, cut[i]);
        if (q) {
            char *e = strchr(q, '\n');
            memmove(q, e ? e : q + strlen(q), strlen(e ? e : q + strlen(q)) + 1);
        }
    }
    return t;
}

/* The final log, weights and metrics equal the reference run's. */
static int same_as_reference(const char *run, const char *what) {
    char ref[600], a[700], b[700], cmd[2000];
    snprintf(ref, sizeof ref, "%s", reference());
    snprintf(a, sizeof a, "%s/side.safetensors", ref);
    snprintf(b, sizeof b, "%s/side.safetensors", run);
    int ok = same_file(a, b);
    CHECK(ok, "%s: side weights differ", what);
    char *x = metrics_core(ref), *y = metrics_core(run);
    int m = x && y && !strcmp(x, y);
    CHECK(m, "%s: metrics differ:\n%s\n%s", what, x ? x : "", y ? y : "");
    free(x);
    free(y);
    snprintf(cmd, sizeof cmd, "cut -d, -f1-5 %s/log.csv > %s && cut -d, -f1-5 %s/log.csv > %s", ref,
             tmp("l1"), run, tmp("l2"));
    int l = system(cmd) == 0 && same_file(tmp("l1"), tmp("l2"));
    CHECK(l, "%s: log.csv differs from the uninterrupted run's", what);
    return ok && m && l;
}

static const char *fault_bin(void) {
    const char *b = getenv("LST_FAULT_BIN");
    return b && *b ? b : "build/lst-fault";
}

/* Runs the fault build with LST_FAULT=spec; returns the shell's status
 * (137: it killed itself at the fault point). */
static int run_fault(const char *spec, const char *cmdargs) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "LST_FAULT=%s %s %s > %s 2>&1", spec, fault_bin(), cmdargs, tmp("fault_out"));
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Resumes (or, with no checkpoint yet, starts again) until finished. */
static int finish_run(const char *run) {
    char ck[700];
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", run);
    char *log = NULL;
    int rc = lst_test_file_exists(ck) ? lst_test_run(&log, "train --resume %s --quiet", run)
                                      : lst_test_run(&log, "train %s --out %s", args(tmp("m")), run);
    CHECK(rc == 0, "finishing %s: %d %s", run, rc, log ? log : "");
    free(log);
    return rc == 0;
}

/* Kill the N-th event `op` (before or after it) for N = 1, 2, ... until a
 * run gets through without reaching N: every rename of the run directory's
 * files (run.json, log.csv, each checkpoint, side.safetensors,
 * metrics.json) and every log sync before a checkpoint. After each kill the
 * run is finished and must equal the uninterrupted one. (No file of the run
 * directory is truncated any more: the log is rewritten by rename.) */
static void kill_every(const char *op, const char *first_args_fmt) {
    for (int after = 0; after < 2; after++) {
        int n;
        for (n = 1; n < 40; n++) {
            char run[600], spec[64], how[3000], what[128];
            snprintf(run, sizeof run, "%s_%s%d_%d", tmp("kill"), op, n, after);
            snprintf(spec, sizeof spec, "%s:%d:%s", op, n, after ? "after" : "before");
            snprintf(how, sizeof how, first_args_fmt, args(tmp("m")), run);
            int st = run_fault(spec, how);
            if (st == 0) break; /* fewer than n events: all covered */
            CHECK(st == 137, "%s: status %d (not killed at the fault point)", spec, st);
            if (st != 137) break;
            snprintf(what, sizeof what, "killed %s %s", after ? "after" : "before", spec);
            if (finish_run(run)) same_as_reference(run, what);
        }
        CHECK(n > 4, "only %d %s events: the fault points are not reached", n - 1, op);
        fprintf(stderr, "(%s: %d kills %s) ", op, n - 1, after ? "after" : "before");
    }
}

TEST(rundir_kill_before_and_after_every_rename) {
    if (!setup()) return;
    reference();
    kill_every("rename", "train %s --out %s");
}

TEST(rundir_kill_before_and_after_every_log_sync) {
    if (!setup()) return;
    reference();
    kill_every("sync", "train %s --out %s");
}

/* The resumed process's own renames: the log rewrite (which used to
 * truncate log.csv in place, defect 4) and the checkpoints after it. */
TEST(rundir_kill_around_the_resume_log_rewrite) {
    if (!setup()) return;
    reference();
    for (int k = 0; k < 4; k++) {
        char run[600], spec[64], how[1000], what[128];
        snprintf(run, sizeof run, "%s%d", tmp("rkill"), k);
        char *log = NULL;
        int rc = lst_test_run(&log, "train %s --out %s --halt-after 1", args(tmp("m")), run);
        CHECK(rc == 3, "halt: %d %s", rc, log ? log : "");
        free(log);
        snprintf(spec, sizeof spec, "rename:%d:%s", 1 + k / 2, k % 2 ? "after" : "before");
        snprintf(how, sizeof how, "train --resume %s --quiet", run);
        CHECK(run_fault(spec, how) == 137, "%s on resume: not killed", spec);
        /* the log still has the row of the checkpoint's step */
        char p[700];
        snprintf(p, sizeof p, "%s/log.csv", run);
        char *t = slurp(p, NULL);
        CHECK(t && strstr(t, "\n1,1,"), "%s: the log lost the checkpoint's row: %s", spec, t ? t : "");
        free(t);
        snprintf(what, sizeof what, "resume killed at %s", spec);
        if (finish_run(run)) same_as_reference(run, what);
    }
}

/* ---- edited run directories ------------------------------------------------ */

/* A finished run r (max-steps 1), made once. */
static const char *small_run(void) {
    static int done;
    if (!done) {
        done = 1;
        char *log = NULL;
        int rc = lst_test_run(&log, "train %s --out %s --max-steps 1", args(tmp("m")), tmp("r1"));
        CHECK(rc == 0, "small run: %s", log ? log : "");
        free(log);
    }
    return tmp("r1");
}

/* A copy of the small run with run.json's `key` set to `value` (JSON text;
 * NULL removes the key). */
static const char *edited_run(const char *name, const char *key, const char *value) {
    const char *dst = tmp(name);
    char cmd[2000], p[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s && cp -r %s %s", dst, small_run(), dst);
    CHECK(system(cmd) == 0, "copy run");
    snprintf(p, sizeof p, "%s/run.json", dst);
    char *t = slurp(p, NULL);
    cJSON *j = t ? cJSON_Parse(t) : NULL;
    free(t);
    cJSON_DeleteItemFromObjectCaseSensitive(j, key);
    if (value) cJSON_AddItemToObject(j, key, cJSON_Parse(value));
    char *out = cJSON_Print(j);
    lst_err_t err;
    CHECK(out && lst_write_atomic(p, out, strlen(out), &err) == 0, "rewrite run.json");
    free(out);
    cJSON_Delete(j);
    return dst;
}

static void expect(int want_rc, const char *want_msg, const char *fmt, const char *run) {
    char *log = NULL;
    int rc = lst_test_run(&log, fmt, run);
    CHECK(rc == want_rc && (!want_msg || (log && strstr(log, want_msg))),
          "`%s` on %s: exit %d (want %d, message '%s'): %s", fmt, run, rc, want_rc,
          want_msg ? want_msg : "", log ? log : "");
    free(log);
}

/* defect 1: an unknown method freed run.json's cJSON twice (abort, 134) */
TEST(rundir_unknown_method_in_run_json) {
    if (!setup()) return;
    const char *r = edited_run("badmethod", "method", "\"nosuch\"");
    expect(1, "unknown method 'nosuch'", "eval --run %s", r);
    expect(1, "unknown method 'nosuch'", "predict --run %s < /dev/null", r);
    expect(1, "unknown method 'nosuch'", "train --resume %s --quiet", r);
}

/* defects 7, 14: every integer of run.json an integer in its C type's range */
TEST(rundir_run_json_integers) {
    if (!setup()) return;
    expect(1, "'checkpoint_every'", "eval --run %s",
           edited_run("ck_big", "checkpoint_every", "2147483648"));
    expect(1, "'epochs'", "eval --run %s", edited_run("ep_frac", "epochs", "2.5"));
    expect(1, "'seed'", "eval --run %s", edited_run("seed_big", "seed", "1e300"));
    expect(1, "encoder_side_layers", "eval --run %s",
           edited_run("frac_layers", "encoder_side_layers", "[0.5, 1.7]"));
    expect(1, "encoder_side_layers", "eval --run %s",
           edited_run("dup_layers", "encoder_side_layers", "[1, 1]"));
    /* a run.json from before the fingerprint still opens */
    expect(0, "\"accuracy\"", "eval --run %s --split validation",
           edited_run("nofp", "backbone_fingerprint", NULL));
}

/* A run halted at step `halt` whose checkpoint state has `from` replaced by
 * `to`. */
static const char *edited_state(const char *name, int halt, const char *from, const char *to) {
    const char *run = tmp(name);
    char cmd[1500], p[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", run);
    CHECK(system(cmd) == 0, "rm");
    char *log = NULL;
    int rc = lst_test_run(&log, "train %s --out %s --halt-after %d", args(tmp("m")), run, halt);
    CHECK(rc == 3, "halt: %d %s", rc, log ? log : "");
    free(log);
    snprintf(p, sizeof p, "%s/checkpoint.safetensors", run);
    lst_st_file_t in = {0};
    lst_err_t err;
    if (lst_st_open(&in, p, &err) != 0) {
        CHECK(0, "%s", err.msg);
        return run;
    }
    lst_st_out_t *outs = calloc(in.n, sizeof *outs);
    char *js = NULL;
    for (int i = 0; i < in.n; i++) {
        outs[i].name = in.tensors[i].name;
        outs[i].dtype = in.tensors[i].dtype;
        outs[i].ndim = in.tensors[i].ndim;
        memcpy(outs[i].shape, in.tensors[i].shape, sizeof outs[i].shape);
        outs[i].data = in.tensors[i].data;
        if (!strcmp(in.tensors[i].name, "state")) {
            /* the state with `from` replaced by `to` */
            const char *d = in.tensors[i].data;
            size_t n = in.tensors[i].nbytes;
            const char *at = memmem(d, n, from, strlen(from));
            CHECK(at != NULL, "state has no '%s'", from);
            js = malloc(n + strlen(to) + 1);
            size_t k = at ? (size_t)(at - d) : n;
            memcpy(js, d, k);
            size_t m = k;
            if (at) {
                memcpy(js + m, to, strlen(to));
                m += strlen(to);
                memcpy(js + m, at + strlen(from), n - k - strlen(from));
                m += n - k - strlen(from);
            }
            outs[i].data = js;
            outs[i].shape[0] = (int64_t)m;
        }
    }
    char q[720];
    snprintf(q, sizeof q, "%s.new", p);
    CHECK(lst_st_write(q, outs, in.n, &err) == 0, "%s", err.msg);
    lst_st_close(&in);
    free(outs);
    free(js);
    CHECK(rename(q, p) == 0, "rename");
    return run;
}

/* defect 13: a state whose fields are each in range but disagree */
TEST(rundir_inconsistent_checkpoint_state) {
    if (!setup()) return;
    /* step 1 is epoch 0, batch 1; batch 0 would be step 0 */
    expect(1, "does not agree", "train --resume %s --quiet",
           edited_state("st_pos", 1, "\"batch_index\":1", "\"batch_index\":0"));
    /* after epoch 1 (step 2): best epoch 2 has not happened */
    expect(1, "best epoch 2 is after", "train --resume %s --quiet",
           edited_state("st_best", 2, "\"best_epoch\":1", "\"best_epoch\":2"));
    expect(1, "'step' = 1.5", "train --resume %s --quiet",
           edited_state("st_frac", 1, "\"step\":1,", "\"step\":1.5,"));
    expect(1, "history entries", "train --resume %s --quiet",
           edited_state("st_hist", 2, "\"history\":[{", "\"history\":[{},{"));
    /* the best validation (step 2, epoch 1's end) moved past the state's own step */
    expect(1, "'best_step' = 9 does not fit", "train --resume %s --quiet",
           edited_state("st_bstep", 2, "\"best_step\":2", "\"best_step\":9"));
}

/* defect 12: resume removes lst's own temporaries and nothing else */
TEST(rundir_resume_keeps_user_files) {
    if (!setup()) return;
    char run[600]; /* tmp()'s buffers rotate */
    snprintf(run, sizeof run, "%s", tmp("temps"));
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "rm -rf %s", run);
    CHECK(system(cmd) == 0, "rm");
    char *log = NULL;
    int rc = lst_test_run(&log, "train %s --out %s --halt-after 1", args(tmp("m")), run);
    CHECK(rc == 3, "halt: %d %s", rc, log ? log : "");
    free(log);
    const char *user[] = {"analysis.tmp.txt", "log.csv.tmp.notes", "my.tmp.XXXXXX"};
    const char *own[] = {"checkpoint.safetensors.tmp.Ab12Cd", "log.csv.tmp.zzzzzz"};
    char p[800];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", run, user[i]);
        FILE *f = fopen(p, "w");
        if (f) fclose(f);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", run, own[i]);
        FILE *f = fopen(p, "w");
        if (f) fclose(f);
    }
    rc = lst_test_run(&log, "train --resume %s --quiet", run);
    CHECK(rc == 0, "resume: %s", log ? log : "");
    free(log);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", run, user[i]);
        CHECK(lst_test_file_exists(p), "resume deleted the user's %s", user[i]);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", run, own[i]);
        CHECK(!lst_test_file_exists(p), "resume left lst's temporary %s", own[i]);
    }
    CHECK(lst_is_own_temp("log.csv.tmp.a1B2c3", "log.csv") && !lst_is_own_temp("log.csv.tmp.a1B2c", "log.csv") &&
              !lst_is_own_temp("log.csv.tmp.a1B2c34", "log.csv") && !lst_is_own_temp("xlog.csv.tmp.a1B2c3", "log.csv"),
          "lst_is_own_temp");
}

/* defect 20 (and 3): the log keeps complete rows only, in order */
TEST(rundir_log_rows_without_comma) {
    if (!setup()) return;
    char run[600]; /* tmp()'s buffers rotate */
    snprintf(run, sizeof run, "%s", tmp("logrow"));
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "rm -rf %s", run);
    CHECK(system(cmd) == 0, "rm");
    char *log = NULL;
    int rc = lst_test_run(&log, "train %s --out %s --halt-after 2", args(tmp("m")), run);
    CHECK(rc == 3, "halt: %d %s", rc, log ? log : "");
    free(log);
    snprintf(cmd, sizeof cmd, "printf '1\\n2,1,0.5\\n45' >> %s/log.csv", run);
    CHECK(system(cmd) == 0, "append");
    CHECK(finish_run(run), "resume");
    char p[800];
    snprintf(p, sizeof p, "%s/log.csv", run);
    char *t = slurp(p, NULL);
    CHECK(t && !strstr(t, "\n1\n") && !strstr(t, "\n2,1,0.5\n") && !strstr(t, "\n45"),
          "the log kept a malformed row: %s", t ? t : "");
    free(t);
    same_as_reference(run, "log with a row without comma");
    /* the filter itself */
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    int64_t kept = lst_runlog_filter("step,epoch,loss,lr,grad_norm,elapsed_s\n1,1,2,3,4,5\n2\n2,1,2,3,4,5\n"
                                     "3,1,2,3,4\n3,1,2,3,4,5\n5,1,2,3,4,5\n4,1,2,3,4,5",
                                     10, m);
    fclose(m);
    CHECK(kept == 3 && buf && !strcmp(buf, "1,1,2,3,4,5\n2,1,2,3,4,5\n3,1,2,3,4,5\n"),
          "filter kept %lld rows: %s", (long long)kept, buf ? buf : "");
    free(buf);
}

/* defect 16: a finished run says so and keeps its metrics; the step times
 * and peak RSS of a resumed run cover every process */
TEST(rundir_finished_run_and_timing_across_resumes) {
    if (!setup()) return;
    char run[600]; /* tmp()'s buffers rotate */
    snprintf(run, sizeof run, "%s", tmp("timing"));
    char cmd[2000], p[800];
    snprintf(cmd, sizeof cmd, "rm -rf %s", run);
    CHECK(system(cmd) == 0, "rm");
    char *log = NULL;
    int rc = lst_test_run(&log, "train %s --out %s --halt-after 3", args(tmp("m")), run);
    CHECK(rc == 3, "halt: %d %s", rc, log ? log : "");
    free(log);
    CHECK(finish_run(run), "resume");
    snprintf(p, sizeof p, "%s/metrics.json", run);
    size_t n0 = 0;
    char *before = slurp(p, &n0);
    cJSON *mj = before ? cJSON_Parse(before) : NULL;
    const cJSON *med = cJSON_GetObjectItem(mj, "step_ms_median");
    CHECK(cJSON_IsNumber(med) && med->valuedouble > 0, "step_ms_median after a resume: %s",
          before ? before : "");
    cJSON_Delete(mj);
    /* the last checkpoint holds the time of all 4 steps, 3 of them from the first process */
    snprintf(p, sizeof p, "%s/checkpoint.safetensors", run);
    lst_st_file_t f = {0};
    lst_err_t err;
    if (lst_st_open(&f, p, &err) == 0) {
        const lst_st_tensor_t *st = lst_st_find(&f, "state");
        char *js = st ? strndup(st->data, st->nbytes) : NULL;
        cJSON *s = js ? cJSON_Parse(js) : NULL;
        const cJSON *t = cJSON_GetObjectItem(s, "step_ms"), *rss = cJSON_GetObjectItem(s, "peak_rss_mib");
        CHECK(cJSON_GetArraySize(t) == 4 && cJSON_IsNumber(rss) && rss->valuedouble > 1,
              "state timing: %s", js ? js : "");
        cJSON_Delete(s);
        free(js);
        lst_st_close(&f);
    }
    snprintf(p, sizeof p, "%s/metrics.json", run);
    rc = lst_test_run(&log, "train --resume %s --quiet", run);
    CHECK(rc == 0 && log && strstr(log, "is finished"), "finished run: %d %s", rc, log ? log : "");
    free(log);
    size_t n1 = 0;
    char *after = slurp(p, &n1);
    CHECK(before && after && n0 == n1 && !memcmp(before, after, n0), "metrics.json changed");
    free(before);
    free(after);
}

/* ---- the backbone -------------------------------------------------------------- */

/* defect 5: another backbone under a run is refused, saying what changed */
TEST(rundir_other_backbone_refused) {
    if (!setup()) return;
    char m2[600];
    snprintf(m2, sizeof m2, "%s", tmp("m2"));
    char cmd[3000];
    char *log = NULL;
    snprintf(cmd, sizeof cmd, "rm -rf %s && cp -r %s %s", m2, tmp("m"), m2);
    CHECK(system(cmd) == 0, "copy model");
    char run[600]; /* tmp()'s buffers rotate */
    snprintf(run, sizeof run, "%s", tmp("fp"));
    snprintf(cmd, sizeof cmd, "rm -rf %s", run);
    CHECK(system(cmd) == 0, "rm");
    int rc = lst_test_run(&log, "train %s --out %s --halt-after 1", args(m2), run);
    CHECK(rc == 3, "halt: %d %s", rc, log ? log : "");
    free(log);
    /* same shapes, other weights */
    rc = lst_test_run(&log, "init --preset t5-tiny --out %s --seed 4", m2);
    CHECK(rc == 0, "init: %s", log ? log : "");
    free(log);
    expect(1, "the weights changed", "train --resume %s --quiet", run);
    /* the old weights and config back (a pair of one lst init), config.json
     * edited (same values, other bytes) */
    snprintf(cmd, sizeof cmd, "cp %s/model.safetensors %s/config.json %s/ && printf ' ' >> %s/config.json",
             tmp("m"), tmp("m"), m2, m2);
    CHECK(system(cmd) == 0, "edit config");
    expect(1, "config.json changed", "train --resume %s --quiet", run);
    snprintf(cmd, sizeof cmd, "cp %s/config.json %s/", tmp("m"), m2);
    CHECK(system(cmd) == 0, "restore config");
    rc = lst_test_run(&log, "train --resume %s --quiet", run);
    CHECK(rc == 0, "the same backbone is refused: %s", log ? log : "");
    free(log);
    expect(0, "\"accuracy\"", "eval --run %s --split validation", run);
    rc = lst_test_run(&log, "init --preset t5-tiny --out %s --seed 4", m2);
    free(log);
    expect(1, "the weights changed", "eval --run %s", run);
    expect(1, "the weights changed", "predict --run %s < /dev/null", run);
}

/* A copy of the tiny model with one NaN in `tensor` at element k. */
static const char *nan_model(const char *name, const char *tensor, int k) {
    const char *dir = tmp(name);
    char cmd[2000], path[700];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/config.json %s/", dir, tmp("m"), dir);
    CHECK(system(cmd) == 0, "copy");
    lst_st_file_t in = {0};
    lst_err_t err;
    snprintf(path, sizeof path, "%s/model.safetensors", tmp("m"));
    if (lst_st_open(&in, path, &err) != 0) return dir;
    lst_st_out_t *outs = calloc(in.n, sizeof *outs);
    float *bad = NULL;
    for (int i = 0; i < in.n; i++) {
        outs[i].name = in.tensors[i].name;
        outs[i].dtype = in.tensors[i].dtype;
        outs[i].ndim = in.tensors[i].ndim;
        memcpy(outs[i].shape, in.tensors[i].shape, sizeof outs[i].shape);
        outs[i].data = in.tensors[i].data;
        if (!strcmp(in.tensors[i].name, tensor)) {
            bad = malloc(in.tensors[i].nbytes);
            memcpy(bad, in.tensors[i].data, in.tensors[i].nbytes);
            bad[k] = NAN;
            outs[i].data = bad;
        }
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(lst_st_write(path, outs, in.n, &err) == 0, "%s", err.msg);
    free(bad);
    free(outs);
    lst_st_close(&in);
    return dir;
}

/* defect 6 (load half): non-finite weights are refused at load, naming the
 * tensor and the first index; defect 15: a NaN at step 1 does not claim a
 * checkpoint */
TEST(rundir_nonfinite_backbone) {
    if (!setup()) return;
    const char *tensor = "encoder.block.0.layer.1.DenseReluDense.wi.weight";
    char m[600];
    snprintf(m, sizeof m, "%s", nan_model("m_nan", tensor, 37));
    char *log = NULL;
    int rc = lst_test_run(&log, "train %s --out %s", args(m), tmp("nan1"));
    CHECK(rc == 1 && log && strstr(log, tensor) && strstr(log, "NaN") && strstr(log, "element 37"),
          "NaN weight: %d %s", rc, log ? log : "");
    free(log);
    CHECK(!lst_test_file_exists(tmp("nan1")), "a refused run left its directory");
    char m2[600];
    snprintf(m2, sizeof m2, "%s", nan_model("m_nan2", "encoder.final_layer_norm.weight", 0));
    setenv("LST_ALLOW_NONFINITE", "1", 1);
    rc = lst_test_run(&log, "train %s --out %s", args(m2), tmp("nan2"));
    unsetenv("LST_ALLOW_NONFINITE");
    CHECK(rc == 1 && log && strstr(log, "at step 1") && strstr(log, "no checkpoint was written yet") &&
              !strstr(log, "last checkpoint is kept"),
          "NaN at step 1: %d %s", rc, log ? log : "");
    free(log);
}

/* ---- the file layer ------------------------------------------------------------ */

TEST(rundir_atomic_writer) {
    lst_atomic_t a;
    lst_err_t err;
    char path[600];
    snprintf(path, sizeof path, "%s/aw.txt", lst_test_tmpdir());
    CHECK(lst_atomic_open(&a, path, &err) == 0, "%s", err.msg);
    int fl = fcntl(a.fd, F_GETFD);
    CHECK(fl >= 0 && (fl & FD_CLOEXEC), "the temporary is not close-on-exec");
    CHECK(lst_atomic_write(&a, "abc", 3, &err) == 0, "%s", err.msg);
    CHECK(!lst_test_file_exists(path), "the target exists before the commit");
    char tmpname[700];
    snprintf(tmpname, sizeof tmpname, "%s", a.tmp);
    CHECK(lst_atomic_commit(&a, &err) == 0, "%s", err.msg);
    CHECK(!lst_test_file_exists(tmpname), "the temporary is left after the commit");
    size_t n = 0;
    char *t = slurp(path, &n);
    CHECK(t && n == 3 && !memcmp(t, "abc", 3), "content");
    free(t);
    /* an aborted write leaves the old file and no temporary */
    CHECK(lst_atomic_open(&a, path, &err) == 0, "%s", err.msg);
    snprintf(tmpname, sizeof tmpname, "%s", a.tmp);
    lst_atomic_write(&a, "zz", 2, &err);
    lst_atomic_abort(&a);
    t = slurp(path, &n);
    CHECK(t && n == 3 && !lst_test_file_exists(tmpname), "abort changed the file or left %s", tmpname);
    free(t);
    /* a directory that does not exist: refused, nothing created */
    snprintf(path, sizeof path, "%s/no/such/dir/x", lst_test_tmpdir());
    CHECK(lst_write_atomic(path, "a", 1, &err) == -1 && strstr(err.msg, "no/such/dir"), "%s", err.msg);
}

/* A checkpoint from before the step times resumes, and so do the
 * checkpoints written after it (fewer step times than steps). */
TEST(rundir_checkpoint_without_step_times) {
    if (!setup()) return;
    char run[600], cmd[1400];
    snprintf(run, sizeof run, "%s", edited_state("old_ckpt", 1, "\"step_ms\":[", "\"old_ms\":["));
    char *log = NULL;
    int rc = lst_test_run(&log, "train --resume %s --quiet", run);
    CHECK(rc == 0, "resume of a checkpoint without step times: %s", log ? log : "");
    free(log);
    /* again from the final checkpoint (3 step times for 4 steps) */
    snprintf(cmd, sizeof cmd, "rm %s/metrics.json", run);
    CHECK(system(cmd) == 0, "rm metrics");
    rc = lst_test_run(&log, "train --resume %s --quiet", run);
    CHECK(rc == 0, "resume of a checkpoint with fewer step times than steps: %s", log ? log : "");
    free(log);
    same_as_reference(run, "a checkpoint without step times");
}
