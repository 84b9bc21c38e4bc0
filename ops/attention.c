/* attention: fused multi-head scaled dot-product attention, flash-style.
 *
 * Every (batch, head) pair is one task of the OpenMP pool. Forward walks
 * query tiles and, inside, key tiles: a GEMM gives the tile's scores
 * straight from the strided head columns of q and k, an online softmax
 * keeps a running max m and sum l per query, and the output is rescaled
 * and accumulated in place by a second GEMM; only lse = m + log l per
 * query is saved. Backward (FlashAttention-2 order: key tiles outside,
 * query tiles inside) recomputes each tile's probabilities from lse, so
 * dK, dV of a key tile and dQ accumulate straight into the gradients;
 * D_i = dO_i . O_i replaces the row sums of dP * P (it holds with dropout
 * too). A head's gradient columns are written by its own task only.
 *
 * In a bf16 graph (tg_graph_set_precision) the five products take bf16
 * operands with fp32 accumulation, as PyTorch autocast runs them: q, k, v
 * and dO are converted once per pass, each tile's probabilities and dS
 * before their products; the online softmax, lse and D stay fp32.
 *
 * ip: [0] heads, [1] causal, [2..4] first column of q, k, v, [5] src index
 * of the key mask or -1, [6] src index of pos or -1. fp: [0] scale,
 * [1] dropout p. aux: the dropout key and pos of the last forward pass
 * (two uint64), then lse and D, [B, heads, Tq] each. */
#include "tg_internal.h"

#include <math.h>
#include <string.h>

/* glibc's libmvec vector expf (as ops/unary.c): the tile loops below run
 * 4-16 exponentials per call. */
#pragma omp declare simd notinbranch
extern float expf(float);

/* Tile sizes: the scores of a tile take 128 KB on the stack (two tiles in
 * backward). 130 queries run as 65 + 65, up to 256 keys as one tile;
 * measured with bench/bench_attention against 64 x 64 and 128 x 128. */
#define BQ 128 /* queries per tile */
#define BK 256 /* keys per tile */

typedef struct {
    int B, Tq, Tk, nh, hd, dim, causal, pos, drop;
    int ld[3], col[3]; /* row stride and first column of q, k, v */
    tg_real scale, keep_scale;
    uint64_t key, thr;
    const int32_t *mask;
    const tg_bf16 *hq, *hk, *hv, *hdo; /* bf16 copies (same layout), or NULL: fp32 */
} at_dims;

static const tg_tensor *storage_of(const tg_tensor *t)
{
    while (t->flags & TG_FLAG_VIEW)
        t = t->src[0];
    return t;
}

/* Inputs sharing storage must read equal or disjoint column ranges, so
 * that no two heads' tasks add into the same gradient columns. */
static int ranges_ok(const tg_tensor *x, int cx, const tg_tensor *y, int cy, int dim)
{
    if (storage_of(x) != storage_of(y))
        return 1;
    if (x->shape[2] != y->shape[2])
        return 0;
    return cx == cy || cx + dim <= cy || cy + dim <= cx;
}

