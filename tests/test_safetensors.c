/* test_safetensors.c: safetensors reader/writer round trips, half-float
 * conversion, every malformed-file case, atomicity of the writer. */
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/io/safetensors.h"

/* A fresh directory under the test tmpdir. */
static const char *subdir(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", lst_test_tmpdir(), name);
    mkdir(buf, 0755);
    return buf;
}

static int write_bytes(const char *path, const void *p, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    size_t w = n ? fwrite(p, 1, n, fp) : 0;
    fclose(fp);
    return w == n ? 0 : -1;
}

/* 8-byte LE length + header + data_size zero bytes. */
static int write_st(const char *path, const char *hdr, size_t data_size) {
    size_t hl = strlen(hdr);
    size_t n = 8 + hl + data_size;
    unsigned char *b = calloc(1, n);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, hdr, hl);
    int rc = write_bytes(path, b, n);
    free(b);
    return rc;
}

/* Number of entries in dir whose name contains ".tmp.". */
static int count_tmp(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

/* Opens path expecting failure; checks the message names the file and
 * contains `word`. Returns the message (static). */
static const char *expect_open_fail(const char *path, const char *word, int line) {
    static lst_err_t err;
    lst_st_file_t f;
    memset(&err, 0, sizeof err);
    int rc = lst_st_open(&f, path, &err);
    if (rc == 0) lst_test_fail(__FILE__, line, "open of %s unexpectedly succeeded", path);
    else {
        if (strncmp(err.msg, path, strlen(path)) != 0)
            lst_test_fail(__FILE__, line, "message does not start with path: %s", err.msg);
        if (!strstr(err.msg, word))
            lst_test_fail(__FILE__, line, "message lacks '%s': %s", word, err.msg);
    }
    lst_st_close(&f);
    lst_st_close(&f); /* twice: must be harmless */
    return err.msg;
}

TEST(st_roundtrip_dtypes) {
    const char *dir = subdir("st_rt");
    char path[600];
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    float f32[6] = {1, -2, 3.5f, 1e-8f, -0.0f, 65536};
    uint16_t f16[4] = {0x3C00, 0xC100, 0x0000, 0x7BFF};
    uint16_t bf16[4] = {0x3F80, 0xC020, 0x4049, 0x0000};
    int64_t i64[3] = {-1, 0, (int64_t)1 << 40};
    int32_t i32[2] = {-7, 2147483647};
    float scalar = 42.0f;
    lst_st_out_t outs[] = {
        {"w.f32", LST_DT_F32, 2, {2, 3}, f32},
        {"w.f16", LST_DT_F16, 1, {4}, f16},
        {"w.bf16", LST_DT_BF16, 3, {1, 2, 2}, bf16},
        {"ids", LST_DT_I64, 1, {3}, i64},
        {"ids32", LST_DT_I32, 2, {2, 1}, i32},
        {"scalar", LST_DT_F32, 0, {0}, &scalar},
        {"empty", LST_DT_F32, 2, {0, 5}, NULL},
    };
    lst_err_t err = {{0}};
    int rc = lst_st_write(path, outs, 7, &err);
    CHECK(rc == 0, "write failed: %s", err.msg);
    CHECK(count_tmp(dir) == 0, "temp file left behind");

    lst_st_file_t f;
    rc = lst_st_open(&f, path, &err);
    CHECK(rc == 0, "open failed: %s", err.msg);
    if (rc != 0) return;
    CHECK(f.n == 7, "n = %d", f.n);
    for (int i = 0; i < 7; i++) {
        const lst_st_tensor_t *t = lst_st_find(&f, outs[i].name);
        CHECK(t != NULL, "tensor %s missing", outs[i].name);
        if (!t) continue;
        CHECK(t->dtype == outs[i].dtype, "%s dtype %d", outs[i].name, (int)t->dtype);
        CHECK(t->ndim == outs[i].ndim, "%s ndim %d", outs[i].name, t->ndim);
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            CHECK(t->shape[d] == outs[i].shape[d], "%s dim %d", outs[i].name, d);
            numel *= outs[i].shape[d];
        }
        CHECK(t->numel == numel, "%s numel %lld", outs[i].name, (long long)t->numel);
        CHECK(t->nbytes == (size_t)numel * lst_dtype_size(outs[i].dtype), "%s nbytes",
              outs[i].name);
        if (t->nbytes)
            CHECK(memcmp(t->data, outs[i].data, t->nbytes) == 0, "%s bytes differ",
                  outs[i].name);
    }
    float got[6];
    int64_t sh[2] = {2, 3};
    CHECK(lst_st_read_f32(&f, "w.f32", 2, sh, got, &err) == 0, "%s", err.msg);
    CHECK(memcmp(got, f32, sizeof f32) == 0, "f32 values differ");
    CHECK(lst_st_read_f32(&f, "w.f16", -1, NULL, got, &err) == 0, "%s", err.msg);
    CHECK(got[0] == 1.0f && got[1] == -2.5f && got[2] == 0.0f && got[3] == 65504.0f,
          "f16 values %g %g %g %g", got[0], got[1], got[2], got[3]);
    CHECK(lst_st_read_f32(&f, "w.bf16", -1, NULL, got, &err) == 0, "%s", err.msg);
    CHECK(got[0] == 1.0f && got[1] == -2.5f && got[2] == 3.140625f,
          "bf16 values %g %g %g", got[0], got[1], got[2]);
    float s = 0;
    CHECK(lst_st_read_f32(&f, "scalar", 0, NULL, &s, &err) == 0, "%s", err.msg);
    CHECK(s == 42.0f, "scalar %g", s);
    int64_t sh0[2] = {0, 5};
    CHECK(lst_st_read_f32(&f, "empty", 2, sh0, got, &err) == 0, "empty: %s", err.msg);
    int64_t ig[3];
    CHECK(lst_st_read_i64(&f, "ids", 1, (int64_t[]){3}, ig, &err) == 0, "%s", err.msg);
    CHECK(ig[0] == -1 && ig[1] == 0 && ig[2] == ((int64_t)1 << 40), "i64 values");
    CHECK(lst_st_read_i64(&f, "ids32", -1, NULL, ig, &err) == 0, "%s", err.msg);
    CHECK(ig[0] == -7 && ig[1] == 2147483647, "i32 values %lld %lld", (long long)ig[0],
          (long long)ig[1]);
    /* dtype mismatch both ways */
    CHECK(lst_st_read_f32(&f, "ids", -1, NULL, got, &err) == -1 && strstr(err.msg, "I64") &&
              strstr(err.msg, "'ids'"),
          "f32 read of I64: %s", err.msg);
    CHECK(lst_st_read_i64(&f, "w.f32", -1, NULL, ig, &err) == -1 && strstr(err.msg, "F32"),
          "i64 read of F32: %s", err.msg);
    lst_st_close(&f);
    CHECK(f.map == NULL && f.tensors == NULL && f.path == NULL, "close did not reset");
}

