/* adamw.h: AdamW with torch.optim.AdamW semantics (decoupled weight decay
 * p *= 1 - lr*wd, bias-corrected moments, eps added to sqrt(v_hat)), and
 * global gradient-norm clipping as torch.nn.utils.clip_grad_norm_. */
#ifndef LST_ADAMW_H
#define LST_ADAMW_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "../model/layout.h"

typedef struct {
    double lr, beta1, beta2, eps, weight_decay;
} lst_adamw_cfg_t;

typedef struct {
    lst_adamw_cfg_t cfg;
    int64_t step;   /* updates done */
    size_t n;       /* floats */
    float *m, *v;   /* first and second moments, the parameters' layout */
} lst_adamw_t;

void lst_adamw_cfg_default(lst_adamw_cfg_t *c); /* lr 1e-3, 0.9, 0.999, 1e-8, 0 */
int lst_adamw_init(lst_adamw_t *o, const lst_adamw_cfg_t *c, size_t n, lst_err_t *err);
void lst_adamw_free(lst_adamw_t *o);

/* One update at learning rate lr of every trainable parameter of the
 * table (params with trainable == 0 are untouched, like torch parameters
 * whose .grad is None). */
void lst_adamw_step(lst_adamw_t *o, const lst_param_t *params, int n_params, float *flat,
                    const float *grads, double lr);

/* L2 norm of the trainable gradients; if max_norm > 0 and the norm exceeds
 * it, scales them by max_norm / (norm + 1e-6) (torch's rule). Returns the
 * norm before clipping. */
double lst_clip_grad_norm(const lst_param_t *params, int n_params, float *grads,
                          double max_norm);

#endif
