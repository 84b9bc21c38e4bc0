/* Attention alone: the fused tg_attention against the unfused composition
 * RoBERTa used before (permute copies, matmul, scale, softmax with an
 * additive mask, dropout, matmul, permute back), forward + backward, on
 * one layer's shapes. Prints wall and process CPU milliseconds per
 * iteration (CPU time is the steadier number on a shared machine) and the
 * activation arena of each graph.
 *
 * usage: bench_attention [--batch 16] [--length 130] [--hidden 512]
 *                        [--heads 4] [--iters 20] [--threads 2] [--causal]
 *                        [--dropout 0.1] [--profile] [--bf16] */
#include "tg_ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

int main(int argc, char **argv)
{
    int B = 16, T = 130, H = 512, nh = 4, iters = 20, threads = 2, causal = 0, profile = 0, bf16 = 0;
    float drop = 0.1f;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--causal") || !strcmp(argv[i], "--profile") ||
            !strcmp(argv[i], "--bf16")) {
            *(argv[i][2] == 'c' ? &causal : argv[i][2] == 'p' ? &profile : &bf16) = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_attention: %s needs a value\n", argv[i]);
            return 2;
        }
        const char *f = argv[i], *v = argv[++i];
        if (!strcmp(f, "--batch")) B = atoi(v);
        else if (!strcmp(f, "--length")) T = atoi(v);
        else if (!strcmp(f, "--hidden")) H = atoi(v);
        else if (!strcmp(f, "--heads")) nh = atoi(v);
        else if (!strcmp(f, "--iters")) iters = atoi(v);
        else if (!strcmp(f, "--threads")) threads = atoi(v);
        else if (!strcmp(f, "--dropout")) drop = (float)atof(v);
        else {
            fprintf(stderr, "bench_attention: unknown flag %s\n", f);
            return 2;
        }
    }
    tg_set_threads(threads);
    int hd = H / nh, shape[3] = {B, T, H};
    tg_params *p = tg_params_new();
    tg_tensor *q = tg_params_add(p, "q", 3, shape, 1), *k = tg_params_add(p, "k", 3, shape, 1);
    tg_tensor *v = tg_params_add(p, "v", 3, shape, 1);
    if (tg_params_alloc(p)) {
        fprintf(stderr, "bench_attention: %s\n", tg_last_error());
        return 1;
    }
    tg_rng r;
    tg_rng_seed(&r, 1);
    for (size_t i = 0; i < tg_params_numel(p); i++)
        tg_params_values(p)[i] = (float)tg_rng_normal(&r);
    printf("batch %d, length %d, hidden %d, heads %d, causal %d, dropout %g, threads %d, %s\n",
           B, T, H, nh, causal, drop, threads, bf16 ? "bf16" : "fp32");
    printf("%-12s %10s %10s %12s\n", "impl", "wall ms", "cpu ms", "arena MB");
    for (int fused = 1; fused >= 0; fused--) {
        tg_graph *g = tg_graph_new();
        tg_tensor *out, *mask;
        if (fused) {
            mask = tg_input(g, TG_I32, 2, (int[]){B, T}, "mask");
            out = tg_attention(g, q, k, v, mask,
                               &(tg_attn_args){.heads = nh, .causal = causal, .dropout = drop});
        } else {
            int perm[4] = {0, 2, 1, 3}, hs[4] = {B, T, nh, hd};
            mask = tg_input(g, TG_F32, 4, (int[]){B, 1, causal ? T : 1, T}, "mask");
#define HEADS(t) tg_permute(g, tg_reshape(g, (t), 4, hs), 4, perm)
            tg_tensor *s = tg_scale(g, tg_matmul(g, HEADS(q), HEADS(k), 0, 1), 1.0f / sqrtf(hd));
            tg_tensor *pr = tg_dropout(g, tg_softmax(g, s, mask), drop);
            out = tg_reshape(g, tg_permute(g, tg_matmul(g, pr, HEADS(v), 0, 0), 4, perm), 3, shape);
#undef HEADS
        }
        tg_tensor *loss = tg_sum(g, out);
        if (!loss || tg_graph_plan(g, loss, 0)) {
            fprintf(stderr, "bench_attention: %s\n",
                    tg_graph_error(g) ? tg_graph_error(g) : tg_last_error());
            return 1;
        }
        tg_graph_set_training(g, 1);
        if (bf16)
            tg_graph_set_precision(g, TG_PREC_BF16);
        for (size_t i = 0; i < mask->numel; i++) {
            int j = (int)(i % T), row = (int)(i / T % (causal ? T : 1));
            int vis = !causal || j <= row;
            if (fused)
                tg_i32(mask)[i] = 1;
            else
                tg_f32(mask)[i] = vis ? 0.0f : -INFINITY;
        }
        double w0 = 0, c0 = 0;
        for (int it = -2; it < iters; it++) { /* 2 warm-up iterations */
            if (it == 0) {
                w0 = clock_ms(CLOCK_MONOTONIC), c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
                tg_profile_reset();
                tg_profile_enable(profile);
            }
            tg_params_zero_grad(p);
            if (tg_forward(g) || tg_backward(g, loss, NULL)) {
                fprintf(stderr, "bench_attention: %s\n", tg_last_error());
                return 1;
            }
        }
        printf("%-12s %10.2f %10.2f %12.1f\n", fused ? "fused" : "composition",
               (clock_ms(CLOCK_MONOTONIC) - w0) / iters,
               (clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0) / iters,
               tg_graph_planned_bytes(g) / 1e6);
        if (profile)
            tg_profile_report(stdout);
        tg_profile_enable(0);
        tg_graph_free(g);
    }
    tg_params_free(p);
    return 0;
}
