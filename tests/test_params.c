/* test_params.c: `lst params` reproduces the paper's trainable shares on
 * T5-base (LST-SPEC section 6; denominator 222,882,048 with the 32100-row
 * vocabulary), with the exact counts the spec's definitions give. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static void expect(const char *args, long long trainable, const char *pct) {
    char *out = NULL;
    int rc = lst_test_run(&out, "params --model t5-base %s --json", args);
    char want[200];
    snprintf(want, sizeof want, "{\"trainable\":%lld,\"total\":222882048,\"percent\":%s", trainable, pct);
    CHECK(rc == 0 && out && strstr(out, want), "'%s': got %s, want %s", args, out ? out : "", want);
    free(out);
}

TEST(params_t5_base_shares) {
    expect("--method lst --side-layers 1,2,3,5,6,7,9,10,11", 3878712, "1.7403"); /* paper 1.74 */
    expect("--method adapters", 3625728, "1.6267");                             /* paper 1.63 */
    expect("--method lora", 3819876, "1.7139");                                 /* paper 1.71 */
    expect("--method bitfit", 280932, "0.1260");                                /* paper 0.13 */
    expect("--method prompt", 76800, "0.0345");                                 /* paper 0.03 */
    expect("--method full", 222882048, "100.0000");
    expect("--method lst", 5097240, "2.2870"); /* all layers kept: ANCHORS' 2.24% row counts differently */
}

TEST(params_options_and_errors) {
    char *out = NULL;
    int rc = lst_test_run(&out, "params --model t5-base --method lora --lora-rank 8 --json");
    CHECK(rc == 0 && out && strstr(out, "\"trainable\":1165668"), "lora rank 8: %s", out ? out : "");
    free(out);
    rc = lst_test_run(&out, "params --model tests/data/t5-tiny-relu --method full --json");
    CHECK(rc == 0 && out && strstr(out, "\"percent\":100"), "checkpoint dir: %s", out ? out : "");
    free(out);
    rc = lst_test_run(&out, "params --model t5-base --method magic");
    CHECK(rc == 2 && out && strstr(out, "unknown method 'magic'"), "method: %d %s", rc, out ? out : "");
    free(out);
    rc = lst_test_run(&out, "params --model no/such/dir --method lst");
    CHECK(rc == 1 && out && strstr(out, "no/such/dir/config.json"), "model: %d %s", rc, out ? out : "");
    free(out);
}
