/* argmax.c: greedy decoding's pick, the first maximum of each row (ops.h):
 * the comparison is `row[v] > row[best]`, as lst_greedy_pick's, so ties
 * and NaNs resolve the same way. Rows split over threads when the rows are
 * many and long (a decoding step's [B, V] logits). */
#include <omp.h>

#include "../ops.h"
#include "cpu.h"

static int32_t row_argmax(const float *row, int V) {
    int best = 0;
    for (int v = 1; v < V; v++)
        if (row[v] > row[best])
            best = v;
    return best;
}

/* idx: [N]  x: [N, V] */
void lst_cpu_argmax_rows(int32_t *idx, const float *x, int N, int V) {
    const int nt = (double)N * V > 1e6 ? lst_threads() : 1;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int n = 0; n < N; n++)
        idx[n] = row_argmax(x + (size_t)n * V, V);
}

void lst_argmax_rows_ref(int32_t *idx, const float *x, int N, int V) {
    for (int n = 0; n < N; n++) {
        const float *row = x + (size_t)n * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (row[v] > row[best])
                best = v;
        idx[n] = best;
    }
}
