/* kern_vec.h: the vector kernels of kern.h, written once and included by
 * kern_avx2.c (W = 8) and kern_avx512.c (W = 16), each defining the macros
 * below for its registers and KV(name) for the functions' suffix. Every
 * function carries KV_TARGET, so only the dispatcher decides whether these
 * instructions run. Tails (n % W) go through masked loads and stores
 * (LDN, STN; the lanes past n read as 0), so every element takes the same
 * vector path. No FMA contraction (the including files turn it off), and
 * no explicit FMA in products and sums: they round as the scalar kernels'
 * do, which keeps add, acc, dropout, AdamW, LayerNorm's elementwise parts
 * and rowaxpy bit-identical to them (rowdots differs from them by its
 * summation order only, kern.h); only the polynomials of the
 * vector math use explicit FMA (the same at both widths, so AVX2 and
 * AVX-512 give the same bits everywhere).
 *
 * Needed: W, VF (float vector), LD, ST, LDN(p, r) / STN(p, r, v) (all W
 * lanes when r >= W, else the first r, the others loaded as 0), SET1, ADD,
 * SUB, MUL, DIV, MAXV, MINV (NaN in the second operand propagates), SQRT,
 * ABS, SEL_LT(a, b, x, y) = a < b ? x : y, ROUND (to nearest integer), HSUM(v)
 * (the sum of v's lanes, as a float),
 * FMA(a, b, c) = a * b + c rounded once (Horner steps of the vector
 * math only), ADDEXP(p, n) = p * 2^n by adding the integral float vector n
 * to p's exponent bits; double
 * vectors VD of W/2 lanes: DZERO, DSET1, DADD, DSUB, DMUL, DLO(v) and
 * DHI(v) (v's halves as doubles), DHSUM; and KEEPMUL(key, idx, thr, v) = v
 * where element idx + lane is kept by tg_dropped, else 0. */
#include <math.h>
#include <string.h>

#define KV_INV_SQRT2 0.70710678118654752440f
#define KV_INV_SQRT_2PI 0.39894228040143267794f
#define KV_SQRT_2_OVER_PI 0.79788456080286535588f
#define KV_GELU_NEW_C 0.044715f

/* exp(x): x = n ln2 + r with |r| <= ln2/2 (ln2 split in a part exact in
 * float and the rest), e^r by its Taylor polynomial to degree 7 (remainder
 * < 5e-9 relative; Horner steps fused, FMA), times 2^n in the exponent. */
KV_TARGET static inline VF KV(vexp)(VF x)
{
    VF under = SET1(-87.33654f), over = SET1(88.72283f);
    VF xc = MINV(over, MAXV(under, x));
    VF n = ROUND(MUL(xc, SET1(1.44269504088896341f)));
    VF r = SUB(SUB(xc, MUL(n, SET1(0.693359375f))), MUL(n, SET1(-2.12194440e-4f)));
    VF p = SET1(1.0f / 5040);
    p = FMA(p, r, SET1(1.0f / 720));
    p = FMA(p, r, SET1(1.0f / 120));
    p = FMA(p, r, SET1(1.0f / 24));
    p = FMA(p, r, SET1(1.0f / 6));
    p = FMA(p, r, SET1(0.5f));
    p = FMA(p, r, SET1(1.0f));
    p = FMA(p, r, SET1(1.0f));
    /* times 2^n by adding n to the exponent bits: normal for x >= -87.34
     * (n = -126 only with r >= 0, p >= 1) */
    VF e = ADDEXP(p, n);
    e = SEL_LT(over, x, SET1(INFINITY), e);
    return SEL_LT(x, under, SET1(0.0f), e);
}

/* erfc(z) for z >= 0 as Abramowitz-Stegun 7.1.26: t P(t) exp(-z^2), t =
 * 1 / (1 + p z); ez = exp(-z^2) is passed in (GELU shares it with phi). */
KV_TARGET static inline VF KV(verfc_pos)(VF z, VF ez)
{
    VF t = DIV(SET1(1.0f), ADD(SET1(1.0f), MUL(SET1(0.3275911f), z)));
    VF p = SET1(1.061405429f);
    p = FMA(p, t, SET1(-1.453152027f));
    p = FMA(p, t, SET1(1.421413741f));
    p = FMA(p, t, SET1(-0.284496736f));
    p = FMA(p, t, SET1(0.254829592f));
    return MUL(MUL(p, t), ez);
}

