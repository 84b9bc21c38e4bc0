/* Training-step speed of RobertaForMaskedLM: forward, backward and AdamW on
 * a fixed [batch, length] batch with dropout on, as `ablm train` runs it.
 * Prints JSON (ms per step, tokens/s, model GFLOP/s) and, with --profile,
 * the time per op. Compared with PyTorch by bench/train_vs_torch.sh.
 *
 * usage: bench_train [--config FILE] [--batch 16] [--length 130]
 *                    [--steps 10] [--warmup 2] [--threads 2] [--profile] */
#include "adamw.h"
#include "roberta.h"

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

int main(int argc, char **argv)
{
    const char *config = "configs/heavy_small.json";
    int B = 16, T = 130, steps = 10, warmup = 2, threads = 2, profile = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--profile")) {
            profile = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_train: %s needs a value\n", argv[i]);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(argv[i - 1], "--config")) config = v;
        else if (!strcmp(argv[i - 1], "--batch")) B = atoi(v);
        else if (!strcmp(argv[i - 1], "--length")) T = atoi(v);
        else if (!strcmp(argv[i - 1], "--steps")) steps = atoi(v);
        else if (!strcmp(argv[i - 1], "--warmup")) warmup = atoi(v);
        else if (!strcmp(argv[i - 1], "--threads")) threads = atoi(v);
        else {
            fprintf(stderr, "bench_train: unknown flag %s\n", argv[i - 1]);
            return 2;
        }
    }
    tg_set_threads(threads);
    rb_config c;
    rb_model *m;
    rb_graph gr;
    if (rb_config_load(config, &c) || rb_model_new(&c, &m) || rb_build(m, B, T, RB_LOSS, &gr)) {
        fprintf(stderr, "bench_train: %s\n", tg_last_error());
        return 1;
    }
    rb_model_init(m, 1);
    tg_graph_set_training(gr.g, 1);
    int32_t *ids = malloc(sizeof(int32_t) * B * T), *labels = malloc(sizeof(int32_t) * B * T);
    tg_rng r;
    tg_rng_seed(&r, 3);
    for (int i = 0; i < B * T; i++) { /* residues framed by [CLS] .. [SEP], 15% predicted */
        int t = i % T;
        ids[i] = t == 0 ? 2 : t == T - 1 ? 3 : 5 + (int)(tg_rng_uniform(&r) * 20);
        labels[i] = t > 0 && t < T - 1 && tg_rng_uniform(&r) < 0.15 ? ids[i] : -100;
        if (labels[i] >= 0)
            ids[i] = 4;
    }
    rb_set_batch(&gr, ids, NULL, labels); /* no padding */
    tg_params *p = m->params;
    opt_segment seg = {0, tg_params_numel(p), 1};
    opt_adamw_config oc = opt_adamw_defaults();
    opt_adamw opt;
    opt_adamw_init(&opt, &oc, tg_params_numel(p), &seg, 1);
    double t0 = 0, tf = 0, tb = 0, to = 0;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) {
            t0 = now();
            tf = tb = to = 0;
            tg_profile_enable(profile);
        }
        double a = now();
        tg_params_zero_grad(p);
        if (tg_forward(gr.g)) {
            fprintf(stderr, "bench_train: %s\n", tg_last_error());
            return 1;
        }
        double b = now();
        tg_backward(gr.g, gr.loss, NULL);
        double cc = now();
        opt_clip_grad_norm(tg_params_grads(p), tg_params_numel(p), 1.0);
        opt_adamw_step(&opt, tg_params_values(p), tg_params_grads(p), 5e-5);
        double d = now();
        tf += b - a, tb += cc - b, to += d - cc;
    }
    double el = now() - t0;
    /* multiply-adds of the linear layers and attention, x2 for FLOPs, x3
     * for forward + backward */
    double H = c.hidden_size, F = c.intermediate_size, L = c.num_hidden_layers, V = c.vocab_size;
    double per_tok = L * (4 * H * H + 2 * H * F + 2 * T * H) + H * H + H * V;
    double gflop = 6.0 * per_tok * B * T / 1e9;
    printf("{\"impl\": \"ablm\", \"config\": \"%s\", \"batch\": %d, \"length\": %d, \"threads\": %d, "
           "\"ms_per_step\": %.1f, \"forward_ms\": %.1f, \"backward_ms\": %.1f, \"optimizer_ms\": %.1f, "
           "\"tokens_per_s\": %.0f, \"gflops\": %.1f, \"loss\": %.4f, \"planned_mb\": %.0f, \"keep_all_mb\": %.0f}\n",
           config, B, T, threads, 1e3 * el / steps, 1e3 * tf / steps, 1e3 * tb / steps,
           1e3 * to / steps, (double)B * T * steps / el, gflop * steps / el, tg_f32(gr.loss)[0],
           tg_graph_planned_bytes(gr.g) / 1e6, tg_graph_unplanned_bytes(gr.g) / 1e6);
    if (profile)
        tg_profile_report(stderr);
    opt_adamw_free(&opt);
    rb_graph_free(&gr);
    rb_model_free(m);
    free(ids);
    free(labels);
    return 0;
}
