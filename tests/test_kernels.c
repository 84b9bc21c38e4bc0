/* The CPU-level kernels (ops/kern.h) against the scalar reference at every
 * level this CPU supports (forced with tg_cpu_set_level), cpuid detection
 * against /proc/cpuinfo, the ABLM_CPU override, the decode attention's
 * rows against double sums, the vector math against libm, a RoBERTa
 * training step at each level against scalar, and tg_gemm's large
 * products on each library (OpenBLAS, oneDNN) against double sums. */
#include "adamw.h"
#include "cpu.h"
#include "kern.h"
#include "roberta.h"
#include "tg.h"
#include "testutil.h"
#include "tg_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* widths of the training path (64-768), odd sizes, every tail, and more
 * than one TG_KERN_CHUNK */
static const size_t SIZES[] = {1,  2,   7,   8,   9,   15,  16,  17,  31,  33,  63,   64,
                               65, 100, 127, 255, 511, 512, 513, 767, 768, 769, 2051, 40001};
#define NSIZES (sizeof SIZES / sizeof SIZES[0])
#define GUARD 32      /* floats checked untouched on both sides of every output */
#define CANARY 1234.5f

static float frand(tg_rng *r, float lo, float hi) { return lo + (hi - lo) * (float)tg_rng_uniform(r); }

/* n floats at an odd (unaligned) offset inside a guarded buffer */
typedef struct {
    float *base, *p;
    size_t n;
} gbuf;
static gbuf gb_new(size_t n)
{
    gbuf b = {malloc((n + 2 * GUARD + 1) * sizeof(float)), NULL, n};
    ck_assert_ptr_nonnull(b.base);
    for (size_t i = 0; i < n + 2 * GUARD + 1; i++)
        b.base[i] = CANARY;
    b.p = b.base + GUARD + 1;
    return b;
}
static void gb_check(const gbuf *b, const char *what)
{
    for (size_t i = 0; i < GUARD; i++) {
        ck_assert_msg(b->base[1 + i] == CANARY, "%s: wrote before the output (n %zu)", what, b->n);
        ck_assert_msg(b->p[b->n + i] == CANARY, "%s: wrote past the output (n %zu)", what, b->n);
    }
}
static void gb_free(gbuf *b) { free(b->base); }

/* The levels to test: scalar .. the CPU's best (others are skipped and
 * reported once). */
static int nlevels(void)
{
    static int said;
    int best = tg_cpu_info_get()->best;
    if (!said++ && best < TG_CPU_AVX512)
        printf("test_kernels: this CPU has no %s kernels; testing up to %s\n",
               best < TG_CPU_AVX2 ? "avx2/avx512" : "avx512", tg_cpu_level_name(best));
    return best + 1;
}

static int same_bits(const float *a, const float *b, size_t n, size_t *at)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float))) {
            *at = i;
            return 0;
        }
    return 1;
}

static void fill(tg_rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = frand(r, lo, hi);
}

START_TEST(detection_matches_proc_cpuinfo)
{
    const tg_cpu_info *c = tg_cpu_info_get();
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) {
        tu_skip("detection_matches_proc_cpuinfo", "no /proc/cpuinfo");
        return;
    }
    char line[8192], flags[8192] = "";
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "flags", 5)) {
            snprintf(flags, sizeof flags, " %s ", strchr(line, ':') + 1);
            char *nl = strchr(flags, '\n');
            if (nl)
                *nl = ' ';
            break;
        }
    fclose(f);
    ck_assert_msg(flags[0], "no flags line in /proc/cpuinfo");
    struct { const char *flag; int have; } t[] = {
        {" avx2 ", c->avx2}, {" fma ", c->fma}, {" avx512f ", c->avx512f},
        {" avx512bw ", c->avx512bw}, {" avx512vl ", c->avx512vl}, {" avx512dq ", c->avx512dq},
        {" avx512_bf16 ", c->avx512bf16}, {" amx_bf16 ", c->amx_bf16}, {" amx_tile ", c->amx_tile}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        ck_assert_msg(!!strstr(flags, t[i].flag) == !!t[i].have, "cpuid says %d for%s, /proc/cpuinfo %s",
                      t[i].have, t[i].flag, strstr(flags, t[i].flag) ? "has it" : "does not");
    int want = c->avx512f && c->avx512bw && c->avx512vl && c->avx512dq ? TG_CPU_AVX512
               : c->avx2 && c->fma                                      ? TG_CPU_AVX2
                                                                        : TG_CPU_SCALAR;
    ck_assert_int_eq(c->best, want);
    char buf[512];
    tg_cpu_describe(buf, sizeof buf);
    ck_assert_msg(strstr(buf, "kernels ") == buf, "%s", buf);
    printf("test_kernels: %s\n", buf);
}
END_TEST

