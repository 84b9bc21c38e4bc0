/* matmul: batched matrix product with transpose flags. */
#include "tg_internal.h"

/* Sizes of one product: C[m,n] = op(A)[m,k] op(B)[k,n], `batch` of them;
 * shared_b when B is 2-D and used by every batch entry. */
typedef struct {
    int batch, m, n, k, lda, ldb, shared_b;
} mm_dims;

static mm_dims dims_of(const tg_tensor *out)
{
    const tg_tensor *a = out->src[0], *b = out->src[1];
    int ta = out->ip[0], tb = out->ip[1];
    mm_dims d;
    d.m = out->shape[out->ndim - 2];
    d.n = out->shape[out->ndim - 1];
    d.k = ta ? a->shape[a->ndim - 2] : a->shape[a->ndim - 1];
    d.batch = (int)(out->numel / ((size_t)d.m * d.n));
    d.lda = ta ? d.m : d.k;
    d.ldb = tb ? d.k : d.n;
    d.shared_b = b->ndim == 2 && a->ndim > 2;
    return d;
}

tg_tensor *tg_matmul(tg_graph *g, tg_tensor *a, tg_tensor *b, int ta, int tb)
{
    tg_tensor *in[2] = {a, b};
    g = g ? g : tg_graph_of(2, in);
    if (!a || !b)
        return tg_node(g, TG_OP_MATMUL, TG_F32, 0, NULL, 2, in);
    char sa[64], sb[64];
    if (a->dtype != TG_F32 || b->dtype != TG_F32)
        return tg_fail(g, "tg_matmul: inputs must be float32 ('%s', '%s')", a->name, b->name);
    if (a->ndim < 2 || b->ndim < 2)
        return tg_fail(g, "tg_matmul: inputs need rank >= 2: a is %s, b is %s",
                       tg_shape_str(a, sa, 64), tg_shape_str(b, sb, 64));
    int m = ta ? a->shape[a->ndim - 1] : a->shape[a->ndim - 2];
    int ka = ta ? a->shape[a->ndim - 2] : a->shape[a->ndim - 1];
    int kb = tb ? b->shape[b->ndim - 1] : b->shape[b->ndim - 2];
    int n = tb ? b->shape[b->ndim - 2] : b->shape[b->ndim - 1];
    if (ka != kb)
        return tg_fail(g, "tg_matmul: inner dimensions differ: a is %s%s, b is %s%s",
                       tg_shape_str(a, sa, 64), ta ? " (transposed)" : "",
                       tg_shape_str(b, sb, 64), tb ? " (transposed)" : "");
    if (b->ndim != 2 && b->ndim != a->ndim)
        return tg_fail(g, "tg_matmul: b must be 2-D or have a's rank: a is %s, b is %s",
                       tg_shape_str(a, sa, 64), tg_shape_str(b, sb, 64));
    if (b->ndim == a->ndim)
        for (int i = 0; i < a->ndim - 2; i++)
            if (a->shape[i] != b->shape[i])
                return tg_fail(g, "tg_matmul: batch dimensions differ: a is %s, b is %s",
                               tg_shape_str(a, sa, 64), tg_shape_str(b, sb, 64));
    int shape[TG_MAX_DIMS];
    for (int i = 0; i < a->ndim - 2; i++)
        shape[i] = a->shape[i];
    shape[a->ndim - 2] = m;
    shape[a->ndim - 1] = n;
    tg_tensor *t = tg_node(g, TG_OP_MATMUL, TG_F32, a->ndim, shape, 2, in);
    if (t)
        t->ip[0] = ta != 0, t->ip[1] = tb != 0;
    return t;
}

/* One product in the graph's precision (tg_gemm_prec): A's bf16 copy in
 * scratch 0, B's in scratch 1; an, bn floats of them to convert. The
 * output's gradient goes in without its tensor (NULL): it may sit where
 * the output's float32 values were, and with the tensor it would be taken
 * for them (as in ops/linear.c). */
static void mm(const tg_tensor *out, int batch, int ta, int tb, int m, int n, int k,
               const tg_tensor *at, const tg_real *a, size_t an, int lda, size_t sa,
               const tg_tensor *bt, const tg_real *b, size_t bn, int ldb, size_t sb, tg_real *c,
               int ldc, size_t sc, tg_real beta)
{
    tg_gemm_prec(out, batch, ta, tb, m, n, k, 1, at, a, an, lda, sa, 0, bt, b, bn, ldb, sb, 1,
                 beta, c, ldc, sc);
}

