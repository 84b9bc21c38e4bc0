/* softmax over the last dim of x + mask, mask broadcast over x. */
#include "tg_internal.h"

#include <math.h>

tg_tensor *tg_softmax(tg_graph *g, tg_tensor *x, tg_tensor *mask)
{
    tg_tensor *in[2] = {x, mask};
    int nin = mask ? 2 : 1;
    g = g ? g : tg_graph_of(nin, in);
    if (!x)
        return tg_node(g, TG_OP_SOFTMAX, TG_F32, 0, NULL, 1, in);
    char sx[64], sm[64];
    if (x->dtype != TG_F32 || (mask && mask->dtype != TG_F32))
        return tg_fail(g, "tg_softmax: inputs must be float32");
    if (mask) {
        int ok = mask->ndim == x->ndim;
        for (int i = 0; ok && i < x->ndim; i++)
            ok = mask->shape[i] == x->shape[i] || mask->shape[i] == 1;
        if (!ok)
            return tg_fail(g, "tg_softmax: mask must broadcast to x (same rank, dims equal or 1): x is %s, mask is %s",
                           tg_shape_str(x, sx, 64), tg_shape_str(mask, sm, 64));
    }
    return tg_node(g, TG_OP_SOFTMAX, TG_F32, x->ndim, x->shape, nin, in);
}

/* Offset into the mask of row r of x (rows = all dims but the last), and
 * the mask's stride along the last dim (0 when broadcast). */
static size_t mask_row(const tg_tensor *x, const tg_tensor *m, size_t r)
{
    size_t off = 0, stride = m->shape[m->ndim - 1];
    for (int d = x->ndim - 2; d >= 0; d--) {
        size_t idx = r % x->shape[d];
        r /= x->shape[d];
        if (m->shape[d] != 1)
            off += idx * stride;
        stride *= m->shape[d];
    }
    return off;
}

static int softmax_forward(tg_tensor *out)
{
    const tg_tensor *X = out->src[0], *M = out->nsrc > 1 ? out->src[1] : NULL;
    int n = X->shape[X->ndim - 1];
    size_t rows = X->numel / n;
    const tg_real *x = tg_f32(X);
    tg_real *y = tg_f32(out);
    int mstep = M && M->shape[M->ndim - 1] != 1;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const tg_real *xr = x + r * n, *mr = M ? tg_f32(M) + mask_row(X, M, r) : NULL;
        tg_real *yr = y + r * n, mx = -INFINITY;
        for (int i = 0; i < n; i++) {
            yr[i] = mr ? xr[i] + mr[mstep ? i : 0] : xr[i];
            if (yr[i] > mx)
                mx = yr[i];
        }
        double s = 0;
        for (int i = 0; i < n; i++) {
            yr[i] = TG_EXP(yr[i] - mx);
            s += yr[i];
        }
        tg_real inv = (tg_real)(1.0 / s);
        for (int i = 0; i < n; i++)
            yr[i] *= inv;
    }
    return TG_OK;
}

/* dx = y * (dy - sum(dy * y)); the mask's gradient is dx summed over the
 * dims it is broadcast along. */
static void softmax_backward(tg_tensor *out)
{
    tg_tensor *X = out->src[0], *M = out->nsrc > 1 ? out->src[1] : NULL;
    int n = X->shape[X->ndim - 1];
    size_t rows = X->numel / n;
    const tg_real *y = tg_f32(out), *dy = out->grad;
    tg_real *dx = X->grad, *dm = M ? M->grad : NULL;
    int mstep = M && M->shape[M->ndim - 1] != 1;
    if (dx) {
#pragma omp parallel for schedule(static)
        for (size_t r = 0; r < rows; r++) {
            const tg_real *yr = y + r * n, *dr = dy + r * n;
            double s = 0;
            for (int i = 0; i < n; i++)
                s += dr[i] * yr[i];
            for (int i = 0; i < n; i++)
                dx[r * n + i] += yr[i] * (dr[i] - (tg_real)s);
        }
    }
    if (dm) { /* serial: rows scatter into shared mask entries */
        for (size_t r = 0; r < rows; r++) {
            const tg_real *yr = y + r * n, *dr = dy + r * n;
            tg_real *mr = dm + mask_row(X, M, r);
            double s = 0;
            for (int i = 0; i < n; i++)
                s += dr[i] * yr[i];
            for (int i = 0; i < n; i++)
                mr[mstep ? i : 0] += yr[i] * (dr[i] - (tg_real)s);
        }
    }
}

const tg_opdef tg_op_softmax = {"tg_softmax", softmax_forward, softmax_backward, TG_KEEP_OUT, 0};
