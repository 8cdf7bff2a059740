/* relbias.c: T5 relative position buckets and the [H, Tq, Tk] bias built
 * from the learned [buckets, H] table. The bucket formula is transformers'
 * _relative_position_bucket, evaluated in float32 like PyTorch does, so the
 * log-spaced bucket boundaries fall exactly where theirs do. */
#include <math.h>
#include <stdlib.h>

#include "../ops.h"
#include "cpu.h"

/* rel = key position - query position */
int lst_relpos_bucket(int rel, int bidirectional, int num_buckets,
                      int max_distance) {
    int ret = 0;
    int nb = num_buckets;
    if (bidirectional) {
        nb /= 2;
        if (rel > 0) ret += nb;
        rel = abs(rel);
    } else {
        rel = rel < 0 ? -rel : 0;
    }
    int max_exact = nb / 2;
    if (rel < max_exact) return ret + rel;
    float ratio = (float)rel / (float)max_exact;
    float scale = (float)log((double)max_distance / max_exact);
    float v = logf(ratio) / scale * (float)(nb - max_exact);
    int large = max_exact + (int)v;
    if (large > nb - 1) large = nb - 1;
    return ret + large;
}

/* bias: [H, Tq, Tk]  table: [buckets, H] */
void lst_cpu_relbias_forward(float *bias, const float *table, int H, int Tq,
                         int Tk, int q_off, int k_off, int bidirectional,
                         int num_buckets, int max_distance) {
    for (int i = 0; i < Tq; i++)
        for (int j = 0; j < Tk; j++) {
            int bkt = lst_relpos_bucket((j + k_off) - (i + q_off), bidirectional,
                                        num_buckets, max_distance);
            for (int h = 0; h < H; h++)
                bias[((size_t)h * Tq + i) * Tk + j] = table[(size_t)bkt * H + h];
        }
}

/* dtable: [buckets, H] += gathered dbias: [H, Tq, Tk] */
void lst_cpu_relbias_backward(float *dtable, const float *dbias, int H, int Tq,
                          int Tk, int bidirectional, int num_buckets,
                          int max_distance) {
    for (int i = 0; i < Tq; i++)
        for (int j = 0; j < Tk; j++) {
            int bkt = lst_relpos_bucket(j - i, bidirectional, num_buckets,
                                        max_distance);
            for (int h = 0; h < H; h++)
                dtable[(size_t)bkt * H + h] += dbias[((size_t)h * Tq + i) * Tk + j];
        }
}
