/* matmul_q4.h: the frozen-backbone linear layer on 4-bit weights (issue 14).
 *
 *   y = x @ Wd^T + b,   Wd[m, k] = code[c[m, k]] * a[m, k / LST_Q4_GROUP]
 *
 * Each group of LST_Q4_GROUP inputs of a weight row keeps its largest
 * magnitude a (float32) and, per weight, the index c of the nearest of 16
 * codes in [-1, 1]: NF4 (QLoRA's quantiles of a normal distribution, with
 * an exact 0), which on normally distributed weights, what T5's are, has
 * about 10% less error than evenly spaced int4 (tests/test_quant.c measures
 * both). x stays float32 and the sums are float32, in the order of
 * matmul_f32p.h (blocks of LST_F32P_KC inputs, fma in k order): the AVX-512
 * path dequantizes a panel's k slice into float32 and runs matmul_f32p's
 * register tiles on it, the plain-C path computes the same bits.
 *
 * Packed layout (only the size is public): panels of 64 output columns (M
 * padded with zero-scale rows); in a panel, for each k, 32 bytes whose low
 * nibbles are columns 0..31 and high nibbles columns 32..63; then, 64-byte
 * aligned, the scales [panel][group][64] floats. */
#ifndef LST_MATMUL_Q4_H
#define LST_MATMUL_Q4_H

#include <stddef.h>

#define LST_Q4_GROUP 32 /* inputs per scale */

/* The two code books: NF4 (the format's) and evenly spaced int4 (i - 8) / 7
 * (for the comparison). */
const float *lst_q4_codes_nf4(void);
const float *lst_q4_codes_int4(void);

size_t lst_q4_packed_bytes(int M, int K);
/* packed: [lst_q4_packed_bytes(M, K)]  W: [M, K] float32 (row-major), NF4 codes. */
void lst_q4_pack_weights(void *packed, const float *W, int M, int K);
/* The same with another code book (16 increasing values in [-1, 1]). */
void lst_q4_pack_weights_codes(void *packed, const float *W, int M, int K, const float *codes);
/* W: [M, K] <- the dequantized weight (exactly what the kernel multiplies). */
void lst_q4_unpack_weights(float *W, const void *packed, int M, int K);
void lst_q4_unpack_weights_codes(float *W, const void *packed, int M, int K, const float *codes);

/* Bytes of workspace for any number of rows: each thread's float32 slice
 * (0 where the AVX-512 path does not run: the plain-C path needs none). */
size_t lst_q4_workspace(int K, int M);
/* y: [N, M]  x: [N, K]  Wp: packed [M, K] (NF4)  bias: [M] or NULL  ws: as above. */
void lst_matmul_forward_q4(float *y, const float *x, const void *Wp, const float *bias, int N,
                           int K, int M, void *ws);
/* The plain-C path (the same bits), exposed so that tests run it everywhere. */
void lst_matmul_forward_q4_portable(float *y, const float *x, const void *Wp, const float *bias,
                                    int N, int K, int M);

/* 1 when lst_matmul_forward_q4 runs its AVX-512 path on this CPU. */
int lst_q4_native(void);

#endif
