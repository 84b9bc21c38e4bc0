/* Training-step speed of RobertaForMaskedLM: forward, backward and AdamW on
 * a fixed [batch, length] batch with dropout on, as `ablm train` runs it.
 * Prints JSON (ms per step, process CPU ms per step (user + system of all
 * threads: steadier than wall time on a loaded machine), tokens/s, model
 * GFLOP/s, and the GEMM rate of the step's linear-layer shapes measured in
 * the same process in the same precision, with the model's share of it)
 * and, with --profile, the time per op. --bf16: the graph in TG_PREC_BF16
 * (as ablm train --bf16). The LM head runs on the masked positions only
 * (rb_build_masked, as ablm train does; --full-head: on every position, as
 * Hugging Face's model does), and the model FLOPs count the head rows that
 * run.
 * Compared with PyTorch by bench/train_vs_torch.sh.
 *
 * The batch: with --data UNIT.csv.gz, the first `batch` heavy chains of an
 * OAS unit with at most length - 2 standard residues (the default
 * tokenizer; padded to the longest, which sets the length; 15% of the
 * residues masked, as [MASK]); without, random residues at exactly
 * `length`. --dump FILE writes the batch (first line B T, then B lines of
 * ids, B of labels) for bench/train_step_torch.py to train on the same.
 *
 * usage: bench_train [--config FILE] [--batch 16] [--length 130] [--data UNIT]
 *                    [--dump FILE] [--steps 10] [--warmup 2] [--threads 2]
 *                    [--bf16] [--profile] [--full-head] */
#include "adamw.h"
#include "reader.h"
#include "roberta.h"
#include "tg_internal.h"
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double now(void) { return clock_s(CLOCK_MONOTONIC); }

/* GFLOP/s of the linear-layer products of a [rows, H] x [H, F] layer
 * (forward, dX and dW of both the H->F and F->H directions) on this
 * machine now, in fp32 (tg_gemm) or bf16 (oneDNN on converted operands):
 * total FLOPs / total time over repeated rounds of the six products. */
static double gemm_rate(int rows, int H, int F, int bf16)
{
    const int sh[6][5] = {{0, 1, rows, F, H}, {0, 1, rows, H, F}, {0, 0, rows, H, F},
                          {0, 0, rows, F, H}, {1, 0, F, H, rows}, {1, 0, H, F, rows}};
    size_t big = (size_t)rows * F > (size_t)H * F ? (size_t)rows * F : (size_t)H * F;
    float *a = malloc(big * 4), *b = malloc(big * 4), *c = malloc(big * 4);
    tg_bf16 *ah = malloc(big * 2), *bh = malloc(big * 2);
    if (!a || !b || !c || !ah || !bh)
        return 0;
    for (size_t i = 0; i < big; i++)
        a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    tg_f32_to_bf16(ah, a, big);
    tg_f32_to_bf16(bh, b, big);
    double flops = 0, t0 = now(), t;
    int round = 0;
    do {
        for (int s = 0; s < 6; s++) {
            int ta = sh[s][0], tb = sh[s][1], m = sh[s][2], n = sh[s][3], k = sh[s][4];
            int lda = ta ? m : k, ldb = tb ? k : n;
            if (!bf16 || tg_dnnl_gemm_bf16(1, ta, tb, m, n, k, 1, ah, lda, 0, bh, ldb, 0, 0, c, n, 0))
                tg_gemm(ta, tb, m, n, k, 1, a, lda, b, ldb, 0, c, n);
            if (round) /* the first round warms up (primitive creation) */
                flops += 2.0 * m * n * k;
        }
        if (!round++)
            t0 = now();
        t = now() - t0;
    } while (t < 1.0 || round < 3);
    free(a), free(b), free(c), free(ah), free(bh);
    return flops / t / 1e9;
}

/* The first B heavy chains of unit with at most maxlen - 2 residues,
 * tokenized, padded with [PAD] to the longest: ids, attention mask and
 * labels (15% of residues masked) [B, *T] malloc'ed. Returns a status. */