START_TEST(forcing_levels)
{
    int best = tg_cpu_info_get()->best, before = tg_cpu_level();
    for (int l = 0; l <= best; l++) {
        ck_assert_int_ge(tg_cpu_set_level(l), 0);
        ck_assert_int_eq(tg_cpu_level(), l);
        ck_assert_ptr_eq(tg_kern_get(), tg_kern_at(l));
        ck_assert_str_eq(tg_kern_get()->name, tg_cpu_level_name(l));
    }
    if (best < TG_CPU_AVX512) {
        ck_assert_int_eq(tg_cpu_set_level(best + 1), -1); /* refused, unchanged */
        ck_assert_ptr_null(tg_kern_at(best + 1));
    }
    ck_assert_int_eq(tg_cpu_set_level(7), -1);
    ck_assert_ptr_null(tg_kern_at(-1));
    tg_cpu_set_level(-1);
    ck_assert_int_eq(tg_cpu_level(), before);
}
END_TEST

/* `ablm --version` in a child with ABLM_CPU set: the level it reports */
static void version_with(const char *env, char *out, size_t n)
{
    const char *bd = getenv("ABLM_BUILD_DIR");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "ABLM_CPU=%s '%s/ablm' --version 2>&1", env, bd ? bd : "../build");
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t k = fread(out, 1, n - 1, p);
    out[k] = 0;
    ck_assert_int_eq(pclose(p), 0);
}

START_TEST(env_override)
{
    char out[4096];
    version_with("scalar", out, sizeof out);
    ck_assert_msg(strstr(out, "kernels scalar (ABLM_CPU=scalar)"), "%s", out);
    version_with("bogus", out, sizeof out);
    ck_assert_msg(strstr(out, "ABLM_CPU=bogus is not one of"), "%s", out);
    char want[64];
    snprintf(want, sizeof want, "kernels %s (ABLM_CPU=auto)",
             tg_cpu_level_name(tg_cpu_info_get()->best));
    ck_assert_msg(strstr(out, want), "%s", out);
    version_with("avx512", out, sizeof out);
    if (tg_cpu_info_get()->best < TG_CPU_AVX512)
        ck_assert_msg(strstr(out, "supports only"), "%s", out);
    else
        ck_assert_msg(strstr(out, "kernels avx512 (ABLM_CPU=avx512)"), "%s", out);
}
END_TEST

/* Every elementwise kernel whose math is plain IEEE operations: the same
 * bits as scalar at every level, nothing written outside the output. */
START_TEST(exact_kernels_match_scalar)
{
    const tg_kern *s = &tg_kern_scalar;
    tg_rng r;
    tg_rng_seed(&r, 11);
    for (int l = 1; l < nlevels(); l++) {
        const tg_kern *k = tg_kern_at(l);
        for (size_t si = 0; si < NSIZES; si++) {
            size_t n = SIZES[si], at = 0;
            gbuf a = gb_new(n), b = gb_new(n), m = gb_new(n), y0 = gb_new(n), y1 = gb_new(n);
            fill(&r, a.p, n, -3, 3);
            fill(&r, b.p, n, -3, 3);
            fill(&r, m.p, n, -2, 2);
#define CHECK_SAME(what)                                                                           \
    do {                                                                                           \
        gb_check(&y1, what);                                                                       \
        ck_assert_msg(same_bits(y0.p, y1.p, n, &at), "%s %s n %zu: element %zu %.9g vs %.9g",     \
                      k->name, what, n, at, y1.p[at], y0.p[at]);                                   \
    } while (0)
            s->add(y0.p, a.p, b.p, n);
            k->add(y1.p, a.p, b.p, n);
            CHECK_SAME("add");
            s->scale(y0.p, a.p, -0.37f, n);
            k->scale(y1.p, a.p, -0.37f, n);
            CHECK_SAME("scale");
            float signs[2] = {1.f, -1.f};
            for (int q = 0; q < 4; q++) {
                memcpy(y0.p, b.p, n * sizeof(float));
                memcpy(y1.p, b.p, n * sizeof(float));
                s->acc(y0.p, a.p, q & 1 ? m.p : NULL, signs[q >> 1], n);
                k->acc(y1.p, a.p, q & 1 ? m.p : NULL, signs[q >> 1], n);
                CHECK_SAME("acc");
            }
            float ps[3] = {0.0f, 0.1f, 0.5f};
            for (int q = 0; q < 6; q++) {
                float p = ps[q % 3];
                uint64_t key = 0x1234567887654321ULL * (q + 1), thr = (uint64_t)((double)p * 18446744073709551616.0);
                uint64_t i0 = (uint64_t)q * 1000003;
                memcpy(y0.p, b.p, n * sizeof(float));
                memcpy(y1.p, b.p, n * sizeof(float));
                s->dropout(y0.p, a.p, n, i0, key, thr, 1 / (1 - p), q >= 3);
                k->dropout(y1.p, a.p, n, i0, key, thr, 1 / (1 - p), q >= 3);
                CHECK_SAME("dropout");
            }
            /* sum of squares: double lanes in another order */
            double q0 = s->sumsq(a.p, n), q1 = k->sumsq(a.p, n);
            /* each order's error <= (n - 1) 2^-53 sum (terms >= 0) */
            ck_assert_msg(fabs(q0 - q1) <= 2.0 * n * 0x1p-53 * q0, "%s sumsq n %zu: %.17g vs %.17g", k->name, n, q1, q0);
            /* AdamW: params, m, v all compared */
            tg_adamw_consts c = {0.99999f, 0.9f, 0.1f, 0.999f, 0.001f, 0.0316f, 1e-8f, -0.0031f};
            gbuf m0 = gb_new(n), m1 = gb_new(n), v0 = gb_new(n), v1 = gb_new(n);
            fill(&r, m0.p, n, -0.1f, 0.1f);
            fill(&r, v0.p, n, 0, 0.01f);
            memcpy(m1.p, m0.p, n * sizeof(float));
            memcpy(v1.p, v0.p, n * sizeof(float));
            memcpy(y0.p, a.p, n * sizeof(float));
            memcpy(y1.p, a.p, n * sizeof(float));
            for (int step = 0; step < 3; step++) {
                s->adamw(y0.p, b.p, m0.p, v0.p, n, &c);
                k->adamw(y1.p, b.p, m1.p, v1.p, n, &c);
            }
            CHECK_SAME("adamw params");
            gb_check(&m1, "adamw m");
            gb_check(&v1, "adamw v");
            ck_assert(same_bits(m0.p, m1.p, n, &at) && same_bits(v0.p, v1.p, n, &at));
            gb_free(&m0), gb_free(&m1), gb_free(&v0), gb_free(&v1);
            gb_free(&a), gb_free(&b), gb_free(&m), gb_free(&y0), gb_free(&y1);
        }
    }
}
END_TEST

