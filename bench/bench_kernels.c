/* Per-kernel speed of the memory-bound kernels (ops/kern.h) at every CPU
 * level this machine supports: GB/s (bytes each kernel must read and write)
 * and ns per element, one thread, on n floats (default 2080 x 512, one
 * heavy_small activation at batch 16 x 130). Prints JSON lines.
 *
 * usage: bench_kernels [--n N] [--reps R] [--level scalar|avx2|avx512]
 *                      [--kernel NAME]
 * For instruction counts (valgrind has no AVX-512, so it sees avx2 at most):
 *   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*_avx2' \
 *       build/bench_kernels --level avx2 --kernel gelu --reps 1 */
#include "cpu.h"
#include "kern.h"
#include "tg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

enum { K_ADD, K_ACC, K_DROPOUT, K_DROPOUT_BWD, K_GELU, K_GELU_BWD, K_GELU_NEW, K_GELU_NEW_BWD,
       K_LN, K_LN_BWD, K_LN_PARAMS, K_ADAMW, K_N };
static const char *NAMES[K_N] = {"add", "acc", "dropout", "dropout_bwd", "gelu", "gelu_bwd",
                                 "gelu_new", "gelu_new_bwd", "layer_norm", "layer_norm_bwd",
                                 "layer_norm_params_bwd", "adamw"};
/* bytes read + written per element */
static const int BYTES[K_N] = {12, 12, 8, 12, 8, 16, 8, 16, 8, 16, 24, 28};

static void run(const tg_kern *k, int which, float **b, size_t n, int h)
{
    uint64_t key = 0x9e3779b97f4a7c15ULL, thr = (uint64_t)(0.1 * 18446744073709551616.0);
    tg_adamw_consts c = {0.99999f, 0.9f, 0.1f, 0.999f, 0.001f, 0.0316f, 1e-8f, -1e-4f};
    size_t rows = n / h;
    switch (which) {
    case K_ADD: k->add(b[0], b[1], b[2], n); break;
    case K_ACC: k->acc(b[0], b[1], NULL, 1.f, n); break;
    case K_DROPOUT: k->dropout(b[0], b[1], n, 0, key, thr, 1 / 0.9f, 0); break;
    case K_DROPOUT_BWD: k->dropout(b[0], b[1], n, 0, key, thr, 1 / 0.9f, 1); break;
    case K_GELU: k->gelu(b[0], b[1], n); break;
    case K_GELU_BWD: k->gelu_bwd(b[0], b[1], b[2], n, 1); break;
    case K_GELU_NEW: k->gelu_new(b[0], b[1], n); break;
    case K_GELU_NEW_BWD: k->gelu_new_bwd(b[0], b[1], b[2], n, 1); break;
    case K_LN:
        for (size_t r = 0; r < rows; r++)
            k->ln_row(b[0] + r * h, b[1] + r * h, b[2], b[3], h, 1e-5f, &b[4][r], &b[4][rows + r]);
        break;
    case K_LN_BWD:
        for (size_t r = 0; r < rows; r++)
            k->ln_row_bwd(b[0] + r * h, b[1] + r * h, b[2] + r * h, b[3], h, 0.1f, 1.2f, 1);
        break;
    case K_LN_PARAMS:
        for (size_t r = 0; r < rows; r++)
            k->ln_params_bwd(b[3], b[4], b[1] + r * h, b[2] + r * h, h, 0.1f, 1.2f);
        break;
    default: k->adamw(b[0], b[1], b[2], b[3], n, &c); break;
    }
}

int main(int argc, char **argv)
{
    size_t n = 2080 * 512;
    int reps = 20, only_level = -1, h = 512;
    const char *only = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--n")) n = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--kernel")) only = argv[i + 1];
        else if (!strcmp(argv[i], "--level")) {
            for (int l = 0; l <= TG_CPU_AVX512; l++)
                if (!strcmp(argv[i + 1], tg_cpu_level_name(l)))
                    only_level = l;
            if (only_level < 0) {
                fprintf(stderr, "bench_kernels: --level %s is not scalar, avx2 or avx512\n", argv[i + 1]);
                return 2;
            }
        } else {
            fprintf(stderr, "bench_kernels: unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    if ((argc - 1) % 2 || n < (size_t)h || reps < 1) {
        fprintf(stderr, "usage: bench_kernels [--n N >= 512] [--reps R >= 1] [--level L] [--kernel NAME]\n");
        return 2;
    }
    n = n / h * h;
    char desc[512];
    fprintf(stderr, "bench_kernels: %s\n", tg_cpu_describe(desc, sizeof desc));
    float *b[5];
    for (int j = 0; j < 5; j++) {
        b[j] = malloc(n * sizeof(float) + 64);
        if (!b[j])
            return 1;
        for (size_t i = 0; i < n; i++)
            b[j][i] = 0.25f + 0.5f * (float)((i * 2654435761u + j) % 1000) / 1000.f;
    }
    for (int which = 0; which < K_N; which++) {
        if (only && strcmp(only, NAMES[which]))
            continue;
        for (int l = 0; l <= tg_cpu_info_get()->best; l++) {
            if (only_level >= 0 && l != only_level)
                continue;
            const tg_kern *k = tg_kern_at(l);
            run(k, which, b, n, h); /* warm up */
            double best = 1e30;
            for (int r = 0; r < reps; r++) {
                double t0 = now();
                run(k, which, b, n, h);
                double t = now() - t0;
                best = t < best ? t : best;
            }
            printf("{\"kernel\": \"%s\", \"level\": \"%s\", \"n\": %zu, \"ns_per_elem\": %.3f, \"gb_per_s\": %.2f}\n",
                   NAMES[which], k->name, n, 1e9 * best / n, BYTES[which] * n / best / 1e9);
        }
    }
    for (int j = 0; j < 5; j++)
        free(b[j]);
    return 0;
}
