/* tokenizer.h: the T5 SentencePiece tokenizer, through libsentencepiece.
 *
 * The only C++ in lst is spm_bridge.cc behind this C interface. Encoding
 * appends EOS (id 1) like T5's tokenizer; decoding skips special ids
 * (pad 0, eos 1, unk 2 is kept as its piece). */
#ifndef LST_TOKENIZER_H
#define LST_TOKENIZER_H

/* The id every encoded text ends with (T5's </s>); a model whose config has
 * another eos_token_id does not go with this tokenizer. */
#define LST_TOKENIZER_EOS 1

#include <stdint.h>

#include "../core/error.h"

typedef struct lst_tokenizer lst_tokenizer_t;

/* Loads a spiece.model. NULL + err on failure (missing file, not a model). */
lst_tokenizer_t *lst_tokenizer_load(const char *path, lst_err_t *err);
void lst_tokenizer_free(lst_tokenizer_t *t);

/* Number of pieces in the model (32000 for T5) plus the 100 extra ids
 * <extra_id_0..99> that T5 appends: the 32100 of LST-SPEC section 1. */
int lst_tokenizer_vocab_size(const lst_tokenizer_t *t);

/* Encodes UTF-8 text (len bytes) to ids, EOS appended. *ids is malloc'ed
 * (caller frees), *n its length. Invalid UTF-8 is an error, not a crash. */
int lst_tokenizer_encode(const lst_tokenizer_t *t, const char *text, size_t len,
                         int32_t **ids, int *n, lst_err_t *err);

/* Decodes ids to a malloc'ed UTF-8 string, stopping at the first EOS and
 * skipping pad. Ids outside [0, vocab_size) are an error naming the id. */
int lst_tokenizer_decode(const lst_tokenizer_t *t, const int32_t *ids, int n,
                         char **text, lst_err_t *err);

#endif
