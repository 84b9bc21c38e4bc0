/* scale, gelu (exact erf form), gelu_new (tanh form), tanh: elementwise ops of one input.
 * scale and the GELUs run the kernels of the CPU level (kern.h). */
#include "kern.h"
#include "tg_internal.h"

#include <math.h>

static tg_tensor *unary(tg_graph *g, int op, tg_tensor *x)
{
    if (x && x->dtype != TG_F32)
        return tg_fail(g ? g : x->graph, "%s: input '%s' must be float32", tg_optable[op]->name,
                       x->name);
    return tg_node(g ? g : (x ? x->graph : NULL), op, TG_F32, x ? x->ndim : 0, x ? x->shape : NULL,
                   1, &x);
}

tg_tensor *tg_scale(tg_graph *g, tg_tensor *x, float s)
{
    tg_tensor *t = unary(g, TG_OP_SCALE, x);
    if (t)
        t->fp[0] = s;
    return t;
}
tg_tensor *tg_gelu(tg_graph *g, tg_tensor *x) { return unary(g, TG_OP_GELU, x); }
tg_tensor *tg_tanh(tg_graph *g, tg_tensor *x) { return unary(g, TG_OP_TANH, x); }
tg_tensor *tg_gelu_new(tg_graph *g, tg_tensor *x) { return unary(g, TG_OP_GELU_NEW, x); }

static int scale_forward(tg_tensor *out)
{
    const tg_real *x = tg_f32(out->src[0]);
    tg_real *y = tg_f32(out), s = out->fp[0];
    const tg_kern *k = tg_kern_get();
    TG_KERN_CHUNKS(out->numel, lo, len, k->scale(y + lo, x + lo, s, len));
    return TG_OK;
}

static void scale_backward(tg_tensor *out)
{
    tg_real *dx = out->src[0]->grad, s = out->fp[0];
    const tg_real *dy = out->grad;
    if (!dx)
        return;
    const tg_kern *k = tg_kern_get();
    TG_KERN_CHUNKS(out->numel, lo, len, k->acc(dx + lo, dy + lo, NULL, s, len));
}

/* In a bf16 graph GELU's output is the next linear layer's input: its
 * bf16 copy is written chunk by chunk while the chunk is in cache. */
static int gelu_forward(tg_tensor *out)
{
    const tg_real *x = tg_f32(out->src[0]);
    tg_real *y = tg_f32(out);
    const tg_kern *k = tg_kern_get();
    tg_bf16 *h = tg_bf16_reserve(out);
    TG_KERN_CHUNKS(out->numel, lo, len, {
        k->gelu(y + lo, x + lo, len);
        if (h)
            tg_f32_to_bf16(h + lo, y + lo, len);
    });
    return TG_OK;
}

static void gelu_backward(tg_tensor *out)
{
    const tg_real *x = tg_f32(out->src[0]), *dy = out->grad;
    tg_real *dx = out->src[0]->grad;
    if (!dx)
        return;
    const tg_kern *k = tg_kern_get();
    int acc = !tg_grad_claim(out->src[0]); /* fresh: written, not added to */
    TG_KERN_CHUNKS(out->numel, lo, len, k->gelu_bwd(dx + lo, x + lo, dy + lo, len, acc));
}

static int gelu_new_forward(tg_tensor *out)
{
    const tg_real *x = tg_f32(out->src[0]);
    tg_real *y = tg_f32(out);
    const tg_kern *k = tg_kern_get();
    TG_KERN_CHUNKS(out->numel, lo, len, k->gelu_new(y + lo, x + lo, len));
    return TG_OK;
}

static void gelu_new_backward(tg_tensor *out)
{
    const tg_real *x = tg_f32(out->src[0]), *dy = out->grad;
    tg_real *dx = out->src[0]->grad;
    if (!dx)
        return;
    const tg_kern *k = tg_kern_get();
    int acc = !tg_grad_claim(out->src[0]);
    TG_KERN_CHUNKS(out->numel, lo, len, k->gelu_new_bwd(dx + lo, x + lo, dy + lo, len, acc));
}

static int tanh_forward(tg_tensor *out)
{
    const tg_real *x = tg_f32(out->src[0]);
    tg_real *y = tg_f32(out);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < out->numel; i++)
        y[i] = TG_TANH(x[i]);
    return TG_OK;
}

static void tanh_backward(tg_tensor *out)
{
    const tg_real *y = tg_f32(out), *dy = out->grad;
    tg_real *dx = out->src[0]->grad;
    if (!dx)
        return;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < out->numel; i++)
        dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}

const tg_opdef tg_op_scale = {"tg_scale", scale_forward, scale_backward, 0, 0};
const tg_opdef tg_op_gelu = {"tg_gelu", gelu_forward, gelu_backward,
                             TG_KEEP_SRC(0) | TG_GRAD_OVERWRITE(0), 0};
const tg_opdef tg_op_gelu_new = {"tg_gelu_new", gelu_new_forward, gelu_new_backward,
                                   TG_KEEP_SRC(0) | TG_GRAD_OVERWRITE(0), 0};
const tg_opdef tg_op_tanh = {"tg_tanh", tanh_forward, tanh_backward, TG_KEEP_OUT, 0};
