/* activation.c: relu, gelu_new (tanh approximation, as T5 v1.1 uses), the
 * exact gelu (transformers' "gelu") and silu (UL2's "gated-silu"),
 * plain and gated (act(wi_0 x) * wi_1 x). */
#include <math.h>

#include "../ops.h"
#include "cpu.h"

#define GELU_C 0.7978845608028654 /* sqrt(2/pi) */

/* ReLU follows PyTorch where NaN is concerned (the comparisons are written
 * `x <= 0`, false for NaN, never `x > 0`): torch.relu(NaN) is NaN, and its
 * backward, threshold_backward(grad, out, 0) = out <= 0 ? 0 : grad, passes
 * the gradient where out is NaN and gives 0 wherever out <= 0, whatever the
 * gradient. A mask `x > 0` turned a NaN activation into a clean 0: a NaN
 * weight gave a finite loss and NaN gradients. */
static inline float act_f(float x, lst_op_act_t a) {
    if (a == LST_OP_RELU) return x <= 0 ? 0.0f : x;
    if (a == LST_OP_GELU) return (float)(0.5 * x * (1.0 + erf(x * M_SQRT1_2)));
    if (a == LST_OP_SILU) return (float)((double)x / (1.0 + exp(-(double)x)));
    double xd = x;
    return (float)(0.5 * xd * (1.0 + tanh(GELU_C * (xd + 0.044715 * xd * xd * xd))));
}

static inline float act_df(float x, lst_op_act_t a) {
    if (a == LST_OP_RELU) return x <= 0 ? 0.0f : 1.0f;
    if (a == LST_OP_GELU)
        return (float)(0.5 * (1.0 + erf(x * M_SQRT1_2)) +
                       x * exp(-0.5 * (double)x * x) * 0.3989422804014327);
    if (a == LST_OP_SILU) { /* s + x s (1 - s), s = sigmoid(x) */
        const double s = 1.0 / (1.0 + exp(-(double)x));
        return (float)(s * (1.0 + x * (1.0 - s)));
    }
    double xd = x;
    double u = GELU_C * (xd + 0.044715 * xd * xd * xd);
    double t = tanh(u);
    double du = GELU_C * (1.0 + 3 * 0.044715 * xd * xd);
    return (float)(0.5 * (1.0 + t) + 0.5 * xd * (1.0 - t * t) * du);
}

/* Elementwise loops split across threads when long. */
#define PAR_MIN 100000

/* ReLU 4 lanes at a time (SSE, so on every x86-64 without spills; the loop
 * is memory-bound), each chunk loaded before it is stored: the plain loop,
 * called in place (ReLU blocks overwrite their FFN input), ran GCC's scalar
 * fallback for overlapping arrays, a mispredicted branch per element. */
typedef float v4f __attribute__((vector_size(16), aligned(4), may_alias));
typedef int32_t v4i __attribute__((vector_size(16)));

static void relu_span(float *out, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const v4f v = *(const v4f *)(x + i);
        *(v4f *)(out + i) = (v4f)((v4i)v & ~(v <= 0)); /* one andnot */
    }
    for (; i < n; i++) out[i] = x[i] <= 0 ? 0.0f : x[i];
}

/* dx += x <= 0 ? 0 : dout   (x: the input or the output, the same test) */
static void relu_grad_span(float *dx, const float *dout, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const v4f v = *(const v4f *)(x + i), g = *(const v4f *)(dout + i);
        *(v4f *)(dx + i) += (v4f)((v4i)g & ~(v <= 0));
    }
    for (; i < n; i++) dx[i] += x[i] <= 0 ? 0.0f : dout[i];
}

/* Calls span(lo, hi) on nt near-equal pieces of [0, N), 16-aligned. */
#define SPLIT_SPANS(N, nt, CALL)                                                \
    _Pragma("omp parallel for num_threads(nt) schedule(static) if (nt > 1)")  \
    for (int p = 0; p < nt; p++) {                                              \
        const int64_t lo = ((N) * p / nt) & ~(int64_t)15;                       \
        const int64_t hi = p + 1 == nt ? (N) : ((N) * (p + 1) / nt) & ~(int64_t)15; \
        CALL;                                                                   \
    }

/* out, x: [N] (out may equal x) */
void lst_cpu_act_forward(float *out, const float *x, int64_t N, lst_op_act_t act) {
    const int nt = N > PAR_MIN ? lst_threads() : 1;
    if (act == LST_OP_RELU) {
        SPLIT_SPANS(N, nt, relu_span(out + lo, x + lo, hi - lo))
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t i = 0; i < N; i++) out[i] = act_f(x[i], act);
}

void lst_cpu_act_backward(float *dx, const float *dout, const float *x, int64_t N,
                      lst_op_act_t act) {
    const int nt = N > PAR_MIN ? lst_threads() : 1;
    if (act == LST_OP_RELU) {
        SPLIT_SPANS(N, nt, relu_grad_span(dx + lo, dout + lo, x + lo, hi - lo))
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t i = 0; i < N; i++) dx[i] += dout[i] * act_df(x[i], act);
}

/* out = act(g) * l   all [N] */
void lst_cpu_gated_forward(float *out, const float *g, const float *l, int64_t N,
                       lst_op_act_t act) {
    const int nt = N > PAR_MIN ? lst_threads() : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t i = 0; i < N; i++) out[i] = act_f(g[i], act) * l[i];
}

void lst_cpu_gated_backward(float *dg, float *dl, const float *dout, const float *g,
                        const float *l, int64_t N, lst_op_act_t act) {
    const int nt = N > PAR_MIN ? lst_threads() : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t i = 0; i < N; i++) {
        if (dg) {
            const float up = dout[i] * l[i]; /* ReLU: 0 where g <= 0 even if up is NaN */
            dg[i] += act == LST_OP_RELU ? (g[i] <= 0 ? 0.0f : up) : up * act_df(g[i], act);
        }
        if (dl) dl[i] += dout[i] * act_f(g[i], act);
    }
}
