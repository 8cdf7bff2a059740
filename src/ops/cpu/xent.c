/* xent.c: mean cross-entropy over the labels that count (!= -100), with its
 * gradient written in the same pass. With a gradient, the rows go through
 * the vector softmax kernels (softmax_rows.c: expf within 2 ulp, sums in
 * double per 1024 entries); the loss alone (evaluation) in double. */
#include <math.h>
#include <string.h>

#include "../ops.h"
#include "cpu.h"
#include "softmax_rows.h"

/* out = softmax(x) * scale, out[label] -= scale (out may equal x): the
 * gradient of scale * cross-entropy; returns the row's loss lse - x[label]. */
static double row_grad(float *out, const float *x, int V, int label, float scale) {
    const float mx = lst_row_max(x, V, V - 1, NULL), xl = x[label];
    if (out != x) memcpy(out, x, sizeof(float) * (size_t)V);
    const double sum = lst_row_exp(out, V, mx, V - 1, NULL);
    lst_row_scale(out, V, (float)(scale / sum));
    out[label] -= scale;
    return mx + log(sum) - xl;
}

/* logits, dlogits: [N, V]  labels: [N]; the sum of the row losses */
double lst_cpu_xent_sum(float *dlogits, const float *logits, const int32_t *labels, int N, int V,
                    float grad_scale) {
    double total = 0;
    const int nt = (double)N * V > 1e6 ? lst_threads() : 1;
#pragma omp parallel for num_threads(nt) reduction(+ : total) schedule(static) if (nt > 1)
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * V;
        float *dx = dlogits ? dlogits + (size_t)n * V : NULL;
        if (labels[n] == -100) {
            if (dx)
                for (int v = 0; v < V; v++) dx[v] = 0;
            continue;
        }
        if (dx) {
            total += row_grad(dx, x, V, labels[n], grad_scale);
            continue;
        }
        float mx = x[0];
        for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
        double sum = 0;
        for (int v = 0; v < V; v++) sum += exp((double)x[v] - mx);
        total += mx + log(sum) - x[labels[n]];
    }
    return total;
}

double lst_cpu_xent_forward_backward(float *dlogits, const float *logits,
                                 const int32_t *labels, int N, int V,
                                 float dloss) {
    int count = 0;
    for (int n = 0; n < N; n++) count += labels[n] != -100;
    const double total =
        lst_cpu_xent_sum(dlogits, logits, labels, N, V, count ? (float)((double)dloss / count) : 0.0f);
    return count ? total / count : 0.0;
}

double lst_cpu_xent_chunk_inplace(float *z, const int32_t *labels, int N, int V, float grad_scale) {
    double total = 0;
    const int nt = (double)N * V > 1e6 ? lst_threads() : 1;
#pragma omp parallel for num_threads(nt) reduction(+ : total) schedule(static) if (nt > 1)
    for (int n = 0; n < N; n++) {
        float *x = z + (size_t)n * V;
        if (labels[n] == -100) {
            for (int v = 0; v < V; v++) x[v] = 0;
            continue;
        }
        total += row_grad(x, x, V, labels[n], grad_scale);
    }
    return total;
}
