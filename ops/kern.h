/* kern: the memory-bound kernels of the training path (elementwise ops,
 * LayerNorm rows, dropout, AdamW) and of the decode attention's rows, one
 * table per CPU level (graph/cpu.h).
 * The scalar table is the reference (libm, baseline x86-64); the AVX2 and
 * AVX-512 tables (kern_avx2.c, kern_avx512.c, one template kern_vec.h)
 * give the same bits wherever the math is the same IEEE operations in the
 * same order (add, accumulate, scale, dropout, AdamW, LayerNorm's
 * normalisation and parameter gradients, the decode attention's weighted
 * row sums), and differ within stated bounds where they cannot:
 * - LayerNorm's row sums and the sum of squares (double accumulators,
 *   other order): mean and rstd within 1 float ulp of the reference;
 * - the decode attention's dot products (rowdots: other summation order);
 * - GELU / gelu_new use the vector exp and erf below instead of libm.
 * Vector math (kern_vec.h), measured against libm over the tested ranges
 * (tests/test_kernels.c asserts these bounds and prints the measured ones):
 * - exp: Cody-Waite reduction + degree-7 Taylor polynomial: relative error
 *   < 2e-7 on [-87.3, 88.7] (measured 7.7e-8); 0 below -87.34 (libm:
 *   denormals < 1.2e-38), inf above 88.72, NaN stays NaN.
 * - erf: Taylor series to x^17 below |x| = 0.8, else Abramowitz-Stegun
 *   7.1.26 (erfc(z) ~ t P(t) exp(-z^2)): absolute error < 3e-7 on
 *   [-10, 10] (measured 2.4e-7; A&S's own bound is 1.5e-7).
 * - tanh: 1 - 2 / (exp(2|x|) + 1): absolute error < 2.5e-7 (measured 1.1e-7).
 * - GELU (erf form) and gelu_new (tanh form, as x sigmoid(2u), no
 *   cancellation) forward and backward: within 4e-7 * max(1, |x|) of the
 *   double-precision truth (measured <= 2.7e-7; the scalar kernels: 1.6e-7). */
#ifndef TG_KERN_H
#define TG_KERN_H

#include <stddef.h>
#include <stdint.h>

#include "tg.h"

typedef struct {
    float decay;     /* 1 - lr * weight_decay */
    float b1, gb1;   /* beta1, 1 - beta1 */
    float b2, gb2;   /* beta2, 1 - beta2 */
    float bc2_sqrt;  /* sqrt(1 - beta2^t) */
    float eps;
    float neg_step;  /* -lr / (1 - beta1^t) */
} tg_adamw_consts;

