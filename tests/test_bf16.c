/* The bf16 tier: float32 -> bfloat16 rounding on edge values and random
 * bits (every conversion kernel the CPU has against the scalar one, and
 * the scalar one against an independent nearest-even rule); oneDNN's bf16
 * GEMM against a double-precision reference for every transpose, alpha,
 * beta, leading dimension, batch stride and a shared B; tg_matmul and
 * tg_linear and tg_attention forward and backward in a bf16 graph
 * against fp32; parameter
 * copies refreshed when the weights change; a RoBERTa forward and backward
 * in bf16 against fp32.
 *
 * Tolerances. bf16 keeps 8 significant bits, so rounding an operand has
 * relative error at most u = 2^-8 and a product of two rounded operands at
 * most 2u + u^2; fp32 accumulation of k products adds at most k 2^-24
 * (relative to the sum of |products|). So for C = sum_p a_p b_p:
 *   |C_bf16 - C_exact| <= (2u + u^2 + k 2^-24) sum_p |a_p b_p|        (1)
 * and against the exact product of the ROUNDED operands only the fp32
 * accumulation term remains:
 *   |C_bf16 - C_rounded| <= k 2^-24 sum_p |a_p b_p|                    (2)
 * (2) is what pins down transposes and strides: any misread element
 * breaks it. Over many outputs the rounding errors are random in sign and
 * add in quadrature, so a product's relative L2 error is about u; ops and
 * a whole RoBERTa (2 layers, forward and backward: the errors of a chain
 * of GEMMs add) are held to 4u = 1.6% relative L2 on outputs, logits and
 * all gradients together, and the loss to 0.1% (observed, printed: about
 * 0.3% and 3e-5); a misread operand gives errors of order 1.
 *
 * The suite runs three times (CMakeLists.txt): as is, with
 * ONEDNN_MAX_CPU_ISA=AVX512_CORE (AVX-512 without bf16 instructions:
 * oneDNN emulates bf16, results within the same tolerances) and with
 * ONEDNN_MAX_CPU_ISA=AVX2 (no bf16 matmul: tg_bf16_available() is 0, the
 * bf16 GEMM refuses without writing and bf16 graphs compute exactly the
 * fp32 results). */
#include "commands.h"
#include "config.h"
#include "encdec.h"
#include "roberta.h"
#include "tg_internal.h"
#include "testutil.h"
#include "tokenizer.h"
#include "train_args.h"

#include <math.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double U = 1.0 / 256; /* bf16 unit roundoff 2^-8 */

static float f_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static uint32_t u_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static void fill_normal(float *x, size_t n, uint64_t seed)
{
    tg_rng r;
    tg_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)tg_rng_normal(&r);
}

/* What the ISA cap of this run (ONEDNN_MAX_CPU_ISA) lets oneDNN do: 0 no
 * bf16 matmul, 1 emulated, 2 native; -1 when it depends on the CPU. The
 * AVX512_CORE cap means emulated only on a CPU that has AVX512_CORE (an
 * AVX2-only CPU, such as AMD Zen 3, has no bf16 matmul under any cap). */
static int expected_availability(void)
{
    const char *cap = getenv("ONEDNN_MAX_CPU_ISA");
    if (cap && !strcmp(cap, "AVX2"))
        return 0;
    if (cap && !strcmp(cap, "AVX512_CORE")) { /* a cap never adds what the CPU lacks */
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")
                   ? 1
                   : 0;
    }
    return -1;
}

START_TEST(availability_follows_the_isa_cap)
{
    int want = expected_availability(), got = tg_bf16_available();
    printf("bf16: availability %d (cap %s), conversion kernel %s\n", got,
           getenv("ONEDNN_MAX_CPU_ISA") ? getenv("ONEDNN_MAX_CPU_ISA") : "none",
           tg_bf16_cvt_kernel());
    __builtin_cpu_init();
    if (want < 0) /* uncapped: native exactly when the CPU has AVX512-BF16 */
        want = __builtin_cpu_supports("avx512bf16") ? 2 : __builtin_cpu_supports("avx512f") ? -1 : 0;
    if (want >= 0)
        ck_assert_int_eq(got, want);
    ck_assert(got >= 0 && got <= 2);
}
END_TEST

/* ---- conversion ------------------------------------------------------------ */

static const struct {
    uint32_t f;
    uint16_t h;
} edges[] = {
    {0x00000000, 0x0000}, {0x80000000, 0x8000}, /* zeros keep their sign */
    {0x3f800000, 0x3f80},                       /* 1.0 exactly */
    {0x3f808000, 0x3f80},                       /* tie, even below: down */
    {0x3f818000, 0x3f82},                       /* tie, odd below: up */
    {0xbf818000, 0xbf82},                       /* negative tie: away by evenness */
    {0x3f808001, 0x3f81}, {0x3f807fff, 0x3f80}, /* just above / below a tie */
    {0x7f7f7fff, 0x7f7f},                       /* largest that stays finite */
    {0x7f7f8000, 0x7f80}, {0x7f7fffff, 0x7f80}, /* overflow by rounding: inf */
    {0xff7fffff, 0xff80},
    {0x7f800000, 0x7f80}, {0xff800000, 0xff80}, /* infinities */
    {0x7fc00000, 0x7fc0}, {0xffc00000, 0xffc0}, /* quiet NaNs */
    {0x7f800001, 0x7fc0}, {0x7fa00000, 0x7fe0}, /* signalling NaNs: quieted, */
    {0xff800001, 0xffc0}, {0x7fffffff, 0x7fff}, /* payload's top kept; never inf */
    {0x00000001, 0x0000}, {0x807fffff, 0x8000}, /* denormals: signed zero */
    {0x00400000, 0x0000},
    {0x00800000, 0x0080},                       /* smallest normal */
    {0x00ffffff, 0x0100},                       /* rounds up into the next binade */
    {0x4b7fffff, 0x4b80}, {0x3eff7f7f, 0x3eff}, /* carries through the exponent; below half */
};
#define NEDGES (int)(sizeof edges / sizeof edges[0])

static const char *kernels[] = {"scalar", "avx2", "avx512bf16"};