/* LayerNorm rows: normalisation and parameter gradients use the reference's
 * operations; only the row sums (double) run in another order, so mean and
 * rstd agree within 1 float ulp and outputs within 2e-6 relative. */
START_TEST(layer_norm_rows_match_scalar)
{
    const tg_kern *s = &tg_kern_scalar;
    tg_rng r;
    tg_rng_seed(&r, 12);
    for (int l = 1; l < nlevels(); l++) {
        const tg_kern *k = tg_kern_at(l);
        for (size_t si = 0; si < NSIZES && SIZES[si] <= 4096; si++) {
            size_t n = SIZES[si], at = 0;
            gbuf x = gb_new(n), g = gb_new(n), b = gb_new(n), dy = gb_new(n), y0 = gb_new(n),
                 y1 = gb_new(n);
            float off = frand(&r, -5, 5); /* a mean far from 0 */
            fill(&r, x.p, n, off - 2, off + 2);
            fill(&r, g.p, n, 0.5f, 1.5f);
            fill(&r, b.p, n, -0.5f, 0.5f);
            fill(&r, dy.p, n, -1, 1);
            float mu0, rs0, mu1, rs1;
            s->ln_row(y0.p, x.p, g.p, b.p, (int)n, 1e-5f, &mu0, &rs0);
            k->ln_row(y1.p, x.p, g.p, b.p, (int)n, 1e-5f, &mu1, &rs1);
            gb_check(&y1, "ln_row");
            ck_assert_msg(fabsf(mu0 - mu1) <= 1.2e-7f * fmaxf(1, fabsf(mu0)) && fabsf(rs0 - rs1) <= 1.2e-7f * rs0,
                          "%s ln_row n %zu: mean %.9g vs %.9g, rstd %.9g vs %.9g", k->name, n, mu1, mu0, rs1, rs0);
            if (mu0 == mu1 && rs0 == rs1)
                ck_assert_msg(same_bits(y0.p, y1.p, n, &at), "%s ln_row n %zu: element %zu", k->name, n, at);
            for (size_t i = 0; i < n; i++)
                ck_assert_msg(fabsf(y0.p[i] - y1.p[i]) <= 2e-6f * fmaxf(1, fabsf(y0.p[i])),
                              "%s ln_row n %zu [%zu]: %.9g vs %.9g", k->name, n, i, y1.p[i], y0.p[i]);
            /* backward from the same mean/rstd */
            memcpy(y0.p, b.p, n * sizeof(float));
            memcpy(y1.p, b.p, n * sizeof(float));
            s->ln_row_bwd(y0.p, x.p, dy.p, g.p, (int)n, mu0, rs0, 1);
            k->ln_row_bwd(y1.p, x.p, dy.p, g.p, (int)n, mu0, rs0, 1);
            gb_check(&y1, "ln_row_bwd");
            { /* overwrite (accumulate 0, NaN-filled) = the same sum minus b */
                float *o0 = malloc(n * sizeof(float)), *o1 = malloc(n * sizeof(float));
                ck_assert(o0 && o1);
                for (size_t i = 0; i < n; i++)
                    o0[i] = o1[i] = NAN;
                s->ln_row_bwd(o0, x.p, dy.p, g.p, (int)n, mu0, rs0, 0);
                k->ln_row_bwd(o1, x.p, dy.p, g.p, (int)n, mu0, rs0, 0);
                for (size_t i = 0; i < n; i++)
                    ck_assert_msg(b.p[i] + o0[i] == y0.p[i] && b.p[i] + o1[i] == y1.p[i],
                                  "%s ln_row_bwd n %zu [%zu]: overwrite %.9g/%.9g + %.9g vs "
                                  "accumulate %.9g/%.9g", k->name, n, i, o0[i], o1[i], b.p[i],
                                  y0.p[i], y1.p[i]);
                free(o0), free(o1);
            }
            for (size_t i = 0; i < n; i++)
                ck_assert_msg(fabsf(y0.p[i] - y1.p[i]) <= 2e-6f * fmaxf(1, fabsf(y0.p[i])),
                              "%s ln_row_bwd n %zu [%zu]: %.9g vs %.9g", k->name, n, i, y1.p[i], y0.p[i]);
            gbuf dg0 = gb_new(n), dg1 = gb_new(n);
            for (int q = 0; q < 3; q++) {
                memcpy(dg0.p, g.p, n * sizeof(float));
                memcpy(dg1.p, g.p, n * sizeof(float));
                memcpy(y0.p, b.p, n * sizeof(float));
                memcpy(y1.p, b.p, n * sizeof(float));
                s->ln_params_bwd(q != 1 ? dg0.p : NULL, q != 2 ? y0.p : NULL, x.p, dy.p, (int)n, mu0, rs0);
                k->ln_params_bwd(q != 1 ? dg1.p : NULL, q != 2 ? y1.p : NULL, x.p, dy.p, (int)n, mu0, rs0);
                gb_check(&dg1, "ln_params_bwd dg");
                CHECK_SAME("ln_params_bwd db");
                ck_assert(same_bits(dg0.p, dg1.p, n, &at));
            }
            gb_free(&dg0), gb_free(&dg1);
            gb_free(&x), gb_free(&g), gb_free(&b), gb_free(&dy), gb_free(&y0), gb_free(&y1);
        }
    }
}
END_TEST

