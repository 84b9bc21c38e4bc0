/* attention_decode: multi-head attention of one or a few query positions
 * against the first keys of a KV cache, for generation steps.
 *
 * tg_attention (ops/attention.c) runs each (batch, head) as GEMM tiles;
 * with one query per row those are 1 x n products through the GEMM
 * library, one call per tile and head, and its cost grew with the cache
 * (docs/heavy2light.md, "Generation speed"). Here every (batch, head) is
 * one task of the OpenMP pool that streams the visible keys in place (by
 * the row strides of q, k and v: no copy of the cache, no permute) in
 * blocks of BD keys: one dot product per key, an online softmax (running
 * max m and sum l, the output rescaled when m grows) and an axpy of each
 * value row into the output. Only lse = m + log l per query is saved;
 * backward recomputes the probabilities from it.
 *
 * The dot products, the axpys and the block's exp are the CPU level's
 * kernels (ops/kern.h: rowdots, rowaxpy, exp): the axpys give the same
 * bits at every level, the dot products and the exp differ from the
 * scalar reference within kern.h's bounds.
 *
 * Visible keys of query i of batch row b: j < pos + i + 1 when causal,
 * and j < lengths[b] when lengths are given (trailing key padding); a
 * query that sees no key gets output 0 and gradient 0.
 *
 * ip: [0] heads, [1] causal, [2..4] first column of q, k, v, [5] src index
 * of lengths or -1, [6] src index of pos or -1. fp: [0] scale. aux: pos of
 * the last forward pass (int64), then lse [B, heads, Tq]. */
#include "tg_internal.h"

#include "kern.h"

#include <math.h>
#include <string.h>

#define BD 128 /* keys per block of the online softmax */

typedef struct {
    int B, Tq, Tk, nh, hd, dim, causal, pos;
    int ld[3], col[3]; /* row stride and first column of q, k, v */
    tg_real scale;
    const int32_t *len; /* [B] or NULL */
} ad_dims;

/* Inputs sharing storage must read equal or disjoint column ranges, so
 * that no two heads' tasks add into the same gradient columns. */
static int columns_ok(const tg_tensor *x, int cx, const tg_tensor *y, int cy, int dim)
{
    while (x->flags & TG_FLAG_VIEW)
        x = x->src[0];
    while (y->flags & TG_FLAG_VIEW)
        y = y->src[0];
    return x != y || cx == cy || cx + dim <= cy || cy + dim <= cx;
}

tg_tensor *tg_attention_decode(tg_graph *g, tg_tensor *q, tg_tensor *k, tg_tensor *v,
                               tg_tensor *lengths, const tg_attn_args *a)
{
    tg_tensor *in[3] = {q, k, v};
    g = g ? g : tg_graph_of(3, in);
    if (!a)
        return tg_fail(g, "tg_attention_decode: arguments (tg_attn_args) are NULL");
    if (!q || !k || !v)
        return tg_node(g, TG_OP_ATTENTION_DECODE, TG_F32, 0, NULL, 3, in);
    char s1[64], s2[64], s3[64];
    for (int i = 0; i < 3; i++)
        if (in[i]->dtype != TG_F32 || in[i]->ndim != 3)
            return tg_fail(g, "tg_attention_decode: %c '%s' must be float32 [B, T, width], got %s",
                           "qkv"[i], in[i]->name, tg_shape_str(in[i], s1, 64));
    int B = q->shape[0], Tq = q->shape[1], Tk = k->shape[1], nh = a->heads;
    if (k->shape[0] != B || v->shape[0] != B || v->shape[1] != Tk)
        return tg_fail(g, "tg_attention_decode: q [B, Tq, .], k and v [B, Tk, .] must agree: q is %s, k is %s, v is %s",
                       tg_shape_str(q, s1, 64), tg_shape_str(k, s2, 64), tg_shape_str(v, s3, 64));
    int col[3] = {a->q_col, a->k_col, a->v_col};
    int dim = a->dim ? a->dim : q->shape[2] - a->q_col;
    if (nh < 1 || dim < 1 || dim % nh)
        return tg_fail(g, "tg_attention_decode: width %d must be a positive multiple of heads %d",
                       dim, nh);
    for (int i = 0; i < 3; i++)
        if (col[i] < 0 || col[i] + dim > in[i]->shape[2])
            return tg_fail(g, "tg_attention_decode: %c columns %d..%d outside '%s' %s", "qkv"[i],
                           col[i], col[i] + dim, in[i]->name, tg_shape_str(in[i], s1, 64));
    if (!columns_ok(q, col[0], k, col[1], dim) || !columns_ok(q, col[0], v, col[2], dim) ||
        !columns_ok(k, col[1], v, col[2], dim))
        return tg_fail(g, "tg_attention_decode: q, k, v sharing a tensor must read equal or disjoint columns (%d, %d, %d, width %d)",
                       col[0], col[1], col[2], dim);
    if (lengths && (lengths->dtype != TG_I32 || lengths->numel != (size_t)B))
        return tg_fail(g, "tg_attention_decode: lengths '%s' must be int32 [B] = [%d], got %s",
                       lengths->name, B, tg_shape_str(lengths, s1, 64));
    if (a->pos && (!a->causal || a->pos->dtype != TG_I32 || a->pos->numel != 1))
        return tg_fail(g, "tg_attention_decode: pos '%s' must be an int32 [1] of a causal attention",
                       a->pos->name);
    if (a->dropout != 0 && !tg_graph_inference(g))
        return tg_fail(g, "tg_attention_decode: no dropout (got %g) outside an inference graph; use tg_attention",
                       a->dropout);
    float scale = a->scale ? a->scale : 1.0f / sqrtf((float)(dim / nh));
    if (!isfinite(scale))
        return tg_fail(g, "tg_attention_decode: scale must be finite, got %g", scale);
    tg_tensor *src[5] = {q, k, v};
    int nsrc = 3, len_at = -1, pos_at = -1;
    if (lengths)
        len_at = nsrc, src[nsrc++] = lengths;
    if (a->pos)
        pos_at = nsrc, src[nsrc++] = a->pos;
    int shape[3] = {B, Tq, dim};
    tg_tensor *t = tg_node(g, TG_OP_ATTENTION_DECODE, TG_F32, 3, shape, nsrc, src);
    if (t) {
        t->ip[0] = nh, t->ip[1] = a->causal != 0;
        t->ip[2] = col[0], t->ip[3] = col[1], t->ip[4] = col[2];
        t->ip[5] = len_at, t->ip[6] = pos_at;
        t->fp[0] = scale;
        t->aux_bytes = sizeof(int64_t) + (size_t)B * nh * Tq * sizeof(tg_real);
    }
    return t;
}

