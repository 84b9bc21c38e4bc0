/* cache_write: the in-place write of a step's rows into persistent state
 * (a KV cache), at a position read at run time.
 *
 * The output is a view of the state tensor (TG_FLAG_VIEW on a parameter-
 * store tensor: the plan gives it no buffer), so the attention that reads
 * it sees the rows written before this step and the new ones, and no copy
 * of the cache is ever made. ip: [0] first column of x, [1] src index of
 * pos. aux: pos of the last forward pass (int64). */
#include "tg_internal.h"

#include <string.h>

tg_tensor *tg_cache_write(tg_graph *g, tg_tensor *cache, tg_tensor *x, int x_col, tg_tensor *pos)
{
    tg_tensor *in[3] = {cache, x, pos};
    g = g ? g : tg_graph_of(3, in);
    if (!cache || !x || !pos)
        return tg_node(g, TG_OP_CACHE_WRITE, TG_F32, 0, NULL, 3, in);
    char s1[64], s2[64];
    if (!(cache->flags & TG_FLAG_PARAM) || cache->dtype != TG_F32 || cache->ndim != 3)
        return tg_fail(g, "tg_cache_write: cache '%s' must be a float32 [B, T, width] tensor of a "
                          "parameter (state) store, got %s%s",
                       cache->name, tg_shape_str(cache, s1, 64),
                       cache->flags & TG_FLAG_PARAM ? "" : " (a graph node)");
    if (x->dtype != TG_F32 || x->ndim != 3 || x->shape[0] != cache->shape[0] ||
        x->shape[1] > cache->shape[1] || x_col < 0 || x_col + cache->shape[2] > x->shape[2])
        return tg_fail(g, "tg_cache_write: x '%s' %s must be float32 [B, Tn <= T, width] with "
                          "columns %d..%d inside, for cache '%s' %s",
                       x->name, tg_shape_str(x, s1, 64), x_col, x_col + cache->shape[2],
                       cache->name, tg_shape_str(cache, s2, 64));
    if (pos->dtype != TG_I32 || pos->numel != 1)
        return tg_fail(g, "tg_cache_write: pos '%s' must be an int32 [1]", pos->name);
    tg_tensor *t = tg_node(g, TG_OP_CACHE_WRITE, TG_F32, 3, cache->shape, 3, in);
    if (t) {
        t->flags |= TG_FLAG_VIEW;
        t->ip[0] = x_col;
        t->aux_bytes = sizeof(int64_t);
        tg_set_name(t, "%s", cache->name);
    }
    return t;
}

static int cache_forward(tg_tensor *out)
{
    const tg_tensor *x = out->src[1];
    int B = out->shape[0], T = out->shape[1], W = out->shape[2];
    int Tn = x->shape[1], Wx = x->shape[2], col = out->ip[0];
    int pos = tg_i32(out->src[2])[0];
    if (pos < 0 || pos > T - Tn)
        return tg_error(TG_ERR_ARG, "tg_cache_write: pos %d outside 0..%d for %d new rows of cache '%s' (%d rows)",
                        pos, T - Tn, Tn, out->name, T);
    *(int64_t *)out->aux = pos;
    tg_real *c = tg_f32(out); /* the cache's own storage */
    const tg_real *xs = tg_f32(x);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Tn; t++)
            memcpy(c + ((size_t)b * T + pos + t) * W, xs + ((size_t)b * Tn + t) * Wx + col,
                   (size_t)W * sizeof(tg_real));
    return TG_OK;
}

/* The gradient reaching the written rows goes to x; those rows' previous
 * contents never reached the output, so their gradient (the shared
 * storage's) is reset to 0. Rows outside pass through unchanged. */
static void cache_backward(tg_tensor *out)
{
    tg_tensor *x = out->src[1];
    int B = out->shape[0], T = out->shape[1], W = out->shape[2];
    int Tn = x->shape[1], Wx = x->shape[2], col = out->ip[0];
    int pos = (int)*(int64_t *)out->aux;
    tg_real *dc = out->grad;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Tn; t++) {
            tg_real *row = dc + ((size_t)b * T + pos + t) * W;
            if (x->grad) {
                tg_real *dx = x->grad + ((size_t)b * Tn + t) * Wx + col;
                for (int j = 0; j < W; j++)
                    dx[j] += row[j];
            }
            memset(row, 0, (size_t)W * sizeof(tg_real));
        }
}

const tg_opdef tg_op_cache_write = {"tg_cache_write", cache_forward, cache_backward, 0, 0};
