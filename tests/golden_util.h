/* golden_util.h: comparing tensors against the golden reference files with
 * the tolerances of shared/golden/README.md. */
#ifndef LST_GOLDEN_UTIL_H
#define LST_GOLDEN_UTIL_H

#include "../src/train/batch_file.h"
#include "../src/io/safetensors.h"
#include "../src/model/side.h"

/* Max abs error of `got` against `ref` relative to the README tolerance:
 * values (logits, hidden states, losses): 1e-4 * max(1, max|ref|);
 * gradients: 1e-4 * max|ref|. Returns err / tol (<= 1 passes). */
double golden_ratio(const float *got, const float *ref, size_t n, int is_grad);

/* Loads a tensor as float32 (malloc'ed; NULL + CHECK failure if absent). */
float *golden_load(const lst_st_file_t *f, const char *name, size_t *n);

/* Compares every tensor of `got` whose name is in `ref` (skipping integer
 * inputs) and requires that every non-input tensor of `ref` with a prefix in
 * `prefixes` (NULL-terminated) is present in `got`. Reports the worst
 * ratio; returns the number of failing tensors. */
int golden_compare_files(const char *got_path, const char *ref_path,
                         const char *const *prefixes, double *worst);

/* The LST golden fixture of tests/data/<model>: the backbone, the batch and
 * the side network of lst_golden.json with its initial weights
 * (lst_side_init.safetensors). Returns 0, or -1 after a CHECK failure with
 * whatever was loaded freed; golden_lst_fixture_free releases the three. */
int golden_lst_fixture(const char *model, lst_t5_t *m, lst_batch_file_t *bf, lst_side_t *s);
void golden_lst_fixture_free(lst_t5_t *m, lst_batch_file_t *bf, lst_side_t *s);

/* Cached LST generation fed the batch's decoder inputs (teacher forcing)
 * against the full forward's logits ref: [B, Td, V] (dec_mask NULL).
 * Returns the worst |difference| (NaN if generation failed, after a CHECK
 * failure) and sets *maxabs = max |ref|. */
double golden_generation_gap(lst_t5_t *m, const lst_side_t *s, const lst_batch_t *b,
                             const float *ref, double *maxabs);

#endif