TEST(st_header_padded_and_aligned) {
    const char *dir = subdir("st_pad");
    char path[600];
    snprintf(path, sizeof path, "%s/p.safetensors", dir);
    float v = 1;
    lst_st_out_t o[] = {{"x", LST_DT_F32, 1, {1}, &v}, {"yy", LST_DT_F16, 1, {1}, &v}};
    lst_err_t err;
    CHECK(lst_st_write(path, o, 2, &err) == 0, "%s", err.msg);
    FILE *fp = fopen(path, "rb");
    unsigned char b[8] = {0};
    CHECK(fp && fread(b, 1, 8, fp) == 8, "read header length");
    if (fp) fclose(fp);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
    CHECK(hl % 8 == 0, "header length %llu not a multiple of 8", (unsigned long long)hl);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (uint64_t)st.st_size == 8 + hl + 4 + 2, "file size");
}

TEST(st_names_escaped) {
    const char *dir = subdir("st_esc");
    char path[600];
    snprintf(path, sizeof path, "%s/e.safetensors", dir);
    float a = 1, b = 2, c = 3;
    lst_st_out_t o[] = {{"quo\"te", LST_DT_F32, 0, {0}, &a},
                        {"back\\slash", LST_DT_F32, 0, {0}, &b},
                        {"tab\there\n", LST_DT_F32, 0, {0}, &c}};
    lst_err_t err;
    CHECK(lst_st_write(path, o, 3, &err) == 0, "%s", err.msg);
    lst_st_file_t f;
    CHECK(lst_st_open(&f, path, &err) == 0, "%s", err.msg);
    float x = 0;
    CHECK(lst_st_read_f32(&f, "quo\"te", 0, NULL, &x, &err) == 0 && x == 1, "quote");
    CHECK(lst_st_read_f32(&f, "back\\slash", 0, NULL, &x, &err) == 0 && x == 2, "bslash");
    CHECK(lst_st_read_f32(&f, "tab\there\n", 0, NULL, &x, &err) == 0 && x == 3, "ctrl");
    lst_st_close(&f);
}

