/* relu: max(x, 0), elementwise (the non-linearity of bottleneck adapters). */
#include "tg_internal.h"

tg_tensor *tg_relu(tg_graph *g, tg_tensor *x)
{
    if (x && x->dtype != TG_F32)
        return tg_fail(g ? g : x->graph, "tg_relu: input '%s' must be float32", x->name);
    return tg_node(g ? g : (x ? x->graph : NULL), TG_OP_RELU, TG_F32, x ? x->ndim : 0,
                   x ? x->shape : NULL, 1, &x);
}

static int relu_forward(tg_tensor *out)
{
    const tg_real *x = tg_f32(out->src[0]);
    tg_real *y = tg_f32(out);
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < out->numel; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return TG_OK;
}

/* d/dx max(x, 0) = 1 where the output is positive, else 0 (torch's choice
 * at x = 0). */
static void relu_backward(tg_tensor *out)
{
    const tg_real *y = tg_f32(out), *dy = out->grad;
    tg_real *dx = out->src[0]->grad;
    if (!dx)
        return;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < out->numel; i++)
        dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
}

const tg_opdef tg_op_relu = {"tg_relu", relu_forward, relu_backward, TG_KEEP_OUT, 0};
