/* xent.c: mean cross-entropy over the labels that count (!= -100), with its
 * gradient written in the same pass. Softmax sums in double: 32k-wide rows. */
#include <math.h>

#include "../ops.h"

/* logits, dlogits: [N, V]  labels: [N] */
double lst_xent_forward_backward(float *dlogits, const float *logits,
                                 const int32_t *labels, int N, int V,
                                 float dloss) {
    int count = 0;
    for (int n = 0; n < N; n++) count += labels[n] != -100;
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
        float mx = x[0];
        for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
        double sum = 0;
        for (int v = 0; v < V; v++) sum += exp((double)x[v] - mx);
        double lse = mx + log(sum);
        total += lse - x[labels[n]];
        if (dx) {
            double scale = (double)dloss / count;
            for (int v = 0; v < V; v++)
                dx[v] = (float)(exp((double)x[v] - lse) * scale);
            dx[labels[n]] -= (float)scale;
        }
    }
    return count ? total / count : 0.0;
}

double lst_xent_chunk_inplace(float *z, const int32_t *labels, int N, int V, float grad_scale) {
    double total = 0;
    const int nt = (double)N * V > 1e6 ? lst_threads() : 1;
#pragma omp parallel for num_threads(nt) reduction(+ : total) schedule(static) if (nt > 1)
    for (int n = 0; n < N; n++) {
        float *x = z + (size_t)n * V;
        if (labels[n] == -100) {
            for (int v = 0; v < V; v++) x[v] = 0;
            continue;
        }
        float mx = x[0];
        for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
        double sum = 0;
        for (int v = 0; v < V; v++) sum += exp((double)x[v] - mx);
        const double lse = mx + log(sum);
        total += lse - x[labels[n]];
        for (int v = 0; v < V; v++) x[v] = (float)(exp((double)x[v] - lse) * grad_scale);
        x[labels[n]] -= grad_scale;
    }
    return total;
}