START_TEST(conversion_edge_values_are_exact)
{
    /* every edge value at every lane position of the vector kernels */
    enum { N = 3 * 64 + 5 };
    float src[N];
    tg_bf16 dst[N];
    for (int i = 0; i < N; i++)
        src[i] = f_of(edges[(i * 7) % NEDGES].f);
    for (int e = 0; e < NEDGES; e++)
        ck_assert_msg(tg_bf16_of(f_of(edges[e].f)) == edges[e].h, "tg_bf16_of(0x%08x) = 0x%04x, want 0x%04x",
                      edges[e].f, tg_bf16_of(f_of(edges[e].f)), edges[e].h);
    int ran = 0;
    for (int kk = 0; kk < 3; kk++) {
        memset(dst, 0xab, sizeof dst);
        if (tg_f32_to_bf16_kernel(kernels[kk], dst, src, N) != TG_OK)
            continue; /* this CPU lacks it */
        ran++;
        for (int i = 0; i < N; i++)
            ck_assert_msg(dst[i] == edges[(i * 7) % NEDGES].h, "%s: element %d: 0x%08x -> 0x%04x, want 0x%04x",
                          kernels[kk], i, u_of(src[i]), dst[i], edges[(i * 7) % NEDGES].h);
    }
    ck_assert_int_ge(ran, 1);
    memset(dst, 0, sizeof dst); /* the dispatched, threaded entry point */
    tg_f32_to_bf16(dst, src, N);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(dst[i], edges[(i * 7) % NEDGES].h);
    /* widening is exact */
    for (int e = 0; e < NEDGES; e++)
        if ((edges[e].h & 0x7f80) != 0x7f80 || !(edges[e].h & 0x7f))
            ck_assert_uint_eq(u_of(tg_bf16_to_float(edges[e].h)), (uint32_t)edges[e].h << 16);
}
END_TEST

/* Nearest even by comparing distances in double: independent of the
 * integer trick the kernels use. Normal finite f only. */
static uint16_t nearest_even(float f)
{
    uint32_t u = u_of(f), lo = u & 0xffff0000u, hi = lo + 0x10000u;
    double dl = fabs((double)f - (double)f_of(lo)), dh;
    if ((hi & 0x7fffffffu) == 0x7f800000u) /* up is 2^128: overflow, infinity */
        dh = fabs((double)f - ldexp(f < 0 ? -1.0 : 1.0, 128));
    else
        dh = fabs((double)f - (double)f_of(hi));
    if (dl < dh || (dl == dh && !(lo & 0x10000u)))
        return (uint16_t)(lo >> 16);
    return (uint16_t)(hi >> 16);
}

START_TEST(conversion_kernels_agree_on_random_bits)
{
    enum { N = 1 << 18 };
    float *src = malloc(N * sizeof *src);
    tg_bf16 *ref = malloc(N * sizeof *ref), *got = malloc(N * sizeof *got);
    tg_rng r;
    tg_rng_seed(&r, 11);
    for (int i = 0; i < N; i++) /* any bits: NaNs, infinities, denormals included */
        src[i] = f_of((uint32_t)tg_rng_next(&r));
    tg_f32_to_bf16_scalar(ref, src, N);
    long normals = 0;
    for (int i = 0; i < N; i++) {
        uint32_t e = u_of(src[i]) & 0x7f800000u;
        if (e && e != 0x7f800000u) {
            normals++;
            ck_assert_msg(ref[i] == nearest_even(src[i]), "0x%08x -> 0x%04x, nearest even 0x%04x",
                          u_of(src[i]), ref[i], nearest_even(src[i]));
        }
    }
    ck_assert_int_gt(normals, N / 2);
    for (int kk = 1; kk < 3; kk++) {
        if (tg_f32_to_bf16_kernel(kernels[kk], got, src, N) != TG_OK)
            continue;
        for (int i = 0; i < N; i++)
            ck_assert_msg(got[i] == ref[i], "%s: 0x%08x -> 0x%04x, scalar 0x%04x", kernels[kk],
                          u_of(src[i]), got[i], ref[i]);
    }
    tg_f32_to_bf16(got, src, N);
    ck_assert(!memcmp(got, ref, N * sizeof *ref));
    free(src);
    free(ref);
    free(got);
}
END_TEST

/* ---- GEMM ------------------------------------------------------------------ */

typedef struct {
    int batch, ta, tb, m, n, k, pad, shared_b;
    float alpha, beta;
} gemm_case;

/* Runs one case through tg_dnnl_gemm_bf16 and checks (1) and (2) and that
 * nothing outside C's matrices is written. */
static void check_gemm(const gemm_case *c, uint64_t seed)
{
    int ar = c->ta ? c->k : c->m, ac = c->ta ? c->m : c->k; /* A as stored */
    int br = c->tb ? c->n : c->k, bc = c->tb ? c->k : c->n;
    int lda = ac + c->pad, ldb = bc + c->pad, ldc = c->n + c->pad;
    size_t sa = (size_t)ar * lda + c->pad, sb = c->shared_b ? 0 : (size_t)br * ldb + 2 * c->pad;
    size_t sc = (size_t)c->m * ldc + c->pad;
    size_t na = sa * c->batch, nb = c->shared_b ? (size_t)br * ldb : sb * c->batch,
           nc = sc * c->batch;
    float *a = malloc(na * 4), *b = malloc(nb * 4), *cc = malloc(nc * 4), *c0 = malloc(nc * 4);
    tg_bf16 *ah = malloc(na * 2), *bh = malloc(nb * 2);
    fill_normal(a, na, seed);
    fill_normal(b, nb, seed + 1);
    fill_normal(c0, nc, seed + 2);
    memcpy(cc, c0, nc * 4);
    tg_f32_to_bf16(ah, a, na);
    tg_f32_to_bf16(bh, b, nb);
    int rc = tg_dnnl_gemm_bf16(c->batch, c->ta, c->tb, c->m, c->n, c->k, c->alpha, ah, lda, sa,
                               bh, ldb, sb, c->beta, cc, ldc, sc);
    char what[160];
    snprintf(what, sizeof what, "batch %d %s%s %dx%dx%d pad %d%s alpha %g beta %g", c->batch,
             c->ta ? "T" : "N", c->tb ? "T" : "N", c->m, c->n, c->k, c->pad,
             c->shared_b ? " shared B" : "", c->alpha, c->beta);
    if (!tg_bf16_available()) {
        ck_assert_msg(rc == TG_ERR_ARG, "%s: rc %d on a machine without bf16 matmul", what, rc);
        ck_assert_msg(!memcmp(cc, c0, nc * 4), "%s: refused but wrote C", what);
        goto done;
    }
    ck_assert_msg(rc == TG_OK, "%s: %s", what, tg_last_error());
    double worst1 = 0, worst2 = 0;
    for (int e = 0; e < c->batch; e++) {
        const float *A = a + e * sa, *B = b + (c->shared_b ? 0 : e * sb);
        const tg_bf16 *Ah = ah + e * sa, *Bh = bh + (c->shared_b ? 0 : e * sb);
        for (int i = 0; i < c->m; i++)
            for (int j = 0; j < c->n; j++) {
                double exact = 0, rounded = 0, mag = 0;
                for (int p = 0; p < c->k; p++) {
                    size_t ia = c->ta ? (size_t)p * lda + i : (size_t)i * lda + p;
                    size_t ib = c->tb ? (size_t)j * ldb + p : (size_t)p * ldb + j;
                    exact += (double)A[ia] * B[ib];
                    rounded += (double)tg_bf16_to_float(Ah[ia]) * tg_bf16_to_float(Bh[ib]);
                    mag += fabs((double)A[ia] * B[ib]);
                }
                double old = c0[e * sc + (size_t)i * ldc + j];
                double got = cc[e * sc + (size_t)i * ldc + j];
                mag = fabs(c->alpha) * mag + 1e-30;
                /* beta C is one fp32 multiply-add: 2^-24 of |beta C| more */
                double slack = ldexp(fabs(c->beta * old), -23);
                double e1 = fabs(got - (c->alpha * exact + c->beta * old)) - slack;
                double e2 = fabs(got - (c->alpha * rounded + c->beta * old)) - slack;
                double t1 = (2 * U + U * U + c->k * ldexp(1, -24)) * mag * 1.0001;
                double t2 = c->k * ldexp(1, -24) * mag * 1.0001 + ldexp(mag, -24);
                ck_assert_msg(e1 <= t1, "%s: C[%d][%d][%d] = %.9g, exact %.9g: error %.3g > (1) %.3g",
                              what, e, i, j, got, c->alpha * exact + c->beta * old, e1, t1);
                ck_assert_msg(e2 <= t2, "%s: C[%d][%d][%d] = %.9g, rounded operands %.9g: error %.3g > (2) %.3g",
                              what, e, i, j, got, c->alpha * rounded + c->beta * old, e2, t2);
                worst1 = fmax(worst1, (e1 + slack) / mag);
                worst2 = fmax(worst2, (e2 + slack) / mag);
            }
        /* padding of C untouched: columns n..ldc of each row, the gap after */
        for (int i = 0; i < c->m; i++)
            for (int j = c->n; j < ldc; j++)
                ck_assert(cc[e * sc + (size_t)i * ldc + j] == c0[e * sc + (size_t)i * ldc + j]);
        for (size_t g = (size_t)c->m * ldc; g < sc; g++)
            ck_assert(cc[e * sc + g] == c0[e * sc + g]);
    }
    (void)worst1, (void)worst2;
done:
    free(a), free(b), free(cc), free(c0), free(ah), free(bh);
}

