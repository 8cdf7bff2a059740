/* adamw.c: see adamw.h. Moments are float32 like torch's; the bias
 * corrections are computed in double. */
#include "adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void lst_adamw_cfg_default(lst_adamw_cfg_t *c) {
    c->lr = 1e-3;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    c->weight_decay = 0.0;
}

int lst_adamw_init(lst_adamw_t *o, const lst_adamw_cfg_t *c, size_t n, lst_err_t *err) {
    memset(o, 0, sizeof *o);
    o->cfg = *c;
    o->n = n;
    o->m = lst_calloc(n, sizeof(float), err);
    o->v = lst_calloc(n, sizeof(float), err);
    if (!o->m || !o->v) {
        lst_adamw_free(o);
        return lst_fail_ctx(err, "AdamW state");
    }
    return 0;
}

void lst_adamw_free(lst_adamw_t *o) {
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

void lst_adamw_step(lst_adamw_t *o, const lst_param_t *params, int n_params, float *flat,
                    const float *grads, double lr) {
    const lst_adamw_cfg_t *c = &o->cfg;
    o->step++;
    const double bc1 = 1.0 - pow(c->beta1, (double)o->step);
    const double bc2 = 1.0 - pow(c->beta2, (double)o->step);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = (float)(1.0 - lr * c->weight_decay);
    const float b1 = (float)c->beta1, b2 = (float)c->beta2, eps = (float)c->eps;
    for (int i = 0; i < n_params; i++) {
        if (!params[i].trainable) continue;
        float *p = flat + params[i].offset, *m = o->m + params[i].offset, *v = o->v + params[i].offset;
        const float *g = grads + params[i].offset;
        const int64_t n = (int64_t)params[i].numel;
#pragma omp parallel for schedule(static) if (n > (1 << 16))
        for (int64_t j = 0; j < n; j++) {
            p[j] *= decay;
            m[j] = b1 * m[j] + (1.0f - b1) * g[j];
            v[j] = b2 * v[j] + (1.0f - b2) * g[j] * g[j];
            float denom = sqrtf(v[j]) / bc2_sqrt + eps;
            p[j] -= step_size * m[j] / denom;
        }
    }
}

double lst_clip_grad_norm(const lst_param_t *params, int n_params, float *grads,
                          double max_norm) {
    double ss = 0;
    for (int i = 0; i < n_params; i++) {
        if (!params[i].trainable) continue;
        const float *g = grads + params[i].offset;
        for (size_t j = 0; j < params[i].numel; j++) ss += (double)g[j] * g[j];
    }
    double norm = sqrt(ss);
    if (max_norm > 0 && norm > max_norm) {
        float scale = (float)(max_norm / (norm + 1e-6));
        for (int i = 0; i < n_params; i++) {
            if (!params[i].trainable) continue;
            float *g = grads + params[i].offset;
            for (size_t j = 0; j < params[i].numel; j++) g[j] *= scale;
        }
    }
    return norm;
}