TEST(st_f16_bf16_exact) {
    const char *dir = subdir("st_half");
    char path[600];
    snprintf(path, sizeof path, "%s/h.safetensors", dir);
    uint16_t h[] = {0x3C00, 0xC100, 0x7BFF, 0x0001, 0x03FF, 0x0400,
                    0x7C00, 0xFC00, 0x7E00, 0x8000, 0x8001, 0x3555};
    float he[] = {1.0f, -2.5f, 65504.0f, ldexpf(1, -24), 1023 * ldexpf(1, -24),
                  ldexpf(1, -14), INFINITY, -INFINITY, NAN, -0.0f, -ldexpf(1, -24),
                  0.333251953125f};
    int nh = (int)(sizeof h / sizeof h[0]);
    uint16_t bf[] = {0x3F80, 0xC020, 0x477F, 0x0001, 0x7F80, 0xFF80, 0x7FC0, 0x8000};
    float be[] = {1.0f, -2.5f, 65280.0f, ldexpf(1, -133), INFINITY, -INFINITY, NAN, -0.0f};
    int nb = (int)(sizeof bf / sizeof bf[0]);
    /* unaligned data: a 1-byte-ish prefix tensor shifts both */
    uint16_t pad = 0;
    lst_st_out_t o[] = {{"pad", LST_DT_F16, 1, {1}, &pad},
                        {"h", LST_DT_F16, 1, {nh}, h},
                        {"b", LST_DT_BF16, 1, {nb}, bf}};
    lst_err_t err;
    CHECK(lst_st_write(path, o, 3, &err) == 0, "%s", err.msg);
    lst_st_file_t f;
    CHECK(lst_st_open(&f, path, &err) == 0, "%s", err.msg);
    float got[16];
    CHECK(lst_st_read_f32(&f, "h", 1, (int64_t[]){nh}, got, &err) == 0, "%s", err.msg);
    for (int i = 0; i < nh; i++) {
        if (isnan(he[i])) CHECK(isnan(got[i]), "f16[%d] %g, want nan", i, got[i]);
        else
            CHECK(got[i] == he[i] && signbit(got[i]) == signbit(he[i]),
                  "f16[%d] 0x%04x -> %.10g, want %.10g", i, h[i], got[i], he[i]);
    }
    CHECK(lst_st_read_f32(&f, "b", 1, (int64_t[]){nb}, got, &err) == 0, "%s", err.msg);
    for (int i = 0; i < nb; i++) {
        if (isnan(be[i])) CHECK(isnan(got[i]), "bf16[%d] %g, want nan", i, got[i]);
        else
            CHECK(got[i] == be[i] && signbit(got[i]) == signbit(be[i]),
                  "bf16[%d] 0x%04x -> %.10g, want %.10g", i, bf[i], got[i], be[i]);
    }
    lst_st_close(&f);
}

