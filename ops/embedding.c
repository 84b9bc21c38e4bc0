/* embedding: row gather from weight [V, H] by int32 indices; backward
 * scatter-adds into weight, skipping the padding row. */
#include "kern.h"
#include "tg_internal.h"

#include <omp.h>
#include <string.h>

tg_tensor *tg_embedding(tg_graph *g, tg_tensor *weight, tg_tensor *idx, int padding_idx)
{
    tg_tensor *in[2] = {weight, idx};
    g = g ? g : tg_graph_of(2, in);
    if (!weight || !idx)
        return tg_node(g, TG_OP_EMBEDDING, TG_F32, 0, NULL, 2, in);
    char sw[64], si[64];
    if (weight->dtype != TG_F32 || weight->ndim != 2)
        return tg_fail(g, "tg_embedding: weight '%s' must be float32 [V, H], is %s", weight->name,
                       tg_shape_str(weight, sw, 64));
    if (idx->dtype != TG_I32)
        return tg_fail(g, "tg_embedding: indices '%s' must be int32", idx->name);
    if (idx->ndim >= TG_MAX_DIMS)
        return tg_fail(g, "tg_embedding: indices '%s' %s leave no room for the hidden dim",
                       idx->name, tg_shape_str(idx, si, 64));
    if (padding_idx < -1 || padding_idx >= weight->shape[0])
        return tg_fail(g, "tg_embedding: padding_idx %d outside [-1, %d)", padding_idx,
                       weight->shape[0]);
    int shape[TG_MAX_DIMS];
    memcpy(shape, idx->shape, idx->ndim * sizeof *shape);
    shape[idx->ndim] = weight->shape[1];
    tg_tensor *t = tg_node(g, TG_OP_EMBEDDING, TG_F32, idx->ndim + 1, shape, 2, in);
    if (t)
        t->ip[0] = padding_idx;
    return t;
}

static int embedding_forward(tg_tensor *out)
{
    const tg_tensor *W = out->src[0], *I = out->src[1];
    const int32_t *idx = tg_i32(I);
    int v = W->shape[0], h = W->shape[1];
    for (size_t r = 0; r < I->numel; r++)
        if (idx[r] < 0 || idx[r] >= v)
            return tg_error(TG_ERR_ARG, "tg_embedding: '%s' has index %d at position %zu, outside [0, %d) of '%s'",
                            I->name, idx[r], r, v, W->name);
    const tg_real *w = tg_f32(W);
    tg_real *y = tg_f32(out);
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < I->numel; r++)
        memcpy(y + r * h, w + (size_t)idx[r] * h, h * sizeof(tg_real));
    return TG_OK;
}

static void embedding_backward(tg_tensor *out)
{
    tg_tensor *W = out->src[0], *I = out->src[1];
    if (!W->grad)
        return;
    const int32_t *idx = tg_i32(I);
    int h = W->shape[1], pad = out->ip[0];
    const tg_real *dy = out->grad;
    tg_real *dw = W->grad;
    const tg_kern *k = tg_kern_get(); /* the CPU level's dw += dy (ops/kern.h) */
#pragma omp parallel
    { /* columns split between threads: no races, fixed order */
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int lo = (int)((long)h * id / nt), hi = (int)((long)h * (id + 1) / nt);
        for (size_t r = 0; r < I->numel; r++) {
            if (idx[r] == pad)
                continue;
            if (hi > lo)
                k->acc(dw + (size_t)idx[r] * h + lo, dy + r * h + lo, NULL, 1.f, hi - lo);
        }
    }
}

const tg_opdef tg_op_embedding = {"tg_embedding", embedding_forward, embedding_backward,
                                  TG_KEEP_SRC(1), 0};
