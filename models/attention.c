/* The multi-head attention block: projections + tg_attention + output. */
#include "attention.h"

tg_tensor *at_project(tg_graph *g, tg_tensor *x, const at_proj *p)
{
    if (!p->conv1d)
        return tg_linear(g, x, p->w, p->b);
    tg_tensor *y = tg_matmul(g, x, p->w, 0, 0); /* [.., in] x [in, out] */
    return p->b ? tg_add(g, y, p->b) : y;
}

/* Output width of a projection's weight (NULL-safe: 0). */
static int width_of(const at_proj *p)
{
    return !p->w || p->w->ndim != 2 ? 0 : p->w->shape[p->conv1d ? 1 : 0];
}

tg_tensor *at_attention(tg_graph *g, const at_weights *w, const at_config *c, tg_tensor *x,
                        tg_tensor *memory, tg_tensor *key_mask)
{
    if (!x)
        return NULL; /* an earlier constructor failed: its error is sticky */
    int fused = w->qkv.w != NULL, cross_fused = w->kv.w != NULL;
    int separate = w->k.w != NULL || w->v.w != NULL;
    if (fused + cross_fused + separate != 1 || (fused && (w->q.w || memory)) ||
        (!fused && !w->q.w))
        return tg_fail(g, "at_attention: give qkv (self-attention only), q + kv, or q + k + v");
    if ((c->cache || c->pos) && (!fused || !c->causal || !c->cache || !c->pos))
        return tg_fail(g, "at_attention: a KV cache needs causal self-attention with a fused qkv, cache and pos");
    tg_tensor *src = memory ? memory : x;
    tg_attn_args a = {.heads = c->heads, .causal = c->causal, .dropout = c->dropout,
                      .scale = c->scale};
    tg_tensor *ctx;
    if (fused) {
        int dim = width_of(&w->qkv) / 3;
        if (dim * 3 != width_of(&w->qkv))
            return tg_fail(g, "at_attention: fused qkv weight '%s' width %d is not 3 x dim",
                           w->qkv.w->name, width_of(&w->qkv));
        tg_tensor *y = at_project(g, x, &w->qkv);
        a.dim = dim, a.k_col = dim, a.v_col = 2 * dim;
        if (c->cache) { /* k | v of the new rows into the cache, then attend over it */
            tg_tensor *kv = tg_cache_write(g, c->cache, y, dim, c->pos);
            a.pos = c->pos, a.k_col = 0, a.v_col = dim;
            /* the step kernel streams the cache's first pos + Tq rows in
             * place; a key mask over the cache rows needs the general op */
            ctx = key_mask || (a.dropout > 0 && !tg_graph_inference(g))
                      ? tg_attention(g, y, kv, kv, key_mask, &a)
                      : tg_attention_decode(g, y, kv, kv, NULL, &a);
        } else {
            ctx = tg_attention(g, y, y, y, key_mask, &a);
        }
    } else if (cross_fused) {
        int dim = width_of(&w->kv) / 2;
        if (dim * 2 != width_of(&w->kv))
            return tg_fail(g, "at_attention: fused kv weight '%s' width %d is not 2 x dim",
                           w->kv.w->name, width_of(&w->kv));
        if (c->memory_is_kv && !memory)
            return tg_fail(g, "at_attention: memory_is_kv without a memory");
        tg_tensor *kv = c->memory_is_kv ? memory : at_project(g, src, &w->kv);
        a.dim = dim, a.v_col = dim;
        ctx = tg_attention(g, at_project(g, x, &w->q), kv, kv, key_mask, &a);
    } else {
        ctx = tg_attention(g, at_project(g, x, &w->q), at_project(g, src, &w->k),
                           at_project(g, src, &w->v), key_mask, &a);
    }
    return w->out.w ? at_project(g, ctx, &w->out) : ctx;
}