/* gamma_m = m u / (1 - m u), u = 2^-24: the rounding bound of a sum of m
 * float terms (products rounded once each) in any order */
static double gamma_f(int m) { return m * 0x1p-24 / (1 - m * 0x1p-24); }

/* rows of n floats at stride ld (> n: the gaps hold NaN, which a kernel
 * reading past a row would carry into its result) */
static gbuf rows_new(tg_rng *r, int nk, int n, size_t ld, float lo, float hi)
{
    gbuf b = gb_new((size_t)nk * ld);
    for (int j = 0; j < nk; j++)
        for (size_t d = 0; d < ld; d++)
            b.p[j * ld + d] = (int)d < n ? frand(r, lo, hi) : NAN;
    return b;
}

/* The decode attention's rows (rowdots, rowaxpy; ops/attention_decode.c)
 * at every level, scalar included, against double sums: the dot products
 * within kern.h's bound gamma_{n+1} |scale| sum_d |q_d k_jd|, the weighted
 * row sums within gamma_{nk+1} (|o_d| + sum_j |p_j v_jd|) and with the
 * scalar kernel's bits. Row lengths with every tail at both widths, row
 * strides past the width (gaps of NaN), nk = 0 and 1 as well as more than
 * one block of the decode op (128 keys), unaligned rows; nothing written
 * outside the outputs. Prints the worst error as a fraction of the bound. */
