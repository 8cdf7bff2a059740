/* reference.c: the plain-C references of the CPU backend's element-wise and
 * row ops (the second instance of the table, lst_backend_cpu_ref): each the
 * op's definition as written in ops.h, one element at a time, sums in
 * double, no threads, no vector code. tests/test_backend_ops.c holds the
 * fast entries to these. (Attention's are in attention_ref.c, the gates'
 * and argmax's next to their fast paths.) */
#include <math.h>
#include <string.h>

#include "../ops.h"
#include "cpu.h"

/* ---- dropout: every element through lst_dropout_apply_ref ---------------- */
static void drop_or_copy(float *out, const float *x, int64_t n, const lst_drop_t *d,
                         uint64_t first) {
    if (lst_drop_active(d))
        lst_dropout_apply_ref(out, x, n, d, first);
    else if (out != x)
        memmove(out, x, sizeof(float) * (size_t)(n > 0 ? n : 0));
}

void lst_dropout_rows_ref(float *out, const float *x, int64_t N, const lst_drop_t *d) {
    const int B = d && d->B > 0 ? d->B : 1;
    const int64_t L = N / B;
    for (int b = 0; b < B; b++) {
        const lst_drop_t ex = lst_drop_example(d, b);
        drop_or_copy(out + (size_t)b * L, x + (size_t)b * L, L, lst_drop_active(d) ? &ex : NULL, 0);
    }
}

void lst_dropout_probs_ref(float *out, const float *x, int Tq, int Tk, const lst_drop_t *d, int b,
                           int h) {
    const lst_drop_t ex = lst_drop_example(d, b);
    for (int i = 0; i < Tq; i++)
        drop_or_copy(out + (size_t)i * Tk, x + (size_t)i * Tk, Tk, lst_drop_active(d) ? &ex : NULL,
                     ((uint64_t)h << 40) + ((uint64_t)i << 20));
}

/* ---- rmsnorm ---------------------------------------------------------------- */
void lst_rmsnorm_forward_ref(float *out, float *rstd, const float *x, const float *w, int N, int C,
                             float eps) {
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;
        double ss = 0;
        for (int c = 0; c < C; c++)
            ss += (double)xr[c] * xr[c];
        const double r = 1.0 / sqrt(ss / C + eps);
        if (rstd)
            rstd[n] = (float)r;
        for (int c = 0; c < C; c++)
            out[(size_t)n * C + c] = (float)(w[c] * xr[c] * r);
    }
}

/* dx_c += r w_c dy_c - x_c r^3 / C sum_k w_k dy_k x_k;  dw_c += dy_c x_c r */
void lst_rmsnorm_backward_ref(float *dx, float *dw, const float *dout, const float *x,
                              const float *w, const float *rstd, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C, *dy = dout + (size_t)n * C;
        const double r = rstd[n];
        double dot = 0;
        for (int c = 0; c < C; c++)
            dot += (double)w[c] * dy[c] * xr[c];
        for (int c = 0; c < C; c++) {
            if (dw)
                dw[c] += (float)((double)dy[c] * xr[c] * r);
            if (dx)
                dx[(size_t)n * C + c] += (float)(r * w[c] * dy[c] - xr[c] * r * r * r * dot / C);
        }
    }
}

void lst_residual_rmsnorm_forward_ref(float *res, float *norm, float *rstd, const float *x,
                                      const float *y, const float *w, int N, int C, float eps,
                                      const lst_drop_t *drop) {
    lst_dropout_rows_ref(res, y, (int64_t)N * C, drop);
    for (size_t i = 0; i < (size_t)N * C; i++)
        res[i] += x[i];
    if (norm)
        lst_rmsnorm_forward_ref(norm, rstd, res, w, N, C, eps);
}

void lst_residual_rmsnorm_backward_ref(float *dres, float *dy, float *dw, const float *dnorm,
                                       const float *res, const float *w, const float *rstd, int N,
                                       int C, const lst_drop_t *drop) {
    if (dnorm)
        lst_rmsnorm_backward_ref(dres, dw, dnorm, res, w, rstd, N, C);
    if (dy)
        lst_dropout_rows_ref(dy, dres, (int64_t)N * C, drop);
}

/* ---- activations, from their formulas in double ------------------------------- */
static double act(double x, lst_op_act_t a) {
    if (a == LST_OP_RELU)
        return x <= 0 ? 0.0 : x;
    if (a == LST_OP_GELU)
        return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    if (a == LST_OP_SILU)
        return x / (1.0 + exp(-x));
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

static double dact(double x, lst_op_act_t a) {
    if (a == LST_OP_RELU)
        return x <= 0 ? 0.0 : 1.0;
    if (a == LST_OP_GELU)
        return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
    if (a == LST_OP_SILU) {
        const double s = 1.0 / (1.0 + exp(-x));
        return s + x * s * (1.0 - s);
    }
    const double u = sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x), t = tanh(u);
    return 0.5 * (1.0 + t) +
           0.5 * x * (1.0 - t * t) * sqrt(2.0 / M_PI) * (1.0 + 3 * 0.044715 * x * x);
}

void lst_act_forward_ref(float *out, const float *x, int64_t N, lst_op_act_t a) {
    for (int64_t i = 0; i < N; i++)
        out[i] = (float)act(x[i], a);
}

