/* layer_norm over the last dim, fused: y = (x - mean) * rstd * gamma + beta.
 * aux keeps mean and rstd per row for backward, then LN_BLOCKS partial
 * sums of gamma's and beta's gradients. The rows run the kernels of the
 * CPU level (kern.h). */
#include "kern.h"
#include "tg_internal.h"

#include <string.h>

/* Backward takes the rows in LN_BLOCKS fixed blocks: each block's dx rows
 * and its partial sums of dgamma and dbeta in one pass over x and dy (each
 * row read once, while in cache), then the partials are added in block
 * order. The blocks do not depend on the thread count, so neither do the
 * gradients' bits. */
#define LN_BLOCKS 16

tg_tensor *tg_layer_norm(tg_graph *g, tg_tensor *x, tg_tensor *gamma, tg_tensor *beta, float eps)
{
    tg_tensor *in[3] = {x, gamma, beta};
    g = g ? g : tg_graph_of(3, in);
    if (!x || !gamma || !beta)
        return tg_node(g, TG_OP_LAYER_NORM, TG_F32, 0, NULL, 3, in);
    char sx[64], sg[64], sb[64];
    if (x->dtype != TG_F32 || gamma->dtype != TG_F32 || beta->dtype != TG_F32)
        return tg_fail(g, "tg_layer_norm: inputs must be float32");
    int h = x->shape[x->ndim - 1];
    if (gamma->ndim != 1 || beta->ndim != 1 || gamma->shape[0] != h || beta->shape[0] != h)
        return tg_fail(g, "tg_layer_norm: gamma and beta must be [%d] for x %s: gamma is %s, beta is %s",
                       h, tg_shape_str(x, sx, 64), tg_shape_str(gamma, sg, 64),
                       tg_shape_str(beta, sb, 64));
    if (!(eps > 0))
        return tg_fail(g, "tg_layer_norm: eps must be > 0, got %g", eps);
    tg_tensor *t = tg_node(g, TG_OP_LAYER_NORM, TG_F32, x->ndim, x->shape, 3, in);
    if (t) {
        t->fp[0] = eps;
        t->aux_bytes = (2 * (x->numel / h) + 2 * (size_t)LN_BLOCKS * h) * sizeof(tg_real);
    }
    return t;
}

static int layer_norm_forward(tg_tensor *out)
{
    const tg_tensor *X = out->src[0];
    const tg_real *x = tg_f32(X), *gm = tg_f32(out->src[1]), *bt = tg_f32(out->src[2]);
    tg_real *y = tg_f32(out), eps = out->fp[0];
    int h = X->shape[X->ndim - 1];
    size_t rows = X->numel / h;
    tg_real *mean = out->aux, *rstd = mean + rows;
    const tg_kern *k = tg_kern_get();
    tg_bf16 *hb = tg_bf16_reserve(out); /* bf16: the next linear's input, row by row */
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        k->ln_row(y + r * h, x + r * h, gm, bt, h, eps, &mean[r], &rstd[r]);
        if (hb)
            tg_f32_to_bf16(hb + r * h, y + r * h, h);
    }
    return TG_OK;
}

/* dx (+)= the rows' input gradients; dgamma += sum_r dy xhat, dbeta +=
 * sum_r dy (block partials in aux, added in block order). */
static void layer_norm_backward(tg_tensor *out)
{
    tg_tensor *X = out->src[0], *G = out->src[1], *Bt = out->src[2];
    const tg_real *x = tg_f32(X), *gm = tg_f32(G), *dy = out->grad;
    int h = X->shape[X->ndim - 1];
    size_t rows = X->numel / h;
    const tg_real *mean = out->aux, *rstd = mean + rows;
    tg_real *part = (tg_real *)out->aux + 2 * rows; /* [LN_BLOCKS][dgamma, dbeta][h] */
    const tg_kern *k = tg_kern_get();
    tg_real *dx = X->grad, *dg = G->grad, *db = Bt->grad;
    int acc = dx ? !tg_grad_claim(X) : 0; /* fresh: written, not added to */
    int params = dg || db;
    if (!dx && !params)
        return;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < LN_BLOCKS; b++) {
        size_t r0 = rows * b / LN_BLOCKS, r1 = rows * (b + 1) / LN_BLOCKS;
        tg_real *pg = part + (size_t)b * 2 * h, *pb = pg + h;
        if (params)
            memset(pg, 0, 2 * (size_t)h * sizeof(tg_real));
        for (size_t r = r0; r < r1; r++) {
            if (dx)
                k->ln_row_bwd(dx + r * h, x + r * h, dy + r * h, gm, h, mean[r], rstd[r], acc);
            if (params)
                k->ln_params_bwd(dg ? pg : NULL, db ? pb : NULL, x + r * h, dy + r * h, h, mean[r],
                                 rstd[r]);
        }
    }
    for (int b = 0; params && b < LN_BLOCKS; b++) {
        const tg_real *pg = part + (size_t)b * 2 * h, *pb = pg + h;
        if (dg)
            k->acc(dg, pg, NULL, 1, (size_t)h);
        if (db)
            k->acc(db, pb, NULL, 1, (size_t)h);
    }
}

const tg_opdef tg_op_layer_norm = {"tg_layer_norm", layer_norm_forward, layer_norm_backward,
                                   TG_KEEP_SRC(0) | TG_KEEP_SRC(1) | TG_GRAD_OVERWRITE(0), 0};