START_TEST(decode_rows_against_double)
{
    static const int NS[] = {1, 3, 7, 8, 9, 15, 16, 17, 20, 31, 32, 33, 47, 48, 63, 64, 65, 100, 127, 129};
    static const int NK[] = {0, 1, 2, 5, 128, 131};
    tg_rng r;
    tg_rng_seed(&r, 14);
    for (int l = 0; l < nlevels(); l++) {
        const tg_kern *k = tg_kern_at(l), *s = &tg_kern_scalar;
        double worst_dot = 0, worst_axpy = 0;
        for (size_t a = 0; a < sizeof NS / sizeof NS[0]; a++)
            for (size_t b = 0; b < sizeof NK / sizeof NK[0]; b++)
                for (int st = 0; st < 2; st++) {
                    int n = NS[a], nk = NK[b];
                    size_t ld = st ? 3 * (size_t)n + 37 : (size_t)n + 1, at = 0;
                    float scale = frand(&r, 0.05f, 2.0f);
                    gbuf q = gb_new(n), kr = rows_new(&r, nk, n, ld, -1, 1), sc = gb_new(nk);
                    fill(&r, q.p, n, -1, 1);
                    k->rowdots(sc.p, q.p, kr.p, ld, nk, n, scale);
                    gb_check(&sc, "rowdots");
                    for (int j = 0; j < nk; j++) {
                        double dot = 0, mag = 0;
                        for (int d = 0; d < n; d++) {
                            dot += (double)q.p[d] * kr.p[j * ld + d];
                            mag += fabs((double)q.p[d] * kr.p[j * ld + d]);
                        }
                        double err = fabs(sc.p[j] - scale * dot), bound = gamma_f(n + 1) * scale * mag;
                        ck_assert_msg(err <= bound, "%s rowdots n %d nk %d ld %zu row %d: %.9g, exact %.9g (bound %.3g)",
                                      k->name, n, nk, ld, j, sc.p[j], scale * dot, bound);
                        worst_dot = fmax(worst_dot, err / bound);
                    }
                    /* weights as the op's: exp(s - max) in [0, 1] */
                    gbuf p = gb_new(nk), v = rows_new(&r, nk, n, ld, -1, 1), o0 = gb_new(n), o1 = gb_new(n);
                    fill(&r, p.p, nk, 0, 1);
                    fill(&r, o0.p, n, -1, 1);
                    memcpy(o1.p, o0.p, n * sizeof(float));
                    k->rowaxpy(o1.p, p.p, v.p, ld, nk, n);
                    gb_check(&o1, "rowaxpy");
                    for (int d = 0; d < n; d++) {
                        double sum = o0.p[d], mag = fabs(o0.p[d]);
                        for (int j = 0; j < nk; j++) {
                            sum += (double)p.p[j] * v.p[j * ld + d];
                            mag += fabs((double)p.p[j] * v.p[j * ld + d]);
                        }
                        double err = fabs(o1.p[d] - sum), bound = gamma_f(nk + 1) * mag;
                        ck_assert_msg(err <= bound, "%s rowaxpy n %d nk %d ld %zu column %d: %.9g, exact %.9g (bound %.3g)",
                                      k->name, n, nk, ld, d, o1.p[d], sum, bound);
                        if (bound > 0)
                            worst_axpy = fmax(worst_axpy, err / bound);
                    }
                    s->rowaxpy(o0.p, p.p, v.p, ld, nk, n);
                    ck_assert_msg(same_bits(o0.p, o1.p, n, &at), "%s rowaxpy n %d nk %d ld %zu: column %d %.9g vs scalar %.9g",
                                  k->name, n, nk, ld, (int)at, o1.p[at], o0.p[at]);
                    gb_free(&q), gb_free(&kr), gb_free(&sc), gb_free(&p), gb_free(&v);
                    gb_free(&o0), gb_free(&o1);
                }
        printf("test_kernels: %s rowdots worst error %.3g of the bound, rowaxpy %.3g\n", k->name,
               worst_dot, worst_axpy);
    }
}
END_TEST

/* max |f(x) - ref(x)| / scale(x) over a grid of [lo, hi] (step chosen to
 * hit many float exponents) */
typedef double (*dref)(double);
static double max_err(void (*f)(float *, const float *, size_t), dref ref, float lo, float hi,
                      size_t n, int relative, double *worst_x)
{
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    ck_assert(x && y);
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)i / (float)(n - 1);
    f(y, x, n);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double want = ref(x[i]), e = fabs(y[i] - want) / (relative ? fabs(want) : 1.0);
        if (!(e <= worst)) {
            worst = e;
            *worst_x = x[i];
        }
    }
    free(x), free(y);
    return worst;
}

