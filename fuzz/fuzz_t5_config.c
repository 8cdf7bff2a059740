/* fuzz_t5_config.c: lst_t5_config_parse on arbitrary text (and
 * lst_t5_config_load on the same bytes as a file, NUL bytes included).
 *
 * An accepted config must pass lst_t5_config_validate; when the writer can
 * express it, lst_t5_config_save + lst_t5_config_load must give it back
 * unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/io/t5_config.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fz_quiet(0);
    return 0;
}

static int same(const lst_t5_config_t *a, const lst_t5_config_t *b) {
    return a->vocab_size == b->vocab_size && a->d_model == b->d_model && a->d_kv == b->d_kv &&
           a->d_ff == b->d_ff && a->num_layers == b->num_layers &&
           a->num_decoder_layers == b->num_decoder_layers && a->num_heads == b->num_heads &&
           a->rel_buckets == b->rel_buckets && a->rel_max_distance == b->rel_max_distance &&
           a->dropout_rate == b->dropout_rate && a->layer_norm_eps == b->layer_norm_eps &&
           a->act == b->act && a->gated == b->gated &&
           a->tie_word_embeddings == b->tie_word_embeddings &&
           a->pad_token_id == b->pad_token_id && a->eos_token_id == b->eos_token_id &&
           a->decoder_start_token_id == b->decoder_start_token_id;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fz_cstr(data, size);
    lst_t5_config_t c, d;
    lst_err_t err = {{0}};
    int ok = lst_t5_config_parse(&c, text, "fuzz.json", &err) == 0;
    if (!ok) {
        FZ_CHECK_MSG(err);
        FZ_CHECK(strstr(err.msg, "fuzz.json"), "message does not name the file: %s", err.msg);
    } else {
        FZ_CHECK(lst_t5_config_validate(&c, "fuzz.json", &err) == 0, "%s", err.msg);
        const char *path = fz_path("config.json");
        if (lst_t5_config_save(&c, path, &err) == 0) {
            FZ_CHECK(lst_t5_config_load(&d, path, &err) == 0, "re-read: %s", err.msg);
            FZ_CHECK(same(&c, &d), "config changed through save + load");
        } else {
            FZ_CHECK_MSG(err);
            FZ_CHECK(c.act == LST_ACT_GELU && c.gated, "save refused: %s", err.msg);
        }
    }
    /* The file reader: same verdict unless the bytes hold a NUL. */
    const char *in = fz_path("in.json");
    fz_write(in, data, size);
    int file_ok = lst_t5_config_load(&d, in, &err) == 0;
    if (!file_ok) FZ_CHECK_MSG(err);
    if (!memchr(data, 0, size)) FZ_CHECK(file_ok == ok, "parse %d but load %d", ok, file_ok);
    else FZ_CHECK(!file_ok, "a file with a NUL byte was accepted");
    free(text);
    return 0;
}
