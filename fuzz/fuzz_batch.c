/* fuzz_batch.c: lst_batch_load on arbitrary bytes, then the model's batch
 * check and, for small accepted batches, a forward and backward pass of the
 * tiny relu T5 (tests/data/t5-tiny-relu, loaded once).
 *
 * An accepted batch must be self-consistent (positive sizes, 0/1 masks,
 * decoder inputs present); one that also passes lst_t5_check_batch must run
 * through the model without a sanitizer report. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/train/batch_file.h"
#include "../src/model/t5/t5.h"
#include "fuzz_util.h"

static lst_t5_t g_model;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fz_one_thread();
    const char *dir = getenv("LST_FUZZ_MODEL") ? getenv("LST_FUZZ_MODEL") : "tests/data/t5-tiny-relu";
    lst_err_t err = {{0}};
    if (lst_t5_load(&g_model, dir, 0, &err) != 0) {
        fprintf(stderr, "fuzz_batch: %s (run from the repository root)\n", err.msg);
        exit(1);
    }
    fz_quiet(0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_path("batch.safetensors");
    fz_write(path, data, size);
    lst_batch_file_t bf;
    lst_err_t err = {{0}};
    /* the start id comes from config.json: any value in the vocabulary */
    int start = size ? data[0] % 4 : 0;
    if (lst_batch_load(&bf, path, start, &err) != 0) {
        FZ_CHECK_MSG(err);
        return 0;
    }
    const lst_batch_t *b = &bf.view;
    FZ_CHECK(b->B > 0 && b->Ts > 0 && b->Td > 0, "sizes %d %d %d", b->B, b->Ts, b->Td);
    FZ_CHECK(b->input_ids && b->src_mask && b->dec_ids, "missing arrays");
    for (size_t i = 0; i < (size_t)b->B * b->Ts; i++) FZ_CHECK(b->src_mask[i] <= 1, "src mask");
    for (size_t i = 0; b->dec_mask && i < (size_t)b->B * b->Td; i++)
        FZ_CHECK(b->dec_mask[i] <= 1, "dec mask");
    if (lst_t5_check_batch(&g_model, b, &err) != 0) {
        FZ_CHECK_MSG(err);
    } else if ((size_t)b->B * (b->Ts + b->Td) <= 96) {
        lst_t5_acts_t acts = {0};
        int want_grad = b->labels != NULL;
        FZ_CHECK(lst_t5_acts_alloc(&acts, &g_model, b->B, b->Ts, b->Td, want_grad, &err) == 0,
                 "%s", err.msg);
        lst_t5_forward(&g_model, b, &acts, NULL);
        if (want_grad) {
            float *grads = calloc(g_model.n_floats, sizeof *grads);
            FZ_CHECK(grads, "oom");
            FZ_CHECK(lst_t5_backward(&g_model, b, &acts, NULL, grads, &err) == 0, "%s", err.msg);
            free(grads);
        }
        lst_t5_acts_free(&acts);
    }
    lst_batch_free(&bf);
    return 0;
}
