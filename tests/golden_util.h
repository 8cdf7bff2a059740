/* golden_util.h: comparing tensors against the golden reference files with
 * the tolerances of shared/golden/README.md. */
#ifndef LST_GOLDEN_UTIL_H
#define LST_GOLDEN_UTIL_H

#include "../src/io/safetensors.h"

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

#endif
