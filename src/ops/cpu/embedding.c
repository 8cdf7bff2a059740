/* embedding.c: token embedding lookup and its scatter-add backward. */
#include <string.h>

#include "../ops.h"
#include "cpu.h"

/* out: [N, C]  table: [V, C]  ids: [N] */
void lst_cpu_embedding_forward(float *out, const int32_t *ids, const float *table,
                           int N, int C) {
    for (int n = 0; n < N; n++)
        memcpy(out + (size_t)n * C, table + (size_t)ids[n] * C, sizeof(float) * C);
}

/* dtable: [V, C] */
void lst_cpu_embedding_backward(float *dtable, const float *dout,
                            const int32_t *ids, int N, int C) {
    for (int n = 0; n < N; n++) {
        float *d = dtable + (size_t)ids[n] * C;
        const float *g = dout + (size_t)n * C;
        for (int c = 0; c < C; c++) d[c] += g[c];
    }
}
