/* test_shards.c: Hugging Face sharded checkpoints (src/io/st_set.c): a
 * golden model split into two shards with an index loads to exactly the
 * same backbone (weights and fingerprint) as the single file, through the
 * library and `lst params`/`lst bench`; every broken index is refused with
 * a message naming what is wrong; a directory with only PyTorch weights is
 * refused naming them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/io/st_set.h"
#include "../src/model/t5/t5.h"
#include "test.h"

#define SRC "tests/data/t5-tiny-relu"

static void copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    char buf[65536];
    size_t n;
    while (a && b && (n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    if (a) fclose(a);
    if (b) fclose(b);
}

/* shard_of(i): which of two shards tensor i goes to. */
typedef int (*shard_fn)(int i, const char *name);
static int alternate(int i, const char *name) { return i % 2; }

/* An index argument of make_sharded: the right one without its last entry. */
static const char DROP_LAST[] = "drop the last entry";

/* DIR/<name>: config.json, two shards of SRC's weights, and an index
 * whose text is index (NULL: the right one). */
static const char *make_sharded(const char *name, shard_fn shard, const char *index) {
    static char dir[512];
    char p[700];
    snprintf(dir, sizeof dir, "%s/%s", lst_test_tmpdir(), name);
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/config.json", dir);
    copy_file(SRC "/config.json", p);
    lst_st_file_t f;
    lst_err_t err;
    if (lst_st_open(&f, SRC "/model.safetensors", &err)) {
        CHECK(0, "%s", err.msg);
        return dir;
    }
    lst_st_out_t *out[2] = {calloc(f.n, sizeof(lst_st_out_t)), calloc(f.n, sizeof(lst_st_out_t))};
    int n[2] = {0, 0};
    snprintf(p, sizeof p, "%s/%s", dir, LST_ST_INDEX);
    FILE *ix = fopen(p, "w");
    fprintf(ix, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
    for (int i = 0; i < f.n; i++) {
        const lst_st_tensor_t *t = &f.tensors[i];
        const int s = shard(i, t->name);
        lst_st_out_t o = {t->name, t->dtype, t->ndim, {0}, t->data};
        memcpy(o.shape, t->shape, sizeof o.shape);
        out[s][n[s]++] = o;
        if (index != DROP_LAST || i + 1 < f.n)
            fprintf(ix, "%s\"%s\": \"model-%05d-of-00002.safetensors\"", i ? ", " : "", t->name,
                    s + 1);
    }
    fprintf(ix, "}}\n");
    fclose(ix);
    if (index && index != DROP_LAST) {
        ix = fopen(p, "w");
        fputs(index, ix);
        fclose(ix);
    }
    for (int s = 0; s < 2; s++) {
        snprintf(p, sizeof p, "%s/model-%05d-of-00002.safetensors", dir, s + 1);
        CHECK(lst_st_write(p, out[s], n[s], &err) == 0, "%s", err.msg);
        free(out[s]);
    }
    lst_st_close(&f);
    return dir;
}

TEST(shards_load_like_the_single_file) {
    const char *dir = make_sharded("sharded_ok", alternate, NULL);
    lst_err_t err;
    lst_t5_t a, b;
    if (lst_t5_load(&a, SRC, 0, &err) || lst_t5_load(&b, dir, 0, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    CHECK(a.n_floats == b.n_floats && !memcmp(a.flat, b.flat, sizeof(float) * a.n_floats),
          "the sharded checkpoint's weights differ from the single file's");
    CHECK(a.fp_weights == b.fp_weights, "fingerprints differ: %llx vs %llx",
          (unsigned long long)a.fp_weights, (unsigned long long)b.fp_weights);
    lst_t5_free(&a);
    lst_t5_free(&b);
    lst_t5_t q;
    CHECK(lst_t5_load_frozen(&q, dir, 0, LST_WF_INT8, &err) == 0, "int8 from shards: %s", err.msg);
    lst_t5_free(&q);
    char *out = NULL;
    const int rc = lst_test_run(&out, "bench --model %s --batch 2 --src-len 8 --tgt-len 2 --steps 1", dir);
    CHECK(rc == 0 && strstr(out, "ms/step"), "lst bench on shards: rc %d: %s", rc, out);
    free(out);
    /* lst quantize reads shards too: its file loads to the direct int8 load */
    char qdir[600];
    snprintf(qdir, sizeof qdir, "%s-int8", dir);
    out = NULL;
    CHECK(lst_test_run(&out, "quantize --model %s --dtype int8 --out %s", dir, qdir) == 0, "%s", out);
    free(out);
    lst_t5_t r, t;
    if (lst_t5_load_frozen(&r, SRC, 0, LST_WF_INT8, &err) == 0) {
        CHECK(lst_t5_load_frozen(&t, qdir, 0, LST_WF_INT8, &err) == 0, "%s", err.msg);
        CHECK(r.packed_bytes == t.packed_bytes && !memcmp(r.packed, t.packed, r.packed_bytes),
              "quantized shards differ from the direct int8 load");
        lst_t5_free(&t);
        lst_t5_free(&r);
    }
}

/* The index's tensor list, broken in one way each. */
static void refused(const char *name, const char *index, const char *want) {
    const char *dir = make_sharded(name, alternate, index);
    lst_st_set_t s;
    lst_err_t err;
    const int rc = lst_st_set_open(&s, dir, &err);
    CHECK(rc != 0 && strstr(err.msg, want), "%s: rc %d, message '%s' (want '%s')", name, rc,
          rc ? err.msg : "", want);
    if (!rc) lst_st_set_close(&s);
    lst_t5_t m;
    CHECK(lst_t5_load(&m, dir, 0, &err) != 0, "%s: the model loaded", name);
}

TEST(shards_broken_index_refused) {
    refused("ix_json", "{\"weight_map\": {", "not valid JSON");
    refused("ix_nomap", "{\"metadata\": {}}", "weight_map");
    refused("ix_empty", "{\"weight_map\": {}}", "empty");
    refused("ix_slash", "{\"weight_map\": {\"shared.weight\": \"../model-00001-of-00002.safetensors\"}}",
            "is not a file of the directory");
    refused("ix_missing_shard",
            "{\"weight_map\": {\"shared.weight\": \"model-00003-of-00002.safetensors\"}}",
            "listed but missing");
    /* the shards hold a tensor the index does not list */
    refused("ix_extra", DROP_LAST, "is not in the index");
    /* an index naming a tensor no shard has */
    refused("ix_absent",
            "{\"weight_map\": {\"no.such.tensor\": \"model-00001-of-00002.safetensors\"}}",
            "which does not hold it");
}

/* dir's index as text (extra bytes of room after it), and back. */
static char *read_index(const char *dir, size_t extra) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, LST_ST_INDEX);
    FILE *f = fopen(p, "r");
    char *text = NULL;
    if (f) {
        fseek(f, 0, SEEK_END);
        const long n = ftell(f);
        rewind(f);
        text = calloc(1, (size_t)n + extra + 1);
        if (fread(text, 1, (size_t)n, f) != (size_t)n) text[0] = 0;
        fclose(f);
    }
    return text;
}

static void write_index(const char *dir, const char *text) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, LST_ST_INDEX);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text ? text : "", f);
        fclose(f);
    }
}

