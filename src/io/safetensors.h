/* safetensors.h: read (mmap) and write (temp file + rename) .safetensors files.
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {str: str}}, then the data block. Offsets are relative to
 * the data block. The reader validates everything before handing out a
 * pointer: header length inside the file, JSON well formed, known dtype,
 * product(shape) x dtype size == end - begin (no overflow), offsets inside
 * the data block, no two tensors overlapping, no duplicate names. */
#ifndef LST_SAFETENSORS_H
#define LST_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

#define LST_ST_MAX_DIMS 8

typedef enum {
    LST_DT_F32 = 0,
    LST_DT_F16,
    LST_DT_BF16,
    LST_DT_I64,
    LST_DT_I32,
    LST_DT_U8, /* raw bytes: lst's checkpoints keep their JSON state in one */
} lst_dtype_t;

size_t lst_dtype_size(lst_dtype_t dt);
const char *lst_dtype_name(lst_dtype_t dt);

typedef struct {
    char *name;
    lst_dtype_t dtype;
    int ndim;
    int64_t shape[LST_ST_MAX_DIMS];
    int64_t numel;
    size_t nbytes;
    const void *data; /* points into the mapping; may be unaligned */
} lst_st_tensor_t;

typedef struct {
    char *path;
    void *map;
    size_t map_size;
    int n;
    lst_st_tensor_t *tensors;
    int n_meta;
    char **meta; /* the "__metadata__" strings: key 0, value 0, key 1, ... */
} lst_st_file_t;

/* Maps and validates `path`. On failure fills err (message names the file)
 * and leaves *f safe to pass to lst_st_close. */
int lst_st_open(lst_st_file_t *f, const char *path, lst_err_t *err);
void lst_st_close(lst_st_file_t *f);

/* NULL if absent. */
const lst_st_tensor_t *lst_st_find(const lst_st_file_t *f, const char *name);

/* The "__metadata__" value of key; NULL if absent. */
const char *lst_st_meta(const lst_st_file_t *f, const char *key);

/* Copies tensor `name` into out as float32, converting F16/BF16 (F32, F16,
 * BF16 accepted; integer dtypes refused). If ndim >= 0 the shape must equal
 * shape[0..ndim-1]; the error names the tensor, the expected and the found
 * shape. Missing tensor is an error naming it. */
int lst_st_read_f32(const lst_st_file_t *f, const char *name, int ndim,
                    const int64_t *shape, float *out, lst_err_t *err);

/* Drops the pages of t (a tensor of f) from the process's memory: a
 * loader that has converted a tensor no longer holds its file bytes (they
 * are read again from the file if touched). f or t NULL: nothing. */
void lst_st_release(const lst_st_file_t *f, const lst_st_tensor_t *t);

/* Same for integer tensors (I64 or I32) into int64. */
int lst_st_read_i64(const lst_st_file_t *f, const char *name, int ndim,
                    const int64_t *shape, int64_t *out, lst_err_t *err);

/* A tensor to write. data holds numel x dtype size bytes, little-endian. */
typedef struct {
    const char *name;
    lst_dtype_t dtype;
    int ndim;
    int64_t shape[LST_ST_MAX_DIMS];
    const void *data;
} lst_st_out_t;

/* Writes the tensors (in the given order) to `path` atomically: a temporary
 * file in the same directory, fsync, rename. On failure no file named
 * `path` is created or modified, and the temporary file is removed.
 * Duplicate names are refused. */
int lst_st_write(const char *path, const lst_st_out_t *tensors, int n,
                 lst_err_t *err);

/* Streaming variant for checkpoints too large to hold in memory (t5-3b):
 * tensors[i].data may be NULL, in which case fill(ctx, i, dst) is called to
 * produce tensors[i]'s bytes into dst (numel x dtype size bytes) just before
 * they are written. fill returns 0, or -1 after filling err. Same atomicity. */
typedef int (*lst_st_fill_fn)(void *ctx, int index, void *dst, lst_err_t *err);
int lst_st_write_stream(const char *path, const lst_st_out_t *tensors, int n,
                        lst_st_fill_fn fill, void *ctx, lst_err_t *err);

/* lst_st_write_stream with "__metadata__" entries besides "format": "pt":
 * meta is key, value, key, value, ..., NULL (lst init's "lst_init_id"). */
int lst_st_write_stream_meta(const char *path, const lst_st_out_t *tensors, int n,
                             lst_st_fill_fn fill, void *ctx, const char *const *meta,
                             lst_err_t *err);

#endif