START_TEST(gemm_matches_reference_for_every_layout)
{
    const int shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {130, 130, 128}, {64, 96, 300}};
    const float ab[][2] = {{1, 0}, {1, 1}, {0.125f, 0}, {0.5f, -1.5f}};
    uint64_t seed = 100;
    for (int s = 0; s < 5; s++)
        for (int t = 0; t < 4; t++)
            for (int v = 0; v < 4; v++) {
                gemm_case c = {1, t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2],
                               (v & 1) ? 3 : 0, 0, ab[v][0], ab[v][1]};
                if (s == 3 && v > 1)
                    continue; /* the big shape once per layout and beta */
                check_gemm(&c, seed++);
            }
    /* a linear layer's forward with the bias added by oneDNN */
    {
        int m = 37, n = 29, k = 70;
        float *x = malloc(m * k * 4), *w = malloc(n * k * 4), *bias = malloc(n * 4), *y = malloc(m * n * 4);
        tg_bf16 *xh = malloc(m * k * 2), *wh = malloc(n * k * 2);
        fill_normal(x, m * k, 1), fill_normal(w, n * k, 2), fill_normal(bias, n, 3);
        tg_f32_to_bf16(xh, x, m * k), tg_f32_to_bf16(wh, w, n * k);
        int rc = tg_dnnl_gemm_bf16_bias(m, n, k, xh, wh, bias, y);
        ck_assert_int_eq(rc, tg_bf16_available() ? TG_OK : TG_ERR_ARG);
        for (int i = 0; i < m && rc == TG_OK; i++)
            for (int j = 0; j < n; j++) {
                double r = bias[j], mag = fabs(bias[j]);
                for (int p = 0; p < k; p++) {
                    r += (double)tg_bf16_to_float(xh[i * k + p]) * tg_bf16_to_float(wh[j * k + p]);
                    mag += fabs((double)x[i * k + p] * w[j * k + p]);
                }
                ck_assert_msg(fabs(y[i * n + j] - r) <= (k + 1) * ldexp(mag, -24),
                              "bias gemm: y[%d][%d] = %.9g, want %.9g", i, j, y[i * n + j], r);
            }
        free(x), free(w), free(bias), free(y), free(xh), free(wh);
    }
    /* batched: strided entries with gaps, and one B shared by all */
    for (int t = 0; t < 4; t++)
        for (int shared = 0; shared < 2; shared++) {
            gemm_case c = {3, t & 1, t >> 1, 20, 13, 37, 2, shared, shared ? 0.25f : 1, shared ? 1 : 0};
            check_gemm(&c, seed++);
            gemm_case d = {4, t & 1, t >> 1, 65, 64, 130, 0, shared, 1, 0};
            check_gemm(&d, seed++);
        }
}
END_TEST

/* ---- ops in a bf16 graph --------------------------------------------------- */

