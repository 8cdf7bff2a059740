/* test_tokenizer.c: the T5 tokenizer (src/io/tokenizer.h) and `lst tokenize`.
 *
 * Golden data: tests/data/tokenizer/t5_glue_samples.jsonl and
 * t5_sentinel_samples.jsonl, rows of {task, text, ids, pieces} produced by
 * the reference T5 tokenizer; every row must encode to exactly its ids,
 * through the library and the CLI. */
#include "test.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/io/tokenizer.h"

#define SPM "data/t5/spiece.model"
#define SAMPLES "tests/data/tokenizer/t5_glue_samples.jsonl"
/* texts with "<extra_id_N>" sentinels, and near misses, as transformers'
 * T5 tokenizer (shared/data/t5/tokenizer.json) encodes them */
#define SENTINELS "tests/data/tokenizer/t5_sentinel_samples.jsonl"

typedef struct {
    char *task, *text;
    size_t text_len;
    int32_t *ids;
    int n_ids;
} sample_t;

static sample_t *samples;
static int n_samples = -1; /* -1: not loaded yet; 0 after a failed load */

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static void free_samples(void) {
    for (int i = 0; i < n_samples; i++) {
        free(samples[i].task);
        free(samples[i].text);
        free(samples[i].ids);
    }
    free(samples);
}

/* Parses one JSONL row; returns 0 on success. */
static int parse_sample(const char *line, sample_t *s) {
    memset(s, 0, sizeof *s);
    cJSON *j = cJSON_Parse(line);
    if (!j) return -1;
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(j, "task");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(j, "ids");
    int ok = cJSON_IsString(task) && cJSON_IsString(text) && cJSON_IsArray(ids);
    if (ok) {
        /* cJSON strings are NUL-terminated; the samples hold no NUL. */
        s->task = dup_str(task->valuestring);
        s->text = dup_str(text->valuestring);
        s->text_len = strlen(text->valuestring);
        s->n_ids = cJSON_GetArraySize(ids);
        s->ids = malloc((size_t)(s->n_ids ? s->n_ids : 1) * sizeof *s->ids);
        ok = s->task && s->text && s->ids;
        int k = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, ids) {
            if (!ok || !cJSON_IsNumber(v)) {
                ok = 0;
                break;
            }
            s->ids[k++] = (int32_t)v->valuedouble;
        }
    }
    cJSON_Delete(j);
    if (!ok) {
        free(s->task);
        free(s->text);
        free(s->ids);
        return -1;
    }
    return 0;
}

/* Loads the golden rows of one file into samples; 0 if it opened. */
static int load_file(const char *path, int *cap_s) {
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        if (line[0] == '\n' || !line[0]) continue;
        if (n_samples == *cap_s) {
            *cap_s = *cap_s ? *cap_s * 2 : 256;
            sample_t *g = realloc(samples, (size_t)*cap_s * sizeof *g);
            CHECK(g != NULL, "out of memory");
            if (!g) break;
            samples = g;
        }
        int bad = parse_sample(line, &samples[n_samples]);
        CHECK(!bad, "%s:%d: not a {task, text, ids} row", path, lineno);
        if (!bad) n_samples++;
    }
    free(line);
    fclose(f);
    return 0;
}

/* Loads the golden rows once (GLUE texts, then texts with sentinels);
 * returns their count (0 if unreadable, with the failure already reported
 * through CHECK). */
static int load_samples(void) {
    if (n_samples >= 0) return n_samples;
    n_samples = 0;
    atexit(free_samples);
    int cap_s = 0;
    const char *files[2] = {SAMPLES, SENTINELS};
    for (int i = 0; i < 2; i++)
        if (load_file(files[i], &cap_s)) return n_samples = 0;
    return n_samples;
}

static lst_tokenizer_t *load_t5(void) {
    lst_err_t err = {{0}};
    lst_tokenizer_t *t = lst_tokenizer_load(SPM, &err);
    CHECK(t != NULL, "loading %s: %s", SPM, err.msg);
    return t;
}