tg_tensor *tg_attention(tg_graph *g, tg_tensor *q, tg_tensor *k, tg_tensor *v,
                        tg_tensor *key_mask, const tg_attn_args *a)
{
    tg_tensor *in[3] = {q, k, v};
    g = g ? g : tg_graph_of(3, in);
    if (!g && key_mask)
        g = key_mask->graph;
    if (!a)
        return tg_fail(g, "tg_attention: arguments (tg_attn_args) are NULL");
    if (!q || !k || !v)
        return tg_node(g, TG_OP_ATTENTION, TG_F32, 0, NULL, 3, in);
    char s1[64], s2[64], s3[64];
    const tg_tensor *qkv[3] = {q, k, v};
    for (int i = 0; i < 3; i++)
        if (qkv[i]->dtype != TG_F32 || qkv[i]->ndim != 3)
            return tg_fail(g, "tg_attention: %c '%s' must be float32 [B, T, width], got %s",
                           "qkv"[i], qkv[i]->name, tg_shape_str(qkv[i], s1, 64));
    int B = q->shape[0], Tq = q->shape[1], Tk = k->shape[1], nh = a->heads;
    if (k->shape[0] != B || v->shape[0] != B || v->shape[1] != Tk)
        return tg_fail(g, "tg_attention: q [B, Tq, .], k and v [B, Tk, .] must agree: q is %s, k is %s, v is %s",
                       tg_shape_str(q, s1, 64), tg_shape_str(k, s2, 64), tg_shape_str(v, s3, 64));
    int col[3] = {a->q_col, a->k_col, a->v_col};
    int dim = a->dim ? a->dim : q->shape[2] - a->q_col;
    if (nh < 1 || dim < 1 || dim % nh)
        return tg_fail(g, "tg_attention: width %d must be a positive multiple of heads %d", dim, nh);
    for (int i = 0; i < 3; i++)
        if (col[i] < 0 || col[i] + dim > qkv[i]->shape[2])
            return tg_fail(g, "tg_attention: %c columns %d..%d outside '%s' %s", "qkv"[i], col[i],
                           col[i] + dim, qkv[i]->name, tg_shape_str(qkv[i], s1, 64));
    if (!ranges_ok(q, col[0], k, col[1], dim) || !ranges_ok(q, col[0], v, col[2], dim) ||
        !ranges_ok(k, col[1], v, col[2], dim))
        return tg_fail(g, "tg_attention: q, k, v sharing a tensor must read equal or disjoint columns (%d, %d, %d, width %d)",
                       col[0], col[1], col[2], dim);
    if (key_mask && (key_mask->dtype != TG_I32 || key_mask->ndim != 2 ||
                     key_mask->shape[0] != B || key_mask->shape[1] != Tk))
        return tg_fail(g, "tg_attention: key mask '%s' must be int32 [B, Tk] = [%d, %d], got %s",
                       key_mask->name, B, Tk, tg_shape_str(key_mask, s1, 64));
    if (a->pos && (!a->causal || a->pos->dtype != TG_I32 || a->pos->numel != 1))
        return tg_fail(g, "tg_attention: pos '%s' must be an int32 [1] of a causal attention",
                       a->pos->name);
    if (!(a->dropout >= 0 && a->dropout < 1))
        return tg_fail(g, "tg_attention: dropout must be in [0, 1), got %g", a->dropout);
    float scale = a->scale ? a->scale : 1.0f / sqrtf((float)(dim / nh));
    if (!isfinite(scale))
        return tg_fail(g, "tg_attention: scale must be finite, got %g", scale);
    tg_tensor *src[5] = {q, k, v};
    int nsrc = 3, mask_at = -1, pos_at = -1;
    if (key_mask)
        mask_at = nsrc, src[nsrc++] = key_mask;
    if (a->pos)
        pos_at = nsrc, src[nsrc++] = a->pos;
    int shape[3] = {B, Tq, dim};
    tg_tensor *t = tg_node(g, TG_OP_ATTENTION, TG_F32, 3, shape, nsrc, src);
    if (t) {
        t->ip[0] = nh, t->ip[1] = a->causal != 0;
        t->ip[2] = col[0], t->ip[3] = col[1], t->ip[4] = col[2];
        t->ip[5] = mask_at, t->ip[6] = pos_at;
        t->fp[0] = scale, t->fp[1] = tg_graph_inference(g) ? 0.0f : a->dropout;
        t->aux_bytes = 2 * sizeof(uint64_t) + 2 * (size_t)B * nh * Tq * sizeof(tg_real);
    }
    return t;
}

static at_dims dims_of(const tg_tensor *out)
{
    at_dims d;
    d.B = out->shape[0], d.Tq = out->shape[1], d.dim = out->shape[2];
    d.Tk = out->src[1]->shape[1];
    d.nh = out->ip[0], d.hd = d.dim / d.nh, d.causal = out->ip[1];
    for (int i = 0; i < 3; i++)
        d.ld[i] = out->src[i]->shape[2], d.col[i] = out->ip[2 + i];
    d.mask = out->ip[5] >= 0 ? tg_i32(out->src[out->ip[5]]) : NULL;
    d.scale = out->fp[0];
    d.drop = out->graph->training && out->fp[1] > 0;
    d.keep_scale = 1.0f / (1.0f - out->fp[1]);
    d.thr = tg_drop_threshold(out->fp[1]);
    const uint64_t *saved = out->aux;
    d.key = saved[0];
    d.pos = (int)saved[1];
    d.hq = d.hk = d.hv = d.hdo = NULL;
    return d;
}

