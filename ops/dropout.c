/* dropout: inverted dropout. Each element's keep decision is a hash of
 * (graph seed, node, forward pass, element) (tg_dropped in tg_internal.h,
 * shared with tg_attention), so backward recomputes the mask instead of
 * storing it, and results do not depend on thread count. The loops run the
 * kernels of the CPU level (kern.h), which compute the same stream in
 * vectors. */
#include "kern.h"
#include "tg_internal.h"

#include <string.h>

tg_tensor *tg_dropout(tg_graph *g, tg_tensor *x, float p)
{
    g = g ? g : (x ? x->graph : NULL);
    if (x && x->dtype != TG_F32)
        return tg_fail(g, "tg_dropout: input '%s' must be float32", x->name);
    if (!(p >= 0 && p < 1))
        return tg_fail(g, "tg_dropout: probability must be in [0, 1), got %g", p);
    if (x && g && tg_graph_inference(g))
        return x; /* an inference graph has no dropout node */
    tg_tensor *t = tg_node(g, TG_OP_DROPOUT, TG_F32, x ? x->ndim : 0, x ? x->shape : NULL, 1, &x);
    if (t) {
        t->fp[0] = p;
        t->aux_bytes = sizeof(uint64_t); /* the key of the last forward pass */
    }
    return t;
}

static int active(const tg_tensor *out) { return out->graph->training && out->fp[0] > 0; }

static int dropout_forward(tg_tensor *out)
{
    const tg_real *x = tg_f32(out->src[0]);
    tg_real *y = tg_f32(out), p = out->fp[0], s = 1.0f / (1.0f - p);
    uint64_t key = tg_drop_key(out);
    *(uint64_t *)out->aux = key;
    int on = active(out);
    uint64_t thr = tg_drop_threshold(p);
    const tg_kern *k = tg_kern_get();
    if (!on)
        TG_KERN_CHUNKS(out->numel, lo, len, memcpy(y + lo, x + lo, len * sizeof *y));
    else
        TG_KERN_CHUNKS(out->numel, lo, len, k->dropout(y + lo, x + lo, len, lo, key, thr, s, 0));
    return TG_OK;
}

static void dropout_backward(tg_tensor *out)
{
    tg_real *dx = out->src[0]->grad, p = out->fp[0], s = 1.0f / (1.0f - p);
    const tg_real *dy = out->grad;
    uint64_t key = *(uint64_t *)out->aux;
    int on = active(out);
    uint64_t thr = tg_drop_threshold(p);
    if (!dx)
        return;
    const tg_kern *k = tg_kern_get();
    int acc = !tg_grad_claim(out->src[0]); /* fresh: written, not added to */
    if (!on && acc)
        TG_KERN_CHUNKS(out->numel, lo, len, k->acc(dx + lo, dy + lo, NULL, 1.f, len));
    else if (!on)
        TG_KERN_CHUNKS(out->numel, lo, len, k->scale(dx + lo, dy + lo, 1.f, len));
    else
        TG_KERN_CHUNKS(out->numel, lo, len,
                       k->dropout(dx + lo, dy + lo, len, lo, key, thr, s, acc));
}

const tg_opdef tg_op_dropout = {"tg_dropout", dropout_forward, dropout_backward,
                                TG_GRAD_OVERWRITE(0), 0};
