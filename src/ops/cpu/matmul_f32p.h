/* matmul_f32p.h: the frozen backbone's float32 linear layer on weights packed
 * once, at load, for an AVX-512 kernel.
 *
 *   y = x @ W^T + b   (float32 throughout)
 *
 * Why: an LST step is mostly the frozen backbone's forward, and SGEMM packs
 * every weight again on every call (with 2 threads each one packs its own
 * copy), reading ~850 MB of t5-base weights from memory in a transposing
 * order. A weight that never changes can be packed once. x needs no
 * packing: the kernel broadcasts it straight from its rows.
 *
 * Sums (the same on every path, whatever the thread count): y[n, m] is built
 * over blocks of LST_F32P_KC inputs; within a block, acc = fma(x[n,k],
 * W[m,k], acc) in k order from 0; the first block stores acc (+ b[m]), each
 * later one adds its acc to y. The plain-C path (fmaf) computes the same
 * bits as the AVX-512 one, so either can be tested against the other.
 *
 * Packed layout (the size is M * K floats, no padding, so a weight can be
 * packed in place): panels of LST_F32P_NR output columns (the last may be
 * narrower, w = M - p * NR); panel p starts at p * NR * K and holds, for
 * each k, its w columns' W[m, k] side by side. */
#ifndef LST_MATMUL_F32P_H
#define LST_MATMUL_F32P_H

#include <stddef.h>

#define LST_F32P_NR 64 /* output columns per panel: 4 zmm */
#define LST_F32P_KC 256 /* inputs per block: a panel's slice is 64 KiB */

/* packed: [M * K]  W: [M, K] (row-major, HF layout); packed != W. */
void lst_f32p_pack_weights(float *packed, const float *W, int M, int K);
/* W: [M, K] <- packed: [M * K] (exact inverse; W != packed). */
void lst_f32p_unpack_weights(float *W, const float *packed, int M, int K);

/* y: [N, M]  x: [N, K]  Wp: packed [M, K]  bias: [M] or NULL. Tasks (row
 * blocks, or column groups when rows are few) are handed out to the OpenMP
 * threads one at a time. Uses the AVX-512 kernel when lst_f32p_native(),
 * else the plain-C path. */
void lst_matmul_forward_f32p(float *y, const float *x, const float *Wp, const float *bias, int N,
                             int K, int M);
/* The plain-C path, exposed so that tests run it on every machine. */
void lst_matmul_forward_f32p_portable(float *y, const float *x, const float *Wp,
                                      const float *bias, int N, int K, int M);

/* The AVX-512 register tiles of the product over `rows` rows of x (row
 * stride ldx, from the slice's first input) against one panel's k slice b
 * (kc inputs, w <= LST_F32P_NR floats each), into y's w columns (row stride
 * ldy): first: y = sums (+ bias[0..w)), else y += sums. For kernels that
 * make float32 panel slices on the fly (matmul_q4.c); only when
 * lst_f32p_native(). */
void lst_f32p_rows_native(float *y, size_t ldy, const float *x, size_t ldx, const float *b,
                          int w, int kc, int rows, int first, const float *bias);

/* 1 when this CPU (and OS) runs the AVX-512 kernel. Without it packing does
 * not pay (the plain-C path is far slower than SGEMM): callers keep the
 * weights unpacked. */
int lst_f32p_native(void);

#endif
