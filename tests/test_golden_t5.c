/* test_golden_t5.c: `lst dump` against the golden backbone tensors of both
 * shared models (relu/tied and gated-gelu/untied) and of a gated-silu one:
 * logits, loss, every tap,
 * both hidden states and every parameter gradient. */
#include <stdio.h>
#include <stdlib.h>

#include "golden_util.h"
#include "test.h"

static void dump_matches(const char *model) {
    char out[512], *log = NULL;
    snprintf(out, sizeof out, "%s/dump_%s.safetensors", lst_test_tmpdir(), model);
    int rc = lst_test_run(&log, "dump --model tests/data/%s --batch tests/data/%s/batch.safetensors --out %s",
                          model, model, out);
    CHECK(rc == 0, "lst dump failed (%d): %s", rc, log ? log : "");
    free(log);
    if (rc) return;
    char ref[512];
    snprintf(ref, sizeof ref, "tests/data/%s/golden.safetensors", model);
    static const char *const all[] = {"logits", "loss", "encoder_", "decoder_", "grad.", NULL};
    double worst;
    int bad = golden_compare_files(out, ref, all, &worst);
    CHECK(bad == 0, "%d tensors outside tolerance", bad);
    fprintf(stderr, "(worst %.3f x tol) ", worst);
}

TEST(golden_t5_relu_dump) { dump_matches("t5-tiny-relu"); }
TEST(golden_t5_gated_dump) { dump_matches("t5-tiny-gated"); }
/* UL2's gated-silu: golden tensors from transformers in float64 (bench/make_golden_silu.py) */
TEST(golden_t5_silu_dump) { dump_matches("t5-tiny-silu"); }