/* erf: x times a Taylor polynomial in x^2 below |x| = 0.8 (terms to x^17,
 * remainder < 3e-9), where 1 - erfc would cancel; 1 - erfc(|x|) above. */
KV_TARGET static inline VF KV(verf)(VF x)
{
    VF z = ABS(x);
    VF e = SUB(SET1(1.0f), KV(verfc_pos)(z, KV(vexp)(MUL(SUB(SET1(0.0f), z), z))));
    e = SEL_LT(x, SET1(0.0f), SUB(SET1(0.0f), e), e);
    VF x2 = MUL(x, x);
    VF p = SET1(1.0f / 685440);
    p = FMA(p, x2, SET1(-1.0f / 75600));
    p = FMA(p, x2, SET1(1.0f / 9360));
    p = FMA(p, x2, SET1(-1.0f / 1320));
    p = FMA(p, x2, SET1(1.0f / 216));
    p = FMA(p, x2, SET1(-1.0f / 42));
    p = FMA(p, x2, SET1(1.0f / 10));
    p = FMA(p, x2, SET1(-1.0f / 3));
    p = FMA(p, x2, SET1(1.0f));
    VF small = MUL(MUL(SET1(1.12837916709551257f), x), p);
    return SEL_LT(z, SET1(0.8f), small, e);
}

/* tanh(x) = sign(x) (1 - 2 / (exp(2|x|) + 1)) */
KV_TARGET static inline VF KV(vtanh)(VF x)
{
    VF z = ABS(x);
    VF e = KV(vexp)(MUL(SET1(2.0f), z));
    VF t = SUB(SET1(1.0f), DIV(SET1(2.0f), ADD(e, SET1(1.0f))));
    return SEL_LT(x, SET1(0.0f), SUB(SET1(0.0f), t), t);
}

/* Phi(x) = erfc(-x / sqrt 2) / 2 from e = exp(-x^2 / 2) */
KV_TARGET static inline VF KV(vphi)(VF x, VF e)
{
    VF q = MUL(SET1(0.5f), KV(verfc_pos)(MUL(ABS(x), SET1(KV_INV_SQRT2)), e));
    return SEL_LT(x, SET1(0.0f), q, SUB(SET1(1.0f), q));
}

/* sigma(2u) with u = sqrt(2/pi) (x + c x^3): (1 + tanh u) / 2 without the
 * cancellation for x << 0; *e gets exp(-2u), so 1 - sigma = e sigma. */
KV_TARGET static inline VF KV(vsig2u)(VF x, VF *e)
{
    VF u = MUL(SET1(KV_SQRT_2_OVER_PI), ADD(x, MUL(MUL(MUL(SET1(KV_GELU_NEW_C), x), x), x)));
    *e = KV(vexp)(MUL(SET1(-2.0f), u));
    return DIV(SET1(1.0f), ADD(SET1(1.0f), *e));
}

/* Loops over n elements W at a time, the last r < W through LDN/STN;
 * BODY sees i (offset) and r (elements left, >= 1). */
#define KV_FOR(n, ...)                                                                           \
    for (size_t i = 0; i < (n); i += W) {                                                          \
        size_t r = (n) - i;                                                                        \
        __VA_ARGS__                                                                                \
    }

KV_TARGET static void KV(add)(float *y, const float *a, const float *b, size_t n)
{
    KV_FOR(n, STN(y + i, r, ADD(LDN(a + i, r), LDN(b + i, r)));)
}

KV_TARGET static void KV(acc)(float *y, const float *x, const float *mul, float sign, size_t n)
{
    VF s = SET1(sign);
    if (mul)
        KV_FOR(n, STN(y + i, r, ADD(LDN(y + i, r), MUL(s, MUL(LDN(x + i, r), LDN(mul + i, r)))));)
    else
        KV_FOR(n, STN(y + i, r, ADD(LDN(y + i, r), MUL(s, LDN(x + i, r))));)
}

