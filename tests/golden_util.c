/* golden_util.c: see golden_util.h. */
#include "golden_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/train/side_config.h"
#include "bb_util.h"
#include "test.h"

double golden_ratio(const float *got, const float *ref, size_t n, int is_grad) {
    double maxref = 0, maxerr = 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)ref[i]);
        if (r > maxref) maxref = r;
        double e = fabs((double)got[i] - ref[i]);
        if (!(e <= maxerr)) maxerr = e; /* NaN propagates as a failure */
    }
    double tol = 1e-4 * (is_grad ? maxref : (maxref > 1 ? maxref : 1));
    if (tol == 0) return maxerr == 0 ? 0 : INFINITY;
    return maxerr / tol;
}

float *golden_load(const lst_st_file_t *f, const char *name, size_t *n) {
    const lst_st_tensor_t *t = lst_st_find(f, name);
    CHECK(t != NULL, "tensor %s missing from %s", name, f->path);
    if (!t) return NULL;
    float *buf = malloc(sizeof(float) * (t->numel ? t->numel : 1));
    lst_err_t err;
    if (lst_st_read_f32(f, name, -1, NULL, buf, &err)) {
        CHECK(0, "%s", err.msg);
        free(buf);
        return NULL;
    }
    *n = (size_t)t->numel;
    return buf;
}

static int is_input(const char *name) {
    static const char *inputs[] = {"input_ids", "attention_mask", "decoder_input_ids",
                                   "decoder_attention_mask", "labels"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
        if (!strcmp(name, inputs[i])) return 1;
    return 0;
}

int golden_compare_files(const char *got_path, const char *ref_path,
                         const char *const *prefixes, double *worst) {
    lst_st_file_t got = {0}, ref = {0};
    lst_err_t err;
    int bad = 0;
    *worst = 0;
    if (lst_st_open(&got, got_path, &err) || lst_st_open(&ref, ref_path, &err)) {
        CHECK(0, "%s", err.msg);
        lst_st_close(&got);
        lst_st_close(&ref);
        return 1;
    }
    for (int i = 0; i < ref.n; i++) {
        const char *name = ref.tensors[i].name;
        if (is_input(name)) continue;
        int wanted = 0;
        for (const char *const *p = prefixes; *p; p++)
            if (!strncmp(name, *p, strlen(*p))) wanted = 1;
        if (!wanted) continue;
        const lst_st_tensor_t *g = lst_st_find(&got, name);
        if (!g) {
            CHECK(0, "%s: %s missing from the output", ref_path, name);
            bad++;
            continue;
        }
        size_t ng = 0, nr = 0;
        float *a = golden_load(&got, name, &ng), *r = golden_load(&ref, name, &nr);
        int same_shape = g->ndim == ref.tensors[i].ndim &&
                         !memcmp(g->shape, ref.tensors[i].shape, sizeof(int64_t) * g->ndim);
        if (!a || !r || ng != nr || !same_shape) {
            CHECK(0, "%s: %s shape differs", ref_path, name);
            bad++;
        } else {
            double q = golden_ratio(a, r, nr, !strncmp(name, "grad.", 5));
            if (!(q <= 1.0)) {
                CHECK(0, "%s: %s error %.3g x tolerance", ref_path, name, q);
                bad++;
            }
            if (!(q <= *worst)) *worst = q;
        }
        free(a);
        free(r);
    }
    lst_st_close(&got);
    lst_st_close(&ref);
    return bad;
}

int golden_lst_fixture(const char *model, lst_t5_t *m, lst_batch_file_t *bf, lst_side_t *s) {
    char dir[256], path[300];
    lst_err_t err;
    lst_side_config_t sc;
    snprintf(dir, sizeof dir, "tests/data/%s", model);
    if (lst_t5_load(m, dir, 0, &err)) {
        CHECK(0, "%s", err.msg);
        return -1;
    }
    snprintf(path, sizeof path, "%s/batch.safetensors", dir);
    if (lst_batch_load(bf, path, 0, &err)) {
        CHECK(0, "%s", err.msg);
        lst_t5_free(m);
        return -1;
    }
    snprintf(path, sizeof path, "%s/lst_golden.json", dir);
    lst_backbone_t bb = test_bb(m);
    int rc = lst_side_config_load(&sc, &bb, path, &err);
    if (!rc) {
        rc = lst_side_create(s, &bb, &sc.opts, &err);
        lst_side_config_free(&sc);
    }
    if (rc) {
        CHECK(0, "%s", err.msg);
        lst_batch_free(bf);
        lst_t5_free(m);
        return -1;
    }
    snprintf(path, sizeof path, "%s/lst_side_init.safetensors", dir);
    if (lst_side_load(s, path, &err)) {
        CHECK(0, "%s", err.msg);
        golden_lst_fixture_free(m, bf, s);
        return -1;
    }
    return 0;
}

void golden_lst_fixture_free(lst_t5_t *m, lst_batch_file_t *bf, lst_side_t *s) {
    lst_side_free(s);
    lst_batch_free(bf);
    lst_t5_free(m);
}

double golden_generation_gap(lst_t5_t *m, const lst_side_t *s, const lst_batch_t *b,
                             const float *ref, double *maxabs) {
    const lst_backbone_t bb = test_bb(m);
    const size_t V = m->vocab, n = (size_t)b->B * b->Td * V;
    int32_t *teacher = calloc((size_t)b->B * b->Td, sizeof(int32_t));
    int32_t *out = calloc((size_t)b->B * b->Td, sizeof(int32_t));
    int *len = calloc(b->B, sizeof(int));
    float *lg = calloc(n, sizeof(float));
    double worst = NAN;
    *maxabs = 0;
    for (int r = 0; r < b->B; r++) /* the next decoder input is dec_ids[t + 1] */
        for (int t = 0; t + 1 < b->Td; t++) teacher[r * b->Td + t] = b->dec_ids[r * b->Td + t + 1];
    lst_err_t err;
    const int rc = lst_side_generate(&bb, s, b, b->Td, out, len, teacher, lg, &err);
    CHECK(rc == 0, "generation: %s", err.msg);
    if (rc == 0) {
        worst = 0;
        for (int t = 0; t < b->Td; t++) /* lg: [Td, B, V]; ref: [B, Td, V] */
            for (int r = 0; r < b->B; r++)
                for (size_t v = 0; v < V; v++) {
                    const double want = ref[((size_t)r * b->Td + t) * V + v];
                    const double e = fabs(lg[((size_t)t * b->B + r) * V + v] - want);
                    if (!(e <= worst)) worst = e;
                    if (fabs(want) > *maxabs) *maxabs = fabs(want);
                }
    }
    free(teacher);
    free(out);
    free(len);
    free(lg);
    return worst;
}