/* Converts q, k, v (and dO when backward) to bf16 once, sharing the copy
 * where they share storage; leaves d fp32 when the graph is not bf16 or a
 * conversion fails. */
static void bf16_inputs(at_dims *d, const tg_tensor *out, int backward)
{
    if (!tg_bf16_on(out))
        return;
    const tg_bf16 *h[4] = {NULL};
    for (int i = 0; i < 3; i++) {
        const tg_tensor *t = out->src[i];
        for (int j = 0; j < i && !h[i]; j++)
            if (out->src[j]->data == t->data && out->src[j]->numel == t->numel)
                h[i] = h[j];
        if (!h[i])
            h[i] = tg_bf16_operand(t, tg_f32(t), t->numel, i);
        if (!h[i])
            return;
    }
    if (backward && !(h[3] = tg_bf16_operand(out, out->grad, out->numel, 3)))
        return;
    d->hq = h[0], d->hk = h[1], d->hv = h[2], d->hdo = h[3];
}

/* One tile product C = alpha op(A) op(B) + beta C: in bf16 when both bf16
 * operands are given (and oneDNN runs it), else fp32. */
static void tile_gemm(int ta, int tb, int m, int n, int k, tg_real alpha, const tg_real *a,
                      const tg_bf16 *ah, int lda, const tg_real *b, const tg_bf16 *bh, int ldb,
                      tg_real beta, tg_real *c, int ldc)
{
    if (ah && bh &&
        tg_dnnl_gemm_bf16(1, ta, tb, m, n, k, alpha, ah, lda, 0, bh, ldb, 0, beta, c, ldc, 0) ==
            TG_OK)
        return;
    tg_dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* The bf16 copy of a tile's rows x cols scores (row stride BK) into h, or
 * NULL when the pass is fp32. */
static const tg_bf16 *tile_bf16(const at_dims *d, const tg_real *s, int rows, int cols, tg_bf16 *h)
{
    if (!d->hq)
        return NULL;
    for (int r = 0; r < rows; r++)
        tg_f32_to_bf16(h + (size_t)r * BK, s + (size_t)r * BK, cols);
    return h;
}

static tg_real *lse_of(const tg_tensor *out) { return (tg_real *)((uint64_t *)out->aux + 2); }

/* Tile length for n items in tiles of at most bmax, balanced (130 keys in
 * tiles of 64 -> 44, 44, 42). */
static int tile_step(int n, int bmax)
{
    int nt = (n + bmax - 1) / bmax;
    return nt ? (n + nt - 1) / nt : 1;
}

/* Number of keys of the tile starting at j0 that query i can see by the
 * causal rule (all nk when not causal). */
static int visible_len(const at_dims *d, int i, int j0, int nk)
{
    if (!d->causal)
        return nk;
    int n = i + d->pos + 1 - j0;
    return n < 0 ? 0 : n > nk ? nk : n;
}

/* kb[c] = 0 for a key of the tile the mask keeps, -inf for padding;
 * returns 0 when the whole tile is padding. */
static int tile_bias(const int32_t *mk, int j0, int nk, tg_real *kb)
{
    int any = !mk;
    for (int c = 0; c < nk; c++) {
        kb[c] = !mk || mk[j0 + c] ? 0.0f : -INFINITY;
        any |= !mk || mk[j0 + c];
    }
    return any;
}

/* Row r's scores s[0..nk) of a tile: padding keys and keys past the
 * causal limit jm become -inf; returns the row max (-inf: none visible). */
static tg_real mask_row(tg_real *s, const tg_real *kb, int jm, int nk)
{
    tg_real mx = -INFINITY;
    for (int c = 0; c < jm; c++)
        s[c] += kb[c];
    for (int c = jm; c < nk; c++)
        s[c] = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int c = 0; c < nk; c++)
        mx = s[c] > mx ? s[c] : mx;
    return mx;
}

/* Index of element (b, h, i, j) of the [B, heads, Tq, Tk] probabilities:
 * its position in the dropout stream. */
