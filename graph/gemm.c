/* GEMM dispatch: the kernel is chosen per shape and per machine.
 *
 * Small products (one attention head) go to oneDNN's sgemm, an order of
 * magnitude faster there than OpenBLAS. Large ones (linear layers) go to
 * the faster library for this machine (tg_gemm_large_backend): OpenBLAS,
 * split into one block of rows (or columns) per OpenMP thread, each block
 * a single-threaded OpenBLAS call, so everything runs on the one OpenMP
 * pool and OpenBLAS's own pthread pool never competes with it for the
 * cores (with both pools active, OpenMP threads spin while OpenBLAS
 * threads wait for a core); or oneDNN's sgemm, threaded on the same
 * OpenMP pool, where oneDNN has AVX-512 kernels and OpenBLAS does not use
 * its own (Debian's OpenBLAS 0.3.21 runs its Haswell AVX2 kernels on AMD
 * Zen 5, where oneDNN's AVX-512 sgemm measured 1.3-2x faster on the linear
 * layers' shapes: bench_gemm, docs/performance.md). Batches of small GEMMs run in
 * parallel over the batch, each GEMM on one thread. */
#include "tg_internal.h"

#include <cblas.h>
#include <ctype.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Products below this many multiply-adds go to oneDNN. */
#define SMALL_GEMM_FLOPS (1u << 22)

static void blas(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* 1 when OpenBLAS's kernel set for this CPU is an AVX-512 one (its core
 * names: SkylakeX, Cooperlake, SapphireRapids). */
static int openblas_avx512(void)
{
    char name[64];
    const char *cn = openblas_get_corename();
    size_t i = 0;
    for (; cn && cn[i] && i + 1 < sizeof name; i++)
        name[i] = (char)tolower((unsigned char)cn[i]);
    name[i] = 0;
    return strstr(name, "skylakex") || strstr(name, "cooperlake") || strstr(name, "sapphire");
}

static int large_backend = -1; /* TG_GEMM_OPENBLAS or TG_GEMM_ONEDNN */

int tg_gemm_large_backend(void)
{
#pragma omp critical(tg_gemm_backend)
    if (large_backend < 0) {
        const char *e = getenv("ABLM_GEMM");
        int autob = tg_dnnl_avx512() && !openblas_avx512() ? TG_GEMM_ONEDNN : TG_GEMM_OPENBLAS;
        if (!e || !*e || !strcmp(e, "auto"))
            large_backend = autob;
        else if (!strcmp(e, "openblas"))
            large_backend = TG_GEMM_OPENBLAS;
        else if (!strcmp(e, "onednn"))
            large_backend = TG_GEMM_ONEDNN;
        else {
            fprintf(stderr, "ablm: ABLM_GEMM=%s is not one of openblas, onednn, auto; using auto\n",
                    e);
            large_backend = autob;
        }
    }
    return large_backend;
}

void tg_gemm_set_large_backend(int backend)
{
    large_backend = backend == TG_GEMM_OPENBLAS || backend == TG_GEMM_ONEDNN ? backend : -1;
}

const char *tg_gemm_large_name(void)
{
    return tg_gemm_large_backend() == TG_GEMM_ONEDNN ? "onednn" : "openblas";
}

void tg_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
             const float *b, int ldb, float beta, float *c, int ldc)
{
    if ((double)m * n * k < SMALL_GEMM_FLOPS || omp_in_parallel() ||
        tg_gemm_large_backend() == TG_GEMM_ONEDNN) {
        tg_dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    int nt = tg_threads();
    if (m >= n) { /* rows of op(A) and C */
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int t = 0; t < nt; t++) {
            int i0 = (int)((long)m * t / nt), i1 = (int)((long)m * (t + 1) / nt);
            if (i1 > i0)
                blas(ta, tb, i1 - i0, n, k, alpha, ta ? a + i0 : a + (size_t)i0 * lda, lda, b, ldb,
                     beta, c + (size_t)i0 * ldc, ldc);
        }
    } else { /* columns of op(B) and C */
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int t = 0; t < nt; t++) {
            int j0 = (int)((long)n * t / nt), j1 = (int)((long)n * (t + 1) / nt);
            if (j1 > j0)
                blas(ta, tb, m, j1 - j0, k, alpha, a, lda, tb ? b + (size_t)j0 * ldb : b + j0, ldb,
                     beta, c + j0, ldc);
        }
    }
}

void tg_gemm_batched(int batch, int ta, int tb, int m, int n, int k, float alpha,
                     const float *a, int lda, size_t stride_a, const float *b, int ldb,
                     size_t stride_b, float beta, float *c, int ldc, size_t stride_c)
{
    if (batch == 1) {
        tg_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int i = 0; i < batch; i++)
        tg_dnnl_sgemm(ta, tb, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta,
                      c + i * stride_c, ldc);
}

int tg_bf16_available(void)
{
    static int avail = -1;
    if (avail < 0) { /* a probe product: 1 x 1 x 1, 1 * 1 */
        tg_bf16 one = tg_bf16_of(1.0f);
        float c = 0;
        int ok = tg_dnnl_gemm_bf16(1, 0, 0, 1, 1, 1, 1, &one, 1, 0, &one, 1, 0, 0, &c, 1, 0) ==
                     TG_OK && c == 1.0f;
        avail = !ok ? 0 : tg_dnnl_native_bf16() ? 2 : 1;
    }
    return avail;
}

int tg_bf16_require(const char *flag)
{
    if (tg_bf16_available())
        return TG_OK;
    return tg_error(TG_ERR_ARG,
                    "%s: this CPU has no bfloat16 matrix products (oneDNN needs AVX-512 for "
                    "them; ONEDNN_MAX_CPU_ISA, if set, may cap it): run without %s",
                    flag, flag);
}

int tg_bf16_on(const tg_tensor *out)
{
    return out->graph && out->graph->precision == TG_PREC_BF16 && tg_bf16_available();
}

void tg_gemm_prec(const tg_tensor *out, int batch, int ta, int tb, int m, int n, int k,
                  float alpha, const tg_tensor *a_t, const float *a, size_t a_n, int lda,
                  size_t stride_a, int slot_a, const tg_tensor *b_t, const float *b, size_t b_n,
                  int ldb, size_t stride_b, int slot_b, float beta, float *c, int ldc,
                  size_t stride_c)
{
    float *wa = NULL, *wb = NULL;
    if (tg_bf16_on(out)) {
        const tg_bf16 *ah = tg_bf16_operand(a_t, a, a_n, slot_a);
        const tg_bf16 *bh = ah ? tg_bf16_operand(b_t, b, b_n, slot_b) : NULL;
        if (bh && tg_dnnl_gemm_bf16(batch, ta, tb, m, n, k, alpha, ah, lda, stride_a, bh, ldb,
                                    stride_b, beta, c, ldc, stride_c) == TG_OK)
            return;
        /* fp32 fallback: an operand whose float32 values the plan did not
         * keep is read from its bf16 copy (missing: recorded, no product) */
        if (a_t && a == a_t->data && tg_bf16_saved(a_t) && !(a = wa = tg_bf16_widen_saved(a_t)))
            return;
        if (b_t && b == b_t->data && tg_bf16_saved(b_t) && !(b = wb = tg_bf16_widen_saved(b_t))) {
            tg_free(wa);
            return;
        }
    }
    tg_gemm_batched(batch, ta, tb, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c,
                    ldc, stride_c);
    tg_free(wa), tg_free(wb);
}
