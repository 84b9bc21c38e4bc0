/* The only file that includes oneDNN (its 3.x C API differs from 2.6). */
#include "tg_internal.h"

#include <oneapi/dnnl/dnnl.h>

void tg_dnnl_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                   const float *b, int ldb, float beta, float *c, int ldc)
{
    /* dnnl_sgemm is row-major; it only fails on invalid arguments, which the
     * ops' shape checks exclude. */
    dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
