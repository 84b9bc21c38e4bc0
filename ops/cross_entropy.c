/* cross_entropy: fused log-softmax + mean negative log-likelihood over the
 * targets not equal to ignore_index. aux keeps each row's log-sum-exp,
 * the number of counted targets, then each row's loss (summed in order, so
 * the result does not depend on the thread count). */
#include "tg_internal.h"

#include <math.h>

tg_tensor *tg_cross_entropy(tg_graph *g, tg_tensor *logits, tg_tensor *targets, int ignore_index)
{
    tg_tensor *in[2] = {logits, targets};
    g = g ? g : tg_graph_of(2, in);
    if (!logits || !targets)
        return tg_node(g, TG_OP_CROSS_ENTROPY, TG_F32, 0, NULL, 2, in);
    char sl[64], st[64];
    if (logits->dtype != TG_F32 || targets->dtype != TG_I32)
        return tg_fail(g, "tg_cross_entropy: logits must be float32 and targets int32 ('%s', '%s')",
                       logits->name, targets->name);
    size_t v = logits->shape[logits->ndim - 1];
    if (targets->numel * v != logits->numel)
        return tg_fail(g, "tg_cross_entropy: one target per logits row: logits is %s, targets is %s",
                       tg_shape_str(logits, sl, 64), tg_shape_str(targets, st, 64));
    int one = 1;
    tg_tensor *t = tg_node(g, TG_OP_CROSS_ENTROPY, TG_F32, 1, &one, 2, in);
    if (t) {
        t->ip[0] = ignore_index;
        t->aux_bytes = (3 * targets->numel + 1) * sizeof(tg_real);
    }
    return t;
}

static int cross_entropy_forward(tg_tensor *out)
{
    const tg_tensor *L = out->src[0], *T = out->src[1];
    int v = L->shape[L->ndim - 1], ign = out->ip[0];
    size_t rows = T->numel;
    const tg_real *x = tg_f32(L);
    const int32_t *t = tg_i32(T);
    /* aux: row max [rows], log of the shifted sum [rows], count, row loss
     * [rows]; max and log-sum kept apart: their float sum loses log(sum)
     * below half an ulp of a large max (a tie at 3e38, a loss of 5e-4
     * absolute at a max of 1e4), as torch's (x - max) - log(sum) does not */
    tg_real *mxs = out->aux, *lss = mxs + rows;
    for (size_t r = 0; r < rows; r++)
        if (t[r] != ign && (t[r] < 0 || t[r] >= v))
            return tg_error(TG_ERR_ARG, "tg_cross_entropy: '%s' has target %d at position %zu, outside [0, %d) and not the ignore index %d",
                            T->name, t[r], r, v, ign);
    tg_real *row_loss = lss + rows + 1;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        if (t[r] == ign)
            continue;
        const tg_real *xr = x + r * v;
        tg_real mx = -INFINITY;
        for (int i = 0; i < v; i++)
            if (xr[i] > mx)
                mx = xr[i];
        double s = 0;
        for (int i = 0; i < v; i++)
            s += exp((double)(xr[i] - mx));
        mxs[r] = mx;
        lss[r] = (tg_real)log(s);
        row_loss[r] = (tg_real)(((double)mx - xr[t[r]]) + log(s));
    }
    double total = 0;
    size_t count = 0;
    for (size_t r = 0; r < rows; r++)
        if (t[r] != ign)
            total += row_loss[r], count++;
    lss[rows] = (tg_real)count;
    tg_f32(out)[0] = count ? (tg_real)(total / count) : 0.0f;
    return TG_OK;
}

static void cross_entropy_backward(tg_tensor *out)
{
    tg_tensor *L = out->src[0], *T = out->src[1];
    if (!L->grad)
        return;
    int v = L->shape[L->ndim - 1], ign = out->ip[0];
    size_t rows = T->numel;
    const tg_real *x = tg_f32(L), *mxs = out->aux, *lss = mxs + rows;
    const int32_t *t = tg_i32(T);
    if (lss[rows] == 0)
        return;
    tg_real scale = out->grad[0] / lss[rows];
    tg_real *dx = L->grad;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        if (t[r] == ign)
            continue;
        const tg_real *xr = x + r * v;
        tg_real *dr = dx + r * v;
        for (int i = 0; i < v; i++)
            dr[i] += scale * TG_EXP((xr[i] - mxs[r]) - lss[r]);
        dr[t[r]] -= scale;
    }
}

const tg_opdef tg_op_cross_entropy = {"tg_cross_entropy", cross_entropy_forward,
                                      cross_entropy_backward, TG_KEEP_SRC(0) | TG_KEEP_SRC(1), 0};