static tg_real *lse_of(const tg_tensor *out) { return (tg_real *)((int64_t *)out->aux + 1); }

static ad_dims dims_of(const tg_tensor *out)
{
    ad_dims d;
    d.B = out->shape[0], d.Tq = out->shape[1], d.dim = out->shape[2];
    d.Tk = out->src[1]->shape[1];
    d.nh = out->ip[0], d.hd = d.dim / d.nh, d.causal = out->ip[1];
    for (int i = 0; i < 3; i++)
        d.ld[i] = out->src[i]->shape[2], d.col[i] = out->ip[2 + i];
    d.len = out->ip[5] >= 0 ? tg_i32(out->src[out->ip[5]]) : NULL;
    d.scale = out->fp[0];
    d.pos = (int)*(const int64_t *)out->aux;
    return d;
}

/* Keys query i of batch row b sees: 0..n-1. */
static int visible(const ad_dims *d, int b, int i)
{
    int n = d->causal ? d->pos + i + 1 : d->Tk;
    if (n > d->Tk)
        n = d->Tk;
    if (d->len && d->len[b] < n)
        n = d->len[b] < 0 ? 0 : d->len[b];
    return n;
}

/* Offsets of head h of batch row b in q, k, v and the output. */
static void head_offsets(const ad_dims *d, int b, int h, size_t off[4])
{
    for (int i = 0; i < 3; i++)
        off[i] = (size_t)b * (i ? d->Tk : d->Tq) * d->ld[i] + d->col[i] + (size_t)h * d->hd;
    off[3] = (size_t)b * d->Tq * d->dim + (size_t)h * d->hd;
}

static void head_forward(const ad_dims *d, const tg_kern *kn, const tg_tensor *out, int b, int h)
{
    size_t off[4];
    head_offsets(d, b, h, off);
    const tg_real *k = tg_f32(out->src[1]) + off[1], *v = tg_f32(out->src[2]) + off[2];
    tg_real *lse = lse_of(out) + ((size_t)b * d->nh + h) * d->Tq, s[BD];
    int hd = d->hd;
    for (int i = 0; i < d->Tq; i++) {
        const tg_real *q = tg_f32(out->src[0]) + off[0] + (size_t)i * d->ld[0];
        tg_real *o = tg_f32(out) + off[3] + (size_t)i * d->dim;
        int n = visible(d, b, i);
        tg_real m = -INFINITY, l = 0;
        memset(o, 0, hd * sizeof *o);
        for (int j0 = 0; j0 < n; j0 += BD) {
            int nk = n - j0 < BD ? n - j0 : BD;
            kn->rowdots(s, q, k + (size_t)j0 * d->ld[1], d->ld[1], nk, hd, d->scale);
            tg_real mx = m;
            for (int c = 0; c < nk; c++)
                mx = s[c] > mx ? s[c] : mx;
            if (mx == -INFINITY) /* every score -inf: nothing to add */
                continue;
            for (int c = 0; c < nk; c++)
                s[c] -= mx;
#ifdef TG_REAL_DOUBLE /* the vector exp is float */
            for (int c = 0; c < nk; c++)
                s[c] = TG_EXP(s[c]);
#else
            kn->exp(s, s, nk); /* the level's vector exp (libm at scalar) */
#endif
            tg_real sum = 0, alpha = TG_EXP(m - mx); /* 0 when m was -inf */
            for (int c = 0; c < nk; c++)
                sum += s[c];
            if (alpha != 1.0f)
                for (int c = 0; c < hd; c++)
                    o[c] *= alpha;
            l = l * alpha + sum;
            m = mx;
            kn->rowaxpy(o, s, v + (size_t)j0 * d->ld[2], d->ld[2], nk, hd);
        }
        tg_real inv = l > 0 ? 1.0f / l : 0.0f;
        for (int c = 0; c < hd; c++)
            o[c] *= inv;
        lse[i] = l > 0 ? m + TG_LOG(l) : -INFINITY;
    }
}