static uint64_t prob_index(const at_dims *d, int b, int h, int i, int j)
{
    return (((uint64_t)b * d->nh + h) * d->Tq + i) * d->Tk + j;
}

static void head_forward(const at_dims *d, const tg_tensor *out, int b, int h)
{
    const tg_real *q = tg_f32(out->src[0]) + (size_t)b * d->Tq * d->ld[0] + d->col[0] + h * d->hd;
    const tg_real *k = tg_f32(out->src[1]) + (size_t)b * d->Tk * d->ld[1] + d->col[1] + h * d->hd;
    const tg_real *v = tg_f32(out->src[2]) + (size_t)b * d->Tk * d->ld[2] + d->col[2] + h * d->hd;
    size_t off[3];
    for (int i = 0; i < 3; i++)
        off[i] = (size_t)b * (i ? d->Tk : d->Tq) * d->ld[i] + d->col[i] + h * d->hd;
    const tg_bf16 *hq = d->hq ? d->hq + off[0] : NULL, *hk = d->hq ? d->hk + off[1] : NULL;
    const tg_bf16 *hv = d->hq ? d->hv + off[2] : NULL;
    tg_bf16 Sh[BQ * BK];
    tg_real *o = tg_f32(out) + (size_t)b * d->Tq * d->dim + h * d->hd;
    tg_real *lse = lse_of(out) + ((size_t)b * d->nh + h) * d->Tq;
    const int32_t *mk = d->mask ? d->mask + (size_t)b * d->Tk : NULL;
    int hd = d->hd, qstep = tile_step(d->Tq, BQ);
    tg_real S[BQ * BK], m[BQ], l[BQ], kb[BK];
    for (int i0 = 0; i0 < d->Tq; i0 += qstep) {
        int nq = i0 + qstep <= d->Tq ? qstep : d->Tq - i0;
        int kend = d->causal ? i0 + nq + d->pos : d->Tk; /* keys any row of the tile sees */
        if (kend > d->Tk)
            kend = d->Tk;
        for (int r = 0; r < nq; r++) {
            m[r] = -INFINITY, l[r] = 0;
            memset(o + (size_t)(i0 + r) * d->dim, 0, hd * sizeof(tg_real));
        }
        int kstep = kend > 0 ? tile_step(kend, BK) : 1;
        for (int j0 = 0; j0 < kend; j0 += kstep) {
            int nk = j0 + kstep <= kend ? kstep : kend - j0;
            if (!tile_bias(mk, j0, nk, kb))
                continue;
            tile_gemm(0, 1, nq, nk, hd, d->scale, q + (size_t)i0 * d->ld[0],
                      hq ? hq + (size_t)i0 * d->ld[0] : NULL, d->ld[0], k + (size_t)j0 * d->ld[1],
                      hk ? hk + (size_t)j0 * d->ld[1] : NULL, d->ld[1], 0, S, BK);
            for (int r = 0; r < nq; r++) {
                tg_real *s = S + r * BK;
                int i = i0 + r;
                tg_real mx = mask_row(s, kb, visible_len(d, i, j0, nk), nk);
                if (mx < m[r])
                    mx = m[r];
                if (mx == -INFINITY) { /* nothing visible yet: this tile adds 0 */
                    memset(s, 0, nk * sizeof(tg_real));
                    continue;
                }
                tg_real sum = 0;
#pragma omp simd reduction(+ : sum)
                for (int c = 0; c < nk; c++) {
                    tg_real p = TG_EXP(s[c] - mx); /* 0 for masked keys */
                    sum += p;
                    s[c] = p;
                }
                if (d->drop) {
                    uint64_t base = prob_index(d, b, h, i, j0);
                    for (int c = 0; c < nk; c++)
                        s[c] = tg_dropped(d->key, base + c, d->thr) ? 0.0f : s[c] * d->keep_scale;
                }
                tg_real alpha = TG_EXP(m[r] - mx); /* 0 when m was -inf */
                l[r] = l[r] * alpha + sum;
                m[r] = mx;
                if (alpha != 1.0f) {
                    tg_real *orow = o + (size_t)i * d->dim;
                    for (int c = 0; c < hd; c++)
                        orow[c] *= alpha;
                }
            }
            tile_gemm(0, 0, nq, hd, nk, 1, S, tile_bf16(d, S, nq, nk, Sh), BK,
                      v + (size_t)j0 * d->ld[2], hv ? hv + (size_t)j0 * d->ld[2] : NULL, d->ld[2],
                      1, o + (size_t)i0 * d->dim, d->dim);
        }
        for (int r = 0; r < nq; r++) {
            tg_real *orow = o + (size_t)(i0 + r) * d->dim, inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;
            for (int c = 0; c < hd; c++)
                orow[c] *= inv;
            lse[i0 + r] = l[r] > 0 ? m[r] + TG_LOG(l[r]) : -INFINITY;
        }
    }
}

