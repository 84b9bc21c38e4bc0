/* add, sub, mul: elementwise with b repeated over a's leading dims. add and
 * the gradients run the kernels of the CPU level (kern.h). */
#include "kern.h"
#include "tg_internal.h"

#include <omp.h>
#include <string.h>

/* Shape rule shared by the three ops: b has a's shape or a's trailing dims. */
static tg_tensor *binary(tg_graph *g, int op, tg_tensor *a, tg_tensor *b)
{
    tg_tensor *in[2] = {a, b};
    g = g ? g : tg_graph_of(2, in);
    const char *name = tg_optable[op]->name;
    if (!a || !b)
        return tg_node(g, op, TG_F32, 0, NULL, 2, in);
    char sa[64], sb[64];
    if (a->dtype != TG_F32 || b->dtype != TG_F32)
        return tg_fail(g, "%s: inputs must be float32 ('%s', '%s')", name, a->name, b->name);
    int ok = b->ndim <= a->ndim;
    for (int i = 0; ok && i < b->ndim; i++)
        ok = b->shape[b->ndim - 1 - i] == a->shape[a->ndim - 1 - i];
    if (!ok)
        return tg_fail(g, "%s: b must have a's shape or its trailing dims: a is %s, b is %s", name,
                       tg_shape_str(a, sa, 64), tg_shape_str(b, sb, 64));
    return tg_node(g, op, TG_F32, a->ndim, a->shape, 2, in);
}

tg_tensor *tg_add(tg_graph *g, tg_tensor *a, tg_tensor *b) { return binary(g, TG_OP_ADD, a, b); }
tg_tensor *tg_sub(tg_graph *g, tg_tensor *a, tg_tensor *b) { return binary(g, TG_OP_SUB, a, b); }
tg_tensor *tg_mul(tg_graph *g, tg_tensor *a, tg_tensor *b) { return binary(g, TG_OP_MUL, a, b); }

/* y = a op b over n elements */
static void binary_run(const tg_kern *k, int op, tg_real *y, const tg_real *a, const tg_real *b,
                       size_t n)
{
    if (op == TG_OP_ADD)
        k->add(y, a, b, n);
    else if (op == TG_OP_SUB)
        for (size_t i = 0; i < n; i++)
            y[i] = a[i] - b[i];
    else
        for (size_t i = 0; i < n; i++)
            y[i] = a[i] * b[i];
}

/* Same shapes (outer 1, the residual adds) split the elements between
 * threads; a broadcast b splits the rows. */
static int binary_forward(tg_tensor *out)
{
    const tg_real *a = tg_f32(out->src[0]), *b = tg_f32(out->src[1]);
    tg_real *y = tg_f32(out);
    size_t inner = out->src[1]->numel, outer = out->numel / inner;
    int op = out->op;
    const tg_kern *k = tg_kern_get();
    if (outer == 1) {
        TG_KERN_CHUNKS(inner, lo, len, binary_run(k, op, y + lo, a + lo, b + lo, len));
        return TG_OK;
    }
#pragma omp parallel for schedule(static)
    for (size_t o = 0; o < outer; o++)
        binary_run(k, op, y + o * inner, a + o * inner, b, inner);
    return TG_OK;
}

/* tg_sum_rows_into, and with h the bf16 copy of dy written row by row
 * just before each row piece is added (read once). */
static void sum_rows(tg_real *db, const tg_real *dy, const tg_real *a, tg_real sign, size_t outer,
                     size_t inner, tg_bf16 *h)
{
    const tg_kern *k = tg_kern_get();
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        size_t lo = inner * id / nt, hi = inner * (id + 1) / nt;
        for (size_t o = 0; o < outer && hi > lo; o++) {
            if (h)
                tg_f32_to_bf16(h + o * inner + lo, dy + o * inner + lo, hi - lo);
            k->acc(db + lo, dy + o * inner + lo, a ? a + o * inner + lo : NULL, sign, hi - lo);
        }
    }
}

void tg_sum_rows_into(tg_real *db, const tg_real *dy, const tg_real *a, tg_real sign, size_t outer,
                      size_t inner)
{
    sum_rows(db, dy, a, sign, outer, inner, NULL);
}

void tg_sum_rows_into_bf16(tg_real *dst, const tg_real *src, tg_bf16 *h, size_t rows, size_t cols)
{
    sum_rows(dst, src, NULL, 1.0f, rows, cols, h);
}

static void binary_backward(tg_tensor *out)
{
    tg_tensor *A = out->src[0], *B = out->src[1];
    const tg_real *dy = out->grad;
    size_t inner = B->numel, outer = out->numel / inner;
    int op = out->op;
    const tg_kern *k = tg_kern_get();
    /* add and sub write a fresh (claimed) gradient instead of adding to
     * zeros: da = dy, db = sign dy (exact: a multiplication by +-1) */
    int over = op != TG_OP_MUL;
    if (A->grad) {
        tg_real *da = A->grad;
        const tg_real *b = op == TG_OP_MUL ? tg_f32(B) : NULL;
        if (over && tg_grad_claim(A)) {
            TG_KERN_CHUNKS(out->numel, lo, len, k->scale(da + lo, dy + lo, 1.f, len));
        } else if (outer == 1) {
            TG_KERN_CHUNKS(inner, lo, len, k->acc(da + lo, dy + lo, b ? b + lo : NULL, 1.f, len));
        } else {
#pragma omp parallel for schedule(static)
            for (size_t o = 0; o < outer; o++)
                k->acc(da + o * inner, dy + o * inner, b, 1.f, inner);
        }
    }
    if (B->grad) {
        const tg_real *a = op == TG_OP_MUL ? tg_f32(A) : NULL;
        tg_real sign = op == TG_OP_SUB ? -1.f : 1.f;
        tg_real *db = B->grad;
        int fresh = over && tg_grad_claim(B);
        if (fresh && outer == 1)
            TG_KERN_CHUNKS(inner, lo, len, k->scale(db + lo, dy + lo, sign, len));
        else if (outer == 1)
            TG_KERN_CHUNKS(inner, lo, len, k->acc(db + lo, dy + lo, a ? a + lo : NULL, sign, len));
        else {
            if (fresh)
                memset(db, 0, inner * sizeof(tg_real));
            tg_sum_rows_into(db, dy, a, sign, outer, inner);
        }
    }
}

const tg_opdef tg_op_add = {"tg_add", binary_forward, binary_backward,
                            TG_GRAD_OVERWRITE(0) | TG_GRAD_OVERWRITE(1), 0};
const tg_opdef tg_op_sub = {"tg_sub", binary_forward, binary_backward,
                            TG_GRAD_OVERWRITE(0) | TG_GRAD_OVERWRITE(1), 0};
const tg_opdef tg_op_mul = {"tg_mul", binary_forward, binary_backward,
                            TG_KEEP_SRC(0) | TG_KEEP_SRC(1), 0};