START_TEST(vector_math_against_libm)
{
    for (int l = 1; l < nlevels(); l++) {
        const tg_kern *k = tg_kern_at(l);
        double wx = 0, e;
        e = max_err(k->exp, exp, -87.3f, 88.7f, 2000003, 1, &wx);
        printf("test_kernels: %s exp max relative error %.3g at %g\n", k->name, e, wx);
        ck_assert_msg(e < 2e-7, "%s exp: relative error %.3g at %g", k->name, e, wx);
        e = max_err(k->exp, exp, -1.0f, 1.0f, 1000001, 1, &wx);
        ck_assert_msg(e < 2e-7, "%s exp: relative error %.3g at %g", k->name, e, wx);
        e = max_err(k->erf, erf, -10, 10, 2000003, 0, &wx);
        printf("test_kernels: %s erf max absolute error %.3g at %g\n", k->name, e, wx);
        ck_assert_msg(e < 3e-7, "%s erf: absolute error %.3g at %g", k->name, e, wx);
        e = max_err(k->tanh, tanh, -20, 20, 2000003, 0, &wx);
        printf("test_kernels: %s tanh max absolute error %.3g at %g\n", k->name, e, wx);
        ck_assert_msg(e < 2.5e-7, "%s tanh: absolute error %.3g at %g", k->name, e, wx);
        /* edges: under/overflow, infinities and NaN as libm */
        float x[8] = {-100.f, -87.5f, 89.f, INFINITY, -INFINITY, NAN, 0.f, -0.f}, y[8];
        k->exp(y, x, 8);
        ck_assert(y[0] == 0 && y[1] == 0 && isinf(y[2]) && isinf(y[3]) && y[4] == 0 && isnan(y[5]) &&
                  y[6] == 1 && y[7] == 1);
        k->erf(y, x, 8);
        ck_assert(y[0] == -1 && y[2] == 1 && y[3] == 1 && y[4] == -1 && isnan(y[5]) && fabsf(y[6]) < 1e-7f);
        k->tanh(y, x, 8);
        ck_assert(y[0] == -1 && y[2] == 1 && y[3] == 1 && y[4] == -1 && isnan(y[5]) && y[6] == 0);
    }
}
END_TEST

/* GELU in double: form 0 erf forward, 1 tanh forward, 2 and 3 their
 * derivatives */
