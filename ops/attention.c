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
 * operands with fp32 accumulation, as PyTorch autocast runs them: each
 * task converts its head's q, k, v (and dO in backward) into dense
 * [T, head_dim] blocks, each tile's probabilities and dS before their
 * products; the online softmax, lse and D stay fp32. In a training graph
 * the plan keeps q, k, v and the output for backward only as bf16 copies
 * (TG_KEEP_BF16, TG_KEEP_OUT_BF16; graph/plan.c): forward makes each
 * input's whole-tensor copy once and the heads copy their blocks from it,
 * and backward takes D from the output's copy. Dense operands are
 * what oneDNN 2.6 runs on brgemm (AMX where the CPU has it): with the
 * heads' strided columns it chose its AVX-512 gemm instead. Tiles are
 * stored dense (row stride = the tile's key count) for the same reason.
 *
 * ip: [0] heads, [1] causal, [2..4] first column of q, k, v, [5] src index
 * of the key mask or -1, [6] src index of pos or -1. fp: [0] scale,
 * [1] dropout p. aux: the dropout key and pos of the last forward pass
 * (two uint64), then lse and D, [B, heads, Tq] each. */
#include "kern.h"
#include "tg_internal.h"

#include <math.h>
#include <string.h>

/* Tile sizes: the scores of a tile take 160 KB on the stack (two tiles and
 * their bf16 copies, 480 KB, in backward). Up to 160 queries and 256 keys
 * are one tile (130 tokens: two products per head forward, five backward,
 * each one oneDNN call; with 128 queries per tile they ran as 65 + 65,
 * twice the calls); 512 run as 4 x 128 queries and 2 x 256 keys. 128 x 256
 * measured faster than 64 x 64 and 128 x 128 with bench/bench_attention.
 * The exponentials and dropout of a tile row run the CPU level's kernels
 * (kern.h: the vector exp, within 2e-7 relative of libm's; dropout's hash
 * stream, the same bits at every level). */
#define BQ 160 /* queries per tile */
#define BK 256 /* keys per tile */

/* s[c] = exp(s[c]) for a tile row: the level's vector exp (float op data;
 * libm's exp in the double test build, whose kernels have no vector math). */
static void row_exp(const tg_kern *kn, tg_real *s, int n)
{
#ifdef TG_REAL_DOUBLE
    (void)kn;
    for (int c = 0; c < n; c++)
        s[c] = TG_EXP(s[c]);
#else
    kn->exp(s, s, (size_t)n);
#endif
}

typedef struct {
    int B, Tq, Tk, nh, hd, dim, causal, pos, drop;
    int ld[3], col[3]; /* row stride and first column of q, k, v */
    tg_real scale, keep_scale;
    uint64_t key, thr;
    const int32_t *mask;
    int bf; /* products in bf16 (the graph's precision, and this machine can) */
    /* bf16 copies of the whole q, k, v tensors and of the output (same
     * layout) where the plan keeps only those (TG_FLAG_BF16_SAVED), else
     * NULL (the output's: backward only) */
    const tg_bf16 *saved[3], *osaved;
    int fresh[3]; /* backward: q, k, v's gradients claimed (written, not added to) */
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
    d.bf = tg_bf16_on(out);
    d.fresh[0] = d.fresh[1] = d.fresh[2] = 0;
    d.saved[0] = d.saved[1] = d.saved[2] = d.osaved = NULL;
    return d;
}

/* The bf16 copies of q, k, v that the plan keeps instead of their float32
 * values (made in forward, looked up in backward; called outside the
 * parallel loop). 0 when one is missing: recorded as lost (tg_forward or
 * tg_backward then fails naming it). */
static int saved_copies(const tg_tensor *out, at_dims *d)
{
    for (int i = 0; d->bf && i < 3; i++) {
        const tg_tensor *t = out->src[i];
        if (tg_bf16_saved(t) && !(d->saved[i] = tg_bf16_operand(t, tg_f32(t), t->numel, 0)))
            return 0;
    }
    return 1;
}

/* D[i] = dO_i . O_i over a head's hd columns, O from its bf16 copy oh
 * where the plan kept only that (same offsets as o). */
static void head_D(tg_real *D, const tg_real *dO, const tg_real *o, const tg_bf16 *oh, int rows,
                   int hd, int ld)
{
    for (int i = 0; i < rows; i++) {
        const tg_real *a = dO + (size_t)i * ld;
        tg_real s = 0;
        if (oh) {
            const tg_bf16 *c = oh + (size_t)i * ld;
#pragma omp simd reduction(+ : s)
            for (int x = 0; x < hd; x++) {
                uint32_t u = (uint32_t)c[x] << 16;
                float f;
                memcpy(&f, &u, sizeof f);
                s += a[x] * f;
            }
        } else {
            const tg_real *c = o + (size_t)i * ld;
#pragma omp simd reduction(+ : s)
            for (int x = 0; x < hd; x++)
                s += a[x] * c[x];
        }
        D[i] = s;
    }
}

/* Per-thread buffer for a head's dense bf16 blocks, grown to n elements;
 * NULL when out of memory (the head then runs its products in fp32). */
static _Thread_local tg_bf16 *tl_heads;
static _Thread_local size_t tl_heads_cap;

static tg_bf16 *head_buffer(size_t n)
{
    if (n > tl_heads_cap) {
        tg_free(tl_heads);
        tl_heads = tg_malloc(n * sizeof(tg_bf16), "attention bf16 head blocks");
        tl_heads_cap = tl_heads ? n : 0;
    }
    return tl_heads;
}

/* dst[r hd + c] = bf16(src[r ld + c]) for r < rows, c < hd: one head's
 * columns of a [rows, ld] tensor as a dense bf16 block, converted from
 * src or, when the tensor's bf16 copy h is given, copied from it (same
 * offset `at` in both). */
static void head_bf16(tg_bf16 *dst, const tg_real *src, const tg_bf16 *h, size_t at, int rows,
                      int hd, int ld)
{
    for (int r = 0; r < rows; r++)
        if (h)
            memcpy(dst + (size_t)r * hd, h + at + (size_t)r * ld, hd * sizeof(tg_bf16));
        else
            tg_f32_to_bf16(dst + (size_t)r * hd, src + at + (size_t)r * ld, hd);
}

/* p + i, or NULL for a NULL p (an operand whose float32 values are gone). */
static const tg_real *at(const tg_real *p, size_t i) { return p ? p + i : NULL; }

/* One tile product C = alpha op(A) op(B) + beta C: on the bf16 copies ah
 * (leading dimension ldah) and bh when both are given (and oneDNN runs
 * it), else in fp32 on a, b. a or b is NULL when only its bf16 copy
 * exists (the plan reused its float32 buffer): then a failed bf16 product
 * returns -1, nothing written. 0 when done. */
static int tile_gemm(int ta, int tb, int m, int n, int k, tg_real alpha, const tg_real *a, int lda,
                     const tg_bf16 *ah, int ldah, const tg_real *b, int ldb, const tg_bf16 *bh,
                     int ldbh, tg_real beta, tg_real *c, int ldc)
{
    if (ah && bh &&
        tg_dnnl_gemm_bf16(1, ta, tb, m, n, k, alpha, ah, ldah, 0, bh, ldbh, 0, beta, c, ldc, 0) ==
            TG_OK)
        return 0;
    if (!a || !b)
        return -1;
    tg_dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return 0;
}

/* The bf16 copy of a dense tile of n scores into h, or NULL when the head
 * runs in fp32 (no bf16 blocks). */
static const tg_bf16 *tile_bf16(const tg_bf16 *blocks, const tg_real *s, size_t n, tg_bf16 *h)
{
    if (!blocks)
        return NULL;
    tg_f32_to_bf16(h, s, n);
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
 * returns 0 when the whole tile is padding, 2 when none of it is (kb is
 * then not needed), else 1. */
static int tile_bias(const int32_t *mk, int j0, int nk, tg_real *kb)
{
    int any = !mk, all = 1;
    for (int c = 0; c < nk; c++) {
        int keep = !mk || mk[j0 + c];
        kb[c] = keep ? 0.0f : -INFINITY;
        any |= keep, all &= keep;
    }
    return !any ? 0 : all ? 2 : 1;
}

/* Row r's scores s[0..nk) of a tile: padding keys (kb, NULL: none) and
 * keys past the causal limit jm become -inf; returns the row max (-inf:
 * none visible). */
static tg_real mask_row(tg_real *s, const tg_real *kb, int jm, int nk)
{
    tg_real mx = -INFINITY;
    for (int c = 0; kb && c < jm; c++)
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

/* ob: the output's bf16 copy to fill (tg_bf16_reserve: the next linear
 * layer's input), or NULL. */
static void head_forward(const at_dims *d, const tg_tensor *out, int b, int h, tg_bf16 *ob)
{
    const tg_kern *kn = tg_kern_get();
    size_t oq = (size_t)b * d->Tq * d->ld[0] + d->col[0] + h * d->hd;
    size_t ok = (size_t)b * d->Tk * d->ld[1] + d->col[1] + h * d->hd;
    size_t ov = (size_t)b * d->Tk * d->ld[2] + d->col[2] + h * d->hd;
    const tg_real *q = tg_f32(out->src[0]) + oq, *k = tg_f32(out->src[1]) + ok;
    const tg_real *v = tg_f32(out->src[2]) + ov;
    int hd = d->hd, qstep = tile_step(d->Tq, BQ);
    /* bf16: the head's q [Tq, hd], k and v [Tk, hd] as dense blocks */
    tg_bf16 *hq = d->bf ? head_buffer((size_t)(d->Tq + 2 * d->Tk) * hd) : NULL;
    tg_bf16 *hk = hq ? hq + (size_t)d->Tq * hd : NULL, *hv = hq ? hk + (size_t)d->Tk * hd : NULL;
    if (hq) {
        head_bf16(hq, tg_f32(out->src[0]), d->saved[0], oq, d->Tq, hd, d->ld[0]);
        head_bf16(hk, tg_f32(out->src[1]), d->saved[1], ok, d->Tk, hd, d->ld[1]);
        head_bf16(hv, tg_f32(out->src[2]), d->saved[2], ov, d->Tk, hd, d->ld[2]);
    }
    tg_bf16 Sh[BQ * BK];
    tg_real *o = tg_f32(out) + (size_t)b * d->Tq * d->dim + h * d->hd;
    tg_real *lse = lse_of(out) + ((size_t)b * d->nh + h) * d->Tq;
    const int32_t *mk = d->mask ? d->mask + (size_t)b * d->Tk : NULL;
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
            int nk = j0 + kstep <= kend ? kstep : kend - j0; /* S: [nq, nk] dense */
            int tb = tile_bias(mk, j0, nk, kb);
            if (!tb)
                continue;
            tile_gemm(0, 1, nq, nk, hd, d->scale, q + (size_t)i0 * d->ld[0], d->ld[0],
                      hq ? hq + (size_t)i0 * hd : NULL, hd, k + (size_t)j0 * d->ld[1], d->ld[1],
                      hk ? hk + (size_t)j0 * hd : NULL, hd, 0, S, nk);
            for (int r = 0; r < nq; r++) {
                tg_real *s = S + (size_t)r * nk;
                int i = i0 + r;
                tg_real mx = mask_row(s, tb == 2 ? NULL : kb, visible_len(d, i, j0, nk), nk);
                if (mx < m[r])
                    mx = m[r];
                if (mx == -INFINITY) { /* nothing visible yet: this tile adds 0 */
                    memset(s, 0, nk * sizeof(tg_real));
                    continue;
                }
                tg_real sum = 0;
#pragma omp simd
                for (int c = 0; c < nk; c++)
                    s[c] -= mx;
                row_exp(kn, s, nk); /* 0 for masked keys */
#pragma omp simd reduction(+ : sum)
                for (int c = 0; c < nk; c++)
                    sum += s[c];
                if (d->drop)
                    kn->dropout(s, s, nk, prob_index(d, b, h, i, j0), d->key, d->thr,
                                d->keep_scale, 0);
                tg_real alpha = TG_EXP(m[r] - mx); /* 0 when m was -inf */
                l[r] = l[r] * alpha + sum;
                m[r] = mx;
                if (alpha != 1.0f) {
                    tg_real *orow = o + (size_t)i * d->dim;
                    for (int c = 0; c < hd; c++)
                        orow[c] *= alpha;
                }
            }
            tile_gemm(0, 0, nq, hd, nk, 1, S, nk, tile_bf16(hq, S, (size_t)nq * nk, Sh), nk,
                      v + (size_t)j0 * d->ld[2], d->ld[2], hv ? hv + (size_t)j0 * hd : NULL, hd, 1,
                      o + (size_t)i0 * d->dim, d->dim);
        }
        for (int r = 0; r < nq; r++) {
            tg_real *orow = o + (size_t)(i0 + r) * d->dim, inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;
            for (int c = 0; c < hd; c++)
                orow[c] *= inv;
            if (ob)
                tg_f32_to_bf16(ob + (orow - tg_f32(out)), orow, hd);
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
    int n = d.B * d.nh;
    saved_copies(out, &d); /* a missing one: lost (recorded); its head converts from float32 */
    tg_bf16 *ob = tg_bf16_reserve(out);
#pragma omp parallel for schedule(dynamic)
    for (int bh = 0; bh < n; bh++)
        head_forward(&d, out, bh / d.nh, bh % d.nh, ob);
    if (!ob && d.bf && tg_bf16_saved(out)) /* made now, or recorded as lost */
        tg_bf16_operand(out, tg_f32(out), out->numel, 0);
    return TG_OK;
}

/* 0, or -1 when a product could not run (out of memory where only the
 * bf16 copies of q, k, v exist): the head's gradients are then incomplete. */
static int head_backward(const at_dims *d, const tg_tensor *out, int b, int h)
{
    const tg_kern *kn = tg_kern_get();
    const tg_tensor *Q = out->src[0], *K = out->src[1], *V = out->src[2];
    size_t oq = (size_t)b * d->Tq * d->ld[0] + d->col[0] + h * d->hd;
    size_t ok = (size_t)b * d->Tk * d->ld[1] + d->col[1] + h * d->hd;
    size_t ov = (size_t)b * d->Tk * d->ld[2] + d->col[2] + h * d->hd;
    size_t oo = (size_t)b * d->Tq * d->dim + h * d->hd;
    /* q, k, v: NULL where only their bf16 copies exist */
    const tg_real *q = d->saved[0] ? NULL : tg_f32(Q) + oq;
    const tg_real *k = d->saved[1] ? NULL : tg_f32(K) + ok;
    const tg_real *v = d->saved[2] ? NULL : tg_f32(V) + ov;
    const tg_real *o = d->osaved ? NULL : tg_f32(out) + oo, *dO = out->grad + oo;
    int hd = d->hd, ldq = d->ld[0], ldk = d->ld[1], ldv = d->ld[2], rc = 0;
    /* bf16: q and dO [Tq, hd], k and v [Tk, hd] as dense blocks */
    tg_bf16 *hq = d->bf ? head_buffer((size_t)(2 * d->Tq + 2 * d->Tk) * hd) : NULL;
    tg_bf16 *hdo = hq ? hq + (size_t)d->Tq * hd : NULL;
    tg_bf16 *hk = hq ? hdo + (size_t)d->Tq * hd : NULL, *hv = hq ? hk + (size_t)d->Tk * hd : NULL;
    if (hq) {
        head_bf16(hq, tg_f32(Q), d->saved[0], oq, d->Tq, hd, ldq);
        head_bf16(hdo, out->grad, NULL, oo, d->Tq, hd, d->dim);
        head_bf16(hk, tg_f32(K), d->saved[1], ok, d->Tk, hd, ldk);
        head_bf16(hv, tg_f32(V), d->saved[2], ov, d->Tk, hd, ldv);
    } else if (!q || !k || !v) {
        return -1;
    }
    tg_bf16 Ph[BQ * BK], dSh[BQ * BK];
    tg_real *dq = Q->grad ? Q->grad + oq : NULL, *dk = K->grad ? K->grad + ok : NULL;
    tg_real *dv = V->grad ? V->grad + ov : NULL;
    const tg_real *lse = lse_of(out) + ((size_t)b * d->nh + h) * d->Tq;
    tg_real *D = lse_of(out) + (size_t)d->B * d->nh * d->Tq + ((size_t)b * d->nh + h) * d->Tq;
    const int32_t *mk = d->mask ? d->mask + (size_t)b * d->Tk : NULL;
    head_D(D, dO, o, d->osaved ? d->osaved + oo : NULL, d->Tq, hd, d->dim);
    int kend = d->causal ? d->Tq + d->pos : d->Tk;
    if (kend > d->Tk)
        kend = d->Tk;
    int kstep = kend > 0 ? tile_step(kend, BK) : 1, qstep = tile_step(d->Tq, BQ);
    tg_real P[BQ * BK], dS[BQ * BK], kb[BK], keep[BK], ones[BK];
    for (int c = 0; c < BK; c++)
        ones[c] = 1.0f;
    /* Fresh (claimed) gradients: the first product into each row writes it
     * (beta 0), later ones add; rows no product reaches are zeroed here.
     * dQ's rows from the first key tile run on are all written by it (the
     * first query of a later key tile is never earlier). */
    int q_from = d->Tq; /* dq rows [q_from, Tq) written */
    for (int j0 = 0; j0 < kend; j0 += kstep) {
        int nk = j0 + kstep <= kend ? kstep : kend - j0; /* P, dS: [nq, nk] dense */
        int tb = tile_bias(mk, j0, nk, kb);
        int istart = d->causal && j0 - d->pos > 0 ? j0 - d->pos : 0; /* first query seeing j0 */
        if (!tb || istart >= d->Tq) { /* no product writes these keys' rows */
            for (int c = 0; c < nk; c++) {
                if (dk && d->fresh[1])
                    memset(dk + (size_t)(j0 + c) * ldk, 0, hd * sizeof(tg_real));
                if (dv && d->fresh[2])
                    memset(dv + (size_t)(j0 + c) * ldv, 0, hd * sizeof(tg_real));
            }
            continue;
        }
        tg_real qbeta = d->fresh[0] && q_from == d->Tq ? 0 : 1;
        if (q_from == d->Tq)
            q_from = istart;
        for (int i0 = istart; i0 < d->Tq; i0 += qstep) {
            tg_real kvbeta = i0 == istart ? 0 : 1; /* for fresh dk, dv */
            int nq = i0 + qstep <= d->Tq ? qstep : d->Tq - i0;
            rc |= tile_gemm(0, 1, nq, nk, hd, d->scale, at(q, (size_t)i0 * ldq), ldq,
                            hq ? hq + (size_t)i0 * hd : NULL, hd, at(k, (size_t)j0 * ldk), ldk,
                            hk ? hk + (size_t)j0 * hd : NULL, hd, 0, P, nk);
            rc |= tile_gemm(0, 1, nq, nk, hd, 1, dO + (size_t)i0 * d->dim, d->dim,
                            hdo ? hdo + (size_t)i0 * hd : NULL, hd, at(v, (size_t)j0 * ldv), ldv,
                            hv ? hv + (size_t)j0 * hd : NULL, hd, 0, dS, nk);
            for (int r = 0; r < nq; r++) {
                int i = i0 + r;
                tg_real *p = P + (size_t)r * nk, *ds = dS + (size_t)r * nk, L = lse[i], Di = D[i];
                if (L == -INFINITY) { /* the query sees no key: no gradient */
                    memset(p, 0, nk * sizeof(tg_real));
                    memset(ds, 0, nk * sizeof(tg_real));
                    continue;
                }
                mask_row(p, tb == 2 ? NULL : kb, visible_len(d, i, j0, nk), nk);
#pragma omp simd
                for (int c = 0; c < nk; c++)
                    p[c] -= L;
                row_exp(kn, p, nk); /* 0 for masked keys */
                if (d->drop) { /* the row's keep factors (scale or 0), drawn once: ds
                                  holds the dropped-out probability's gradient */
                    kn->dropout(keep, ones, nk, prob_index(d, b, h, i, j0), d->key, d->thr,
                                d->keep_scale, 0);
#pragma omp simd
                    for (int c = 0; c < nk; c++) { /* as the kernel: x s kept, else 0 */
                        ds[c] = keep[c] != 0 ? ds[c] * keep[c] : 0;
                        ds[c] = p[c] * (ds[c] - Di);
                        p[c] = keep[c] != 0 ? p[c] * keep[c] : 0;
                    }
                } else {
#pragma omp simd
                    for (int c = 0; c < nk; c++)
                        ds[c] = p[c] * (ds[c] - Di);
                }
            }
            size_t nt = (size_t)nq * nk;
            const tg_bf16 *ph = dv ? tile_bf16(hq, P, nt, Ph) : NULL;
            const tg_bf16 *dsh = dq || dk ? tile_bf16(hq, dS, nt, dSh) : NULL;
            if (dv) /* dV_j += P~^T dO_i */
                rc |= tile_gemm(1, 0, nk, hd, nq, 1, P, nk, ph, nk, dO + (size_t)i0 * d->dim,
                                d->dim, hdo ? hdo + (size_t)i0 * hd : NULL, hd,
                                d->fresh[2] ? kvbeta : 1, dv + (size_t)j0 * ldv, ldv);
            if (dq) /* dQ_i += scale dS K_j */
                rc |= tile_gemm(0, 0, nq, hd, nk, d->scale, dS, nk, dsh, nk,
                                at(k, (size_t)j0 * ldk), ldk, hk ? hk + (size_t)j0 * hd : NULL, hd,
                                qbeta, dq + (size_t)i0 * ldq, ldq);
            if (dk) /* dK_j += scale dS^T Q_i */
                rc |= tile_gemm(1, 0, nk, hd, nq, d->scale, dS, nk, dsh, nk,
                                at(q, (size_t)i0 * ldq), ldq, hq ? hq + (size_t)i0 * hd : NULL, hd,
                                d->fresh[1] ? kvbeta : 1, dk + (size_t)j0 * ldk, ldk);
        }
    }
    for (int j = kend; j < d->Tk; j++) { /* keys past the causal reach */
        if (dk && d->fresh[1])
            memset(dk + (size_t)j * ldk, 0, hd * sizeof(tg_real));
        if (dv && d->fresh[2])
            memset(dv + (size_t)j * ldv, 0, hd * sizeof(tg_real));
    }
    for (int i = 0; dq && d->fresh[0] && i < q_from; i++)
        memset(dq + (size_t)i * ldq, 0, hd * sizeof(tg_real));
    return rc;
}

static void attention_backward(tg_tensor *out)
{
    at_dims d = dims_of(out);
    for (int i = 0; i < 3; i++) /* claims only succeed for three distinct tensors */
        d.fresh[i] = out->src[i]->grad && tg_grad_claim(out->src[i]);
    int n = d.B * d.nh, failed = !saved_copies(out, &d);
    if (!failed && d.bf && tg_bf16_saved(out) &&
        !(d.osaved = tg_bf16_operand(out, tg_f32(out), out->numel, 0)))
        failed = 1;
    if (failed) /* recorded as lost: tg_backward fails naming it */
        return;
#pragma omp parallel for schedule(dynamic) reduction(| : failed)
    for (int bh = 0; bh < n; bh++)
        failed |= head_backward(&d, out, bh / d.nh, bh % d.nh) != 0;
    if (failed) /* out of memory with only the bf16 copies of q, k, v */
        tg_bf16_note_lost(out->src[0]);
}

const tg_opdef tg_op_attention = {"tg_attention", attention_forward, attention_backward,
                                  TG_KEEP_SRC(0) | TG_KEEP_SRC(1) | TG_KEEP_SRC(2) |
                                      TG_KEEP_BF16(0) | TG_KEEP_BF16(1) | TG_KEEP_BF16(2) |
                                      TG_KEEP_SRC(3) | TG_KEEP_OUT | TG_KEEP_OUT_BF16 |
                                      TG_GRAD_OVERWRITE(0) |
                                      TG_GRAD_OVERWRITE(1) | TG_GRAD_OVERWRITE(2),
                                  0};
