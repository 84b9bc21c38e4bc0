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

static int matmul_forward(tg_tensor *out)
{
    const tg_tensor *a = out->src[0], *b = out->src[1];
    int ta = out->ip[0], tb = out->ip[1];
    mm_dims d = dims_of(out);
    if (d.shared_b && !ta) /* one tall GEMM: rows of all batch entries */
        tg_gemm(0, tb, d.batch * d.m, d.n, d.k, 1, tg_f32(a), d.lda, tg_f32(b), d.ldb, 0,
                tg_f32(out), d.n);
    else
        tg_gemm_batched(d.batch, ta, tb, d.m, d.n, d.k, 1, tg_f32(a), d.lda,
                        (size_t)d.m * d.k, tg_f32(b), d.ldb,
                        d.shared_b ? 0 : (size_t)d.k * d.n, 0, tg_f32(out), d.n,
                        (size_t)d.m * d.n);
    return TG_OK;
}

/* dop(A) = dC op(B)^T and dop(B) = op(A)^T dC, stored transposed where the
 * input was used transposed. */
static void matmul_backward(tg_tensor *out)
{
    tg_tensor *a = out->src[0], *b = out->src[1];
    int ta = out->ip[0], tb = out->ip[1];
    mm_dims d = dims_of(out);
    const float *A = tg_f32(a), *B = tg_f32(b), *dC = out->grad;
    size_t sA = (size_t)d.m * d.k, sB = d.shared_b ? 0 : (size_t)d.k * d.n, sC = (size_t)d.m * d.n;
    if (a->grad) {
        if (!ta && d.shared_b)
            tg_gemm(0, !tb, d.batch * d.m, d.k, d.n, 1, dC, d.n, B, d.ldb, 1, a->grad, d.k);
        else if (!ta)
            tg_gemm_batched(d.batch, 0, !tb, d.m, d.k, d.n, 1, dC, d.n, sC, B, d.ldb, sB, 1,
                            a->grad, d.k, sA);
        else
            tg_gemm_batched(d.batch, tb, 1, d.k, d.m, d.n, 1, B, d.ldb, sB, dC, d.n, sC, 1,
                            a->grad, d.m, sA);
    }
    if (b->grad) {
        if (d.shared_b && !ta) {
            if (!tb)
                tg_gemm(1, 0, d.k, d.n, d.batch * d.m, 1, A, d.k, dC, d.n, 1, b->grad, d.n);
            else
                tg_gemm(1, 0, d.n, d.k, d.batch * d.m, 1, dC, d.n, A, d.k, 1, b->grad, d.k);
        } else if (d.shared_b) { /* entries share dB: accumulate in order */
            for (int i = 0; i < d.batch; i++) {
                if (!tb)
                    tg_gemm(0, 0, d.k, d.n, d.m, 1, A + i * sA, d.m, dC + i * sC, d.n, 1, b->grad, d.n);
                else
                    tg_gemm(1, 1, d.n, d.k, d.m, 1, dC + i * sC, d.n, A + i * sA, d.m, 1, b->grad, d.k);
            }
        } else if (!tb) {
            tg_gemm_batched(d.batch, !ta, 0, d.k, d.n, d.m, 1, A, d.lda, sA, dC, d.n, sC, 1,
                            b->grad, d.n, sB);
        } else {
            tg_gemm_batched(d.batch, 1, ta, d.n, d.k, d.m, 1, dC, d.n, sC, A, d.lda, sA, 1,
                            b->grad, d.k, sB);
        }
    }
}

const tg_opdef tg_op_matmul = {"tg_matmul", matmul_forward, matmul_backward,
                               TG_KEEP_SRC(0) | TG_KEEP_SRC(1), 0};
