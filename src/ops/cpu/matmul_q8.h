/* matmul_q8.h: the frozen-backbone linear layer on int8 weights (issue 14).
 *
 *   y[n, m] = (float)(sum_k qx[n, k] * qw[m, k]) * (sx[n] * sw[m]) + b[m]
 *
 * W is quantized once, at load, per output row (symmetric absmax):
 * sw[m] = max_k |W[m, k]| / 127, qw[m, k] = round(W[m, k] * 127 / max) in
 * [-127, 127]. x is quantized the same way per row inside the call (sx[n],
 * qx), a row of zeros to zeros. Rounding is to nearest even (the float
 * product, then lrint), what vcvtps2dq does.
 *
 * The sum over k is an integer, exact in int32 for K <= 66311 (|qx * qw| <=
 * 255 * 127 with the offset below), so every path computes the same bits:
 * on AVX512_VNNI, vpdpbusd of u8 = qx + 128 against the s8 weights,
 * corrected by 128 * sum_k qw[m, k] (kept at pack time); elsewhere plain C
 * with the same integers; the final scale is one fused multiply-add.
 *
 * Packed layout (only the size is public): panels of LST_Q8_NR output
 * columns (M padded with zero rows); in a panel, for each quad of inputs
 * (K padded to a multiple of 4 with zeros), the NR columns' 4 int8 side by
 * side (one dword each); then, 64-byte aligned, sw [Mp] floats and the
 * column sums [Mp] int32 (Mp = M rounded up to NR). */
#ifndef LST_MATMUL_Q8_H
#define LST_MATMUL_Q8_H

#include <stddef.h>

#define LST_Q8_NR 64   /* output columns per panel: 4 zmm */
#define LST_Q8_MAX_K 66311

/* Bytes of the packed form of a [M, K] weight. */
size_t lst_q8_packed_bytes(int M, int K);
/* packed: [lst_q8_packed_bytes(M, K)]  W: [M, K] float32 (row-major, HF layout) */
void lst_q8_pack_weights(void *packed, const float *W, int M, int K);
/* W: [M, K] <- the dequantized weight qw * sw (exactly what the kernel multiplies). */
void lst_q8_unpack_weights(float *W, const void *packed, int M, int K);
/* y: [rows, K] <- x: [rows, K] quantized per row as the kernel quantizes
 * its input, and back (qx * sx). */
void lst_q8_round(float *y, const float *x, size_t rows, int K);

/* Bytes of workspace for a [M, K] weight and any number of rows (both
 * paths; the call divides it among its OpenMP threads). */
size_t lst_q8_workspace(int K, int M);
/* y: [N, M]  x: [N, K]  Wp: packed [M, K]  bias: [M] or NULL  ws: as above. */
void lst_matmul_forward_q8(float *y, const float *x, const void *Wp, const float *bias, int N,
                           int K, int M, void *ws);
/* The plain-C path (the same bits), exposed so that tests run it everywhere. */
void lst_matmul_forward_q8_portable(float *y, const float *x, const void *Wp, const float *bias,
                                    int N, int K, int M, void *ws);

/* 1 when lst_matmul_forward_q8 runs on vpdpbusd on this CPU. */
int lst_q8_native(void);

/* The paths, fastest last: plain C, vpdpbusd tiles, AMX tiles (tdpbusd,
 * matmul_q8_amx.c; the quads past a multiple of 16 still on vpdpbusd).
 * lst_q8_path(): the one lst_matmul_forward_q8 takes on this CPU, at most
 * the cap lst_q8_use_path sets (tests and benchmarks; default: the
 * fastest). Every path computes the same bits. */
enum { LST_Q8_PLAIN = 0, LST_Q8_VNNI = 1, LST_Q8_AMX = 2 };
int lst_q8_path(void);
void lst_q8_use_path(int path);

#endif