static int decode_forward(tg_tensor *out)
{
    int Tq = out->shape[1], Tk = out->src[1]->shape[1], pos = Tk - Tq;
    if (out->ip[6] >= 0) {
        const tg_tensor *P = out->src[out->ip[6]];
        pos = tg_i32(P)[0];
        if (pos < 0 || pos > Tk - Tq)
            return tg_error(TG_ERR_ARG, "tg_attention_decode: pos '%s' is %d; with %d queries and %d keys it must be in 0..%d",
                            P->name, pos, Tq, Tk, Tk - Tq);
    }
    *(int64_t *)out->aux = pos;
    ad_dims d = dims_of(out);
    const tg_kern *kn = tg_kern_get();
    int n = d.B * d.nh;
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < n; bh++)
        head_forward(&d, kn, out, bh / d.nh, bh % d.nh);
    return TG_OK;
}

/* dot product of n floats, in tg_real as the scalar forward */
static tg_real dot(const tg_real *a, const tg_real *b, int n)
{
    tg_real s = 0;
    for (int x = 0; x < n; x++)
        s += a[x] * b[x];
    return s;
}

/* Per query: p_j = exp(scale q.k_j - lse), D = dO.o, dS_j = p_j (dO.v_j -
 * D); dV_j += p_j dO, dQ += scale dS_j k_j, dK_j += scale dS_j q. */
static void head_backward(const ad_dims *d, const tg_tensor *out, int b, int h)
{
    const tg_tensor *Q = out->src[0], *K = out->src[1], *V = out->src[2];
    size_t off[4];
    head_offsets(d, b, h, off);
    const tg_real *k = tg_f32(K) + off[1], *v = tg_f32(V) + off[2];
    tg_real *dk = K->grad ? K->grad + off[1] : NULL, *dv = V->grad ? V->grad + off[2] : NULL;
    const tg_real *lse = lse_of(out) + ((size_t)b * d->nh + h) * d->Tq;
    int hd = d->hd;
    for (int i = 0; i < d->Tq; i++) {
        size_t qi = off[0] + (size_t)i * d->ld[0], oi = off[3] + (size_t)i * d->dim;
        const tg_real *q = tg_f32(Q) + qi, *o = tg_f32(out) + oi, *dO = out->grad + oi;
        tg_real *dq = Q->grad ? Q->grad + qi : NULL;
        int n = visible(d, b, i);
        if (n <= 0 || lse[i] == -INFINITY)
            continue;
        tg_real D = dot(dO, o, hd);
        for (int j = 0; j < n; j++) {
            const tg_real *kj = k + (size_t)j * d->ld[1], *vj = v + (size_t)j * d->ld[2];
            tg_real p = TG_EXP(d->scale * dot(q, kj, hd) - lse[i]);
            tg_real ds = d->scale * p * (dot(dO, vj, hd) - D);
            if (dv)
                for (int x = 0; x < hd; x++)
                    dv[(size_t)j * d->ld[2] + x] += p * dO[x];
            if (dk)
                for (int x = 0; x < hd; x++)
                    dk[(size_t)j * d->ld[1] + x] += ds * q[x];
            if (dq)
                for (int x = 0; x < hd; x++)
                    dq[x] += ds * kj[x];
        }
    }
}

static void decode_backward(tg_tensor *out)
{
    ad_dims d = dims_of(out);
    int n = d.B * d.nh;
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < n; bh++)
        head_backward(&d, out, bh / d.nh, bh % d.nh);
}

const tg_opdef tg_op_attention_decode = {"tg_attention_decode", decode_forward, decode_backward,
                                         TG_KEEP_SRC(0) | TG_KEEP_SRC(1) | TG_KEEP_SRC(2) |
                                             TG_KEEP_SRC(3) | TG_KEEP_SRC(4) | TG_KEEP_OUT,
                                         0};
