/* GEMM kernels on the shapes of a heavy_small training step (B=16, T=130):
 * OpenBLAS vs oneDNN vs tg_gemm's per-shape choice in fp32, and oneDNN's
 * bf16 matmul (bf16 operands converted beforehand, fp32 C) with the
 * implementation oneDNN chose, GFLOP/s, with the thread count given. This
 * is the measurement behind graph/gemm.c (the tg_gemm column runs its
 * choice; ABLM_GEMM=openblas|onednn forces the large products' library).
 * usage: bench_gemm [threads] */
#include "tg_internal.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

typedef struct {
    const char *what;
    int ta, tb, m, n, k;
} shape;

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    tg_set_threads(threads);
    const shape shapes[] = {
        {"linear fwd 512->512", 0, 1, 2080, 512, 512},
        {"linear fwd 512->1536", 0, 1, 2080, 1536, 512},
        {"linear fwd 512->2048", 0, 1, 2080, 2048, 512},
        {"linear fwd 2048->512", 0, 1, 2080, 512, 2048},
        {"linear dX 512->512", 0, 0, 2080, 512, 512},
        {"linear dX 1536->512", 0, 0, 2080, 512, 1536},
        {"linear dX 2048->512", 0, 0, 2080, 2048, 512},
        {"linear dW 512->512", 1, 0, 512, 512, 2080},
        {"linear dW 512->1536", 1, 0, 1536, 512, 2080},
        {"linear dW 512->2048", 1, 0, 2048, 512, 2080},
        {"linear dW 2048->512", 1, 0, 512, 2048, 2080},
        {"dW 512->512, dY^T given", 0, 0, 512, 512, 2080},
        {"dW 512->2048, dY^T given", 0, 0, 2048, 512, 2080},
        {"dW 2048->512, dY^T given", 0, 0, 512, 2048, 2080},
        {"attention head QK^T", 0, 1, 130, 130, 128},
        {"attention head PV", 0, 0, 130, 128, 130},
    };
    size_t big = 2080 * 2048;
    float *a = malloc(big * 4), *b = malloc(big * 4), *c = malloc(big * 4);
    for (size_t i = 0; i < big; i++)
        a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    tg_bf16 *ah = malloc(big * 2), *bh = malloc(big * 2);
    tg_f32_to_bf16(ah, a, big);
    tg_f32_to_bf16(bh, b, big);
    int bf = tg_bf16_available();
    printf("threads %d, bf16 %s, tg_gemm's large products on %s\n%-22s %10s %10s %10s %10s  %s\n", threads,
           bf == 2 ? "native" : bf ? "emulated" : "unavailable", tg_gemm_large_name(), "shape", "openblas", "onednn",
           "tg_gemm", "bf16", "bf16 implementation");
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const shape *p = &shapes[s];
        int lda = p->ta ? p->m : p->k, ldb = p->tb ? p->k : p->n;
        double gf[4] = {0};
        for (int kern = 0; kern < (bf ? 4 : 3); kern++) {
            int reps = 0;
            double t0 = now(), t;
            openblas_set_num_threads(kern == 0 ? threads : 1);
            do {
                if (kern == 0)
                    cblas_sgemm(CblasRowMajor, p->ta ? CblasTrans : CblasNoTrans,
                                p->tb ? CblasTrans : CblasNoTrans, p->m, p->n, p->k, 1, a, lda, b,
                                ldb, 0, c, p->n);
                else if (kern == 1)
                    tg_dnnl_sgemm(p->ta, p->tb, p->m, p->n, p->k, 1, a, lda, b, ldb, 0, c, p->n);
                else if (kern == 2)
                    tg_gemm(p->ta, p->tb, p->m, p->n, p->k, 1, a, lda, b, ldb, 0, c, p->n);
                else
                    tg_dnnl_gemm_bf16(1, p->ta, p->tb, p->m, p->n, p->k, 1, ah, lda, 0, bh, ldb,
                                      0, 0, c, p->n, 0);
                reps++;
                t = now() - t0;
            } while (t < 0.3);
            gf[kern] = 2.0 * p->m * p->n * p->k * reps / t / 1e9;
        }
        printf("%-22s %10.1f %10.1f %10.1f %10.1f  %s\n", p->what, gf[0], gf[1], gf[2], gf[3],
               bf ? tg_dnnl_bf16_impl(1, p->ta, p->tb, p->m, p->n, p->k, 1, lda, 0, ldb, 0, 0,
                                      p->n, 0)
                  : "-");
    }
    free(a), free(b), free(c), free(ah), free(bh);
    return 0;
}
