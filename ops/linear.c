/* linear: fused x @ w^T + b (torch's nn.Linear). One GEMM, the bias folded
 * in as the GEMM's initial C; backward is two GEMMs and a column sum. */
#include "tg_internal.h"

#include <string.h>

tg_tensor *tg_linear(tg_graph *g, tg_tensor *x, tg_tensor *w, tg_tensor *b)
{
    tg_tensor *in[3] = {x, w, b};
    int nin = b ? 3 : 2;
    g = g ? g : tg_graph_of(nin, in);
    if (!x || !w)
        return tg_node(g, TG_OP_LINEAR, TG_F32, 0, NULL, 2, in);
    char sx[64], sw[64], sb[64];
    if (x->dtype != TG_F32 || w->dtype != TG_F32 || (b && b->dtype != TG_F32))
        return tg_fail(g, "tg_linear: inputs must be float32 ('%s', '%s')", x->name, w->name);
    if (w->ndim != 2 || w->shape[1] != x->shape[x->ndim - 1])
        return tg_fail(g, "tg_linear: weight must be [out, %d] for x %s: '%s' is %s",
                       x->shape[x->ndim - 1], tg_shape_str(x, sx, 64), w->name,
                       tg_shape_str(w, sw, 64));
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return tg_fail(g, "tg_linear: bias must be [%d] for weight %s: '%s' is %s", w->shape[0],
                       tg_shape_str(w, sw, 64), b->name, tg_shape_str(b, sb, 64));
    int shape[TG_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = w->shape[0];
    return tg_node(g, TG_OP_LINEAR, TG_F32, x->ndim, shape, nin, in);
}

static int linear_forward(tg_tensor *out)
{
    const tg_tensor *X = out->src[0], *W = out->src[1], *Bi = out->nsrc > 2 ? out->src[2] : NULL;
    int n = W->shape[0], k = W->shape[1];
    size_t m = X->numel / k;
    tg_real *y = tg_f32(out);
    if (Bi && tg_bf16_on(out)) { /* the bias added by oneDNN: no initial copy */
        const tg_bf16 *xh = tg_bf16_operand(X, tg_f32(X), X->numel, 0);
        const tg_bf16 *wh = xh ? tg_bf16_operand(W, tg_f32(W), W->numel, 1) : NULL;
        if (wh && tg_dnnl_gemm_bf16_bias((int)m, n, k, xh, wh, tg_f32(Bi), y) == TG_OK)
            return TG_OK;
    }
    if (Bi) {
        const tg_real *b = tg_f32(Bi);
#pragma omp parallel for schedule(static)
        for (size_t r = 0; r < m; r++)
            memcpy(y + r * n, b, n * sizeof(tg_real));
    }
    tg_gemm_prec(out, 1, 0, 1, (int)m, n, k, 1, X, tg_f32(X), X->numel, k, 0, 0, W, tg_f32(W),
                 W->numel, k, 0, 1, Bi ? 1 : 0, y, n, 0);
    return TG_OK;
}

/* dx += dy w (dx = dy w when dx is fresh: tg_grad_claim); dw += dy^T x;
 * db += column sums of dy. */
static void linear_backward(tg_tensor *out)
{
    tg_tensor *X = out->src[0], *W = out->src[1], *Bi = out->nsrc > 2 ? out->src[2] : NULL;
    int n = W->shape[0], k = W->shape[1];
    size_t m = X->numel / k;
    const tg_real *dy = out->grad;
    /* in bf16, dy is converted into scratch 0 once for both products, in
     * the bias gradient's pass over dy when there is one. dy is passed
     * without its tensor: the plan may place out's gradient where out's
     * float32 values were (out kept only as bf16), and a tensor with that
     * address would be taken for the activation (graph/bf16.c) */
    int dy_slot = 0, bias_done = 0;
    tg_bf16 *h = Bi && Bi->grad && tg_bf16_on(out) ? tg_bf16_scratch(0, out->numel) : NULL;
    if (h) {
        tg_sum_rows_into_bf16(Bi->grad, dy, h, m, n);
        dy_slot = TG_BF16_REUSE(0), bias_done = 1;
    }
    if (X->grad) {
        tg_gemm_prec(out, 1, 0, 0, (int)m, k, n, 1, NULL, dy, out->numel, n, 0, dy_slot, W, tg_f32(W),
                     W->numel, k, 0, 1, tg_grad_claim(X) ? 0 : 1, X->grad, k, 0);
        dy_slot = TG_BF16_REUSE(0);
    }
    if (W->grad)
        tg_gemm_prec(out, 1, 1, 0, n, k, (int)m, 1, NULL, dy, out->numel, n, 0, dy_slot, X,
                     tg_f32(X), X->numel, k, 0, 1, 1, W->grad, k, 0);
    if (Bi && Bi->grad && !bias_done)
        tg_sum_rows_into(Bi->grad, dy, NULL, 1.0f, m, n);
}

const tg_opdef tg_op_linear = {"tg_linear", linear_forward, linear_backward,
                               TG_KEEP_SRC(0) | TG_KEEP_SRC(1) | TG_KEEP_BF16(0) |
                                   TG_GRAD_OVERWRITE(0),
                               0};