/* ReLU's gradient where x is NaN passes dout (PyTorch's threshold_backward). */
void lst_act_backward_ref(float *dx, const float *dout, const float *x, int64_t N, lst_op_act_t a) {
    for (int64_t i = 0; i < N; i++)
        dx[i] += a == LST_OP_RELU ? (x[i] <= 0 ? 0.0f : dout[i]) : (float)(dout[i] * dact(x[i], a));
}

void lst_gated_forward_ref(float *out, const float *g, const float *l, int64_t N, lst_op_act_t a) {
    for (int64_t i = 0; i < N; i++)
        out[i] = (float)(act(g[i], a) * l[i]);
}

void lst_gated_backward_ref(float *dg, float *dl, const float *dout, const float *g, const float *l,
                            int64_t N, lst_op_act_t a) {
    for (int64_t i = 0; i < N; i++) {
        if (dg)
            dg[i] += a == LST_OP_RELU ? (g[i] <= 0 ? 0.0f : dout[i] * l[i])
                                      : (float)((double)dout[i] * l[i] * dact(g[i], a));
        if (dl)
            dl[i] += (float)(dout[i] * act(g[i], a));
    }
}

/* ---- embedding and relative bias --------------------------------------------- */
void lst_embedding_forward_ref(float *out, const int32_t *ids, const float *table, int N, int C) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            out[(size_t)n * C + c] = table[(size_t)ids[n] * C + c];
}

void lst_embedding_backward_ref(float *dtable, const float *dout, const int32_t *ids, int N,
                                int C) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            dtable[(size_t)ids[n] * C + c] += dout[(size_t)n * C + c];
}

void lst_relbias_forward_ref(float *bias, const float *table, int H, int Tq, int Tk, int q_off,
                             int k_off, int bidirectional, int num_buckets, int max_distance) {
    for (int h = 0; h < H; h++)
        for (int i = 0; i < Tq; i++)
            for (int j = 0; j < Tk; j++)
                bias[((size_t)h * Tq + i) * Tk + j] =
                    table[(size_t)lst_relpos_bucket((j + k_off) - (i + q_off), bidirectional,
                                                    num_buckets, max_distance) *
                              H +
                          h];
}

void lst_relbias_backward_ref(float *dtable, const float *dbias, int H, int Tq, int Tk,
                              int bidirectional, int num_buckets, int max_distance) {
    for (int h = 0; h < H; h++)
        for (int i = 0; i < Tq; i++)
            for (int j = 0; j < Tk; j++)
                dtable[(size_t)lst_relpos_bucket(j - i, bidirectional, num_buckets, max_distance) *
                           H +
                       h] += dbias[((size_t)h * Tq + i) * Tk + j];
}

/* ---- cross-entropy, softmax in double --------------------------------------- */
double lst_xent_sum_ref(float *dlogits, const float *logits, const int32_t *labels, int N, int V,
                        float grad_scale) {
    double total = 0;
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * V;
        float *dx = dlogits ? dlogits + (size_t)n * V : NULL;
        if (labels[n] == -100) {
            if (dx)
                memset(dx, 0, sizeof(float) * (size_t)V);
            continue;
        }
        double mx = x[0], sum = 0;
        for (int v = 1; v < V; v++)
            mx = x[v] > mx ? x[v] : mx;
        for (int v = 0; v < V; v++)
            sum += exp(x[v] - mx);
        const double xl = x[labels[n]];
        if (dx)
            for (int v = 0; v < V; v++)
                dx[v] = (float)((exp(x[v] - mx) / sum - (v == labels[n])) * grad_scale);
        total += mx + log(sum) - xl;
    }
    return total;
}

double lst_xent_forward_backward_ref(float *dlogits, const float *logits, const int32_t *labels,
                                     int N, int V, float dloss) {
    int count = 0;
    for (int n = 0; n < N; n++)
        count += labels[n] != -100;
    const double total = lst_xent_sum_ref(dlogits, logits, labels, N, V,
                                          count ? (float)((double)dloss / count) : 0.0f);
    return count ? total / count : 0.0;
}

double lst_xent_chunk_inplace_ref(float *z, const int32_t *labels, int N, int V, float grad_scale) {
    return lst_xent_sum_ref(z, z, labels, N, V,
                            grad_scale); /* each row read before it is written */
}

/* ---- elementwise helpers ------------------------------------------------------ */
void lst_add_inplace_ref(float *y, const float *x, int64_t N) {
    for (int64_t i = 0; i < N; i++)
        y[i] += x[i];
}
void lst_scale_inplace_ref(float *y, float s, int64_t N) {
    for (int64_t i = 0; i < N; i++)
        y[i] *= s;
}
void lst_add_rows_ref(float *y, const float *b, int N, int C) {
    for (size_t i = 0; i < (size_t)N * C; i++)
        y[i] += b[i % (size_t)C];
}
void lst_colsum_acc_ref(float *db, const float *dy, int N, int C) {
    for (int c = 0; c < C; c++) {
        double s = 0;
        for (int n = 0; n < N; n++)
            s += dy[(size_t)n * C + c];
        db[c] += (float)s;
    }
}