KV_TARGET static void KV(scale)(float *y, const float *x, float s, size_t n)
{
    VF sv = SET1(s);
    KV_FOR(n, STN(y + i, r, MUL(LDN(x + i, r), sv));)
}

KV_TARGET static void KV(dropout)(float *y, const float *x, size_t n, uint64_t i0, uint64_t key,
                                  uint64_t thr, float s, int accumulate)
{
    VF sv = SET1(s);
    if (accumulate)
        KV_FOR(n, STN(y + i, r, ADD(LDN(y + i, r), KEEPMUL(key, i0 + i, thr, MUL(LDN(x + i, r), sv))));)
    else
        KV_FOR(n, STN(y + i, r, KEEPMUL(key, i0 + i, thr, MUL(LDN(x + i, r), sv)));)
}

KV_TARGET static void KV(gelu)(float *y, const float *x, size_t n)
{
    KV_FOR(n, {
        VF v = LDN(x + i, r);
        VF e = KV(vexp)(MUL(MUL(SET1(-0.5f), v), v));
        STN(y + i, r, MUL(v, KV(vphi)(v, e)));
    })
}

KV_TARGET static void KV(gelu_bwd)(float *dx, const float *x, const float *dy, size_t n,
                                   int accumulate)
{
    KV_FOR(n, {
        VF v = LDN(x + i, r);
        VF e = KV(vexp)(MUL(MUL(SET1(-0.5f), v), v));
        VF d = ADD(KV(vphi)(v, e), MUL(v, MUL(SET1(KV_INV_SQRT_2PI), e)));
        VF g = MUL(LDN(dy + i, r), d);
        STN(dx + i, r, accumulate ? ADD(LDN(dx + i, r), g) : g);
    })
}

KV_TARGET static void KV(gelu_new)(float *y, const float *x, size_t n)
{
    KV_FOR(n, {
        VF v = LDN(x + i, r), e;
        STN(y + i, r, MUL(v, KV(vsig2u)(v, &e)));
    })
}

/* with s = sigma(2u) = (1 + tanh u) / 2: 1 - tanh^2 u = 4 s (1 - s), so
 * gelu_new' = s + 2 x s (1 - s) sqrt(2/pi) (1 + 3 c x^2), 1 - s = e s
 * without cancellation (e = 0 when exp underflows; inf: s = 0, no NaN) */
KV_TARGET static void KV(gelu_new_bwd)(float *dx, const float *x, const float *dy, size_t n,
                                       int accumulate)
{
    KV_FOR(n, {
        VF v = LDN(x + i, r), e;
        VF s = KV(vsig2u)(v, &e);
        VF s1 = SEL_LT(e, SET1(INFINITY), MUL(e, s), SET1(1.0f)); /* 1 - s */
        VF du = MUL(SET1(KV_SQRT_2_OVER_PI),
                    ADD(SET1(1.0f), MUL(MUL(SET1(3.0f * KV_GELU_NEW_C), v), v)));
        VF d = ADD(s, MUL(MUL(MUL(MUL(SET1(2.0f), v), s), s1), du));
        VF g = MUL(LDN(dy + i, r), d);
        STN(dx + i, r, accumulate ? ADD(LDN(dx + i, r), g) : g);
    })
}

KV_TARGET static void KV(ln_row)(float *y, const float *x, const float *g, const float *b, int h,
                                 float eps, float *mean, float *rstd)
{
    size_t n = (size_t)h, full = n / W * W;
    VD a0 = DZERO, a1 = DZERO;
    for (size_t i = 0; i < full; i += W) {
        VF v = LD(x + i);
        a0 = DADD(a0, DLO(v));
        a1 = DADD(a1, DHI(v));
    }
    double s = DHSUM(DADD(a0, a1));
    for (size_t i = full; i < n; i++)
        s += x[i];
    double mu = s / h;
    VD m = DSET1(mu);
    a0 = a1 = DZERO;
    for (size_t i = 0; i < full; i += W) {
        VF v = LD(x + i);
        VD d0 = DSUB(DLO(v), m), d1 = DSUB(DHI(v), m);
        a0 = DADD(a0, DMUL(d0, d0));
        a1 = DADD(a1, DMUL(d1, d1));
    }
    double s2 = DHSUM(DADD(a0, a1));
    for (size_t i = full; i < n; i++)
        s2 += (x[i] - mu) * (x[i] - mu);
    float rs = (float)(1.0 / sqrt(s2 / h + eps));
    *mean = (float)mu;
    *rstd = rs;
    VF mf = SET1((float)mu), rv = SET1(rs);
    KV_FOR(n, STN(y + i, r, ADD(MUL(MUL(SUB(LDN(x + i, r), mf), rv), LDN(g + i, r)), LDN(b + i, r)));)
}

