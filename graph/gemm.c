/* GEMM dispatch: the kernel is chosen per shape. Large products (linear
 * layers) go to OpenBLAS, which threads well there; small ones (one
 * attention head) to oneDNN, which is an order of magnitude faster on them.
 * Batches of small GEMMs run in parallel over the batch, each GEMM on one
 * thread. */
#include "tg_internal.h"

#include <cblas.h>

/* Products below this many multiply-adds go to oneDNN. */
#define SMALL_GEMM_FLOPS (1u << 22)

void tg_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
             const float *b, int ldb, float beta, float *c, int ldc)
{
    if ((double)m * n * k < SMALL_GEMM_FLOPS)
        tg_dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
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
