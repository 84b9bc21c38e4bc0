/* kern_scalar: the reference kernels (kern.h), baseline x86-64. The math is
 * the ops' original loops (rowdots and rowaxpy: ops/attention_decode.c's),
 * moved here unchanged. */
#include "kern.h"
#include "tg_internal.h"

#include <math.h>

/* glibc's libmvec has vector versions of erff and expf (<= 4 ulp, like the
 * scalar ones' accuracy class); math.h only declares them under
 * -ffast-math, which we do not use, so declare them here. The GELU loops
 * then run 4 elements per call. */
#pragma omp declare simd notinbranch
extern float erff(float);
#pragma omp declare simd notinbranch
extern float expf(float);

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794
#define SQRT_2_OVER_PI 0.79788456080286535588
#define GELU_NEW_C 0.044715

static void add_s(tg_real *y, const tg_real *a, const tg_real *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

static void acc_s(tg_real *y, const tg_real *x, const tg_real *mul, tg_real sign, size_t n)
{
    if (mul)
        for (size_t i = 0; i < n; i++)
            y[i] += sign * (x[i] * mul[i]);
    else
        for (size_t i = 0; i < n; i++)
            y[i] += sign * x[i];
}

static void scale_s(tg_real *y, const tg_real *x, tg_real s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] * s;
}

static void dropout_s(tg_real *y, const tg_real *x, size_t n, uint64_t i0, uint64_t key,
                      uint64_t thr, tg_real s, int accumulate)
{
    for (size_t i = 0; i < n; i++) {
        tg_real v = tg_dropped(key, i0 + i, thr) ? 0.0f : x[i] * s;
        y[i] = accumulate ? y[i] + v : v;
    }
}

static void gelu_s(tg_real *y, const tg_real *x, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        y[i] = 0.5f * x[i] * (1.0f + TG_ERF(x[i] * (tg_real)INV_SQRT2));
}

/* d/dx [x Phi(x)] = Phi(x) + x phi(x) */
static void gelu_bwd_s(tg_real *dx, const tg_real *x, const tg_real *dy, size_t n, int accumulate)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        tg_real cdf = 0.5f * (1.0f + TG_ERF(x[i] * (tg_real)INV_SQRT2));
        tg_real pdf = (tg_real)INV_SQRT_2PI * TG_EXP(-0.5f * x[i] * x[i]);
        tg_real g = dy[i] * (cdf + x[i] * pdf);
        dx[i] = accumulate ? dx[i] + g : g;
    }
}

static void gelu_new_s(tg_real *y, const tg_real *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tg_real v = x[i];
        y[i] = 0.5f * v *
               (1.0f + TG_TANH((tg_real)SQRT_2_OVER_PI * (v + (tg_real)GELU_NEW_C * v * v * v)));
    }
}

/* With u = sqrt(2/pi) (x + c x^3), th = tanh(u):
 * d/dx [x/2 (1 + th)] = (1 + th)/2 + x/2 (1 - th^2) sqrt(2/pi) (1 + 3 c x^2) */
static void gelu_new_bwd_s(tg_real *dx, const tg_real *x, const tg_real *dy, size_t n,
                           int accumulate)
{
    for (size_t i = 0; i < n; i++) {
        tg_real v = x[i];
        tg_real th = TG_TANH((tg_real)SQRT_2_OVER_PI * (v + (tg_real)GELU_NEW_C * v * v * v));
        tg_real du = (tg_real)SQRT_2_OVER_PI * (1.0f + 3.0f * (tg_real)GELU_NEW_C * v * v);
        tg_real g = dy[i] * (0.5f * (1.0f + th) + 0.5f * v * (1.0f - th * th) * du);
        dx[i] = accumulate ? dx[i] + g : g;
    }
}

static void ln_row_s(tg_real *y, const tg_real *x, const tg_real *g, const tg_real *b, int h,
                     tg_real eps, tg_real *mean, tg_real *rstd)
{
    double s = 0, s2 = 0;
    for (int i = 0; i < h; i++)
        s += x[i];
    double mu = s / h;
    for (int i = 0; i < h; i++)
        s2 += (x[i] - mu) * (x[i] - mu);
    tg_real rs = (tg_real)(1.0 / sqrt(s2 / h + eps));
    *mean = (tg_real)mu;
    *rstd = rs;
    for (int i = 0; i < h; i++)
        y[i] = ((x[i] - (tg_real)mu) * rs) * g[i] + b[i];
}

static void ln_row_bwd_s(tg_real *dx, const tg_real *x, const tg_real *dy, const tg_real *g, int h,
                         tg_real mu, tg_real rs, int accumulate)
{
    double sd = 0, sdx = 0; /* mean(dxhat), mean(dxhat * xhat) */
    for (int i = 0; i < h; i++) {
        tg_real dxh = dy[i] * g[i];
        sd += dxh;
        sdx += dxh * ((x[i] - mu) * rs);
    }
    tg_real md = (tg_real)(sd / h), mdx = (tg_real)(sdx / h);
    for (int i = 0; i < h; i++) {
        tg_real xh = (x[i] - mu) * rs;
        tg_real d = rs * (dy[i] * g[i] - md - xh * mdx);
        dx[i] = accumulate ? dx[i] + d : d;
    }
}

static void ln_params_bwd_s(tg_real *dg, tg_real *db, const tg_real *x, const tg_real *dy, int n,
                            tg_real mu, tg_real rs)
{
    for (int i = 0; i < n; i++) {
        if (dg)
            dg[i] += dy[i] * ((x[i] - mu) * rs);
        if (db)
            db[i] += dy[i];
    }
}

static double sumsq_s(const tg_real *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return s;
}

static void adamw_s(float *p, const float *g, float *m, float *v, size_t n,
                    const tg_adamw_consts *c)
{
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float pi = p[i] * c->decay;
        float mi = m[i] * c->b1 + gi * c->gb1;
        float vi = v[i] * c->b2 + c->gb2 * gi * gi;
        float denom = sqrtf(vi) / c->bc2_sqrt + c->eps;
        p[i] = pi + c->neg_step * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
}

static void rowdots_s(tg_real *s, const tg_real *q, const tg_real *k, size_t ldk, int nk, int n,
                      tg_real scale)
{
    for (int j = 0; j < nk; j++) {
        const tg_real *kr = k + (size_t)j * ldk;
        tg_real acc = 0;
        for (int d = 0; d < n; d++)
            acc += q[d] * kr[d];
        s[j] = scale * acc;
    }
}

static void rowaxpy_s(tg_real *o, const tg_real *p, const tg_real *v, size_t ldv, int nk, int n)
{
    for (int j = 0; j < nk; j++) {
        const tg_real *vr = v + (size_t)j * ldv;
        for (int d = 0; d < n; d++)
            o[d] += p[j] * vr[d];
    }
}

static void exp_s(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = expf(x[i]);
}
static void erf_s(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = erff(x[i]);
}
static void tanh_s(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = tanhf(x[i]);
}

const tg_kern tg_kern_scalar = {
    "scalar",   add_s,      acc_s,          scale_s,  dropout_s,    gelu_s,
    gelu_bwd_s, gelu_new_s, gelu_new_bwd_s, ln_row_s, ln_row_bwd_s, ln_params_bwd_s,
    sumsq_s,    adamw_s,    rowdots_s,      rowaxpy_s, exp_s,       erf_s,
    tanh_s,
};
