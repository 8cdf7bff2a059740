/* matmul_q8_amx.h: the int8 product's sums on AMX tiles (matmul_q8_amx.c),
 * for matmul_q8.c's fast path; the same integers as its VNNI tile. */
#ifndef LST_MATMUL_Q8_AMX_H
#define LST_MATMUL_Q8_AMX_H

#include <stddef.h>
#include <stdint.h>

/* 1 when the CPU has AMX-INT8 (and VNNI), the OS saves the tile state and
 * Linux granted this process the tile data (asked once). */
int lst_q8_amx_available(void);

/* Each thread that runs lst_q8_amx_panel configures its tiles first, and
 * releases them after. */
void lst_q8_amx_begin(void);
void lst_q8_amx_end(void);

/* c[rows, cols] (int32, row stride ldc) = (first ? 0 : c) + the sums over
 * nq quads (a multiple of 16) of a (rows of quantized x, lda dwords apart;
 * readable up to rows rounded up to 32) against b (a panel's quads, 256
 * bytes each); cols <= 64. */
void lst_q8_amx_panel(int32_t *c, size_t ldc, const uint32_t *a, int lda, const int8_t *b,
                      int nq, int rows, int cols, int first);

#endif