static int attention_forward(tg_tensor *out)
{
    uint64_t *saved = out->aux;
    int Tq = out->shape[1], Tk = out->src[1]->shape[1], pos = Tk - Tq;
    if (out->ip[6] >= 0) {
        const tg_tensor *P = out->src[out->ip[6]];
        pos = tg_i32(P)[0];
        if (pos < 0 || pos > Tk - Tq)
            return tg_error(TG_ERR_ARG, "tg_attention: pos '%s' is %d; with %d queries and %d keys it must be in 0..%d",
                            P->name, pos, Tq, Tk, Tk - Tq);
    }
    saved[0] = tg_drop_key(out);
    saved[1] = (uint64_t)(int64_t)pos;
    at_dims d = dims_of(out);
    bf16_inputs(&d, out, 0);
    int n = d.B * d.nh;
#pragma omp parallel for schedule(dynamic)
    for (int bh = 0; bh < n; bh++)
        head_forward(&d, out, bh / d.nh, bh % d.nh);
    return TG_OK;
}

static void head_backward(const at_dims *d, const tg_tensor *out, int b, int h)
{
    const tg_tensor *Q = out->src[0], *K = out->src[1], *V = out->src[2];
    size_t oq = (size_t)b * d->Tq * d->ld[0] + d->col[0] + h * d->hd;
    size_t ok = (size_t)b * d->Tk * d->ld[1] + d->col[1] + h * d->hd;
    size_t ov = (size_t)b * d->Tk * d->ld[2] + d->col[2] + h * d->hd;
    size_t oo = (size_t)b * d->Tq * d->dim + h * d->hd;
    const tg_real *q = tg_f32(Q) + oq, *k = tg_f32(K) + ok, *v = tg_f32(V) + ov;
    const tg_real *o = tg_f32(out) + oo, *dO = out->grad + oo;
    const tg_bf16 *hq = d->hq ? d->hq + oq : NULL, *hk = d->hq ? d->hk + ok : NULL;
    const tg_bf16 *hv = d->hq ? d->hv + ov : NULL, *hdo = d->hq ? d->hdo + oo : NULL;
    tg_bf16 Ph[BQ * BK], dSh[BQ * BK];
    tg_real *dq = Q->grad ? Q->grad + oq : NULL, *dk = K->grad ? K->grad + ok : NULL;
    tg_real *dv = V->grad ? V->grad + ov : NULL;
    const tg_real *lse = lse_of(out) + ((size_t)b * d->nh + h) * d->Tq;
    tg_real *D = lse_of(out) + (size_t)d->B * d->nh * d->Tq + ((size_t)b * d->nh + h) * d->Tq;
    const int32_t *mk = d->mask ? d->mask + (size_t)b * d->Tk : NULL;
    int hd = d->hd, ldq = d->ld[0], ldk = d->ld[1], ldv = d->ld[2];
    for (int i = 0; i < d->Tq; i++) {
        const tg_real *a = dO + (size_t)i * d->dim, *c = o + (size_t)i * d->dim;
        tg_real s = 0;
        for (int x = 0; x < hd; x++)
            s += a[x] * c[x];
        D[i] = s;
    }
    int kend = d->causal ? d->Tq + d->pos : d->Tk;
    if (kend > d->Tk)
        kend = d->Tk;
    int kstep = kend > 0 ? tile_step(kend, BK) : 1, qstep = tile_step(d->Tq, BQ);
    tg_real P[BQ * BK], dS[BQ * BK], kb[BK];
    for (int j0 = 0; j0 < kend; j0 += kstep) {
        int nk = j0 + kstep <= kend ? kstep : kend - j0;
        if (!tile_bias(mk, j0, nk, kb))
            continue;
        int istart = d->causal && j0 - d->pos > 0 ? j0 - d->pos : 0; /* first query seeing j0 */
        for (int i0 = istart; i0 < d->Tq; i0 += qstep) {
            int nq = i0 + qstep <= d->Tq ? qstep : d->Tq - i0;
            tile_gemm(0, 1, nq, nk, hd, d->scale, q + (size_t)i0 * ldq,
                      hq ? hq + (size_t)i0 * ldq : NULL, ldq, k + (size_t)j0 * ldk,
                      hk ? hk + (size_t)j0 * ldk : NULL, ldk, 0, P, BK);
            tile_gemm(0, 1, nq, nk, hd, 1, dO + (size_t)i0 * d->dim,
                      hdo ? hdo + (size_t)i0 * d->dim : NULL, d->dim, v + (size_t)j0 * ldv,
                      hv ? hv + (size_t)j0 * ldv : NULL, ldv, 0, dS, BK);
            for (int r = 0; r < nq; r++) {
                int i = i0 + r;
                tg_real *p = P + r * BK, *ds = dS + r * BK, L = lse[i], Di = D[i];
                if (L == -INFINITY) { /* the query sees no key: no gradient */
                    memset(p, 0, nk * sizeof(tg_real));
                    memset(ds, 0, nk * sizeof(tg_real));
                    continue;
                }
                mask_row(p, kb, visible_len(d, i, j0, nk), nk);
                if (!d->drop) {
#pragma omp simd
                    for (int c = 0; c < nk; c++) {
                        tg_real pc = TG_EXP(p[c] - L); /* 0 for masked keys */
                        p[c] = pc;
                        ds[c] = pc * (ds[c] - Di);
                    }
                    continue;
                }
                uint64_t base = prob_index(d, b, h, i, j0);
#pragma omp simd
                for (int c = 0; c < nk; c++)
                    p[c] = TG_EXP(p[c] - L);
                for (int c = 0; c < nk; c++) {
                    /* ds holds the gradient of the dropped-out probability */
                    tg_real pc = p[c],
                            ks = tg_dropped(d->key, base + c, d->thr) ? 0.0f : d->keep_scale;
                    p[c] = pc * ks;
                    ds[c] = pc * (ds[c] * ks - Di);
                }
            }
            const tg_bf16 *ph = dv ? tile_bf16(d, P, nq, nk, Ph) : NULL;
            const tg_bf16 *dsh = dq || dk ? tile_bf16(d, dS, nq, nk, dSh) : NULL;
            if (dv) /* dV_j += P~^T dO_i */
                tile_gemm(1, 0, nk, hd, nq, 1, P, ph, BK, dO + (size_t)i0 * d->dim,
                          hdo ? hdo + (size_t)i0 * d->dim : NULL, d->dim, 1,
                          dv + (size_t)j0 * ldv, ldv);
            if (dq) /* dQ_i += scale dS K_j */
                tile_gemm(0, 0, nq, hd, nk, d->scale, dS, dsh, BK, k + (size_t)j0 * ldk,
                          hk ? hk + (size_t)j0 * ldk : NULL, ldk, 1, dq + (size_t)i0 * ldq, ldq);
            if (dk) /* dK_j += scale dS^T Q_i */
                tile_gemm(1, 0, nk, hd, nq, d->scale, dS, dsh, BK, q + (size_t)i0 * ldq,
                          hq ? hq + (size_t)i0 * ldq : NULL, ldq, 1, dk + (size_t)j0 * ldk, ldk);
        }
    }
}

static void attention_backward(tg_tensor *out)
{
    at_dims d = dims_of(out);
    bf16_inputs(&d, out, 1);
    int n = d.B * d.nh;
#pragma omp parallel for schedule(dynamic)
    for (int bh = 0; bh < n; bh++)
        head_backward(&d, out, bh / d.nh, bh % d.nh);
}

const tg_opdef tg_op_attention = {"tg_attention", attention_forward, attention_backward,
                                  TG_KEEP_SRC(0) | TG_KEEP_SRC(1) | TG_KEEP_SRC(2) |
                                      TG_KEEP_SRC(3) | TG_KEEP_OUT,
                                  0};
