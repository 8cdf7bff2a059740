/* added_tokens.h: the tokens a Hugging Face tokenizer adds after its
 * SentencePiece vocabulary and T5's 100 sentinels, read from beside the
 * spiece.model: added_tokens.json ({"<tok>": id}) or tokenizer_config.json's
 * added_tokens_decoder ({"id": {"content": "<tok>"}}). Ids below `base`
 * (the pieces and the sentinels) are T5's own and skipped; the others must
 * run on from base without a gap. The tokenizer encodes each as its id and
 * decodes the id back to its text (spm_bridge.cc). */
#ifndef LST_ADDED_TOKENS_H
#define LST_ADDED_TOKENS_H

#include "../core/error.h"

typedef struct {
    int id;
    char *text;
} lst_added_token_t;

typedef struct {
    int n;
    lst_added_token_t *tok; /* [n], by id: base, base + 1, ... */
} lst_added_tokens_t;

/* None found is n == 0 and success. */
int lst_added_tokens_read(const char *spm_path, int base, lst_added_tokens_t *a, lst_err_t *err);
void lst_added_tokens_free(lst_added_tokens_t *a);

#endif