static int real_batch(const char *unit, int B, int maxlen, int *T, int32_t **ids,
                      int32_t **mask, int32_t **labels)
{
    tok_tokenizer *tok;
    rd_opts o;
    rd_opts_default(&o);
    o.drop_stop = o.drop_nonstandard = 1;
    o.max_length = maxlen - 2;
    rd_reader *r;
    int rc = tok_new(&tok);
    if (rc || (rc = rd_open(&r, unit, &o)))
        return rc;
    int32_t *tmp = malloc(sizeof(int32_t) * B * maxlen);
    int *n = calloc(B, sizeof *n), got = 0;
    rd_record rec;
    *T = 2;
    while (got < B && rd_next(r, &rec) == 1)
        if (!tok_encode(tok, rec.seq, rec.len, maxlen, TOK_REJECT, tmp + got * maxlen, &n[got], NULL)) {
            *T = n[got] > *T ? n[got] : *T;
            got++;
        }
    rd_close(r);
    if (got < B) {
        free(tmp), free(n), tok_free(tok);
        return tg_error(TG_ERR_ARG, "%s: only %d heavy chains of at most %d residues, %d wanted",
                        unit, got, maxlen - 2, B);
    }
    *ids = malloc(sizeof(int32_t) * B * *T);
    *mask = malloc(sizeof(int32_t) * B * *T);
    *labels = malloc(sizeof(int32_t) * B * *T);
    tg_rng g;
    tg_rng_seed(&g, 3);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < *T; t++) {
            int i = b * *T + t, real = t < n[b];
            (*ids)[i] = real ? tmp[b * maxlen + t] : tok_pad_id(tok);
            (*mask)[i] = real;
            int residue = real && t > 0 && t < n[b] - 1;
            (*labels)[i] = residue && tg_rng_uniform(&g) < 0.15 ? (*ids)[i] : -100;
            if ((*labels)[i] >= 0)
                (*ids)[i] = tok_mask_id(tok);
        }
    free(tmp), free(n), tok_free(tok);
    return TG_OK;
}

