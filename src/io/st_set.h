/* st_set.h: a checkpoint directory's weights as Hugging Face saves them:
 * one model.safetensors, or model.safetensors.index.json whose weight_map
 * names, for every tensor, the shard holding it (model-00001-of-00002.
 * safetensors, ...), as T5-3B, FLAN-T5-XL/XXL and UL2 ship.
 *
 * The index is checked before any tensor is read: a JSON object with a
 * weight_map of tensor -> shard file name (a plain name inside the
 * directory); every shard listed exists and opens as safetensors (which
 * validates it, safetensors.h); every tensor of the map is in its shard;
 * every tensor of a shard is in the map, and in that shard (a tensor in
 * two shards, or one the index does not list, is refused). Each error
 * names the file and the tensor. When both forms are present the single
 * file is used, as transformers does. */
#ifndef LST_ST_SET_H
#define LST_ST_SET_H

#include "../core/error.h"
#include "safetensors.h"

#define LST_ST_INDEX "model.safetensors.index.json"

typedef struct {
    const char *name;            /* the tensor's name (owned by its file) */
    const lst_st_tensor_t *t;
    const lst_st_file_t *file;
} lst_st_entry_t;

typedef struct {
    int n_files;
    lst_st_file_t *files;  /* [n_files] mapped and validated */
    int n;
    lst_st_entry_t *by_name; /* [n] sorted by name */
    int sharded;           /* 1: read through the index */
    char *path;            /* the single file, or the index */
} lst_st_set_t;

/* Opens dir's weights. A directory with neither form fails with a message
 * that names what it holds instead (pytorch_model.bin, tf_model.h5,
 * flax_model.msgpack, an ONNX file) and how to get safetensors. *s is safe
 * to close after a failure. */
int lst_st_set_open(lst_st_set_t *s, const char *dir, lst_err_t *err);
void lst_st_set_close(lst_st_set_t *s);

/* 1 when dir holds weights in either form (lst_st_set_open would not fail
 * for want of a file). */
int lst_st_set_present(const char *dir);

/* The tensor called name, and the file holding it (*file; may be NULL);
 * NULL if absent. */
const lst_st_tensor_t *lst_st_set_find(const lst_st_set_t *s, const char *name,
                                       const lst_st_file_t **file);

/* The "__metadata__" value of key in the first file (lst init's id). */
const char *lst_st_set_meta(const lst_st_set_t *s, const char *key);

/* Where the weights are, for messages: the single file, or the index. */
const char *lst_st_set_path(const lst_st_set_t *s);

#endif