/* Relative L2 difference of x against ref. */
static double rel_l2(const float *x, const float *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)x[i] - ref[i]) * ((double)x[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    return sqrt(num) / fmax(sqrt(den), 1e-30);
}

/* out = op(a, b) and loss = sum(out * R) in one precision; returns the
 * output and the gradients of a and b (malloc'ed copies). */
typedef struct {
    float *out, *ga, *gb;
    size_t nout;
} op_run;

static op_run run_op(int linear, int ta, int tb, int a3, int b3, tg_precision prec)
{
    tg_params *p = tg_params_new();
    int B = 3, M = 19, K = 33, N = 21;
    tg_tensor *a, *b, *bias = NULL;
    if (linear) {
        a = tg_params_add(p, "x", 3, (int[]){B, M, K}, 1);
        b = tg_params_add(p, "w", 2, (int[]){N, K}, 1);
        bias = tg_params_add(p, "bias", 1, (int[]){N}, 1);
    } else {
        int as[3] = {B, ta ? K : M, ta ? M : K}, bs[3] = {B, tb ? N : K, tb ? K : N};
        a = a3 ? tg_params_add(p, "a", 3, as, 1) : tg_params_add(p, "a", 2, as + 1, 1);
        b = b3 ? tg_params_add(p, "b", 3, bs, 1) : tg_params_add(p, "b", 2, bs + 1, 1);
    }
    tg_tensor *R = tg_params_add(p, "R", 3, (int[]){B, M, N}, 0);
    if (!a3 && !linear)
        R = NULL; /* declared below with the 2-D shape */
    tg_tensor *R2 = !a3 && !linear ? tg_params_add(p, "R2", 2, (int[]){M, N}, 0) : NULL;
    ck_assert_int_eq(tg_params_alloc(p), TG_OK);
    fill_normal(tg_params_values(p), tg_params_numel(p), 7 + ta + 2 * tb + 4 * a3 + 8 * b3 + 16 * linear);
    tg_graph *g = tg_graph_new();
    tg_graph_set_precision(g, prec);
    tg_tensor *out = linear ? tg_linear(g, a, b, bias) : tg_matmul(g, a, b, ta, tb);
    tg_tensor *loss = tg_sum(g, tg_mul(g, out, R ? R : R2));
    ck_assert_msg(loss, "%s", tg_graph_error(g));
    ck_assert_int_eq(tg_graph_plan(g, loss, 0), TG_OK);
    tg_graph_keep(g, out);
    ck_assert_int_eq(tg_forward(g), TG_OK);
    tg_params_zero_grad(p);
    ck_assert_int_eq(tg_backward(g, loss, NULL), TG_OK);
    op_run r;
    r.nout = out->numel;
    r.out = malloc(r.nout * 4), r.ga = malloc(a->numel * 4), r.gb = malloc(b->numel * 4);
    memcpy(r.out, tg_f32(out), r.nout * 4);
    memcpy(r.ga, a->grad, a->numel * 4);
    memcpy(r.gb, b->grad, b->numel * 4);
    r.nout = out->numel;
    tg_graph_free(g);
    tg_params_free(p);
    return r;
}

START_TEST(ops_forward_and_backward_within_bf16_tolerance)
{
    /* relative L2 error of a product of rounded operands: about u (random
     * rounding errors add in quadrature); 4u bounds it with margin, a
     * misread operand gives O(1) */
    double tol = 4 * U, worst = 0;
    int avail = tg_bf16_available();
    for (int linear = 0; linear < 2; linear++)
        for (int v = 0; v < (linear ? 1 : 12); v++) {
            int ta = v & 1, tb = (v >> 1) & 1, shape = v >> 2; /* 0: a, b 3-D; 1: b 2-D; 2: both 2-D */
            int a3 = shape < 2, b3 = shape == 0;
            op_run f = run_op(linear, ta, tb, a3, b3, TG_PREC_F32);
            op_run h = run_op(linear, ta, tb, a3, b3, TG_PREC_BF16);
            size_t na = linear ? 3 * 19 * 33 : (size_t)(a3 ? 3 : 1) * 19 * 33;
            size_t nb = linear ? 21 * 33 : (size_t)(b3 ? 3 : 1) * 21 * 33;
            double e[3] = {rel_l2(h.out, f.out, f.nout), rel_l2(h.ga, f.ga, na), rel_l2(h.gb, f.gb, nb)};
            for (int i = 0; i < 3; i++) {
                if (avail) {
                    ck_assert_msg(e[i] <= tol && e[i] > 0,
                                  "%s ta %d tb %d shape %d: %s relative L2 error %.3g (bound %.3g; 0 means fp32 ran)",
                                  linear ? "linear" : "matmul", ta, tb, shape,
                                  i == 0 ? "output" : i == 1 ? "grad a" : "grad b", e[i], tol);
                    worst = fmax(worst, e[i]);
                } else { /* no bf16 matmul: the graph computes in fp32 */
                    ck_assert_msg(e[i] == 0, "fallback differs from fp32: %.3g", e[i]);
                }
            }
            free(f.out), free(f.ga), free(f.gb), free(h.out), free(h.ga), free(h.gb);
        }
    printf("bf16 ops: worst relative L2 error %.3g (bound %.3g)\n", worst, tol);
}
END_TEST

START_TEST(copies_follow_weight_and_input_changes)
{
    /* x -> linear -> tanh -> linear: the hidden activation h is read by
     * the second product in forward and again in backward; weights and
     * inputs change between passes as an optimizer step and a new batch do */
    tg_params *p = tg_params_new();
    tg_tensor *w = tg_params_add(p, "w", 2, (int[]){24, 32}, 1);
    tg_tensor *w2 = tg_params_add(p, "w2", 2, (int[]){8, 24}, 1);
    ck_assert_int_eq(tg_params_alloc(p), TG_OK);
    fill_normal(tg_params_values(p), tg_params_numel(p), 5);
    tg_graph *g[2];
    tg_tensor *x[2], *y[2], *loss[2];
    for (int i = 0; i < 2; i++) {
        g[i] = tg_graph_new();
        tg_graph_set_precision(g[i], i ? TG_PREC_BF16 : TG_PREC_F32);
        x[i] = tg_input(g[i], TG_F32, 2, (int[]){16, 32}, "x");
        y[i] = tg_linear(g[i], tg_tanh(g[i], tg_linear(g[i], x[i], w, NULL)), w2, NULL);
        loss[i] = tg_sum(g[i], y[i]);
        tg_graph_keep(g[i], y[i]);
        ck_assert_int_eq(tg_graph_plan(g[i], loss[i], 0), TG_OK);
    }
    ck_assert_int_eq(tg_graph_precision(g[1]), TG_PREC_BF16);
    ck_assert_int_eq(tg_graph_precision(g[0]), TG_PREC_F32);
    float gw[2][24 * 32];
    for (int round = 0; round < 4; round++) {
        fill_normal(tg_f32(x[0]), x[0]->numel, 100 + round);
        memcpy(tg_f32(x[1]), tg_f32(x[0]), x[0]->numel * 4);
        for (int i = 0; i < 2; i++) {
            ck_assert_int_eq(tg_forward(g[i]), TG_OK);
            tg_params_zero_grad(p);
            ck_assert_int_eq(tg_backward(g[i], loss[i], NULL), TG_OK);
            memcpy(gw[i], w->grad, sizeof gw[i]);
        }
        double e = rel_l2(tg_f32(y[1]), tg_f32(y[0]), y[0]->numel);
        double eg = rel_l2(gw[1], gw[0], 24 * 32);
        ck_assert_msg(e <= 4 * U && eg <= 4 * U,
                      "round %d: relative errors %.3g, gradient %.3g: a stale copy?", round, e, eg);
        for (size_t i = 0; i < w->numel; i++) /* an optimizer step, in effect */
            tg_f32(w)[i] = round & 1 ? 0.5f * tg_f32(w)[i] : -tg_f32(w)[i];
    }
    for (int i = 0; i < 2; i++)
        tg_graph_free(g[i]);
    tg_params_free(p);
    tg_bf16_release();
}
END_TEST

/* tg_attention on a fused [B, T, 3W] projection (q, k, v as column ranges
 * of one tensor, one bf16 copy), causal or with key padding, dropout in
 * training mode: output and the projection's gradient in one precision. */
static void run_attention(int causal, tg_precision prec, float **out, float **grad, size_t *nout,
                          size_t *ngrad)
{
    int B = 3, T = 300, nh = 2, hd = 32, W = nh * hd; /* two query and two key tiles */
    tg_params *p = tg_params_new();
    tg_tensor *x = tg_params_add(p, "qkv", 3, (int[]){B, T, 3 * W}, 1);
    tg_tensor *R = tg_params_add(p, "R", 3, (int[]){B, T, W}, 0);
    ck_assert_int_eq(tg_params_alloc(p), TG_OK);
    fill_normal(tg_params_values(p), tg_params_numel(p), 21 + causal);
    tg_graph *g = tg_graph_new();
    tg_graph_set_precision(g, prec);
    tg_graph_set_training(g, 1);
    tg_tensor *mask = causal ? NULL : tg_input(g, TG_I32, 2, (int[]){B, T}, "mask");
    tg_tensor *o = tg_attention(g, x, x, x, mask,
                                &(tg_attn_args){.heads = nh, .q_col = 0, .k_col = W, .v_col = 2 * W,
                                                .dim = W, .causal = causal, .dropout = 0.1f});
    tg_tensor *loss = tg_sum(g, tg_mul(g, o, R));
    ck_assert_msg(loss, "%s", tg_graph_error(g));
    tg_graph_keep(g, o);
    ck_assert_int_eq(tg_graph_plan(g, loss, 0), TG_OK);
    if (mask)
        for (int i = 0; i < B * T; i++)
            tg_i32(mask)[i] = i % T < T - 100 * (i / T); /* 300, 200, 100 keys */
    ck_assert_int_eq(tg_forward(g), TG_OK);
    tg_params_zero_grad(p);
    ck_assert_int_eq(tg_backward(g, loss, NULL), TG_OK);
    *nout = o->numel, *ngrad = x->numel;
    *out = malloc(o->numel * 4), *grad = malloc(x->numel * 4);
    memcpy(*out, tg_f32(o), o->numel * 4);
    memcpy(*grad, x->grad, x->numel * 4);
    tg_graph_free(g);
    tg_params_free(p);
}

START_TEST(attention_within_bf16_tolerance)
{
    for (int causal = 0; causal < 2; causal++) {
        float *of, *gf, *oh, *gh;
        size_t no, ng;
        run_attention(causal, TG_PREC_F32, &of, &gf, &no, &ng);
        run_attention(causal, TG_PREC_BF16, &oh, &gh, &no, &ng);
        double eo = rel_l2(oh, of, no), eg = rel_l2(gh, gf, ng);
        printf("attention %s bf16 vs fp32: output %.3g, gradient %.3g (relative L2)\n",
               causal ? "causal" : "padded", eo, eg);
        if (tg_bf16_available()) {
            ck_assert_msg(eo <= 4 * U && eo > 0, "output relative L2 error %.3g (bound 4u)", eo);
            ck_assert_msg(eg <= 4 * U && eg > 0, "gradient relative L2 error %.3g (bound 4u)", eg);
        } else {
            ck_assert(eo == 0 && eg == 0);
        }
        free(of), free(gf), free(oh), free(gh);
    }
}
END_TEST

/* ---- RoBERTa ---------------------------------------------------------------- */

typedef struct {
    float loss;
    float *logits, *grads;
    size_t nlogits, ngrads;
    long conversions;  /* parameter copies made by the forward + backward */
    size_t arena;      /* planned activation bytes */
    int saved;         /* nodes whose float32 values backward does not read */
    int attn_in, attn_saved; /* attention (q, k, v) and GELU inputs, and of them saved */
} rb_run;

/* keep_all: the bf16 arena re-planned keeping every buffer (the float32
 * values of every linear input stay), as the reference of the reuse. */
static rb_run run_roberta_plan(tg_precision prec, int keep_all)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/heavy_tiny.json", tu_source_dir());
    rb_config c;
    ck_assert_msg(rb_config_load(path, &c) == TG_OK, "%s", tg_last_error());
    rb_model *m;
    ck_assert_int_eq(rb_model_new(&c, &m), TG_OK);
    rb_model_init(m, 9);
    int B = 4, T = 40;
    int32_t ids[4 * 40], attn[4 * 40], labels[4 * 40];
    tg_rng r;
    tg_rng_seed(&r, 3);
    for (int i = 0; i < B * T; i++) {
        int t = i % T, len = T - 7 * (i / T);
        ids[i] = t == 0 ? 2 : t < len - 1 ? 4 + (int)(tg_rng_next(&r) % 20) : t == len - 1 ? 3 : 0;
        attn[i] = t < len;
        labels[i] = t > 0 && t < len - 1 && tg_rng_uniform(&r) < 0.3 ? ids[i] : -100;
    }
    rb_graph gr;
    ck_assert_msg(rb_build(m, B, T, RB_LOSS, &gr) == TG_OK, "%s", tg_last_error());
    gr.g->keep_all = keep_all;
    tg_graph_set_precision(gr.g, prec);
    rb_set_batch(&gr, ids, attn, labels);
    long conv0 = tg_bf16_param_conversions();
    ck_assert_int_eq(tg_forward(gr.g), TG_OK);
    tg_params_zero_grad(m->params);
    ck_assert_int_eq(tg_backward(gr.g, gr.loss, NULL), TG_OK);
    rb_run o;
    o.conversions = tg_bf16_param_conversions() - conv0;
    o.arena = tg_graph_planned_bytes(gr.g);
    o.saved = o.attn_in = o.attn_saved = 0;
    for (int i = 0; i < tg_graph_nodes(gr.g); i++) {
        const tg_tensor *t = tg_graph_node(gr.g, i);
        o.saved += (t->flags & TG_FLAG_BF16_SAVED) != 0;
        int nin = t->op == TG_OP_ATTENTION ? 3 : t->op == TG_OP_GELU ? 1 : 0;
        for (int s = 0; s < nin; s++)
            o.attn_in++, o.attn_saved += (t->src[s]->flags & TG_FLAG_BF16_SAVED) != 0;
    }
    o.loss = tg_f32(gr.loss)[0];
    o.nlogits = gr.logits->numel;
    o.logits = malloc(o.nlogits * 4);
    memcpy(o.logits, tg_f32(gr.logits), o.nlogits * 4);
    o.ngrads = tg_params_numel(m->params);
    o.grads = malloc(o.ngrads * 4);
    memcpy(o.grads, tg_params_grads(m->params), o.ngrads * 4);
    rb_graph_free(&gr);
    rb_model_free(m);
    return o;
}

