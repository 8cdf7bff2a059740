/* wformat.c: the CPU rows of the weight-format table (see ../wformat.h). */
#include "../wformat.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../ops.h"
#include "cpu.h"
#include "matmul_bf16.h"
#include "matmul_f32p.h"
#include "matmul_q4.h"
#include "matmul_q8.h"

static size_t f32_bytes(int M, int K) { return sizeof(float) * (size_t)M * K; }
static void f32_copy(void *dst, const float *W, int M, int K) { memcpy(dst, W, f32_bytes(M, K)); }
static void f32_uncopy(float *W, const void *src, int M, int K) { memcpy(W, src, f32_bytes(M, K)); }
static size_t no_workspace(int K, int M) { return 0; }
static void f32_matmul(float *y, const float *x, const void *W, const float *b, int N, int K, int M,
                       void *ws) {
    lst_cpu_matmul_forward(y, x, W, b, N, K, M);
}
static int always(void) { return 1; }

static void f32p_pack(void *dst, const float *W, int M, int K) { lst_f32p_pack_weights(dst, W, M, K); }
static void f32p_unpack(float *W, const void *src, int M, int K) { lst_f32p_unpack_weights(W, src, M, K); }
static void f32p_matmul(float *y, const float *x, const void *W, const float *b, int N, int K, int M,
                        void *ws) {
    lst_matmul_forward_f32p(y, x, W, b, N, K, M);
}

static size_t bf16_bytes(int M, int K) { return sizeof(uint16_t) * lst_bf16_packed_size(M, K); }
static void bf16_pack(void *dst, const float *W, int M, int K) { lst_bf16_pack_weights(dst, W, M, K); }
static void bf16_unpack(float *W, const void *src, int M, int K) { lst_bf16_unpack_weights(W, src, M, K); }
static void bf16_matmul(float *y, const float *x, const void *W, const float *b, int N, int K, int M,
                        void *ws) {
    lst_matmul_forward_bf16(y, x, W, b, N, K, M, ws);
}

static void bf16_round(float *y, const float *x, size_t rows, int K) {
    lst_bf16_round(y, x, rows * (size_t)K);
}

static void q8_pack(void *dst, const float *W, int M, int K) { lst_q8_pack_weights(dst, W, M, K); }
static void q8_unpack(float *W, const void *src, int M, int K) { lst_q8_unpack_weights(W, src, M, K); }

static void q4_pack(void *dst, const float *W, int M, int K) { lst_q4_pack_weights(dst, W, M, K); }
static void q4_unpack(float *W, const void *src, int M, int K) { lst_q4_unpack_weights(W, src, M, K); }
static void q4_matmul(float *y, const float *x, const void *W, const float *b, int N, int K, int M,
                      void *ws) {
    lst_matmul_forward_q4(y, x, W, b, N, K, M, ws);
}

static const lst_wformat_traits_t table[LST_WF_COUNT] = {
    [LST_WF_F32] = {"f32", 0, f32_bytes, f32_copy, f32_uncopy, f32_matmul, no_workspace, NULL,
                    always, 0, "fp32", LST_WF_F32P},
    [LST_WF_F32P] = {"f32-panels", 1, f32_bytes, f32p_pack, f32p_unpack, f32p_matmul, no_workspace,
                     NULL, lst_f32p_native, 1, NULL, LST_WF_F32P},
    [LST_WF_BF16] = {"bf16", 0, bf16_bytes, bf16_pack, bf16_unpack, bf16_matmul, lst_bf16_workspace,
                     bf16_round, lst_bf16_native, 0, "bf16", LST_WF_BF16},
    [LST_WF_INT8] = {"int8", 0, lst_q8_packed_bytes, q8_pack, q8_unpack, lst_matmul_forward_q8,
                     lst_q8_workspace, lst_q8_round, lst_q8_native, 0, "int8", LST_WF_INT8},
    [LST_WF_Q4] = {"q4", 0, lst_q4_packed_bytes, q4_pack, q4_unpack, q4_matmul, lst_q4_workspace,
                   NULL, lst_q4_native, 0, "q4", LST_WF_Q4},
};

const lst_wformat_traits_t *lst_wformat(lst_wformat_t f) {
    return f >= 0 && f < LST_WF_COUNT ? &table[f] : &table[LST_WF_F32];
}

int lst_wformat_parse(const char *dtype, lst_wformat_t *out) {
    for (int f = 0; f < LST_WF_COUNT; f++)
        if (dtype && table[f].dtype && !strcmp(table[f].dtype, dtype)) {
            *out = (lst_wformat_t)f;
            return 0;
        }
    return -1;
}

const char *lst_wformat_dtypes(void) {
    static char names[128];
    if (!names[0])
        for (int f = 0; f < LST_WF_COUNT; f++)
            if (table[f].dtype) {
                const size_t n = strlen(names);
                snprintf(names + n, sizeof names - n, "%s%s", n ? ", " : "", table[f].dtype);
            }
    return names;
}

const char *lst_wformat_dtype(lst_wformat_t f) {
    if (lst_wformat(f)->dtype) return lst_wformat(f)->dtype;
    for (int r = 0; r < LST_WF_COUNT; r++)
        if (table[r].dtype && table[r].frozen == f) return table[r].dtype;
    return lst_wformat(f)->name;
}
