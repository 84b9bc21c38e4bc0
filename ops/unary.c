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

typedef void (*act_fn)(tg_real *y, const tg_real *x, size_t n);
typedef void (*act_bwd_fn)(tg_real *dx, const tg_real *x, const tg_real *dy, size_t n, int acc);

/* The GELUs in a bf16 graph: the output is the next linear layer's input
 * and the input is kept for backward only as its bf16 copy (the op table's
 * TG_KEEP_BF16(0), as autocast keeps a linear layer's bf16 output): both
 * copies are written chunk by chunk while the chunk is in cache. A copy of
 * the input that cannot be reserved is made (or recorded as lost) by
 * tg_bf16_operand after the pass. */
static int act_forward(tg_tensor *out, act_fn f)
{
    const tg_tensor *X = out->src[0];
    const tg_real *x = tg_f32(X);
    tg_real *y = tg_f32(out);
    tg_bf16 *h = tg_bf16_reserve(out), *hx = tg_bf16_reserve(X);
    TG_KERN_CHUNKS(out->numel, lo, len, {
        f(y + lo, x + lo, len);
        if (h)
            tg_f32_to_bf16(h + lo, y + lo, len);
        if (hx)
            tg_f32_to_bf16(hx + lo, x + lo, len);
    });
    if (!hx && tg_bf16_on(out) && tg_bf16_saved(X))
        tg_bf16_operand(X, x, X->numel, 0);
    return TG_OK;
}

/* dx (+)= dy f'(x), x from its bf16 copy where the plan kept only that
 * (widened a block at a time); nothing when the copy is gone (recorded:
 * tg_backward fails naming the tensor). */
static void act_backward(tg_tensor *out, act_bwd_fn f)
{
    tg_tensor *X = out->src[0];
    const tg_real *x = tg_f32(X), *dy = out->grad;
    tg_real *dx = X->grad;
    if (!dx)
        return;
    const tg_bf16 *xh = NULL;
    if (tg_bf16_on(out) && tg_bf16_saved(X) && !(xh = tg_bf16_operand(X, x, X->numel, 0)))
        return;
    int acc = !tg_grad_claim(X); /* fresh: written, not added to */
    TG_KERN_CHUNKS(out->numel, lo, len, {
        if (!xh) {
            f(dx + lo, x + lo, dy + lo, len, acc);
        } else {
            tg_real xb[2048];
            for (size_t o = 0; o < len; o += 2048) {
                size_t l = len - o < 2048 ? len - o : 2048;
                tg_bf16_widen(xb, xh + lo + o, l);
                f(dx + lo + o, xb, dy + lo + o, l, acc);
            }
        }
    });
}

static int gelu_forward(tg_tensor *out) { return act_forward(out, tg_kern_get()->gelu); }
static void gelu_backward(tg_tensor *out) { act_backward(out, tg_kern_get()->gelu_bwd); }
static int gelu_new_forward(tg_tensor *out) { return act_forward(out, tg_kern_get()->gelu_new); }
static void gelu_new_backward(tg_tensor *out) { act_backward(out, tg_kern_get()->gelu_new_bwd); }

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
                             TG_KEEP_SRC(0) | TG_KEEP_BF16(0) | TG_GRAD_OVERWRITE(0), 0};
const tg_opdef tg_op_gelu_new = {"tg_gelu_new", gelu_new_forward, gelu_new_backward,
                                   TG_KEEP_SRC(0) | TG_KEEP_BF16(0) | TG_GRAD_OVERWRITE(0), 0};
const tg_opdef tg_op_tanh = {"tg_tanh", tanh_forward, tanh_backward, TG_KEEP_OUT, 0};
