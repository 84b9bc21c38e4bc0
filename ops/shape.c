/* reshape (a view), permute, concat and slice: ops that move elements. */
#include "tg_internal.h"

#include <string.h>

tg_tensor *tg_reshape(tg_graph *g, tg_tensor *x, int ndim, const int *shape)
{
    g = g ? g : (x ? x->graph : NULL);
    if (!x)
        return tg_node(g, TG_OP_RESHAPE, TG_F32, 0, NULL, 1, &x);
    char sx[64];
    if (ndim < 1 || ndim > TG_MAX_DIMS)
        return tg_fail(g, "tg_reshape: rank %d outside 1..%d", ndim, TG_MAX_DIMS);
    int s[TG_MAX_DIMS], infer = -1;
    size_t known = 1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (s[i] == -1 && infer < 0)
            infer = i;
        else if (s[i] <= 0)
            return tg_fail(g, "tg_reshape: invalid dim %d at %d for '%s' %s", s[i], i, x->name,
                           tg_shape_str(x, sx, 64));
        else
            known *= s[i];
    }
    if (infer >= 0) {
        if (x->numel % known)
            return tg_fail(g, "tg_reshape: cannot infer dim %d: '%s' %s has %zu elements", infer,
                           x->name, tg_shape_str(x, sx, 64), x->numel);
        s[infer] = (int)(x->numel / known);
        known *= s[infer];
    }
    if (known != x->numel)
        return tg_fail(g, "tg_reshape: '%s' %s has %zu elements, the new shape %zu", x->name,
                       tg_shape_str(x, sx, 64), x->numel, known);
    tg_tensor *t = tg_node(g, TG_OP_RESHAPE, x->dtype, ndim, s, 1, &x);
    if (t)
        t->flags |= TG_FLAG_VIEW;
    return t;
}

/* A view: the plan points data and grad at the source's, so forward and
 * backward have nothing to do. */
static int reshape_forward(tg_tensor *out)
{
    (void)out;
    return TG_OK;
}

tg_tensor *tg_permute(tg_graph *g, tg_tensor *x, int ndim, const int *perm)
{
    g = g ? g : (x ? x->graph : NULL);
    if (!x)
        return tg_node(g, TG_OP_PERMUTE, TG_F32, 0, NULL, 1, &x);
    char sx[64];
    if (ndim != x->ndim)
        return tg_fail(g, "tg_permute: %d dims given for '%s' %s", ndim, x->name,
                       tg_shape_str(x, sx, 64));
    int seen = 0, s[TG_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        if (perm[i] < 0 || perm[i] >= ndim || (seen & (1 << perm[i])))
            return tg_fail(g, "tg_permute: not a permutation of 0..%d for '%s'", ndim - 1, x->name);
        seen |= 1 << perm[i];
        s[i] = x->shape[perm[i]];
    }
    tg_tensor *t = tg_node(g, TG_OP_PERMUTE, x->dtype, ndim, s, 1, &x);
    if (t)
        memcpy(t->ip, perm, ndim * sizeof *perm);
    return t;
}

/* Visits every element of out in order with the matching offset in the
 * source; dir 0 copies src->out, dir 1 adds out-grad into src-grad. Dims
 * are padded to 4 with leading 1s. */
static void permute_apply(const tg_tensor *out, const tg_real *from, tg_real *to, int dir)
{
    const tg_tensor *x = out->src[0];
    int nd = x->ndim, pad = TG_MAX_DIMS - nd;
    size_t xs[TG_MAX_DIMS], st[TG_MAX_DIMS] = {0, 0, 0, 0};
    int os[TG_MAX_DIMS] = {1, 1, 1, 1};
    xs[nd - 1] = 1;
    for (int d = nd - 2; d >= 0; d--)
        xs[d] = xs[d + 1] * x->shape[d + 1];
    for (int i = 0; i < nd; i++) {
        os[pad + i] = out->shape[i];
        st[pad + i] = xs[out->ip[i]];
    }
#pragma omp parallel for collapse(2) schedule(static)
    for (int a = 0; a < os[0]; a++)
        for (int b = 0; b < os[1]; b++)
            for (int c = 0; c < os[2]; c++) {
                size_t o = (((size_t)a * os[1] + b) * os[2] + c) * os[3];
                size_t s = a * st[0] + b * st[1] + c * st[2];
                if (dir == 0)
                    for (int d = 0; d < os[3]; d++)
                        to[o + d] = from[s + d * st[3]];
                else
                    for (int d = 0; d < os[3]; d++)
                        to[s + d * st[3]] += from[o + d];
            }
}

static int permute_forward(tg_tensor *out)
{
    permute_apply(out, tg_f32(out->src[0]), tg_f32(out), 0);
    return TG_OK;
}

static void permute_backward(tg_tensor *out)
{
    if (out->src[0]->grad)
        permute_apply(out, out->grad, out->src[0]->grad, 1);
}

/* Splits a shape around dim: outer (dims before) and inner (dims after). */
static void around(const tg_tensor *t, int dim, size_t *outer, size_t *inner)
{
    *outer = *inner = 1;
    for (int i = 0; i < dim; i++)
        *outer *= t->shape[i];
    for (int i = dim + 1; i < t->ndim; i++)
        *inner *= t->shape[i];
}