static int matmul_forward(tg_tensor *out)
{
    const tg_tensor *a = out->src[0], *b = out->src[1];
    int ta = out->ip[0], tb = out->ip[1];
    mm_dims d = dims_of(out);
    const tg_real *A = tg_f32(a), *B = tg_f32(b);
    if (d.shared_b && !ta) /* one tall GEMM: rows of all batch entries */
        mm(out, 1, 0, tb, d.batch * d.m, d.n, d.k, a, A, a->numel, d.lda, 0, b, B, b->numel,
           d.ldb, 0, tg_f32(out), d.n, 0, 0);
    else
        mm(out, d.batch, ta, tb, d.m, d.n, d.k, a, A, a->numel, d.lda, (size_t)d.m * d.k, b, B,
           b->numel, d.ldb, d.shared_b ? 0 : (size_t)d.k * d.n, tg_f32(out), d.n,
           (size_t)d.m * d.n, 0);
    return TG_OK;
}

/* dop(A) = dC op(B)^T and dop(B) = op(A)^T dC, stored transposed where the
 * input was used transposed. */
static void matmul_backward(tg_tensor *out)
{
    tg_tensor *a = out->src[0], *b = out->src[1];
    int ta = out->ip[0], tb = out->ip[1];
    mm_dims d = dims_of(out);
    const tg_real *A = tg_f32(a), *B = tg_f32(b), *dC = out->grad;
    size_t sA = (size_t)d.m * d.k, sB = d.shared_b ? 0 : (size_t)d.k * d.n, sC = (size_t)d.m * d.n;
    size_t nA = a->numel, nB = b->numel, nC = out->numel;
    if (a->grad) {
        if (!ta && d.shared_b)
            mm(out, 1, 0, !tb, d.batch * d.m, d.k, d.n, NULL, dC, nC, d.n, 0, b, B, nB, d.ldb, 0,
               a->grad, d.k, 0, 1);
        else if (!ta)
            mm(out, d.batch, 0, !tb, d.m, d.k, d.n, NULL, dC, nC, d.n, sC, b, B, nB, d.ldb, sB,
               a->grad, d.k, sA, 1);
        else
            mm(out, d.batch, tb, 1, d.k, d.m, d.n, b, B, nB, d.ldb, sB, NULL, dC, nC, d.n, sC,
               a->grad, d.m, sA, 1);
    }
    if (b->grad) {
        if (d.shared_b && !ta) {
            if (!tb)
                mm(out, 1, 1, 0, d.k, d.n, d.batch * d.m, a, A, nA, d.k, 0, NULL, dC, nC, d.n, 0,
                   b->grad, d.n, 0, 1);
            else
                mm(out, 1, 1, 0, d.n, d.k, d.batch * d.m, NULL, dC, nC, d.n, 0, a, A, nA, d.k, 0,
                   b->grad, d.k, 0, 1);
        } else if (d.shared_b) { /* entries share dB: accumulate in order */
            for (int i = 0; i < d.batch; i++) {
                if (!tb)
                    mm(out, 1, 0, 0, d.k, d.n, d.m, a, A + i * sA, sA, d.m, 0, NULL, dC + i * sC,
                       sC, d.n, 0, b->grad, d.n, 0, 1);
                else
                    mm(out, 1, 1, 1, d.n, d.k, d.m, NULL, dC + i * sC, sC, d.n, 0, a, A + i * sA,
                       sA, d.m, 0, b->grad, d.k, 0, 1);
            }
        } else if (!tb) {
            mm(out, d.batch, !ta, 0, d.k, d.n, d.m, a, A, nA, d.lda, sA, NULL, dC, nC, d.n, sC,
               b->grad, d.n, sB, 1);
        } else {
            mm(out, d.batch, 1, ta, d.n, d.k, d.m, NULL, dC, nC, d.n, sC, a, A, nA, d.lda, sA,
               b->grad, d.k, sB, 1);
        }
    }
}

const tg_opdef tg_op_matmul = {"tg_matmul", matmul_forward, matmul_backward,
                               TG_KEEP_SRC(0) | TG_KEEP_SRC(1), 0};