KV_TARGET static void KV(ln_row_bwd)(float *dx, const float *x, const float *dy, const float *g,
                                     int h, float mu, float rs, int accumulate)
{
    size_t n = (size_t)h;
    VF mf = SET1(mu), rv = SET1(rs);
    float mub[W]; /* mu in lanes < r, 0 past r: x - mu is 0 there (no 0 * inf) */
    for (int j = 0; j < W; j++)
        mub[j] = mu;
    VD a0 = DZERO, a1 = DZERO, b0 = DZERO, b1 = DZERO;
    KV_FOR(n, {
        VF dxh = MUL(LDN(dy + i, r), LDN(g + i, r)); /* 0 in the lanes past r */
        VF p = MUL(dxh, MUL(SUB(LDN(x + i, r), LDN(mub, r)), rv));
        a0 = DADD(a0, DLO(dxh));
        a1 = DADD(a1, DHI(dxh));
        b0 = DADD(b0, DLO(p));
        b1 = DADD(b1, DHI(p));
    })
    VF md = SET1((float)(DHSUM(DADD(a0, a1)) / h)), mdx = SET1((float)(DHSUM(DADD(b0, b1)) / h));
    KV_FOR(n, {
        VF xh = MUL(SUB(LDN(x + i, r), mf), rv);
        VF t = SUB(SUB(MUL(LDN(dy + i, r), LDN(g + i, r)), md), MUL(xh, mdx));
        VF d = MUL(rv, t);
        STN(dx + i, r, accumulate ? ADD(LDN(dx + i, r), d) : d);
    })
}

KV_TARGET static void KV(ln_params_bwd)(float *dg, float *db, const float *x, const float *dy, int h,
                                        float mu, float rs)
{
    size_t n = (size_t)h;
    VF mf = SET1(mu), rv = SET1(rs);
    if (dg)
        KV_FOR(n, STN(dg + i, r, ADD(LDN(dg + i, r),
                                     MUL(LDN(dy + i, r), MUL(SUB(LDN(x + i, r), mf), rv))));)
    if (db)
        KV_FOR(n, STN(db + i, r, ADD(LDN(db + i, r), LDN(dy + i, r)));)
}

KV_TARGET static double KV(sumsq)(const float *x, size_t n)
{
    VD a0 = DZERO, a1 = DZERO;
    KV_FOR(n, {
        VF v = LDN(x + i, r); /* 0 past r */
        VD lo = DLO(v), hi = DHI(v);
        a0 = DADD(a0, DMUL(lo, lo));
        a1 = DADD(a1, DMUL(hi, hi));
    })
    return DHSUM(DADD(a0, a1));
}

KV_TARGET static void KV(adamw)(float *p, const float *g, float *m, float *v, size_t n,
                                const tg_adamw_consts *c)
{
    VF decay = SET1(c->decay), b1 = SET1(c->b1), gb1 = SET1(c->gb1), b2 = SET1(c->b2),
       gb2 = SET1(c->gb2), bc2 = SET1(c->bc2_sqrt), eps = SET1(c->eps), ns = SET1(c->neg_step);
    KV_FOR(n, {
        VF gi = LDN(g + i, r);
        VF pi = MUL(LDN(p + i, r), decay);
        VF mi = ADD(MUL(LDN(m + i, r), b1), MUL(gi, gb1));
        VF vi = ADD(MUL(LDN(v + i, r), b2), MUL(MUL(gb2, gi), gi));
        VF den = ADD(DIV(SQRT(vi), bc2), eps);
        STN(p + i, r, ADD(pi, DIV(MUL(ns, mi), den)));
        STN(m + i, r, mi);
        STN(v + i, r, vi);
    })
}

