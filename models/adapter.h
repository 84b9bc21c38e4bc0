/* ad: bottleneck adapters (Houlsby et al. 2019; the "double_seq_bn"
 * configuration of the adapters library): a small residual MLP inserted
 * into a frozen transformer so that only it (and whatever else is left
 * trainable) learns.
 *
 *   y = x + up(relu(down(x)))     down: nn.Linear H -> H / r, up: H / r -> H
 *
 * Weights are nn.Linear's [out, in] with biases, named
 * PREFIX.adapters.heavy2light.adapter_down.0.{weight,bias} and
 * PREFIX.adapters.heavy2light.adapter_up.{weight,bias} (the adapters
 * library's layout). Where a model puts them is the model's business
 * (models/encdec.h). */
#ifndef AD_ADAPTER_H
#define AD_ADAPTER_H

#include "tg_ops.h"
#include "weights.h"

/* The adapter's name in parameter names. */
#define AD_NAME "heavy2light"

typedef struct {
    tg_tensor *down_w, *down_b; /* [H / r, H], [H / r] */
    tg_tensor *up_w, *up_b;     /* [H, H / r], [H] */
} ad_adapter;

/* Declares the four tensors of an adapter of width H and reduction factor
 * r (r divides H) under `where` (e.g. "encoder.layer.0.output") in scope
 * s. Returns a status (TG_ERR_ARG when r does not divide H). */
int ad_declare(const wt_scope *s, const char *where, int H, int r, ad_adapter *a);
/* x + up(relu(down(x))); x itself when the adapter is absent (down_w
 * NULL). */
tg_tensor *ad_apply(tg_graph *g, const ad_adapter *a, tg_tensor *x);
/* 1 when parameter `name` belongs to an adapter. */
int ad_is_adapter(const char *name);
/* 1 for an up-projection weight or bias: initialised to zero, so that a
 * model with fresh adapters computes exactly what its base computes. */
int ad_is_up(const char *name);

#endif
