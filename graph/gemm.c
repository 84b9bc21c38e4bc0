/* GEMM dispatch: the kernel is chosen per shape.
 *
 * Small products (one attention head) go to oneDNN's sgemm, an order of
 * magnitude faster there than OpenBLAS. Large ones (linear layers) go to
 * OpenBLAS, split into one block of rows (or columns) per OpenMP thread,
 * each block a single-threaded OpenBLAS call: everything runs on the one
 * OpenMP pool, so OpenBLAS's own pthread pool never competes with it for
 * the cores (with both pools active, OpenMP threads spin while OpenBLAS
 * threads wait for a core). Batches of small GEMMs run in parallel over
 * the batch, each GEMM on one thread. */
#include "tg_internal.h"

#include <cblas.h>
#include <omp.h>

/* Products below this many multiply-adds go to oneDNN. */
#define SMALL_GEMM_FLOPS (1u << 22)

static void blas(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void tg_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
             const float *b, int ldb, float beta, float *c, int ldc)
{
    if ((double)m * n * k < SMALL_GEMM_FLOPS || omp_in_parallel()) {
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