static double gelu_true(int form, double x)
{
    double k = 0.79788456080286535588, c = 0.044715;
    double u = k * (x + c * x * x * x), th = tanh(u);
    switch (form) {
    case 0: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case 1: return 0.5 * x * (1 + th);
    case 2: return 0.5 * (1 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
    default: return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * k * (1 + 3 * c * x * x);
    }
}

/* GELU (both forms), forward and backward: the vector kernels within
 * 4e-7 * max(1, |x|) of the double-precision truth, and within that plus
 * the scalar kernel's own error of the scalar kernels (the reference's
 * tanhf form loses up to ~2e-6 to 1 - th^2 near |x| = 5), on [-12, 12] and
 * on random data at every size. */
START_TEST(gelu_matches_scalar)
{
    const tg_kern *s = &tg_kern_scalar;
    tg_rng r;
    tg_rng_seed(&r, 13);
    for (int l = 1; l < nlevels(); l++) {
        const tg_kern *k = tg_kern_at(l);
        for (size_t si = 0; si <= NSIZES; si++) {
            size_t n = si < NSIZES ? SIZES[si] : 240001;
            gbuf x = gb_new(n), dy = gb_new(n), y0 = gb_new(n), y1 = gb_new(n);
            if (si < NSIZES)
                fill(&r, x.p, n, -6, 6);
            else
                for (size_t i = 0; i < n; i++)
                    x.p[i] = -12.f + 24.f * (float)i / (float)(n - 1);
            for (size_t i = 0; i < n; i++)
                dy.p[i] = 1.0f; /* backward = the derivative itself */
            double worst[4] = {0}, worst_s[4] = {0};
            for (int f = 0; f < 4; f++) {
                if (f == 0)
                    s->gelu(y0.p, x.p, n), k->gelu(y1.p, x.p, n);
                else if (f == 1)
                    s->gelu_new(y0.p, x.p, n), k->gelu_new(y1.p, x.p, n);
                else {
                    /* accumulate = 0 on NaN-filled buffers, then 1 on zeros:
                     * the overwrite is the same sum without the zero */
                    float *ov[2] = {malloc(n * sizeof(float)), malloc(n * sizeof(float))};
                    ck_assert(ov[0] && ov[1]);
                    for (int a = 0; a < 2; a++) {
                        float *d0 = a ? y0.p : ov[0], *d1 = a ? y1.p : ov[1];
                        for (size_t i = 0; i < n; i++)
                            d0[i] = d1[i] = a ? 0.0f : NAN;
                        if (f == 2)
                            s->gelu_bwd(d0, x.p, dy.p, n, a), k->gelu_bwd(d1, x.p, dy.p, n, a);
                        else
                            s->gelu_new_bwd(d0, x.p, dy.p, n, a),
                                k->gelu_new_bwd(d1, x.p, dy.p, n, a);
                    }
                    for (size_t i = 0; i < n; i++)
                        ck_assert_msg(ov[0][i] == y0.p[i] && ov[1][i] == y1.p[i],
                                      "%s gelu form %d n %zu x %.9g: overwrite %.9g/%.9g, "
                                      "accumulate %.9g/%.9g", k->name, f, n, x.p[i], ov[0][i],
                                      ov[1][i], y0.p[i], y1.p[i]);
                    free(ov[0]), free(ov[1]);
                }
                gb_check(&y1, "gelu");
                for (size_t i = 0; i < n; i++) {
                    double t = gelu_true(f, x.p[i]), sc = fmax(1, fabs(x.p[i]));
                    double ev = fabs(y1.p[i] - t) / sc, es = fabs(y0.p[i] - t) / sc;
                    ck_assert_msg(ev < 4e-7, "%s gelu form %d n %zu x %.9g: %.9g, true %.9g", k->name,
                                  f, n, x.p[i], y1.p[i], t);
                    ck_assert_msg(fabs(y0.p[i] - y1.p[i]) / sc < 4e-7 + es,
                                  "%s gelu form %d n %zu x %.9g: %.9g vs scalar %.9g", k->name, f,
                                  n, x.p[i], y1.p[i], y0.p[i]);
                    worst[f] = fmax(worst[f], ev);
                    worst_s[f] = fmax(worst_s[f], es);
                }
            }
            if (si == NSIZES)
                printf("test_kernels: %s gelu, gelu_new, gelu', gelu_new': max |err| / max(1,|x|) "
                       "vs double %.3g %.3g %.3g %.3g (scalar kernels: %.3g %.3g %.3g %.3g)\n",
                       k->name, worst[0], worst[1], worst[2], worst[3], worst_s[0], worst_s[1],
                       worst_s[2], worst_s[3]);
            gb_free(&x), gb_free(&dy), gb_free(&y0), gb_free(&y1);
        }
    }
}
END_TEST

/* A training step of RoBERTa (heavy_tiny, dropout on) at every level: loss
 * and every parameter gradient as at the scalar level within 1e-4
 * relative to the gradient's largest entry (GELU's vector erf moves
 * activations by < 4e-7); an AdamW step on each. */
START_TEST(roberta_step_at_every_level)
{
    const char *src = tu_source_dir();
    char path[4096];
    snprintf(path, sizeof path, "%s/configs/heavy_tiny.json", src ? src : "..");
    rb_config cfg;
    rb_model *m;
    ck_assert_int_eq(rb_config_load(path, &cfg), TG_OK);
    ck_assert_int_eq(rb_model_new(&cfg, &m), TG_OK);
    rb_model_init(m, 5);
    int B = 3, T = 37;
    rb_graph gr;
    ck_assert_int_eq(rb_build(m, B, T, RB_LOSS, &gr), TG_OK);
    tg_graph_set_training(gr.g, 1);
    int32_t ids[3 * 37], lab[3 * 37];
    tg_rng r;
    tg_rng_seed(&r, 9);
    for (int i = 0; i < B * T; i++) {
        ids[i] = 5 + (int)(tg_rng_next(&r) % 20);
        lab[i] = tg_rng_uniform(&r) < 0.3 ? ids[i] : -100;
    }
    size_t np = tg_params_numel(m->params);
    float *g0 = malloc(np * sizeof(float)), *p0 = malloc(np * sizeof(float));
    float *start = malloc(np * sizeof(float));
    ck_assert(g0 && p0 && start);
    memcpy(start, tg_params_values(m->params), np * sizeof(float));
    float loss0 = 0;
    for (int l = 0; l < nlevels(); l++) {
        ck_assert_int_ge(tg_cpu_set_level(l), 0);
        memcpy(tg_params_values(m->params), start, np * sizeof(float));
        tg_params_zero_grad(m->params);
        rb_set_batch(&gr, ids, NULL, lab);
        tg_graph_set_rng_state(gr.g, 3);
        ck_assert_int_eq(tg_forward(gr.g), TG_OK);
        ck_assert_int_eq(tg_backward(gr.g, gr.loss, NULL), TG_OK);
        float loss = tg_f32(gr.loss)[0];
        const float *g = tg_params_grads(m->params);
        double gmax = 0;
        for (size_t i = 0; i < np; i++)
            gmax = fmax(gmax, fabs(g[i]));
        opt_adamw o;
        opt_adamw_config oc = opt_adamw_defaults();
        oc.weight_decay = 0.01;
        opt_segment seg = {0, np, 1};
        ck_assert_int_eq(opt_adamw_init(&o, &oc, np, &seg, 1), TG_OK);
        ck_assert_int_eq(opt_adamw_step(&o, tg_params_values(m->params), g, 1e-3), TG_OK);
        opt_adamw_free(&o);
        if (l == 0) {
            loss0 = loss;
            memcpy(g0, g, np * sizeof(float));
            memcpy(p0, tg_params_values(m->params), np * sizeof(float));
            ck_assert(isfinite(loss) && gmax > 0);
            continue;
        }
        ck_assert_msg(fabsf(loss - loss0) <= 1e-5f * fabsf(loss0), "%s loss %.9g vs scalar %.9g",
                      tg_cpu_level_name(l), loss, loss0);
        double worst = 0;
        for (size_t i = 0; i < np; i++)
            worst = fmax(worst, fabs(g[i] - g0[i]) / gmax);
        printf("test_kernels: %s step: loss %.9g (scalar %.9g), max grad diff %.3g of the largest\n",
               tg_cpu_level_name(l), loss, loss0, worst);
        ck_assert_msg(worst < 1e-4, "%s: gradients differ by %.3g of the largest", tg_cpu_level_name(l), worst);
    }
    tg_cpu_set_level(-1);
    free(g0), free(p0), free(start);
    rb_graph_free(&gr);
    rb_model_free(m);
}
END_TEST

/* tg_gemm's large products (above the small-product cut, so the machine's
 * choice of library applies) on OpenBLAS and on oneDNN, forced in turn, at
 * 1 and 2 threads: every transpose, alpha and beta, padded leading
 * dimensions; each entry within 2 k 2^-24 sum |alpha a b| + |beta c| of the
 * double product, and the padding columns of C untouched. */
START_TEST(gemm_backends_against_double)
{
    printf("test_kernels: tg_gemm's large products run on %s on this machine\n",
           tg_gemm_large_name());
    int auto_backend = tg_gemm_large_backend();
    const int m = 301, n = 203, k = 130, pad = 5;
    tg_rng r;
    tg_rng_seed(&r, 21);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int backend = TG_GEMM_OPENBLAS; backend <= TG_GEMM_ONEDNN; backend++)
                for (int threads = 1; threads <= 2; threads++) {
                    int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
                    size_t na = (size_t)(ta ? k : m) * lda, nb = (size_t)(tb ? n : k) * ldb;
                    float *a = malloc(na * sizeof(float)), *b = malloc(nb * sizeof(float));
                    gbuf c = gb_new((size_t)m * ldc);
                    ck_assert(a && b);
                    fill(&r, a, na, -1, 1);
                    fill(&r, b, nb, -1, 1);
                    float *c0 = malloc((size_t)m * ldc * sizeof(float));
                    ck_assert_ptr_nonnull(c0);
                    fill(&r, c0, (size_t)m * ldc, -1, 1);
                    memcpy(c.p, c0, (size_t)m * ldc * sizeof(float));
                    float alpha = 0.75f, beta = threads == 1 ? 0.5f : 0.0f;
                    tg_gemm_set_large_backend(backend);
                    tg_set_threads(threads);
                    tg_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c.p, ldc);
                    tg_set_threads(0);
                    tg_gemm_set_large_backend(-1);
                    double worst = 0;
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < ldc; j++) {
                            float got = c.p[(size_t)i * ldc + j];
                            if (j >= n) { /* padding: untouched */
                                ck_assert_msg(got == c0[(size_t)i * ldc + j],
                                              "ta %d tb %d %s: wrote C's padding at (%d, %d)",
                                              ta, tb, backend ? "onednn" : "openblas", i, j);
                                continue;
                            }
                            double s = 0, sa = 0;
                            for (int q = 0; q < k; q++) {
                                double x = ta ? a[(size_t)q * lda + i] : a[(size_t)i * lda + q];
                                double y = tb ? b[(size_t)j * ldb + q] : b[(size_t)q * ldb + j];
                                s += x * y;
                                sa += fabs(x * y);
                            }
                            double cij = c0[(size_t)i * ldc + j];
                            double ref = alpha * s + beta * cij;
                            double bound = 2.0 * (k + 2) * ldexp(1.0, -24) *
                                           (fabs(alpha) * sa + fabs(beta * cij)) + 1e-30;
                            double e = fabs(got - ref) / bound;
                            worst = fmax(worst, e);
                            ck_assert_msg(e <= 1, "ta %d tb %d %s %d threads: C(%d, %d) = %.9g, "
                                          "double %.9g (bound %.3g)", ta, tb,
                                          backend ? "onednn" : "openblas", threads, i, j, got, ref,
                                          bound);
                        }
                    gb_check(&c, "tg_gemm");
                    printf("test_kernels: gemm ta %d tb %d on %s, %d threads: worst error %.3f of "
                           "the bound\n", ta, tb, backend ? "onednn" : "openblas", threads, worst);
                    free(a), free(b), free(c0);
                    gb_free(&c);
                }
    ck_assert_int_eq(tg_gemm_large_backend(), auto_backend);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kernels");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, detection_matches_proc_cpuinfo);
    tcase_add_test(tc, forcing_levels);
    tcase_add_test(tc, env_override);
    tcase_add_test(tc, exact_kernels_match_scalar);
    tcase_add_test(tc, layer_norm_rows_match_scalar);
    tcase_add_test(tc, decode_rows_against_double);
    tcase_add_test(tc, vector_math_against_libm);
    tcase_add_test(tc, gelu_matches_scalar);
    tcase_add_test(tc, roberta_step_at_every_level);
    tcase_add_test(tc, gemm_backends_against_double);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
