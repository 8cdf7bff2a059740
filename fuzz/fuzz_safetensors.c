/* fuzz_safetensors.c: lst_st_open on arbitrary bytes.
 *
 * Accepted files must keep the reader's promises: every tensor's bytes lie
 * inside the data block, its byte count matches shape x dtype, names are
 * unique and findable, and lst_st_read_f32 / _i64 convert without reading
 * past them. Accepted files are then written back with lst_st_write and
 * read again: same names, dtypes, shapes and bytes (the writer's JSON
 * escaping of odd names included). Refusals must carry a message naming
 * the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/io/safetensors.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fz_quiet(0);
    return 0;
}

static void check_file(const lst_st_file_t *f) {
    const char *map = f->map;
    const char *end = map + f->map_size;
    for (int i = 0; i < f->n; i++) {
        const lst_st_tensor_t *t = &f->tensors[i];
        FZ_CHECK(t->name, "tensor %d has no name", i);
        FZ_CHECK(lst_st_find(f, t->name) == t, "'%s' not found as itself", t->name);
        FZ_CHECK(t->ndim >= 0 && t->ndim <= LST_ST_MAX_DIMS, "ndim %d", t->ndim);
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            FZ_CHECK(t->shape[d] >= 0, "negative dim");
            numel *= t->shape[d];
        }
        FZ_CHECK(numel == t->numel, "numel %lld != %lld", (long long)numel, (long long)t->numel);
        FZ_CHECK(t->nbytes == (size_t)numel * lst_dtype_size(t->dtype), "nbytes");
        /* The mapping ends on a page boundary, so a read past the file would
         * not fault: check the bounds explicitly. */
        FZ_CHECK((const char *)t->data >= map + 8 && (const char *)t->data <= end &&
                     t->nbytes <= (size_t)(end - (const char *)t->data),
                 "'%s' lies outside the file", t->name);
        volatile unsigned char sum = 0;
        for (size_t b = 0; b < t->nbytes; b++) sum ^= ((const unsigned char *)t->data)[b];
        (void)sum;
        size_t n = (size_t)numel;
        lst_err_t err = {{0}};
        if (t->dtype == LST_DT_F32 || t->dtype == LST_DT_F16 || t->dtype == LST_DT_BF16) {
            float *out = malloc(n ? n * sizeof *out : 1);
            FZ_CHECK(out, "oom");
            FZ_CHECK(lst_st_read_f32(f, t->name, t->ndim, t->shape, out, &err) == 0, "%s", err.msg);
            FZ_CHECK(lst_st_read_i64(f, t->name, -1, NULL, (int64_t *)out, &err) != 0,
                     "float tensor read as int");
            free(out);
        } else if (t->dtype == LST_DT_I64 || t->dtype == LST_DT_I32) {
            int64_t *out = malloc(n ? n * sizeof *out : 1);
            FZ_CHECK(out, "oom");
            FZ_CHECK(lst_st_read_i64(f, t->name, t->ndim, t->shape, out, &err) == 0, "%s", err.msg);
            free(out);
        }
        /* A wrong expected shape is refused with a message. */
        int64_t wrong[1] = {numel + 1};
        FZ_CHECK(lst_st_read_f32(f, t->name, 1, wrong, NULL, &err) != 0, "wrong shape accepted");
        FZ_CHECK_MSG(err);
    }
}

/* Writes f back and checks that the copy reads the same. */
static void roundtrip(const lst_st_file_t *f) {
    lst_st_out_t *outs = calloc((size_t)f->n + 1, sizeof *outs);
    FZ_CHECK(outs, "oom");
    for (int i = 0; i < f->n; i++) {
        const lst_st_tensor_t *t = &f->tensors[i];
        outs[i].name = t->name;
        outs[i].dtype = t->dtype;
        outs[i].ndim = t->ndim;
        memcpy(outs[i].shape, t->shape, sizeof outs[i].shape);
        outs[i].data = t->data;
    }
    const char *copy = fz_path("copy.safetensors");
    lst_err_t err = {{0}};
    /* Names the writer may refuse: empty, or a tensor called __metadata__
     * (the reader skips that key, so it cannot be a tensor here). */
    int rc = lst_st_write(copy, outs, f->n, &err);
    if (rc != 0) {
        FZ_CHECK_MSG(err);
        for (int i = 0; i < f->n; i++)
            if (!f->tensors[i].name[0]) goto out;
        FZ_CHECK(0, "writer refused a file the reader accepted: %s", err.msg);
    }
    lst_st_file_t g;
    FZ_CHECK(lst_st_open(&g, copy, &err) == 0, "re-read failed: %s", err.msg);
    FZ_CHECK(g.n == f->n, "tensor count %d != %d", g.n, f->n);
    for (int i = 0; i < f->n; i++) {
        const lst_st_tensor_t *a = &f->tensors[i], *b = lst_st_find(&g, a->name);
        FZ_CHECK(b, "'%s' lost in the copy", a->name);
        FZ_CHECK(a->dtype == b->dtype && a->ndim == b->ndim &&
                     !memcmp(a->shape, b->shape, sizeof a->shape) && a->nbytes == b->nbytes &&
                     (a->nbytes == 0 || !memcmp(a->data, b->data, a->nbytes)),
                 "'%s' differs in the copy", a->name);
    }
    lst_st_close(&g);
out:
    free(outs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_path("in.safetensors");
    fz_write(path, data, size);
    lst_st_file_t f;
    lst_err_t err = {{0}};
    if (lst_st_open(&f, path, &err) == 0) {
        check_file(&f);
        roundtrip(&f);
    } else {
        FZ_CHECK_MSG(err);
        FZ_CHECK(strstr(err.msg, path), "message does not name the file: %s", err.msg);
    }
    lst_st_close(&f);
    return 0;
}
