/* Evaluation totals and metrics of the language-model tasks. */
#include "lm_eval.h"

#include <math.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double lm_eval_begin(tr_eval *io)
{
    memset(io->sum, 0, sizeof io->sum);
    io->nsum = LM_NSUM;
    io->samples = 0;
    return now();
}

void lm_eval_end(tr_eval *io, double t0) { io->seconds = now() - t0; }

void lm_eval_add(tr_eval *io, const float *logits, const int32_t *labels, long n_pos, int V,
                 double loss, int n)
{
    long right = 0, counted = 0;
    for (long i = 0; i < n_pos; i++) {
        if (labels[i] == -100)
            continue;
        const float *row = logits + (size_t)i * (size_t)V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (row[v] > row[best])
                best = v;
        right += best == labels[i];
        counted++;
    }
    io->sum[LM_LOSS] += loss * n;
    io->sum[LM_NLL] += loss * (double)counted;
    io->sum[LM_RIGHT] += (double)right;
    io->sum[LM_COUNTED] += (double)counted;
    io->samples += n;
}

void lm_eval_metrics(tr_eval *io, int final, int token_ppl)
{
    double eval_loss = io->samples ? io->sum[LM_LOSS] / (double)io->samples : 0;
    double cnt = io->sum[LM_COUNTED];
    double ppl = token_ppl ? (cnt ? exp(io->sum[LM_NLL] / cnt) : 0) : exp(eval_loss);
    ts_metric *m = io->m;
    int k = 0;
    m[k++] = ts_m("eval_loss", eval_loss);
    m[k++] = ts_m("eval_accuracy", cnt ? io->sum[LM_RIGHT] / cnt : 0);
    m[k++] = ts_m(final ? "perplexity" : "eval_perplexity", ppl);
    if (final)
        m[k++] = ts_mi("eval_samples", io->samples);
    io->n = k;
}
