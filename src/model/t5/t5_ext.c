/* t5_ext.c: the pieces the baselines add inside a T5 block (LST-SPEC
 * section 6), built from the plain ops: a LoRA path beside a projection and
 * a Houlsby adapter after a sub-layer. Forward and backward of each. */
#include <string.h>

#include "../../ops/ops.h"
#include "t5_ext.h"

/* y: [N, O] += scale * drop(x) A^T B^T, with x: [N, in], A: [r, in],
 * B: [O, r]. Saves u = scale * drop(x) A^T: [N, r]. xs: [N, max(in, O)].
 * x's rows are drop->B batch rows of N / B positions (lst_dropout_rows). */
void lst_lora_forward(float *y, float *u, const float *x, const float *A, const float *B,
                      int N, int in, int O, int r, float scale, const lst_drop_t *drop,
                      float *xs) {
    const float *xin = x;
    if (lst_drop_active(drop)) {
        lst_dropout_rows(xs, x, (int64_t)N * in, drop);
        xin = xs;
    }
    lst_matmul_forward(u, xin, A, NULL, N, in, r);
    lst_scale_inplace(u, scale, (int64_t)N * r);
    lst_matmul_forward(xs, u, B, NULL, N, r, O);
    lst_add_inplace(y, xs, (int64_t)N * O);
}

/* dy: [N, O], the gradient of y. dA, dB accumulate (NULL: frozen); dx: [N,
 * in] accumulates the gradient through the LoRA path (NULL: not needed).
 * drop: the forward's (the mask is regenerated). xs, dxs: [N, max(in, O)];
 * du: [N, r]. */
void lst_lora_backward(float *dx, float *dA, float *dB, const float *dy, const float *x,
                       const float *u, const float *A, const float *B, int N, int in, int O,
                       int r, float scale, const lst_drop_t *drop, float *xs, float *dxs,
                       float *du) {
    if (!dx && !dA && !dB) return;
    /* dB += dy^T u;  du = scale * dy B */
    memset(du, 0, sizeof(float) * (size_t)N * r);
    lst_matmul_backward(du, dB, NULL, dy, u, B, N, r, O);
    lst_scale_inplace(du, scale, (int64_t)N * r);
    const int on = lst_drop_active(drop);
    if (dA) {
        const float *xin = x;
        if (on) {
            lst_dropout_rows(xs, x, (int64_t)N * in, drop);
            xin = xs;
        }
        lst_matmul_backward(NULL, dA, NULL, du, xin, A, N, in, r);
    }
    if (dx) { /* dx += drop'(du A) */
        memset(dxs, 0, sizeof(float) * (size_t)N * in);
        lst_matmul_backward(dxs, NULL, NULL, du, x, A, N, in, r);
        if (on) lst_dropout_rows(dxs, dxs, (int64_t)N * in, drop);
        lst_add_inplace(dx, dxs, (int64_t)N * in);
    }
}

/* y: [N, d] -> y + up(gelu_new(down(y))) in place. w: down W [A, d], down
 * b [A], up W [d, A], up b [d]. Saves y0 (the input) [N, d], u (down's
 * output) and g (its activation) [N, A]. */
void lst_adapter_forward(float *y, float *y0, float *u, float *g, float *const w[4], int N,
                         int d, int A) {
    memcpy(y0, y, sizeof(float) * (size_t)N * d);
    lst_matmul_forward(u, y0, w[0], w[1], N, d, A);
    lst_act_forward(g, u, (int64_t)N * A, LST_OP_GELU_NEW);
    lst_matmul_forward(y, g, w[2], w[3], N, A, d);
    lst_add_inplace(y, y0, (int64_t)N * d);
}

/* dy: [N, d], the gradient of the adapter's output, becomes the gradient
 * of its input (in place). gw: the four gradients (members may be NULL).
 * dg, du: [N, A] scratch. */
void lst_adapter_backward(float *dy, float *const gw[4], const float *y0, const float *u,
                          const float *g, float *const w[4], int N, int d, int A, float *dg,
                          float *du) {
    memset(dg, 0, sizeof(float) * (size_t)N * A);
    lst_matmul_backward(dg, gw[2], gw[3], dy, g, w[2], N, A, d);
    memset(du, 0, sizeof(float) * (size_t)N * A);
    lst_act_backward(du, dg, u, (int64_t)N * A, LST_OP_GELU_NEW);
    lst_matmul_backward(dy, gw[0], gw[1], du, y0, w[0], N, d, A);
}
