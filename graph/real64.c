/* The products of the float64 test build (CMake target tg64, compiled with
 * -DTG_REAL_DOUBLE for tests/test_gradcheck64.c; the normal build leaves
 * this file out). It replaces graph/gemm.c, graph/gemm_dnnl.c and
 * graph/bf16.c there: every GEMM is one cblas_dgemm (OpenBLAS) on the
 * calling thread, and the build has no bfloat16 (tg_bf16_available() is 0,
 * so no op takes a bf16 path). ops/kern.c fixes that build's kernels to
 * the scalar table. */
#include "tg_internal.h"

#include <cblas.h>
#include <string.h>

#ifndef TG_REAL_DOUBLE
#error "graph/real64.c belongs to the float64 build (-DTG_REAL_DOUBLE)"
#endif

void tg_dnnl_sgemm(int ta, int tb, int m, int n, int k, tg_real alpha, const tg_real *a, int lda,
                   const tg_real *b, int ldb, tg_real beta, tg_real *c, int ldc)
{
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void tg_gemm(int ta, int tb, int m, int n, int k, tg_real alpha, const tg_real *a, int lda,
             const tg_real *b, int ldb, tg_real beta, tg_real *c, int ldc)
{
    tg_dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void tg_gemm_batched(int batch, int ta, int tb, int m, int n, int k, tg_real alpha,
                     const tg_real *a, int lda, size_t stride_a, const tg_real *b, int ldb,
                     size_t stride_b, tg_real beta, tg_real *c, int ldc, size_t stride_c)
{
    for (int i = 0; i < batch; i++)
        tg_dnnl_sgemm(ta, tb, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta,
                      c + i * stride_c, ldc);
}

void tg_gemm_prec(const tg_tensor *out, int batch, int ta, int tb, int m, int n, int k,
                  tg_real alpha, const tg_tensor *a_t, const tg_real *a, size_t a_n, int lda,
                  size_t stride_a, int slot_a, const tg_tensor *b_t, const tg_real *b, size_t b_n,
                  int ldb, size_t stride_b, int slot_b, tg_real beta, tg_real *c, int ldc,
                  size_t stride_c)
{
    (void)out, (void)a_t, (void)a_n, (void)slot_a, (void)b_t, (void)b_n, (void)slot_b;
    tg_gemm_batched(batch, ta, tb, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c,
                    ldc, stride_c);
}

/* ---- no bfloat16: the answers of a machine without bf16 products ------- */

int tg_bf16_available(void) { return 0; }

int tg_bf16_require(const char *flag)
{
    return tg_error(TG_ERR_ARG, "%s: the float64 test build has no bfloat16 products", flag);
}

int tg_bf16_on(const tg_tensor *out)
{
    (void)out;
    return 0;
}

void tg_bf16_next_pass(void) {}
void tg_bf16_backward_begin(void) {}
const char *tg_bf16_take_lost(void) { return NULL; } /* no bf16 plan, nothing saved as bf16 */
void tg_bf16_note_lost(const tg_tensor *t) { (void)t; }
int tg_bf16_saved(const tg_tensor *t)
{
    (void)t;
    return 0;
}

const tg_bf16 *tg_bf16_operand(const tg_tensor *t, const tg_real *data, size_t n, int slot)
{
    (void)t, (void)data, (void)n, (void)slot;
    return NULL; /* the caller computes in tg_real */
}

tg_bf16 *tg_bf16_reserve(const tg_tensor *t)
{
    (void)t;
    return NULL;
}

tg_bf16 *tg_bf16_scratch(int slot, size_t n)
{
    (void)slot, (void)n;
    return NULL; /* never reached: tg_bf16_on() is 0 */
}

void tg_f32_to_bf16(tg_bf16 *dst, const tg_real *src, size_t n)
{
    for (size_t i = 0; i < n; i++) { /* round to nearest even (no NaN here) */
        float f = (float)src[i];
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        dst[i] = (tg_bf16)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
    }
}

int tg_dnnl_gemm_bf16(int batch, int ta, int tb, int m, int n, int k, float alpha, const tg_bf16 *a,
                      int lda, size_t stride_a, const tg_bf16 *b, int ldb, size_t stride_b,
                      float beta, tg_real *c, int ldc, size_t stride_c)
{
    (void)batch, (void)ta, (void)tb, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda;
    (void)stride_a, (void)b, (void)ldb, (void)stride_b, (void)beta, (void)c, (void)ldc;
    (void)stride_c;
    return TG_ERR_ARG; /* nothing written */
}

int tg_dnnl_gemm_bf16_bias(int m, int n, int k, const tg_bf16 *a, const tg_bf16 *b,
                           const tg_real *bias, tg_real *c)
{
    (void)m, (void)n, (void)k, (void)a, (void)b, (void)bias, (void)c;
    return TG_ERR_ARG;
}

void tg_bf16_widen(tg_real *dst, const tg_bf16 *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        float f;
        memcpy(&f, &u, sizeof f);
        dst[i] = f;
    }
}