/* Space-separated ids, as the CLI prints them, into buf. */
static void format_ids(const int32_t *ids, int n, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, i ? " %d" : "%d", (int)ids[i]);
}

static int write_file(const char *path, const char *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

/* Runs `lst tokenize --spm SPM <extra>` with stdin from a temp file holding
 * input; returns the exit status, output (stdout+stderr) in *out. */
static int run_tokenize(char **out, const char *extra, const char *input) {
    char path[512];
    snprintf(path, sizeof path, "%s/tok_stdin.txt", lst_test_tmpdir());
    *out = NULL;
    if (write_file(path, input, strlen(input)) != 0) {
        CHECK(0, "cannot write %s", path);
        return -1;
    }
    return lst_test_run(out, "tokenize --spm %s %s < '%s'", SPM, extra, path);
}

TEST(tok_vocab_size_is_32100) {
    lst_tokenizer_t *t = load_t5();
    if (!t) return;
    CHECK(lst_tokenizer_vocab_size(t) == 32100, "vocab size %d, expected 32100",
          lst_tokenizer_vocab_size(t));
    lst_tokenizer_free(t);
}

TEST(tok_glue_samples_encode_exactly) {
    int n = load_samples();
    CHECK(n == 246 + 17, "%s and %s have %d rows, expected 246 + 17", SAMPLES, SENTINELS, n);
    lst_tokenizer_t *t = load_t5();
    if (!t) return;
    int mismatches = 0;
    for (int i = 0; i < n; i++) {
        const sample_t *s = &samples[i];
        int32_t *ids = NULL;
        int m = 0;
        lst_err_t err = {{0}};
        if (lst_tokenizer_encode(t, s->text, s->text_len, &ids, &m, &err) != 0) {
            if (mismatches++ < 5) CHECK(0, "row %d (%s): encode failed: %s", i, s->task, err.msg);
            continue;
        }
        if (m != s->n_ids || memcmp(ids, s->ids, (size_t)m * sizeof *ids) != 0) {
            if (mismatches++ < 5) {
                char got[512], want[512];
                format_ids(ids, m, got, sizeof got);
                format_ids(s->ids, s->n_ids, want, sizeof want);
                CHECK(0, "row %d (%s) \"%.60s\": got [%.200s] (%d), want [%.200s] (%d)", i,
                      s->task, s->text, got, m, want, s->n_ids);
            }
        }
        free(ids);
    }
    CHECK(mismatches == 0, "%d of %d rows encode differently", mismatches, n);
    lst_tokenizer_free(t);
}

/* A spread of rows (one per task, the edge cases, a \r\n line) through
 * `lst tokenize`, whose output must be exactly the golden id lines. */
TEST(tok_cli_encodes_samples) {
    int n = load_samples();
    if (n == 0) return;
    size_t in_cap = 1 << 16, out_cap = 1 << 16, in_len = 0, out_len = 0;
    char *in = malloc(in_cap), *want = malloc(out_cap);
    CHECK(in && want, "out of memory");
    if (!in || !want) goto done;
    int used = 0;
    const char *last_task = "";
    for (int i = 0; i < n; i++) {
        const sample_t *s = &samples[i];
        int edge = !strcmp(s->task, "edge");
        if (!edge && !strcmp(s->task, last_task)) continue; /* first row per task */
        last_task = s->task;
        if (memchr(s->text, '\n', s->text_len)) continue; /* cannot be one line */
        if (in_len + s->text_len + 3 > in_cap || out_len + 16 * (size_t)s->n_ids + 2 > out_cap)
            break;
        memcpy(in + in_len, s->text, s->text_len);
        in_len += s->text_len;
        if (used == 1) in[in_len++] = '\r'; /* one Windows line ending */
        in[in_len++] = '\n';
        format_ids(s->ids, s->n_ids, want + out_len, out_cap - out_len);
        out_len += strlen(want + out_len);
        want[out_len++] = '\n';
        used++;
    }
    want[out_len] = 0;
    CHECK(used >= 10, "only %d sample lines used", used);
    char path[512];
    snprintf(path, sizeof path, "%s/tok_in.txt", lst_test_tmpdir());
    CHECK(write_file(path, in, in_len) == 0, "cannot write %s", path);
    char *out = NULL;
    int rc = lst_test_run(&out, "tokenize --spm %s < '%s'", SPM, path);
    CHECK(rc == 0, "exit %d: %s", rc, out ? out : "");
    CHECK(out && !strcmp(out, want), "output differs:\n--- got\n%s--- want\n%s", out ? out : "",
          want);
    free(out);

    /* Last line without a newline still counts. */
    snprintf(path, sizeof path, "%s/tok_nonl.txt", lst_test_tmpdir());
    CHECK(write_file(path, "Hello world.", 12) == 0, "cannot write %s", path);
    rc = lst_test_run(&out, "tokenize --spm %s < '%s'", SPM, path);
    CHECK(rc == 0 && out && !strcmp(out, "8774 296 5 1\n"), "exit %d, output '%s'", rc,
          out ? out : "");
    free(out);
done:
    free(in);
    free(want);
}

TEST(tok_decode_roundtrips_ascii) {
    static const char *texts[] = {
        "Hello world.",
        "The quick brown fox jumps over the lazy dog.",
        "sst2 sentence: it's a charming and often affecting journey.",
        "Is 3 + 4 = 7? Yes, and 10 / 2 = 5!",
        "",
    };
    lst_tokenizer_t *t = load_t5();
    if (!t) return;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int32_t *ids = NULL;
        int n = 0;
        char *back = NULL;
        lst_err_t err = {{0}};
        int rc = lst_tokenizer_encode(t, texts[i], strlen(texts[i]), &ids, &n, &err);
        CHECK(rc == 0, "encode '%s': %s", texts[i], err.msg);
        if (rc != 0) continue;
        CHECK(n >= 1 && ids[n - 1] == 1, "'%s' does not end with EOS", texts[i]);
        rc = lst_tokenizer_decode(t, ids, n, &back, &err);
        CHECK(rc == 0, "decode '%s': %s", texts[i], err.msg);
        CHECK(rc != 0 || !strcmp(back, texts[i]), "round trip '%s' -> '%s'", texts[i],
              back ? back : "");
        free(ids);
        free(back);
    }
    lst_tokenizer_free(t);
}

