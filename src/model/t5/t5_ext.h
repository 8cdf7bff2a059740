/* t5_ext.h: LoRA and adapter pieces of a T5 block (t5_ext.c). */
#ifndef LST_T5_EXT_H
#define LST_T5_EXT_H

#include "../../ops/ops.h"

void lst_lora_forward(float *y, float *u, const float *x, const float *A, const float *B,
                      int N, int in, int O, int r, float scale, const lst_drop_t *drop,
                      float *xs);
void lst_lora_backward(float *dx, float *dA, float *dB, const float *dy, const float *x,
                       const float *u, const float *A, const float *B, int N, int in, int O,
                       int r, float scale, const lst_drop_t *drop, float *xs, float *dxs,
                       float *du);
void lst_adapter_forward(float *y, float *y0, float *u, float *g, float *const w[4], int N,
                         int d, int A);
void lst_adapter_backward(float *dy, float *const gw[4], const float *y0, const float *u,
                          const float *g, float *const w[4], int N, int d, int A, float *dg,
                          float *du);

#endif