int main(int argc, char **argv)
{
    const char *config = "configs/heavy_small.json", *data = NULL, *dump = NULL;
    int B = 16, T = 130, steps = 10, warmup = 2, threads = 2, profile = 0, bf16 = 0, full = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--profile") || !strcmp(argv[i], "--bf16") ||
            !strcmp(argv[i], "--full-head")) {
            *(argv[i][2] == 'p' ? &profile : argv[i][2] == 'b' ? &bf16 : &full) = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_train: %s needs a value\n", argv[i]);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(argv[i - 1], "--config")) config = v;
        else if (!strcmp(argv[i - 1], "--data")) data = v;
        else if (!strcmp(argv[i - 1], "--dump")) dump = v;
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
    int32_t *ids = NULL, *labels = NULL, *mask = NULL;
    if (rb_config_load(config, &c)) {
        fprintf(stderr, "bench_train: %s\n", tg_last_error());
        return 1;
    }
    int model_max = c.max_position_embeddings - c.pad_token_id - 1;
    if (data && real_batch(data, B, T < model_max ? T : model_max, &T, &ids, &mask, &labels)) {
        fprintf(stderr, "bench_train: %s\n", tg_last_error());
        return 1;
    }
    if (bf16 && tg_bf16_require("--bf16")) {
        fprintf(stderr, "bench_train: %s\n", tg_last_error());
        return 1;
    }
    if (!data) {
        ids = malloc(sizeof(int32_t) * B * T), labels = malloc(sizeof(int32_t) * B * T);
        tg_rng r;
        tg_rng_seed(&r, 3);
        for (int i = 0; i < B * T; i++) { /* residues framed by [CLS] .. [SEP], 15% predicted */
            int t = i % T;
            ids[i] = t == 0 ? 2 : t == T - 1 ? 3 : 5 + (int)(tg_rng_uniform(&r) * 20);
            labels[i] = t > 0 && t < T - 1 && tg_rng_uniform(&r) < 0.15 ? ids[i] : -100;
            if (labels[i] >= 0)
                ids[i] = 4;
        }
    }
    int masked = 0;
    for (int i = 0; i < B * T; i++)
        masked += labels[i] >= 0;
    int head = full ? B * T : rb_head_rows_for(masked, B * T);
    if (rb_model_new(&c, &m) ||
        (full ? rb_build(m, B, T, RB_LOSS, &gr)
              : rb_build_masked(m, B, T, RB_LOSS, head, NULL, &gr)) ||
        rb_set_batch(&gr, ids, mask, labels)) { /* mask NULL: no padding */
        fprintf(stderr, "bench_train: %s\n", tg_last_error());
        return 1;
    }
    rb_model_init(m, 1);
    tg_graph_set_training(gr.g, 1);
    tg_graph_set_precision(gr.g, bf16 ? TG_PREC_BF16 : TG_PREC_F32);
    if (dump) {
        FILE *f = fopen(dump, "w");
        if (!f) {
            fprintf(stderr, "bench_train: cannot write %s\n", dump);
            return 1;
        }
        fprintf(f, "%d %d\n", B, T);
        for (int w = 0; w < 2; w++)
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++)
                    fprintf(f, "%d%c", (w ? labels : ids)[b * T + t], t == T - 1 ? '\n' : ' ');
        fclose(f);
    }
    tg_params *p = m->params;
    opt_segment seg = {0, tg_params_numel(p), 1};
    opt_adamw_config oc = opt_adamw_defaults();
    opt_adamw opt;
    opt_adamw_init(&opt, &oc, tg_params_numel(p), &seg, 1);
    double t0 = 0, tf = 0, tb = 0, to = 0, cpu0 = 0;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) {
            t0 = now();
            cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
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
    double el = now() - t0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    /* multiply-adds of the linear layers and attention per token and of the
     * head per head row, x2 for FLOPs, x3 for forward + backward */
    double H = c.hidden_size, F = c.intermediate_size, L = c.num_hidden_layers, V = c.vocab_size;
    double per_tok = L * (4 * H * H + 2 * H * F + 2 * T * H);
    double gflop = 6.0 * (per_tok * B * T + (H * H + H * V) * head) / 1e9;
    tg_profile_enable(0);
    struct rusage ru; /* peak RSS of the training steps, before the GEMM-rate buffers */
    getrusage(RUSAGE_SELF, &ru);
    double peak_mb = ru.ru_maxrss / 1024.0;
    double rate = gemm_rate(B * T, c.hidden_size, c.intermediate_size, bf16);
    printf("{\"impl\": \"ablm\", \"precision\": \"%s\", \"config\": \"%s\", \"batch\": %d, \"length\": %d, \"threads\": %d, "
           "\"ms_per_step\": %.1f, \"cpu_ms_per_step\": %.1f, \"forward_ms\": %.1f, \"backward_ms\": %.1f, \"optimizer_ms\": %.1f, "
           "\"tokens_per_s\": %.0f, \"gflops\": %.1f, \"gemm_gflops\": %.1f, \"gemm_share\": %.2f, "
           "\"gemm_large\": \"%s\", \"head_rows\": %d, \"loss\": %.4f, \"planned_mb\": %.0f, \"keep_all_mb\": %.0f, \"peak_rss_mb\": %.0f}\n",
           bf16 ? "bf16" : "fp32", config, B, T, threads, 1e3 * el / steps, 1e3 * cpu / steps, 1e3 * tf / steps,
           1e3 * tb / steps, 1e3 * to / steps, (double)B * T * steps / el, gflop * steps / el,
           rate, rate > 0 ? gflop * steps / el / rate : 0, bf16 ? "onednn-bf16" : tg_gemm_large_name(), head, tg_f32(gr.loss)[0],
           tg_graph_planned_bytes(gr.g) / 1e6, tg_graph_unplanned_bytes(gr.g) / 1e6, peak_mb);
    if (profile)
        tg_profile_report(stderr);
    opt_adamw_free(&opt);
    rb_graph_free(&gr);
    rb_model_free(m);
    free(ids);
    free(labels);
    free(mask);
    return 0;
}
