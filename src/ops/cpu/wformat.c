/* wformat.c: the CPU rows of the weight-format table (see ../wformat.h). */
#include "../wformat.h"

#include <stdint.h>
#include <string.h>

#include "../ops.h"
#include "cpu.h"
#include "matmul_bf16.h"
#include "matmul_f32p.h"

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

static const lst_wformat_traits_t table[LST_WF_COUNT] = {
    [LST_WF_F32] = {"f32", 0, f32_bytes, f32_copy, f32_uncopy, f32_matmul, no_workspace, NULL, always, 0},
    [LST_WF_F32P] = {"f32-panels", 1, f32_bytes, f32p_pack, f32p_unpack, f32p_matmul, no_workspace, NULL,
                     lst_f32p_native, 1},
    [LST_WF_BF16] = {"bf16", 0, bf16_bytes, bf16_pack, bf16_unpack, bf16_matmul, lst_bf16_workspace,
                 lst_bf16_round,
                     lst_bf16_native, 0},
};

const lst_wformat_traits_t *lst_wformat(lst_wformat_t f) {
    return f >= 0 && f < LST_WF_COUNT ? &table[f] : &table[LST_WF_F32];
}
