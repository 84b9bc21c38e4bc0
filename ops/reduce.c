/* sum and mean of all elements into a [1] tensor. */
#include "tg_internal.h"

#include <omp.h>

/* Sum in double over fixed chunks, chunks added in order: the result does
 * not depend on the thread count. */
#define CHUNK 4096

static tg_tensor *reduce(tg_graph *g, int op, tg_tensor *x)
{
    g = g ? g : (x ? x->graph : NULL);
    if (x && x->dtype != TG_F32)
        return tg_fail(g, "%s: input '%s' must be float32", tg_optable[op]->name, x->name);
    int one = 1;
    tg_tensor *t = tg_node(g, op, TG_F32, 1, &one, 1, &x);
    if (t) /* one partial sum per chunk */
        t->aux_bytes = ((x->numel + CHUNK - 1) / CHUNK) * sizeof(double);
    return t;
}

tg_tensor *tg_sum(tg_graph *g, tg_tensor *x) { return reduce(g, TG_OP_SUM, x); }
tg_tensor *tg_mean(tg_graph *g, tg_tensor *x) { return reduce(g, TG_OP_MEAN, x); }

static int reduce_forward(tg_tensor *out)
{
    const tg_tensor *X = out->src[0];
    const tg_real *x = tg_f32(X);
    size_t nchunks = (X->numel + CHUNK - 1) / CHUNK;
    double *part = out->aux, total = 0;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < nchunks; c++) {
        double s = 0;
        size_t hi = (c + 1) * CHUNK < X->numel ? (c + 1) * CHUNK : X->numel;
        for (size_t i = c * CHUNK; i < hi; i++)
            s += x[i];
        part[c] = s;
    }
    for (size_t c = 0; c < nchunks; c++)
        total += part[c];
    tg_f32(out)[0] = (tg_real)(out->op == TG_OP_MEAN ? total / X->numel : total);
    return TG_OK;
}

static void reduce_backward(tg_tensor *out)
{
    tg_tensor *X = out->src[0];
    if (!X->grad)
        return;
    tg_real d = out->grad[0] / (out->op == TG_OP_MEAN ? (tg_real)X->numel : 1.0f);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < X->numel; i++)
        X->grad[i] += d;
}

const tg_opdef tg_op_sum = {"tg_sum", reduce_forward, reduce_backward, 0, 0};
const tg_opdef tg_op_mean = {"tg_mean", reduce_forward, reduce_backward, 0, 0};
