/* matmul_bf16.h: the frozen-backbone linear layer in bfloat16.
 *
 *   y = bf16(x) @ bf16(W)^T + b,   products summed in float32
 *
 * W is frozen, so it is rounded to bf16 and packed once (at load) into a
 * layout the kernel streams; x is rounded to bf16 block by block inside the
 * call. Rounding is to nearest even, with subnormal inputs flushed to zero
 * (what vcvtne2ps2bf16 does), so every path sees the same bf16 numbers.
 * On a CPU with AVX512_BF16 the product runs on vdpbf16ps; elsewhere a
 * plain-C path computes the same sums in float (accumulation order, and so
 * the last bits, differ).
 *
 * Packed layout (an implementation detail; only the size is public): panels
 * of LST_BF16_NR output columns; inside a panel, for each pair of inputs
 * (k, k+1), the NR columns' two bf16 values side by side. K is padded to
 * even and M to a multiple of NR with zeros. */
#ifndef LST_MATMUL_BF16_H
#define LST_MATMUL_BF16_H

#include <stddef.h>
#include <stdint.h>

#ifndef LST_BF16_NR
#define LST_BF16_NR 64 /* output columns per packed panel: 4 zmm */
#endif

#include "../../core/half.h" /* lst_bf16_from_float, lst_bf16_to_float */

/* Elements (uint16_t) of the packed form of a [M, K] weight. */
size_t lst_bf16_packed_size(int M, int K);
/* packed: [lst_bf16_packed_size(M, K)]  W: [M, K] float32 (row-major, HF layout) */
void lst_bf16_pack_weights(uint16_t *packed, const float *W, int M, int K);

/* W: [M, K] float32 <- packed: the bf16-rounded weight back (exact). */
void lst_bf16_unpack_weights(float *W, const uint16_t *packed, int M, int K);
/* y[i] = x[i] rounded to bf16 (as the kernel rounds its input), for n floats. */
void lst_bf16_round(float *y, const float *x, size_t n);

/* Bytes of workspace lst_matmul_forward_bf16 needs for a [M, K] weight and
 * any number of rows (0 without AVX512_BF16: the portable path needs none;
 * aligned as malloc's). */
size_t lst_bf16_workspace(int K, int M);
/* y: [N, M]  x: [N, K]  Wp: packed [M, K]  bias: [M] or NULL  ws:
 * lst_bf16_workspace(K, M) bytes, which the call divides among its OpenMP
 * threads (two calls at once need two workspaces). */
void lst_matmul_forward_bf16(float *y, const float *x, const uint16_t *Wp, const float *bias,
                             int N, int K, int M, void *ws);

/* The plain-C path the dispatcher falls back to without AVX512_BF16;
 * exposed so that tests run it on every machine. Same arguments. */
void lst_matmul_forward_bf16_portable(float *y, const float *x, const uint16_t *Wp,
                                      const float *bias, int N, int K, int M);

/* Reference: bf16-rounded x and W (unpacked float32 [M, K]), float32
 * accumulation in k order, one output at a time. */
void lst_matmul_forward_bf16_ref(float *y, const float *x, const float *W, const float *bias,
                                 int N, int K, int M);

/* 1 when lst_matmul_forward_bf16 runs on vdpbf16ps on this CPU. */
int lst_bf16_native(void);

#endif