TEST(st_read_real_checkpoint) {
    const char *path = "tests/data/t5-tiny-relu/model.safetensors";
    lst_st_file_t f;
    lst_err_t err;
    int rc = lst_st_open(&f, path, &err);
    CHECK(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK(f.n > 10, "only %d tensors", f.n);
    const lst_st_tensor_t *t = lst_st_find(&f, "shared.weight");
    CHECK(t && t->ndim == 2 && t->shape[0] == 512 && t->shape[1] == 64 &&
              t->dtype == LST_DT_F32,
          "shared.weight shape");
    float *w = malloc(512 * 64 * sizeof *w);
    CHECK(lst_st_read_f32(&f, "shared.weight", 2, (int64_t[]){512, 64}, w, &err) == 0, "%s",
          err.msg);
    int finite = 1, nonzero = 0;
    for (int i = 0; i < 512 * 64; i++) {
        finite &= isfinite(w[i]) != 0;
        nonzero += w[i] != 0;
    }
    CHECK(finite && nonzero > 1000, "shared.weight values look wrong");
    /* wrong shape message */
    rc = lst_st_read_f32(&f, "shared.weight", 2, (int64_t[]){64, 512}, w, &err);
    CHECK(rc == -1 && strstr(err.msg, "has shape [512, 64], expected [64, 512]") &&
              strstr(err.msg, path),
          "shape error: %s", err.msg);
    rc = lst_st_read_f32(&f, "shared.weight", 1, (int64_t[]){512 * 64}, w, &err);
    CHECK(rc == -1 && strstr(err.msg, "expected [32768]"), "ndim error: %s", err.msg);
    rc = lst_st_read_f32(&f, "no.such.weight", -1, NULL, w, &err);
    CHECK(rc == -1 && strstr(err.msg, "tensor 'no.such.weight' not found in") &&
              strstr(err.msg, path),
          "missing: %s", err.msg);
    CHECK(lst_st_find(&f, "no.such.weight") == NULL, "find of missing");
    free(w);
    lst_st_close(&f);
}

TEST(st_bad_empty_file) {
    char p[600];
    snprintf(p, sizeof p, "%s/empty.safetensors", subdir("st_bad"));
    write_bytes(p, "", 0);
    expect_open_fail(p, "empty", __LINE__);
}

TEST(st_bad_truncated) {
    char p[600];
    snprintf(p, sizeof p, "%s/short.safetensors", subdir("st_bad"));
    write_bytes(p, "\x10\x00\x00", 3);
    expect_open_fail(p, "truncated", __LINE__);
}

TEST(st_bad_missing_file) {
    char p[600];
    snprintf(p, sizeof p, "%s/nope.safetensors", subdir("st_bad"));
    expect_open_fail(p, "No such file", __LINE__);
    expect_open_fail(subdir("st_bad"), "regular file", __LINE__);
}

TEST(st_bad_header_length_beyond_file) {
    char p[600];
    snprintf(p, sizeof p, "%s/hl.safetensors", subdir("st_bad"));
    unsigned char b[20] = {0xe8, 0x03}; /* 1000 */
    memcpy(b + 8, "{}          ", 12);
    write_bytes(p, b, sizeof b);
    expect_open_fail(p, "beyond the end", __LINE__);
    /* text file: huge garbage length */
    write_bytes(p, "hello world, not safetensors", 28);
    expect_open_fail(p, "beyond the end", __LINE__);
}

TEST(st_bad_header_too_large) {
    /* sparse 200 MB file whose header claims 150 MB */
    char p[600];
    snprintf(p, sizeof p, "%s/big.safetensors", subdir("st_bad"));
    uint64_t hl = 150ull * 1000 * 1000;
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hl >> (8 * i));
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, b, 8) == 8 && ftruncate(fd, 200 * 1000 * 1000) == 0,
          "make sparse file");
    if (fd >= 0) close(fd);
    expect_open_fail(p, "100 MB", __LINE__);
    unlink(p);
}

TEST(st_bad_json) {
    char p[600];
    snprintf(p, sizeof p, "%s/json.safetensors", subdir("st_bad"));
    write_st(p, "{\"a\": {\"dtype\": \"F32\", ", 16);
    expect_open_fail(p, "not valid JSON", __LINE__);
    write_st(p, "{} trailing", 0);
    expect_open_fail(p, "not valid JSON", __LINE__);
    write_st(p, "[1, 2]  ", 0);
    expect_open_fail(p, "not an object", __LINE__);
}

TEST(st_bad_overlap) {
    char p[600];
    snprintf(p, sizeof p, "%s/ov.safetensors", subdir("st_bad"));
    write_st(p,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
             24);
    const char *m = expect_open_fail(p, "overlap", __LINE__);
    CHECK(strstr(m, "'a'") && strstr(m, "'b'"), "names both tensors: %s", m);
    /* a tensor inside another, listed first */
    write_st(p,
             "{\"in\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
             "\"out\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]},"
             "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
             32);
    expect_open_fail(p, "overlap", __LINE__);
    /* zero-size tensors touching others are fine */
    write_st(p,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
             "\"z\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[8,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}",
             24);
    lst_st_file_t f;
    lst_err_t err;
    CHECK(lst_st_open(&f, p, &err) == 0, "adjacent tensors refused: %s", err.msg);
    lst_st_close(&f);
}