static void expect_refused(const char *dir, const char *what, const char *want) {
    lst_st_set_t s;
    lst_err_t err;
    const int rc = lst_st_set_open(&s, dir, &err);
    CHECK(rc != 0 && strstr(err.msg, want), "%s: rc %d '%s'", what, rc, rc ? err.msg : "");
    if (!rc) lst_st_set_close(&s);
}

/* A tensor the index puts in the other shard, and one listed twice. */
TEST(shards_misplaced_and_duplicate_refused) {
    const char *dir = make_sharded("ix_wrong", alternate, NULL);
    char *text = read_index(dir, 0);
    char *q = text ? strstr(text, "00001-of") : NULL; /* the first tensor, in shard 2 */
    if (q) q[4] = '2';
    write_index(dir, text);
    free(text);
    expect_refused(dir, "misplaced", "which does not hold it");

    dir = make_sharded("ix_dup", alternate, NULL);
    text = read_index(dir, 200);
    char *w = text ? strstr(text, "\"weight_map\": {") : NULL;
    if (w) { /* the object's first entry again at the front */
        w += strlen("\"weight_map\": {");
        char *end = strchr(w, ',');
        char first[200] = {0};
        memcpy(first, w, end - w < 190 ? end - w : 190);
        memmove(w + strlen(first) + 2, w, strlen(w) + 1);
        memcpy(w, first, strlen(first));
        memcpy(w + strlen(first), ", ", 2);
    }
    write_index(dir, text);
    free(text);
    expect_refused(dir, "duplicate", "twice");
}

TEST(shards_pytorch_only_directory_refused) {
    char dir[512], p[700];
    snprintf(dir, sizeof dir, "%s/bin_only", lst_test_tmpdir());
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/config.json", dir);
    copy_file(SRC "/config.json", p);
    snprintf(p, sizeof p, "%s/pytorch_model.bin", dir);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs("PK", f);
        fclose(f);
    }
    lst_t5_t m;
    lst_err_t err;
    CHECK(lst_t5_load(&m, dir, 0, &err) != 0 && strstr(err.msg, "pytorch_model.bin") &&
              strstr(err.msg, "safe_serialization"),
          "bin only: '%s'", err.msg);
    snprintf(dir, sizeof dir, "%s/nothing", lst_test_tmpdir());
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/config.json", dir);
    copy_file(SRC "/config.json", p);
    CHECK(lst_t5_load(&m, dir, 0, &err) != 0 && strstr(err.msg, "no model.safetensors"), "empty: '%s'",
          err.msg);
}