static rb_run run_roberta(tg_precision prec) { return run_roberta_plan(prec, 0); }

START_TEST(roberta_forward_backward_within_bf16_tolerance)
{
    rb_run f = run_roberta(TG_PREC_F32), h = run_roberta(TG_PREC_BF16);
    double el = fabs(h.loss - f.loss) / fabs(f.loss);
    double eo = rel_l2(h.logits, f.logits, f.nlogits), eg = rel_l2(h.grads, f.grads, f.ngrads);
    printf("roberta bf16 vs fp32: loss %.6f vs %.6f (relative %.3g), logits %.3g, gradients %.3g (relative L2)\n",
           h.loss, f.loss, el, eo, eg);
    if (!tg_bf16_available()) { /* fp32 throughout: bit for bit */
        ck_assert(el == 0 && eo == 0 && eg == 0);
    } else {
        ck_assert_msg(el <= 1e-3, "loss relative error %.3g > 0.1%%", el);
        ck_assert_msg(eo <= 4 * U, "logits relative L2 error %.3g > 4u", eo);
        ck_assert_msg(eg <= 4 * U, "gradients relative L2 error %.3g > 4u", eg);
        ck_assert_msg(eg > 0, "bf16 gradients equal fp32's: the bf16 path did not run");
    }
    free(f.logits), free(f.grads), free(h.logits), free(h.grads);
    tg_bf16_release();
}
END_TEST