/* q . k_j for nk rows k_j = k + j ldk: the products of W columns at a time
 * into two accumulators (alternate blocks; the tail, zero-padded, into
 * the second), their sum across the lanes (HSUM), times scale. */
KV_TARGET static void KV(rowdots)(float *s, const float *q, const float *k, size_t ldk, int nk,
                                  int h, float scale)
{
    size_t n = (size_t)h, full = n / W * W;
    for (int j = 0; j < nk; j++) {
        const float *kr = k + (size_t)j * ldk;
        VF a0 = SET1(0.0f), a1 = SET1(0.0f);
        size_t d = 0;
        for (; d + 2 * W <= full; d += 2 * W) {
            a0 = ADD(a0, MUL(LD(q + d), LD(kr + d)));
            a1 = ADD(a1, MUL(LD(q + d + W), LD(kr + d + W)));
        }
        if (d < full)
            a0 = ADD(a0, MUL(LD(q + d), LD(kr + d)));
        if (full < n)
            a1 = ADD(a1, MUL(LDN(q + full, n - full), LDN(kr + full, n - full)));
        s[j] = scale * HSUM(ADD(a0, a1));
    }
}

/* Columns 0 .. w-1 (w <= 4 W) of rowaxpy, held in four registers across
 * the nk rows (registers past w: masked, no access); inlined, so the
 * masks of a full chunk (w = 4 W) fold away. */
KV_TARGET static inline __attribute__((always_inline)) void
KV(axpy_cols)(float *o, const float *p, const float *v, size_t ldv, int nk, size_t w)
{
    size_t w1 = w > W ? w - W : 0, w2 = w > 2 * W ? w - 2 * W : 0, w3 = w > 3 * W ? w - 3 * W : 0;
    VF a0 = LDN(o, w), a1 = LDN(o + W, w1), a2 = LDN(o + 2 * W, w2), a3 = LDN(o + 3 * W, w3);
    for (int j = 0; j < nk; j++) {
        const float *vr = v + (size_t)j * ldv;
        VF pj = SET1(p[j]);
        a0 = ADD(a0, MUL(pj, LDN(vr, w)));
        a1 = ADD(a1, MUL(pj, LDN(vr + W, w1)));
        a2 = ADD(a2, MUL(pj, LDN(vr + 2 * W, w2)));
        a3 = ADD(a3, MUL(pj, LDN(vr + 3 * W, w3)));
    }
    STN(o, w, a0);
    STN(o + W, w1, a1);
    STN(o + 2 * W, w2, a2);
    STN(o + 3 * W, w3, a3);
}

/* o += sum_j p[j] v_j, the output in chunks of 4 W columns, each read and
 * written once per call; per element the scalar kernel's operations. */
KV_TARGET static void KV(rowaxpy)(float *o, const float *p, const float *v, size_t ldv, int nk,
                                  int h)
{
    size_t n = (size_t)h, d = 0;
    if (nk <= 0)
        return;
    for (; d + 4 * W <= n; d += 4 * W)
        KV(axpy_cols)(o + d, p, v + d, ldv, nk, 4 * W);
    if (d < n)
        KV(axpy_cols)(o + d, p, v + d, ldv, nk, n - d);
}

KV_TARGET static void KV(exp)(float *y, const float *x, size_t n)
{
    KV_FOR(n, STN(y + i, r, KV(vexp)(LDN(x + i, r)));)
}
KV_TARGET static void KV(erf)(float *y, const float *x, size_t n)
{
    KV_FOR(n, STN(y + i, r, KV(verf)(LDN(x + i, r)));)
}
KV_TARGET static void KV(tanh)(float *y, const float *x, size_t n)
{
    KV_FOR(n, STN(y + i, r, KV(vtanh)(LDN(x + i, r)));)
}

#define KV_TABLE(name)                                                                             \
    {                                                                                              \
        name, KV(add), KV(acc), KV(scale), KV(dropout), KV(gelu), KV(gelu_bwd), KV(gelu_new),      \
            KV(gelu_new_bwd), KV(ln_row), KV(ln_row_bwd), KV(ln_params_bwd), KV(sumsq), KV(adamw), \
            KV(rowdots), KV(rowaxpy), KV(exp), KV(erf), KV(tanh)                                   \
    }
