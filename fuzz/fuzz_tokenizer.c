/* fuzz_tokenizer.c: lst_tokenizer_encode on arbitrary bytes with the T5
 * model (data/t5/spiece.model, loaded once), and lst_tokenizer_decode on
 * the same bytes read as int32 ids.
 *
 * Encoding must refuse exactly the invalid UTF-8 (lst_utf8_valid) and end
 * with EOS; ids it produced must decode; arbitrary ids either decode or are
 * refused with a message, never crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/io/tokenizer.h"
#include "../src/io/tsv.h"
#include "fuzz_util.h"

static lst_tokenizer_t *g_tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *spm = getenv("LST_FUZZ_SPM") ? getenv("LST_FUZZ_SPM") : "data/t5/spiece.model";
    lst_err_t err = {{0}};
    if (!(g_tok = lst_tokenizer_load(spm, &err))) {
        fprintf(stderr, "fuzz_tokenizer: %s (run from the repository root)\n", err.msg);
        exit(1);
    }
    fz_quiet(0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* an exact-size copy, so ASan sees any read past the text */
    char *text = malloc(size ? size : 1);
    FZ_CHECK(text, "oom");
    memcpy(text, data, size);
    int32_t *ids = NULL;
    int n = 0;
    lst_err_t err = {{0}};
    const int vocab = lst_tokenizer_vocab_size(g_tok);
    int rc = lst_tokenizer_encode(g_tok, text, size, &ids, &n, &err);
    int valid = lst_utf8_valid(text, size);
    FZ_CHECK((rc == 0) == (valid != 0), "encode %d on %s UTF-8: %s", rc,
             valid ? "valid" : "invalid", err.msg);
    if (rc == 0) {
        FZ_CHECK(n >= 1 && ids[n - 1] == 1, "no EOS");
        for (int i = 0; i < n; i++) FZ_CHECK(ids[i] >= 0 && ids[i] < vocab, "id %d", ids[i]);
        char *back = NULL;
        FZ_CHECK(lst_tokenizer_decode(g_tok, ids, n, &back, &err) == 0, "%s", err.msg);
        FZ_CHECK(back && lst_utf8_valid(back, strlen(back)), "decoded text is not UTF-8");
        free(back);
        free(ids);
    } else {
        FZ_CHECK_MSG(err);
    }

    int m = (int)(size / 4);
    int32_t *raw = malloc((size_t)(m ? m : 1) * sizeof *raw);
    FZ_CHECK(raw, "oom");
    memcpy(raw, data, (size_t)m * 4);
    /* mostly in range: fold large values into the vocabulary, keep negatives */
    for (int i = 0; i < m; i++)
        if (raw[i] > 0 && (data[0] & 1)) raw[i] %= vocab + 2;
    char *out = NULL;
    if (lst_tokenizer_decode(g_tok, raw, m, &out, &err) == 0) {
        FZ_CHECK(out, "no text");
        free(out);
    } else {
        FZ_CHECK_MSG(err);
    }
    free(raw);
    free(text);
    return 0;
}