/* In a bf16 graph the plan keeps a linear layer's input, the attention's
 * q, k and v and GELU's input only as their bf16 copies (their float32 buffers
 * are reused after forward): the loss, logits and gradients are bit for
 * bit those of a plan that keeps every buffer, the arena is smaller, and
 * each weight is converted once per pass (forward + backward), not once
 * per product. (Before graph/bf16.c's callers passed gradients without
 * their tensor, a gradient placed where its tensor's float32 values had
 * been was taken for that activation: this test failed.) */
START_TEST(bf16_plan_reuses_linear_inputs_exactly)
{
    rb_run k = run_roberta_plan(TG_PREC_BF16, 1), r = run_roberta_plan(TG_PREC_BF16, 0);
    rb_run f = run_roberta_plan(TG_PREC_F32, 0);
    printf("bf16 plan: arena %zu bytes (fp32 plan %zu), %d nodes kept as bf16 only, %ld weight conversions per pass\n",
           r.arena, f.arena, r.saved, r.conversions);
    ck_assert(r.loss == k.loss);
    ck_assert(!memcmp(r.logits, k.logits, r.nlogits * 4));
    ck_assert(!memcmp(r.grads, k.grads, r.ngrads * 4));
    if (tg_bf16_available()) {
        ck_assert_msg(r.saved > 0 && r.arena < f.arena, "bf16 arena %zu, fp32 %zu", r.arena, f.arena);
        ck_assert_msg(r.attn_in > 0 && r.attn_saved == r.attn_in, "%d of %d attention and GELU inputs kept as bf16 only",
                      r.attn_saved, r.attn_in);
        /* heavy_tiny: 6 linear weights a layer and the LM head's dense and
         * decoder (the word embedding, also read by the embedding lookup) */
        int layers = 0;
        char path[1024];
        snprintf(path, sizeof path, "%s/configs/heavy_tiny.json", tu_source_dir());
        rb_config c;
        ck_assert(rb_config_load(path, &c) == TG_OK);
        layers = c.num_hidden_layers;
        ck_assert_int_eq(r.conversions, 6 * layers + 2);
    } else {
        ck_assert(r.saved == 0 && r.arena == f.arena && r.conversions == 0 && r.attn_saved == 0);
    }
    ck_assert_int_eq(f.saved, 0);
    free(k.logits), free(k.grads), free(r.logits), free(r.grads), free(f.logits), free(f.grads);
    tg_bf16_release();
}
END_TEST

/* The heavy-to-light encoder-decoder (tests/fixtures/encdec_tiny: RoBERTa
 * encoder, GPT-2 decoder with causal self-attention, cross-attention whose
 * q and k | v are different tensors, gelu_new) in a bf16 training graph:
 * every attention and GELU input is kept only as bf16, the loss and
 * gradients are bit for bit a keep-all plan's and within bf16 tolerance
 * of fp32. */
static float *encdec_grads(tg_precision prec, int keep_all, float *loss, int *in, int *saved,
                           size_t *ngrads)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/encdec_tiny/config.json", tu_source_dir());
    ed_config c;
    ck_assert_msg(ed_config_load(path, &c) == TG_OK, "%s", tg_last_error());
    c.adapters = 0;
    ed_model *m;
    ck_assert_msg(ed_model_new(&c, ED_TRAIN_ALL, &m) == TG_OK, "%s", tg_last_error());
    ed_model_init(m, 11);
    enum { B = 3, S = 24, T = 20 };
    int32_t src[B * S], smask[B * S], lab[B * T];
    for (int i = 0; i < B * S; i++) {
        int t = i % S, len = S - 5 * (i / S);
        src[i] = t == 0 ? 2 : t < len - 1 ? 5 + i * 7 % 19 : t == len - 1 ? 3 : 1;
        smask[i] = t < len;
    }
    for (int i = 0; i < B * T; i++)
        lab[i] = i % T < T - 3 * (i / T) ? 5 + i * 5 % 19 : -100;
    ed_graph gr;
    ck_assert_msg(ed_build(m, B, S, T, ED_LOSS, NULL, &gr) == TG_OK, "%s", tg_last_error());
    gr.g->keep_all = keep_all;
    tg_graph_set_precision(gr.g, prec);
    ed_set_batch(&gr, src, smask, lab);
    ck_assert_int_eq(tg_forward(gr.g), TG_OK);
    tg_params_zero_grad(m->train);
    ck_assert_msg(tg_backward(gr.g, gr.loss, NULL) == TG_OK, "%s", tg_last_error());
    *loss = tg_f32(gr.loss)[0];
    *in = *saved = 0;
    for (int i = 0; i < tg_graph_nodes(gr.g); i++) {
        const tg_tensor *t = tg_graph_node(gr.g, i);
        int nin = t->op == TG_OP_ATTENTION ? 3 : t->op == TG_OP_GELU_NEW || t->op == TG_OP_GELU;
        for (int k = 0; k < nin; k++)
            ++*in, *saved += (t->src[k]->flags & TG_FLAG_BF16_SAVED) != 0;
    }
    size_t n = *ngrads = tg_params_numel(m->train);
    float *g = malloc(n * sizeof *g);
    memcpy(g, tg_params_grads(m->train), n * sizeof *g);
    ed_graph_free(&gr);
    ed_model_free(m);
    return g;
}

START_TEST(encdec_bf16_keeps_inputs_as_bf16_exactly)
{
    float lf, lk, lr;
    int in, saved, in_k, saved_k, in_f, saved_f;
    size_t n;
    float *f = encdec_grads(TG_PREC_F32, 0, &lf, &in_f, &saved_f, &n);
    float *k = encdec_grads(TG_PREC_BF16, 1, &lk, &in_k, &saved_k, &n);
    float *r = encdec_grads(TG_PREC_BF16, 0, &lr, &in, &saved, &n);
    double eg = rel_l2(r, f, n), el = fabs(lr - lf) / fabs(lf);
    printf("encdec bf16 vs fp32: loss %.6f vs %.6f (relative %.3g), gradients %.3g (relative "
           "L2); %d of %d attention and GELU inputs kept as bf16 only\n",
           lr, lf, el, eg, saved, in);
    ck_assert(lr == lk && !memcmp(r, k, n * sizeof *r)); /* reuse never read */
    ck_assert_int_eq(saved_f, 0);
    if (tg_bf16_available()) {
        ck_assert_msg(in > 0 && saved == in, "%d of %d inputs bf16-saved", saved, in);
        ck_assert_msg(el <= 1e-3, "loss relative error %.3g > 0.1%%", el);
        ck_assert_msg(eg <= 4 * U && eg > 0, "gradients relative L2 error %.3g (bound 4u)", eg);
    } else {
        ck_assert(saved == 0 && eg == 0 && el == 0);
    }
    free(f), free(k), free(r);
    tg_bf16_release();
}
END_TEST