tg_tensor *tg_concat(tg_graph *g, tg_tensor *a, tg_tensor *b, int dim)
{
    tg_tensor *in[2] = {a, b};
    g = g ? g : tg_graph_of(2, in);
    if (!a || !b)
        return tg_node(g, TG_OP_CONCAT, TG_F32, 0, NULL, 2, in);
    char sa[64], sb[64];
    int ok = a->ndim == b->ndim && a->dtype == TG_F32 && b->dtype == TG_F32 && dim >= 0 &&
             dim < a->ndim;
    for (int i = 0; ok && i < a->ndim; i++)
        ok = i == dim || a->shape[i] == b->shape[i];
    if (!ok)
        return tg_fail(g, "tg_concat: float32 inputs must match except along dim %d: a is %s, b is %s",
                       dim, tg_shape_str(a, sa, 64), tg_shape_str(b, sb, 64));
    int s[TG_MAX_DIMS];
    memcpy(s, a->shape, sizeof s);
    s[dim] = a->shape[dim] + b->shape[dim];
    tg_tensor *t = tg_node(g, TG_OP_CONCAT, TG_F32, a->ndim, s, 2, in);
    if (t)
        t->ip[0] = dim;
    return t;
}

static int concat_forward(tg_tensor *out)
{
    size_t outer, inner;
    around(out, out->ip[0], &outer, &inner);
    size_t la = out->src[0]->shape[out->ip[0]] * inner, lb = out->src[1]->shape[out->ip[0]] * inner;
    const tg_real *a = tg_f32(out->src[0]), *b = tg_f32(out->src[1]);
    tg_real *y = tg_f32(out);
#pragma omp parallel for schedule(static)
    for (size_t o = 0; o < outer; o++) {
        memcpy(y + o * (la + lb), a + o * la, la * sizeof(tg_real));
        memcpy(y + o * (la + lb) + la, b + o * lb, lb * sizeof(tg_real));
    }
    return TG_OK;
}

static void concat_backward(tg_tensor *out)
{
    size_t outer, inner;
    around(out, out->ip[0], &outer, &inner);
    size_t la = out->src[0]->shape[out->ip[0]] * inner, lb = out->src[1]->shape[out->ip[0]] * inner;
    tg_real *da = out->src[0]->grad, *db = out->src[1]->grad;
    const tg_real *dy = out->grad;
#pragma omp parallel for schedule(static)
    for (size_t o = 0; o < outer; o++) {
        for (size_t i = 0; da && i < la; i++)
            da[o * la + i] += dy[o * (la + lb) + i];
        for (size_t i = 0; db && i < lb; i++)
            db[o * lb + i] += dy[o * (la + lb) + la + i];
    }
}

tg_tensor *tg_slice(tg_graph *g, tg_tensor *x, int dim, int start, int len)
{
    g = g ? g : (x ? x->graph : NULL);
    if (!x)
        return tg_node(g, TG_OP_SLICE, TG_F32, 0, NULL, 1, &x);
    char sx[64];
    if (x->dtype != TG_F32 || dim < 0 || dim >= x->ndim || start < 0 || len < 1 ||
        start + len > x->shape[dim])
        return tg_fail(g, "tg_slice: [%d, %d) along dim %d is outside float32 '%s' %s", start,
                       start + len, dim, x->name, tg_shape_str(x, sx, 64));
    int s[TG_MAX_DIMS];
    memcpy(s, x->shape, sizeof s);
    s[dim] = len;
    tg_tensor *t = tg_node(g, TG_OP_SLICE, TG_F32, x->ndim, s, 1, &x);
    if (t)
        t->ip[0] = dim, t->ip[1] = start;
    return t;
}

static int slice_forward(tg_tensor *out)
{
    size_t outer, inner;
    around(out, out->ip[0], &outer, &inner);
    size_t lx = out->src[0]->shape[out->ip[0]] * inner, ly = out->shape[out->ip[0]] * inner;
    size_t off = out->ip[1] * inner;
    const tg_real *x = tg_f32(out->src[0]);
    tg_real *y = tg_f32(out);
#pragma omp parallel for schedule(static)
    for (size_t o = 0; o < outer; o++)
        memcpy(y + o * ly, x + o * lx + off, ly * sizeof(tg_real));
    return TG_OK;
}

static void slice_backward(tg_tensor *out)
{
    tg_real *dx = out->src[0]->grad;
    if (!dx)
        return;
    size_t outer, inner;
    around(out, out->ip[0], &outer, &inner);
    size_t lx = out->src[0]->shape[out->ip[0]] * inner, ly = out->shape[out->ip[0]] * inner;
    size_t off = out->ip[1] * inner;
    const tg_real *dy = out->grad;
#pragma omp parallel for schedule(static)
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < ly; i++)
            dx[o * lx + off + i] += dy[o * ly + i];
}

const tg_opdef tg_op_reshape = {"tg_reshape", reshape_forward, NULL, 0, 1};
const tg_opdef tg_op_permute = {"tg_permute", permute_forward, permute_backward, 0, 0};
const tg_opdef tg_op_concat = {"tg_concat", concat_forward, concat_backward, 0, 0};
const tg_opdef tg_op_slice = {"tg_slice", slice_forward, slice_backward, 0, 0};