typedef struct {
    const char *name;
    /* y = a + b */
    void (*add)(tg_real *y, const tg_real *a, const tg_real *b, size_t n);
    /* y += sign * x (times mul elementwise when mul is non-NULL) */
    void (*acc)(tg_real *y, const tg_real *x, const tg_real *mul, tg_real sign, size_t n);
    /* y = x * s */
    void (*scale)(tg_real *y, const tg_real *x, tg_real s, size_t n);
    /* inverted dropout of elements i0 .. i0+n-1 of a node's stream
     * (tg_dropped(key, i0 + i, thr)): y = kept ? x * s : 0, or y += that
     * when accumulate is set */
    void (*dropout)(tg_real *y, const tg_real *x, size_t n, uint64_t i0, uint64_t key, uint64_t thr,
                    tg_real s, int accumulate);
    /* GELU, exact (erf) form: y = x Phi(x); backward dx += dy * gelu'(x)
     * when accumulate is set, else dx = dy * gelu'(x) */
    void (*gelu)(tg_real *y, const tg_real *x, size_t n);
    void (*gelu_bwd)(tg_real *dx, const tg_real *x, const tg_real *dy, size_t n, int accumulate);
    /* GELU, tanh form (gelu_new) */
    void (*gelu_new)(tg_real *y, const tg_real *x, size_t n);
    void (*gelu_new_bwd)(tg_real *dx, const tg_real *x, const tg_real *dy, size_t n,
                         int accumulate);
    /* LayerNorm of one row of h: y = (x - mean) * rstd * g + b; stores
     * mean and rstd = 1 / sqrt(var + eps) (mean and var summed in double) */
    void (*ln_row)(tg_real *y, const tg_real *x, const tg_real *g, const tg_real *b, int h,
                   tg_real eps, tg_real *mean, tg_real *rstd);
    /* its input gradient for one row: dx += rstd (dy g - mean(dy g) -
     * xhat mean(dy g xhat)), the means summed in double (dx = that when
     * accumulate is 0) */
    void (*ln_row_bwd)(tg_real *dx, const tg_real *x, const tg_real *dy, const tg_real *g, int h,
                       tg_real mean, tg_real rstd, int accumulate);
    /* its parameter gradients over n columns of one row: dg += dy xhat,
     * db += dy (either may be NULL) */
    void (*ln_params_bwd)(tg_real *dg, tg_real *db, const tg_real *x, const tg_real *dy, int n,
                          tg_real mean, tg_real rstd);
    /* sum of x[i]^2 in double (gradient norms; vector levels: other order,
     * within 2 n 2^-53 relative of the scalar sum, the bound of either
     * order's rounding) */
    double (*sumsq)(const tg_real *x, size_t n);
    /* one AdamW step over n parameters (optim/adamw.c) */
    void (*adamw)(float *p, const float *g, float *m, float *v, size_t n,
                  const tg_adamw_consts *c);
    /* the dot products of one query row with nk key rows of stride ldk
     * (tg_attention_decode): s[j] = scale * sum_{d < n} q[d] k[j ldk + d],
     * j < nk, the scale applied to the finished sum. The vector levels sum
     * the products in another order (W lanes in two accumulators, then
     * across the lanes; AVX2 and AVX-512 differ), no FMA: every level is
     * within (n + 1) u / (1 - (n + 1) u) |scale| sum_d |q[d] k[j ldk + d]|
     * (u = 2^-24 in float; the bound of any order's rounding) of the exact
     * value (tests/test_kernels.c asserts it at every level and prints the
     * worst error as a fraction of it: 0.75 scalar, 0.86 avx2 measured) */
    void (*rowdots)(tg_real *s, const tg_real *q, const tg_real *k, size_t ldk, int nk, int n,
                    tg_real scale);
    /* the weighted sum of nk value rows of stride ldv into o: o[d] += p[j]
     * v[j ldv + d] for j = 0 .. nk-1 in turn, d < n (product rounded, then
     * the sum: the same bits at every level; within (nk + 1) u / (1 -
     * (nk + 1) u) (|o[d]| + sum_j |p[j] v[j ldv + d]|) of the exact sum) */
    void (*rowaxpy)(tg_real *o, const tg_real *p, const tg_real *v, size_t ldv, int nk, int n);
    /* the vector math alone (tests, bench): libm in the scalar table */
    void (*exp)(float *y, const float *x, size_t n);
    void (*erf)(float *y, const float *x, size_t n);
    void (*tanh)(float *y, const float *x, size_t n);
} tg_kern;

/* The table of the current level (tg_cpu_level()). */
const tg_kern *tg_kern_get(void);
/* The table of `level` (TG_CPU_*), or NULL when the CPU lacks it. */
const tg_kern *tg_kern_at(int level);

extern const tg_kern tg_kern_scalar, tg_kern_avx2, tg_kern_avx512;

/* Elements per task when an op splits an elementwise kernel between
 * threads: large enough to amortise the call, a multiple of 16. */
#define TG_KERN_CHUNK 16384

/* Runs STMT for the chunks [lo, lo + len) of n elements, split between
 * the OpenMP threads (the chunks are fixed, so results do not depend on
 * the thread count). */
#define TG_KERN_CHUNKS(n, lo, len, STMT)                                                           \
    do {                                                                                           \
        size_t n_ = (n), nc_ = (n_ + TG_KERN_CHUNK - 1) / TG_KERN_CHUNK;                           \
        _Pragma("omp parallel for schedule(static)") for (size_t c_ = 0; c_ < nc_; c_++)           \
        {                                                                                          \
            size_t lo = c_ * TG_KERN_CHUNK;                                                        \
            size_t len = n_ - lo < TG_KERN_CHUNK ? n_ - lo : TG_KERN_CHUNK;                        \
            STMT;                                                                                  \
        }                                                                                          \
    } while (0)

#endif