/* Every allocation of a bf16 training step (build, plan, forward,
 * backward of heavy_tiny at 2 x 12) failing once in turn: the step either
 * fails with a message or completes; a completed step's loss and gradient
 * norm are within bf16 tolerance of the clean run's (an activation copy
 * that could not be made falls back to fp32 products), and a copy that
 * backward needs and cannot find fails it rather than reading reused
 * memory. Under ASan (CI) any leak or invalid access on these paths fails
 * the run. */
static int bf16_step(double *loss, double *gnorm)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/heavy_tiny.json", tu_source_dir());
    rb_config c;
    int rc = rb_config_load(path, &c);
    rb_model *m = NULL;
    if (!rc)
        rc = rb_model_new(&c, &m);
    if (rc)
        return rc;
    rb_model_init(m, 9);
    int32_t ids[2 * 12], attn[2 * 12], labels[2 * 12];
    for (int i = 0; i < 24; i++)
        ids[i] = 4 + i * 7 % 20, attn[i] = i < 21, labels[i] = i % 4 ? -100 : ids[i];
    rb_graph gr;
    rc = rb_build(m, 2, 12, RB_LOSS, &gr);
    if (!rc) {
        tg_graph_set_precision(gr.g, TG_PREC_BF16);
        rb_set_batch(&gr, ids, attn, labels);
        rc = tg_forward(gr.g);
        if (!rc) {
            tg_params_zero_grad(m->params);
            rc = tg_backward(gr.g, gr.loss, NULL);
        }
        if (!rc) {
            *loss = tg_f32(gr.loss)[0];
            const float *g = tg_params_grads(m->params);
            double s = 0;
            for (size_t i = 0; i < tg_params_numel(m->params); i++)
                s += (double)g[i] * g[i];
            *gnorm = sqrt(s);
        }
        rb_graph_free(&gr);
    }
    rb_model_free(m);
    tg_bf16_release();
    return rc;
}

START_TEST(bf16_step_survives_every_allocation_failure)
{
    if (!tg_bf16_available())
        return;
    double l0 = 0, g0 = 0;
    ck_assert_msg(bf16_step(&l0, &g0) == TG_OK, "%s", tg_last_error());
    long k = 1, failed = 0, absorbed = 0;
    for (;; k++) {
        tg_error(TG_OK, "%s", "");
        tg_alloc_fail_after(k);
        double l = 0, gn = 0;
        int rc = bf16_step(&l, &gn);
        int fired = tg_alloc_fail_fired();
        tg_alloc_fail_after(0);
        if (!fired) {
            ck_assert_msg(rc == TG_OK, "k=%ld: no failure injected, yet: %s", k, tg_last_error());
            break;
        }
        if (rc) {
            ck_assert_msg(tg_last_error()[0], "k=%ld: status %d without a message", k, rc);
            failed++;
        } else {
            ck_assert_msg(fabs(l - l0) <= 1e-2 * fabs(l0) && fabs(gn - g0) <= 4 * U * g0,
                          "k=%ld: absorbed, but loss %.6g vs %.6g, gradient norm %.6g vs %.6g", k,
                          l, l0, gn, g0);
            absorbed++;
        }
        ck_assert(k < 100000);
    }
    printf("bf16 step: %ld allocations, each failed once: %ld errors, %ld absorbed\n", k - 1,
           failed, absorbed);
    ck_assert_int_gt(k, 50);
}
END_TEST

/* A bf16 forward of another graph between a graph's forward and backward
 * replaces the bf16 copies that backward needs: backward reports it, naming
 * the tensor, instead of reading reused float32 memory. */
START_TEST(bf16_backward_reports_a_lost_copy)
{
    if (!tg_bf16_available())
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/heavy_tiny.json", tu_source_dir());
    rb_config c;
    ck_assert(rb_config_load(path, &c) == TG_OK);
    rb_model *m;
    ck_assert_int_eq(rb_model_new(&c, &m), TG_OK);
    rb_model_init(m, 9);
    int32_t ids[2 * 16], attn[2 * 16], labels[2 * 16];
    for (int i = 0; i < 32; i++)
        ids[i] = 4 + i % 20, attn[i] = 1, labels[i] = i % 3 ? -100 : ids[i];
    rb_graph a, b;
    ck_assert(rb_build(m, 2, 16, RB_LOSS, &a) == TG_OK && rb_build(m, 2, 16, RB_LOSS, &b) == TG_OK);
    tg_graph_set_precision(a.g, TG_PREC_BF16);
    tg_graph_set_precision(b.g, TG_PREC_BF16);
    rb_set_batch(&a, ids, attn, labels);
    rb_set_batch(&b, ids, attn, labels);
    ck_assert_int_eq(tg_forward(a.g), TG_OK);
    ck_assert_int_eq(tg_forward(b.g), TG_OK);
    tg_params_zero_grad(m->params);
    ck_assert_int_ne(tg_backward(a.g, a.loss, NULL), TG_OK);
    ck_assert_msg(strstr(tg_last_error(), "bf16 copy of '"), "%s", tg_last_error());
    ck_assert_int_eq(tg_backward(b.g, b.loss, NULL), TG_OK); /* its own pass is intact */
    rb_graph_free(&a), rb_graph_free(&b);
    rb_model_free(m);
    tg_bf16_release();
}
END_TEST

/* ---- the commands' --bf16 -------------------------------------------------- */