TEST(st_bad_offsets_out_of_range) {
    char p[600];
    snprintf(p, sizeof p, "%s/range.safetensors", subdir("st_bad"));
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8);
    expect_open_fail(p, "out of range", __LINE__);
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[9,9]}}", 8);
    expect_open_fail(p, "out of range", __LINE__);
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8);
    expect_open_fail(p, "begin > end", __LINE__);
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 8);
    expect_open_fail(p, "data_offsets", __LINE__);
}

TEST(st_bad_shape_dtype_mismatch) {
    char p[600];
    snprintf(p, sizeof p, "%s/mm.safetensors", subdir("st_bad"));
    write_st(p, "{\"w\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24);
    const char *m = expect_open_fail(p, "mismatch", __LINE__);
    CHECK(strstr(m, "'w'") && strstr(m, "[2, 3]") && strstr(m, "F16") && strstr(m, "12") &&
              strstr(m, "24"),
          "mismatch message lacks detail: %s", m);
    /* product overflow */
    write_st(p,
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
             "\"data_offsets\":[0,0]}}",
             0);
    expect_open_fail(p, "overflows", __LINE__);
}

TEST(st_bad_unknown_dtype) {
    char p[600];
    snprintf(p, sizeof p, "%s/dt.safetensors", subdir("st_bad"));
    write_st(p, "{\"w\":{\"dtype\":\"Q8_0\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2);
    const char *m = expect_open_fail(p, "unknown dtype", __LINE__);
    CHECK(strstr(m, "'w'") && strstr(m, "Q8_0"), "names tensor and dtype: %s", m);
}

TEST(st_bad_shape_values) {
    char p[600];
    snprintf(p, sizeof p, "%s/sh.safetensors", subdir("st_bad"));
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0);
    expect_open_fail(p, "shape entry", __LINE__);
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,0]}}", 0);
    expect_open_fail(p, "shape entry", __LINE__);
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,0]}}", 0);
    expect_open_fail(p, "shape entry", __LINE__);
    write_st(p,
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
             "\"data_offsets\":[0,4]}}",
             4);
    expect_open_fail(p, "dims", __LINE__);
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4);
    expect_open_fail(p, "shape", __LINE__);
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4);
    expect_open_fail(p, "data_offsets", __LINE__);
    write_st(p, "{\"w\":[1]}", 4);
    expect_open_fail(p, "not an object", __LINE__);
}

TEST(st_bad_duplicate_and_metadata) {
    char p[600];
    snprintf(p, sizeof p, "%s/dup.safetensors", subdir("st_bad"));
    write_st(p,
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
             8);
    expect_open_fail(p, "duplicate", __LINE__);
    write_st(p, "{\"__metadata__\":{\"format\":1}}", 0);
    expect_open_fail(p, "__metadata__", __LINE__);
    write_st(p, "{\"__metadata__\":{\"format\":\"pt\"}}       ", 0);
    lst_st_file_t f;
    lst_err_t err;
    CHECK(lst_st_open(&f, p, &err) == 0 && f.n == 0, "metadata-only file: %s", err.msg);
    lst_st_close(&f);
}

TEST(st_bad_messages_distinct) {
    /* Each malformed case gets its own message. */
    const char *dir = subdir("st_distinct");
    const char *hdrs[] = {
        NULL, /* empty */
        NULL, /* truncated */
        NULL, /* length beyond file */
        "{oops",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}",
        "{\"a\":{\"dtype\":\"X9\",\"shape\":[4],\"data_offsets\":[0,16]}}",
    };
    enum { N = sizeof hdrs / sizeof hdrs[0] };
    char msgs[N][1024];
    for (int i = 0; i < N; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/m%d.safetensors", dir, i);
        if (i == 0) write_bytes(p, "", 0);
        else if (i == 1) write_bytes(p, "abc", 3);
        else if (i == 2) write_bytes(p, "\xff\x00\x00\x00\x00\x00\x00\x00{}", 10);
        else write_st(p, hdrs[i], 24);
        lst_st_file_t f;
        lst_err_t err = {{0}};
        CHECK(lst_st_open(&f, p, &err) == -1, "case %d accepted", i);
        lst_st_close(&f);
        /* drop the path so that only the wording is compared */
        snprintf(msgs[i], sizeof msgs[i], "%s", err.msg + strlen(p));
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) {
            char a[40], b[40];
            snprintf(a, sizeof a, "%s", msgs[i]);
            snprintf(b, sizeof b, "%s", msgs[j]);
            CHECK(strcmp(a, b) != 0, "cases %d and %d read alike: %s | %s", i, j, msgs[i],
                  msgs[j]);
        }
}