TEST(tok_decode_special_ids) {
    lst_tokenizer_t *t = load_t5();
    if (!t) return;
    struct {
        int32_t ids[8];
        int n;
        const char *want;
    } cases[] = {
        {{32099}, 1, "<extra_id_0>"},
        {{32000}, 1, "<extra_id_99>"},
        {{0, 8774, 0, 296, 5, 0}, 6, "Hello world."},      /* pad skipped */
        {{8774, 1, 296, 5}, 4, "Hello"},                    /* stops at EOS */
        {{8774, 32099, 8, 1712, 32098, 1}, 6, "Hello<extra_id_0> the cat<extra_id_1>"},
        {{1}, 1, ""},
        {{0}, 0, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = NULL;
        lst_err_t err = {{0}};
        int rc = lst_tokenizer_decode(t, cases[i].ids, cases[i].n, &text, &err);
        CHECK(rc == 0, "case %zu: %s", i, err.msg);
        CHECK(rc != 0 || !strcmp(text, cases[i].want), "case %zu: got '%s', want '%s'", i,
              text ? text : "", cases[i].want);
        free(text);
    }
    lst_tokenizer_free(t);

    char *out = NULL;
    int rc = run_tokenize(&out, "--decode", "32099\n8774 296 5 1\n");
    CHECK(rc == 0 && out && !strcmp(out, "<extra_id_0>\nHello world.\n"), "exit %d, output '%s'",
          rc, out ? out : "");
    free(out);
}

TEST(tok_err_missing_model) {
    char path[512];
    snprintf(path, sizeof path, "%s/no_such.model", lst_test_tmpdir());
    lst_err_t err = {{0}};
    lst_tokenizer_t *t = lst_tokenizer_load(path, &err);
    CHECK(t == NULL, "loaded a missing file");
    lst_tokenizer_free(t);
    CHECK(strstr(err.msg, "no_such.model") && strstr(err.msg, "No such file"), "message: %s",
          err.msg);

    char *out = NULL;
    int rc = lst_test_run(&out, "tokenize --spm '%s' < /dev/null", path);
    CHECK(rc == 1, "exit %d", rc);
    CHECK(out && strstr(out, "lst tokenize: ") && strstr(out, "no_such.model"), "output: %s",
          out ? out : "");
    free(out);
}

TEST(tok_err_not_a_model) {
    char path[512];
    lst_err_t err = {{0}};
    /* A text file is not a model. */
    snprintf(path, sizeof path, "%s/text.model", lst_test_tmpdir());
    const char junk[] = "this is not a sentencepiece model\n";
    CHECK(write_file(path, junk, sizeof junk - 1) == 0, "cannot write %s", path);
    lst_tokenizer_t *t = lst_tokenizer_load(path, &err);
    CHECK(t == NULL, "loaded a text file as a model");
    lst_tokenizer_free(t);
    CHECK(strstr(err.msg, "text.model") && strstr(err.msg, "not a valid SentencePiece model"),
          "message: %s", err.msg);

    char *out = NULL;
    int rc = lst_test_run(&out, "tokenize --spm '%s' < /dev/null", path);
    CHECK(rc == 1, "exit %d", rc);
    CHECK(out && strstr(out, "lst tokenize: ") && strstr(out, "not a valid SentencePiece model"),
          "output: %s", out ? out : "");
    free(out);

    /* An empty file, and a directory. */
    snprintf(path, sizeof path, "%s/empty.model", lst_test_tmpdir());
    CHECK(write_file(path, "", 0) == 0, "cannot write %s", path);
    t = lst_tokenizer_load(path, &err);
    CHECK(t == NULL && strstr(err.msg, "empty"), "empty file: %s", err.msg);
    lst_tokenizer_free(t);
    t = lst_tokenizer_load(lst_test_tmpdir(), &err);
    CHECK(t == NULL && strstr(err.msg, "directory"), "directory: %s", err.msg);
    lst_tokenizer_free(t);

    /* The real model cut off between two pieces still parses as protobuf;
     * it must be refused, not used with 76 pieces. */
    FILE *f = fopen(SPM, "rb");
    CHECK(f != NULL, "cannot open %s", SPM);
    if (!f) return;
    char head[1000];
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/truncated.model", lst_test_tmpdir());
    CHECK(got == sizeof head && write_file(path, head, got) == 0, "cannot write %s", path);
    t = lst_tokenizer_load(path, &err);
    CHECK(t == NULL && strstr(err.msg, "truncated"), "truncated model: %s",
          t ? "loaded" : err.msg);
    lst_tokenizer_free(t);
}

TEST(tok_err_invalid_utf8) {
    lst_tokenizer_t *t = load_t5();
    if (!t) return;
    static const struct {
        const char *s;
        size_t bad_at;
    } bad[] = {
        {"abc\xff", 3},          /* never valid */
        {"ab\xc3", 2},           /* truncated 2-byte sequence */
        {"\xc0\xaf", 0},         /* overlong '/' */
        {"x\xed\xa0\x80y", 1},   /* UTF-16 surrogate */
        {"\xf4\x90\x80\x80", 0}, /* above U+10FFFF */
        {"caf\xc3\xa9 \x80", 6}, /* stray continuation after valid é */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t dummy, *ids = &dummy; /* must come back NULL */
        int n = -1;
        lst_err_t err = {{0}};
        int rc = lst_tokenizer_encode(t, bad[i].s, strlen(bad[i].s), &ids, &n, &err);
        char want[64];
        snprintf(want, sizeof want, "at byte %zu", bad[i].bad_at);
        CHECK(rc == -1 && ids == NULL && n == 0, "case %zu: rc %d", i, rc);
        CHECK(strstr(err.msg, "invalid UTF-8") && strstr(err.msg, want),
              "case %zu: message '%s' (want '%s')", i, err.msg, want);
    }
    /* Valid multi-byte text (2, 3 and 4-byte sequences) is accepted. */
    const char *good = "caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80";
    int32_t *ids = NULL;
    int n = 0;
    lst_err_t err = {{0}};
    CHECK(lst_tokenizer_encode(t, good, strlen(good), &ids, &n, &err) == 0, "valid: %s", err.msg);
    free(ids);
    lst_tokenizer_free(t);

    char *out = NULL;
    int rc = run_tokenize(&out, "", "fine line\nbad \xff line\n");
    CHECK(rc == 1, "exit %d", rc);
    CHECK(out && strstr(out, "line 2") && strstr(out, "invalid UTF-8"), "output: %s",
          out ? out : "");
    free(out);
}

TEST(tok_err_decode_bad_ids) {
    lst_tokenizer_t *t = load_t5();
    if (!t) return;
    const int32_t cases[][2] = {{8774, 32100}, {-1, 5}, {8774, 2000000000}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = NULL;
        lst_err_t err = {{0}};
        int rc = lst_tokenizer_decode(t, cases[i], 2, &text, &err);
        int32_t bad_id = cases[i][0] < 0 ? cases[i][0] : cases[i][1];
        char want[32];
        snprintf(want, sizeof want, "token id %d", (int)bad_id);
        CHECK(rc == -1 && text == NULL, "case %zu: rc %d", i, rc);
        CHECK(strstr(err.msg, want) && strstr(err.msg, "vocabulary"), "case %zu: message '%s'", i,
              err.msg);
        free(text);
    }
    lst_tokenizer_free(t);

    char *out = NULL;
    int rc = run_tokenize(&out, "--decode", "8774 1\n8774 32100 1\n");
    CHECK(rc == 1, "exit %d", rc);
    CHECK(out && strstr(out, "line 2") && strstr(out, "32100"), "output: %s", out ? out : "");
    free(out);

    rc = run_tokenize(&out, "--decode", "8774 1\n\n12 x3 1\n");
    CHECK(rc == 1, "exit %d", rc);
    CHECK(out && strstr(out, "line 3") && strstr(out, "'x3' is not a token id"), "output: %s",
          out ? out : "");
    free(out);
}

TEST(tok_cli_usage_errors) {
    char *out = NULL;
    int rc = lst_test_run(&out, "tokenize < /dev/null");
    CHECK(rc == 2 && out && strstr(out, "--spm"), "no --spm: exit %d, %s", rc, out ? out : "");
    free(out);
    rc = lst_test_run(&out, "tokenize --spm %s --bogus < /dev/null", SPM);
    CHECK(rc == 2 && out && strstr(out, "--bogus"), "--bogus: exit %d, %s", rc, out ? out : "");
    free(out);
    rc = lst_test_run(&out, "tokenize --spm < /dev/null");
    CHECK(rc == 2, "--spm without value: exit %d", rc);
    free(out);
}

/* A tokenizer directory with added tokens (added_tokens.json beside the
 * spiece.model, or tokenizer_config.json's added_tokens_decoder): each
 * encodes as its id and decodes back, as transformers' T5 tokenizer does
 * after add_tokens (tests/data/tokenizer/added/samples.jsonl, from it);
 * the vocabulary grows by them; a gap in their ids is refused. */
static lst_tokenizer_t *load_with(const char *name, const char *json_name, const char *json, lst_err_t *err) {
    char dir[600], cmd[1400], path[700];
    snprintf(dir, sizeof dir, "%s/%s", lst_test_tmpdir(), name);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s %s/spiece.model", dir, SPM, dir);
    CHECK(system(cmd) == 0, "%s", cmd);
    snprintf(path, sizeof path, "%s/%s", dir, json_name);
    CHECK(write_file(path, json, strlen(json)) == 0, "write %s", path);
    snprintf(path, sizeof path, "%s/spiece.model", dir);
    return lst_tokenizer_load(path, err);
}

TEST(tok_added_tokens_encode_as_transformers) {
    lst_err_t err = {{0}};
    char json[4096];
    FILE *f = fopen("tests/data/tokenizer/added/added_tokens.json", "r");
    size_t n = f ? fread(json, 1, sizeof json - 1, f) : 0;
    if (f) fclose(f);
    json[n] = 0;
    lst_tokenizer_t *t = load_with("added_a", "added_tokens.json", json, &err);
    CHECK(t != NULL, "%s", err.msg);
    if (!t) return;
    CHECK(lst_tokenizer_vocab_size(t) == 32103, "vocabulary %d, wanted 32100 + 3 added",
          lst_tokenizer_vocab_size(t));
    f = fopen("tests/data/tokenizer/added/samples.jsonl", "r");
    CHECK(f != NULL, "no samples");
    char *line = NULL;
    size_t cap = 0;
    int rows = 0;
    while (f && getline(&line, &cap, f) > 0) {
        sample_t s;
        if (parse_sample(line, &s)) continue;
        int32_t *ids = NULL;
        int m = 0;
        CHECK(lst_tokenizer_encode(t, s.text, strlen(s.text), &ids, &m, &err) == 0, "%s", err.msg);
        char got[512], want[512];
        format_ids(ids, m, got, sizeof got);
        format_ids(s.ids, s.n_ids, want, sizeof want);
        CHECK(!strcmp(got, want), "'%s': got [%s], transformers [%s]", s.text, got, want);
        free(ids);
        free(s.task);
        free(s.text);
        free(s.ids);
        rows++;
    }
    free(line);
    if (f) fclose(f);
    CHECK(rows == 8, "%d sample rows", rows);
    const int32_t ids[4] = {32100, 8774, 32102, 1};
    char *text = NULL;
    CHECK(lst_tokenizer_decode(t, ids, 4, &text, &err) == 0 && text && !strcmp(text, "<sep> Hello<sep2>"),
          "decode: '%s' %s", text ? text : "", err.msg);
    free(text);
    lst_tokenizer_free(t);
    /* the same tokens from tokenizer_config.json (T5's own sentinels in it are skipped) */
    t = load_with("added_b", "tokenizer_config.json",
                  "{\"added_tokens_decoder\": {\"32099\": {\"content\": \"<extra_id_0>\"}, "
                  "\"32100\": {\"content\": \"<sep>\", \"special\": false}}}", &err);
    CHECK(t && lst_tokenizer_vocab_size(t) == 32101, "tokenizer_config.json: %s", t ? "" : err.msg);
    lst_tokenizer_free(t);
    t = load_with("added_gap", "added_tokens.json", "{\"<a>\": 32105}", &err);
    CHECK(!t && strstr(err.msg, "added token id 32105 leaves a gap"), "gap: %s", t ? "loaded" : err.msg);
    lst_tokenizer_free(t);
    t = load_with("added_bad", "added_tokens.json", "[1, 2]", &err);
    CHECK(!t && strstr(err.msg, "not a JSON object"), "bad JSON: %s", t ? "loaded" : err.msg);
    lst_tokenizer_free(t);
}