/* The float32 data of a .npy file (header length from its preamble). */
static float *npy_floats(const char *path, size_t *n)
{
    char *b = tu_read_file(path);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    size_t hl = (unsigned char)b[8] | (size_t)(unsigned char)b[9] << 8;
    ck_assert(strstr(b + 10, "'<f4'") != NULL);
    *n = ((size_t)size - 10 - hl) / 4;
    float *x = malloc(*n * 4);
    memcpy(x, b + 10 + hl, *n * 4);
    free(b);
    return x;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* --bf16 on ablm train (flag parsing and the training losses), eval and
 * embed: within bf16 tolerance of the fp32 run where bf16 runs, refused
 * with a clear message where it does not. */
START_TEST(commands_take_bf16)
{
    char *dir = tu_tmpdir(), model[4200], p[4200], q[4200], o[4200], e[4200], seqs[4200];
    int avail = tg_bf16_available();
    /* flag parsing */
    static train_args a;
    train_args_defaults(&a);
    char *argv[] = {"train", "--output_dir", "o", "--do_train", "false", "--bf16", NULL};
    int rc = train_args_parse(&a, 6, argv);
    if (avail) {
        ck_assert_msg(rc == TG_OK && a.bf16 == 1, "%s", tg_last_error());
    } else {
        ck_assert_int_ne(rc, TG_OK);
        ck_assert_msg(strstr(tg_last_error(), "--bf16: this CPU has no bfloat16 matrix products"),
                      "%s", tg_last_error());
    }
    /* a model directory and sequences */
    snprintf(model, sizeof model, "%s/model", dir);
    ck_assert_int_eq(mkdir(model, 0755), 0);
    rb_config cfg;
    snprintf(p, sizeof p, "%s/configs/heavy_tiny.json", tu_source_dir());
    ck_assert_int_eq(rb_config_load(p, &cfg), TG_OK);
    rb_model *m;
    ck_assert_int_eq(rb_model_new(&cfg, &m), TG_OK);
    rb_model_init(m, 11);
    ck_assert_int_eq(rb_model_save(m, model), TG_OK);
    ck_assert_int_eq(rb_config_save(&cfg, model), TG_OK);
    tok_tokenizer *t;
    ck_assert_int_eq(tok_new(&t), TG_OK);
    ck_assert_int_eq(tok_save(t, model, cfg.max_position_embeddings - 2), TG_OK);
    tok_free(t);
    rb_model_free(m);
    static char text[64 * 1024];
    size_t k = 0;
    tg_rng r;
    tg_rng_seed(&r, 4);
    for (int i = 0; i < 64; i++) {
        int len = 20 + (int)(tg_rng_next(&r) % 40);
        for (int j = 0; j < len; j++)
            text[k++] = "ACDEFGHIKLMNPQRSTVWY"[tg_rng_next(&r) % 20];
        text[k++] = '\n';
    }
    text[k] = 0;
    snprintf(seqs, sizeof seqs, "%s/seqs.txt", dir);
    write_file(seqs, text);
    snprintf(o, sizeof o, "%s/out", dir);
    snprintf(e, sizeof e, "%s/err", dir);
    /* embed */
    snprintf(p, sizeof p, "%s/f.npy", dir);
    snprintf(q, sizeof q, "%s/h.npy", dir);
    ck_assert_int_eq(tu_run_cmd(cmd_embed, 7, (char *[]){"embed", "--model", model, "--input", seqs, "--output", p, NULL}, o, e), 0);
    rc = tu_run_cmd(cmd_embed, 8, (char *[]){"embed", "--model", model, "--input", seqs, "--output", q, "--bf16", NULL}, o, e);
    if (avail) {
        ck_assert_int_eq(rc, 0);
        size_t nf, nh;
        float *xf = npy_floats(p, &nf), *xh = npy_floats(q, &nh);
        ck_assert_uint_eq(nf, nh);
        double err = rel_l2(xh, xf, nf);
        printf("embed --bf16 vs fp32: relative L2 %.3g\n", err);
        ck_assert_msg(err <= 4 * U && err > 0, "embed --bf16: relative L2 error %.3g", err);
        free(xf), free(xh);
    } else {
        ck_assert_int_eq(rc, 2);
        char *msg = tu_read_file(e);
        ck_assert_msg(strstr(msg, "ablm embed: --bf16: this CPU has no bfloat16"), "%s", msg);
        free(msg);
    }
    /* eval */
    double loss[2];
    for (int h = 0; h < 2; h++) {
        char *ev[] = {"eval", "--model", model, "--validation_file", seqs, "--bf16", NULL};
        rc = tu_run_cmd(cmd_eval, h ? 6 : 5, ev, o, e);
        if (h && !avail) {
            ck_assert_int_eq(rc, 2);
            break;
        }
        ck_assert_int_eq(rc, 0);
        char *js = tu_read_file(o);
        char *at = strstr(js, "\"eval_loss\": ");
        ck_assert_ptr_nonnull(at);
        loss[h] = atof(at + 13);
        free(js);
    }
    if (avail) {
        printf("eval --bf16: eval_loss %.6f vs %.6f\n", loss[1], loss[0]);
        ck_assert_msg(fabs(loss[1] - loss[0]) <= 1e-3 * loss[0], "eval_loss %.6f vs %.6f", loss[1], loss[0]);
    }
    /* train: the first step's loss is the same model's, later ones drift by
     * the updates' rounding */
    if (avail) {
        double steps[2][8];
        for (int h = 0; h < 2; h++) {
            char out[4300];
            snprintf(out, sizeof out, "%s/train%d", dir, h);
            char *tv[] = {"train", "--config_name", p, "--train_file", seqs, "--output_dir", out,
                          "--per_device_train_batch_size", "8", "--max_seq_length", "64",
                          "--line_by_line", "--max_steps", "5", "--logging_steps", "1",
                          "--save_strategy", "no", "--learning_rate", "1e-3", "--seed", "7",
                          h ? "--bf16" : NULL, NULL};
            snprintf(p, sizeof p, "%s/configs/heavy_tiny.json", tu_source_dir());
            ck_assert_int_eq(tu_run_cmd(cmd_train, h ? 23 : 22, tv, o, e), 0);
            ck_assert_int_eq(tu_step_losses(out, steps[h], 8), 5);
        }
        for (int s = 0; s < 5; s++) {
            printf("train step %d: loss %.6f (--bf16) vs %.6f\n", s + 1, steps[1][s], steps[0][s]);
            ck_assert_msg(fabs(steps[1][s] - steps[0][s]) <= (s ? 1e-2 : 1e-3) * steps[0][s],
                          "step %d: loss %.6f vs %.6f", s + 1, steps[1][s], steps[0][s]);
        }
    }
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
    tg_bf16_release();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bf16");
    TCase *tc = tcase_create("bf16");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, availability_follows_the_isa_cap);
    tcase_add_test(tc, conversion_edge_values_are_exact);
    tcase_add_test(tc, conversion_kernels_agree_on_random_bits);
    tcase_add_test(tc, gemm_matches_reference_for_every_layout);
    tcase_add_test(tc, ops_forward_and_backward_within_bf16_tolerance);
    tcase_add_test(tc, copies_follow_weight_and_input_changes);
    tcase_add_test(tc, attention_within_bf16_tolerance);
    tcase_add_test(tc, roberta_forward_backward_within_bf16_tolerance);
    tcase_add_test(tc, bf16_plan_reuses_linear_inputs_exactly);
    tcase_add_test(tc, bf16_backward_reports_a_lost_copy);
    tcase_add_test(tc, encdec_bf16_keeps_inputs_as_bf16_exactly);
    tcase_add_test(tc, bf16_step_survives_every_allocation_failure);
    tcase_add_test(tc, commands_take_bf16);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