TEST(st_close_safe_on_zeroed) {
    lst_st_file_t f;
    memset(&f, 0, sizeof f);
    lst_st_close(&f);
    lst_st_close(NULL);
    float x;
    lst_err_t err;
    CHECK(lst_st_read_f32(&f, "x", -1, NULL, &x, &err) == -1 && strstr(err.msg, "not found"),
          "read on closed file: %s", err.msg);
}

TEST(st_write_failure_leaves_nothing) {
    const char *dir = subdir("st_wfail");
    char path[600];
    snprintf(path, sizeof path, "%s/out.safetensors", dir);
    float v[2] = {1, 2};
    lst_st_out_t dup[] = {{"a", LST_DT_F32, 1, {2}, v}, {"b", LST_DT_F32, 0, {0}, v},
                          {"a", LST_DT_F32, 0, {0}, v}};
    lst_err_t err;
    CHECK(lst_st_write(path, dup, 3, &err) == -1 && strstr(err.msg, "duplicate") &&
              strstr(err.msg, "'a'"),
          "duplicate: %s", err.msg);
    CHECK(!lst_test_file_exists(path), "file created on failure");
    lst_st_out_t neg[] = {{"a", LST_DT_F32, 2, {2, -1}, v}};
    CHECK(lst_st_write(path, neg, 1, &err) == -1 && strstr(err.msg, "shape"),
          "negative dim: %s", err.msg);
    lst_st_out_t nd[] = {{"a", LST_DT_F32, 9, {1, 1, 1, 1, 1, 1, 1, 1}, v}};
    CHECK(lst_st_write(path, nd, 1, &err) == -1 && strstr(err.msg, "ndim"), "ndim: %s",
          err.msg);
    lst_st_out_t nodata[] = {{"a", LST_DT_F32, 1, {2}, NULL}};
    CHECK(lst_st_write(path, nodata, 1, &err) == -1 && strstr(err.msg, "no data"),
          "no data: %s", err.msg);
    CHECK(!lst_test_file_exists(path), "file created on failure");
    CHECK(count_tmp(dir) == 0, "temp files left behind");

    char bad[700];
    snprintf(bad, sizeof bad, "%s/no/such/dir/out.safetensors", dir);
    lst_st_out_t ok[] = {{"a", LST_DT_F32, 1, {2}, v}};
    CHECK(lst_st_write(bad, ok, 1, &err) == -1 && strstr(err.msg, bad), "bad dir: %s",
          err.msg);
    CHECK(!lst_test_file_exists(bad), "file in missing dir");

    /* an existing file survives a failed overwrite */
    CHECK(lst_st_write(path, ok, 1, &err) == 0, "%s", err.msg);
    CHECK(lst_st_write(path, dup, 3, &err) == -1, "dup accepted");
    lst_st_file_t f;
    float got[2] = {0};
    CHECK(lst_st_open(&f, path, &err) == 0 &&
              lst_st_read_f32(&f, "a", 1, (int64_t[]){2}, got, &err) == 0 && got[1] == 2,
          "old file damaged: %s", err.msg);
    lst_st_close(&f);
    CHECK(count_tmp(dir) == 0, "temp files left behind");
}

typedef struct {
    int calls[8];
    int fail_at;
} fill_ctx_t;

static int fill_fn(void *ctx, int index, void *dst, lst_err_t *err) {
    fill_ctx_t *c = ctx;
    c->calls[index]++;
    if (index == c->fail_at) return lst_fail(err, "fill boom %d", index);
    float *o = dst;
    for (int i = 0; i < 3 * (index + 1); i++) o[i] = (float)(100 * index + i);
    return 0;
}

TEST(st_write_stream) {
    const char *dir = subdir("st_stream");
    char path[600];
    snprintf(path, sizeof path, "%s/s.safetensors", dir);
    float direct[2] = {7, 8};
    lst_st_out_t o[] = {{"t0", LST_DT_F32, 1, {3}, NULL},
                        {"t1", LST_DT_F32, 2, {2, 3}, NULL},
                        {"d", LST_DT_F32, 1, {2}, direct},
                        {"t3", LST_DT_F32, 1, {12}, NULL}};
    fill_ctx_t ctx = {{0}, -1};
    lst_err_t err;
    CHECK(lst_st_write_stream(path, o, 4, fill_fn, &ctx, &err) == 0, "%s", err.msg);
    CHECK(ctx.calls[0] == 1 && ctx.calls[1] == 1 && ctx.calls[2] == 0 && ctx.calls[3] == 1,
          "fill calls %d %d %d %d", ctx.calls[0], ctx.calls[1], ctx.calls[2], ctx.calls[3]);
    lst_st_file_t f;
    CHECK(lst_st_open(&f, path, &err) == 0, "%s", err.msg);
    float got[12];
    CHECK(lst_st_read_f32(&f, "t1", 2, (int64_t[]){2, 3}, got, &err) == 0 && got[0] == 100 &&
              got[5] == 105,
          "t1 values");
    CHECK(lst_st_read_f32(&f, "t3", -1, NULL, got, &err) == 0 && got[11] == 311, "t3");
    CHECK(lst_st_read_f32(&f, "d", -1, NULL, got, &err) == 0 && got[1] == 8, "d");
    lst_st_close(&f);

    char p2[700];
    snprintf(p2, sizeof p2, "%s/fail.safetensors", dir);
    fill_ctx_t c2 = {{0}, 1};
    CHECK(lst_st_write_stream(p2, o, 4, fill_fn, &c2, &err) == -1 &&
              strstr(err.msg, "fill boom 1") && strstr(err.msg, "'t1'"),
          "fill failure: %s", err.msg);
    CHECK(!lst_test_file_exists(p2), "file left after fill failure");
    CHECK(count_tmp(dir) == 0, "temp files left behind");
    CHECK(lst_st_write_stream(p2, o, 4, NULL, NULL, &err) == -1, "NULL data without fill");
    CHECK(!lst_test_file_exists(p2), "file left");
}

TEST(st_offsets_beyond_4gb) {
    /* sparse file: a tensor whose data begins past 4 GiB */
    char p[600];
    snprintf(p, sizeof p, "%s/huge.safetensors", subdir("st_huge"));
    uint64_t begin = 5ull << 30;
    char hdr[256];
    snprintf(hdr, sizeof hdr,
             "{\"big\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[%llu,%llu]}}",
             (unsigned long long)begin, (unsigned long long)(begin + 8));
    while (strlen(hdr) % 8) strcat(hdr, " ");
    uint64_t hl = strlen(hdr);
    unsigned char lb[8];
    for (int i = 0; i < 8; i++) lb[i] = (unsigned char)(hl >> (8 * i));
    float vals[2] = {3.25f, -1.5f};
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int ok = fd >= 0 && write(fd, lb, 8) == 8 && write(fd, hdr, hl) == (ssize_t)hl &&
             pwrite(fd, vals, 8, (off_t)(8 + hl + begin)) == 8;
    if (fd >= 0) close(fd);
    if (!ok) { /* filesystem without large sparse files: nothing to test */
        unlink(p);
        return;
    }
    lst_st_file_t f;
    lst_err_t err;
    float got[2] = {0};
    CHECK(lst_st_open(&f, p, &err) == 0, "%s", err.msg);
    CHECK(lst_st_read_f32(&f, "big", 1, (int64_t[]){2}, got, &err) == 0 && got[0] == 3.25f &&
              got[1] == -1.5f,
          "big read: %s", err.msg);
    lst_st_close(&f);
    unlink(p);
}

TEST(st_dtype_names) {
    CHECK(lst_dtype_size(LST_DT_F32) == 4 && lst_dtype_size(LST_DT_F16) == 2 &&
              lst_dtype_size(LST_DT_BF16) == 2 && lst_dtype_size(LST_DT_I64) == 8 &&
              lst_dtype_size(LST_DT_I32) == 4,
          "sizes");
    CHECK(strcmp(lst_dtype_name(LST_DT_BF16), "BF16") == 0 &&
              strcmp(lst_dtype_name(LST_DT_I32), "I32") == 0,
          "names");
    CHECK(lst_dtype_size((lst_dtype_t)99) == 0, "bad dtype size");
}
