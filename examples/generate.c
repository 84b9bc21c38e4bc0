/* Generation through gen_model: the options, logits processing (bad
 * words, greedy, temperature, top-k, top-p, multinomial, log-softmax), the
 * greedy / sampling step loop, and gen_run (beam search: gen_beam.c). */
#include "generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void gen_opts_default(gen_opts *o, int eos_id, int pad_id)
{
    memset(o, 0, sizeof *o);
    o->max_new_tokens = 128;
    o->temperature = 1.0;
    o->top_k = 50;
    o->top_p = 1.0;
    o->seed = 42;
    o->num_return_sequences = 1;
    o->num_beams = 1;
    o->num_beam_groups = 1;
    o->length_penalty = 1.0;
    o->early_stopping = GEN_EARLY_FALSE;
    o->bad_ids[0] = 4;
    o->n_bad = 1;
    o->eos_id = eos_id >= 0 ? eos_id : -1;
    o->pad_id = pad_id >= 0 ? pad_id : 0;
}

int gen_opts_check(const gen_opts *o, int V)
{
    if (o->max_new_tokens < 1)
        return tg_error(TG_ERR_ARG, "--max_new_tokens must be >= 1, got %d", o->max_new_tokens);
    if (o->num_beams < 1)
        return tg_error(TG_ERR_ARG, "--num_beams must be >= 1, got %d", o->num_beams);
    if (o->num_beam_groups < 1 || o->num_beam_groups > o->num_beams)
        return tg_error(TG_ERR_ARG, "--num_beam_groups must be 1..%d (--num_beams), got %d",
                        o->num_beams, o->num_beam_groups);
    if (o->num_beams % o->num_beam_groups)
        return tg_error(TG_ERR_ARG, "--num_beams %d must be divisible by --num_beam_groups %d",
                        o->num_beams, o->num_beam_groups);
    if (o->do_sample && o->num_beams > 1)
        return tg_error(TG_ERR_ARG, "--do_sample with --num_beams %d: beam-sample is not implemented (sample with 1 beam, or beam search without --do_sample)",
                        o->num_beams);
    if (!(o->diversity_penalty >= 0) || !isfinite(o->diversity_penalty))
        return tg_error(TG_ERR_ARG, "--diversity_penalty must be a number >= 0, got %g",
                        o->diversity_penalty);
    if (o->num_beam_groups > 1 && o->diversity_penalty == 0)
        return tg_error(TG_ERR_ARG, "--num_beam_groups %d needs --diversity_penalty > 0 (else the groups are identical)",
                        o->num_beam_groups);
    if (o->num_beam_groups == 1 && o->diversity_penalty != 0)
        return tg_error(TG_ERR_ARG, "--diversity_penalty %g needs --num_beam_groups > 1 (diverse beam search)",
                        o->diversity_penalty);
    if (!isfinite(o->length_penalty))
        return tg_error(TG_ERR_ARG, "--length_penalty must be a finite number, got %g", o->length_penalty);
    if (o->num_beams == 1 && (o->length_penalty != 1.0 || o->early_stopping != GEN_EARLY_FALSE))
        return tg_error(TG_ERR_ARG, "--%s only applies to beam search (--num_beams > 1)",
                        o->length_penalty != 1.0 ? "length_penalty" : "early_stopping");
    if (o->early_stopping < GEN_EARLY_FALSE || o->early_stopping > GEN_EARLY_NEVER)
        return tg_error(TG_ERR_ARG, "--early_stopping must be false, true or never");
    if (o->num_return_sequences < 1)
        return tg_error(TG_ERR_ARG, "--num_return_sequences must be >= 1, got %d",
                        o->num_return_sequences);
    if (o->num_return_sequences > 1 && !o->do_sample && o->num_beams == 1)
        return tg_error(TG_ERR_ARG, "--num_return_sequences %d needs --do_sample or --num_beams >= %d (greedy gives one sequence per prompt)",
                        o->num_return_sequences, o->num_return_sequences);
    if (o->num_beams > 1 && o->num_return_sequences > o->num_beams)
        return tg_error(TG_ERR_ARG, "--num_return_sequences %d must be <= --num_beams %d",
                        o->num_return_sequences, o->num_beams);
    if (!(o->temperature > 0) || !isfinite(o->temperature))
        return tg_error(TG_ERR_ARG, "--temperature must be a positive number, got %g", o->temperature);
    if (o->top_k < 0)
        return tg_error(TG_ERR_ARG, "--top_k must be >= 0, got %d", o->top_k);
    if (!(o->top_p > 0 && o->top_p <= 1))
        return tg_error(TG_ERR_ARG, "--top_p must be in (0, 1], got %g", o->top_p);
    if (o->n_bad < 0 || o->n_bad > GEN_MAX_BAD)
        return tg_error(TG_ERR_ARG, "--bad_words_ids: %d ids (at most %d)", o->n_bad, GEN_MAX_BAD);
    for (int i = 0; i < o->n_bad; i++)
        if (o->bad_ids[i] < 0 || o->bad_ids[i] >= V)
            return tg_error(TG_ERR_ARG, "--bad_words_ids: id %d outside the vocabulary (0..%d)",
                            o->bad_ids[i], V - 1);
    if (o->n_bad >= V)
        return tg_error(TG_ERR_ARG, "--bad_words_ids: %d ids leave nothing to emit", o->n_bad);
    if (o->eos_id >= V)
        return tg_error(TG_ERR_ARG, "eos id %d outside the vocabulary (0..%d)", o->eos_id, V - 1);
    if (o->pad_id < 0 || o->pad_id >= V)
        return tg_error(TG_ERR_ARG, "pad id %d outside the vocabulary (0..%d)", o->pad_id, V - 1);
    return TG_OK;
}

/* For sorting indices by work[] (ascending; ties by index). */
static const float *sort_key;
static int by_key(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_key[i] != sort_key[j])
        return sort_key[i] < sort_key[j] ? -1 : 1;
    return i - j;
}

int gen_pick(const float *logits, int V, const gen_opts *o, double u, float *s, int *idx)
{
    for (int v = 0; v < V; v++)
        s[v] = logits[v];
    for (int i = 0; i < o->n_bad; i++)
        s[o->bad_ids[i]] = -INFINITY;
    if (!o->do_sample) {
        int best = 0;
        for (int v = 1; v < V; v++)
            if (s[v] > s[best])
                best = v;
        return best;
    }
    for (int v = 0; v < V; v++)
        s[v] = (float)(s[v] / o->temperature);
    for (int v = 0; v < V; v++)
        idx[v] = v;
    sort_key = s;
    qsort(idx, V, sizeof *idx, by_key); /* ascending logits */
    if (o->top_k > 0 && o->top_k < V) { /* drop what is below the k-th largest */
        float kth = s[idx[V - o->top_k]];
        for (int v = 0; v < V; v++)
            if (s[v] < kth)
                s[v] = -INFINITY;
    }
    float mx = s[idx[V - 1]];
    if (o->top_p < 1) { /* drop the tail whose mass is <= 1 - top_p, keep the top */
        double z = 0, cum = 0;
        for (int v = 0; v < V; v++)
            z += exp((double)s[v] - mx);
        for (int r = 0; r < V - 1; r++) {
            int v = idx[r];
            cum += exp((double)s[v] - mx) / z;
            if (cum <= 1 - o->top_p)
                s[v] = -INFINITY;
        }
    }
    double z = 0;
    for (int v = 0; v < V; v++)
        z += exp((double)s[v] - mx);
    double target = u * z, cum = 0;
    int last = idx[V - 1];
    for (int v = 0; v < V; v++) {
        double p = exp((double)s[v] - mx);
        if (p > 0)
            last = v;
        cum += p;
        if (cum > target && p > 0)
            return v;
    }
    return last; /* rounding: the last token with mass */
}

void gen_log_softmax(const float *logits, int V, float *out)
{
    float mx = -INFINITY;
    for (int v = 0; v < V; v++)
        mx = logits[v] > mx ? logits[v] : mx;
    double z = 0;
    for (int v = 0; v < V; v++)
        z += exp((double)logits[v] - mx);
    double lse = mx + log(z);
    for (int v = 0; v < V; v++)
        out[v] = (float)((double)logits[v] - lse);
}

void gen_result_free(gen_result *r)
{
    for (size_t i = 0; r->tok && i < r->n; i++)
        tg_free(r->tok[i]);
    tg_free(r->tok);
    tg_free(r->len);
    tg_free(r->hit_eos);
    tg_free(r->hit_limit);
    tg_free(r->score);
    memset(r, 0, sizeof *r);
}

/* The key of sequence i's sampling stream under seed. */
static uint64_t stream_key(uint64_t seed, size_t i)
{
    return seed * 0x9e3779b97f4a7c15ULL + (uint64_t)i * 0xd1b54a32d192ed03ULL + 1;
}

/* Scratch of the greedy / sampling loop, per row of the step graph. */
typedef struct {
    int32_t *ids, *last;
    int *done, *src, *iwork;
    float *work;
} loop_bufs;

/* One chunk: sequences first..first+rows-1 (sequence i has source
 * i / nrs) in the gm->rows rows of the step graph. */
static int run_chunk(const gen_model *gm, const gen_opts *o, const int32_t *const *prefix,
                     const int *plen, size_t first, int rows, gen_result *r, loop_bufs *w)
{
    int B = gm->rows, V = gm->vocab_size, L = gm->max_len;
    size_t nrs = (size_t)o->num_return_sequences;
    for (int b = 0; b < B; b++) {
        w->done[b] = b >= rows;
        w->src[b] = b < rows ? (int)((first + b) / nrs) : -1;
    }
    int rc = gm->begin(gm->ctx, w->src);
    for (int t = 0; !rc && t < L; t++) {
        int active = 0;
        for (int b = 0; b < B; b++) {
            size_t p = (first + (b < rows ? b : 0)) / nrs;
            w->ids[b] = t < plen[p] ? prefix[p][t] : w->done[b] ? o->pad_id : w->last[b];
            active |= !w->done[b];
        }
        if (!active)
            break;
        const float *logits;
        if ((rc = gm->step(gm->ctx, w->ids, t, &logits)))
            break;
        for (int b = 0; b < rows; b++) {
            size_t i = first + b;
            int pl = plen[i / nrs];
            if (w->done[b] || t < pl - 1)
                continue;
            double u = tg_hash_uniform(stream_key(o->seed, i), (uint64_t)r->len[i]);
            int tok = gen_pick(logits + (size_t)b * V, V, o, u, w->work, w->iwork);
            r->tok[i][r->len[i]++] = tok;
            w->last[b] = tok;
            if (tok == o->eos_id)
                w->done[b] = r->hit_eos[i] = 1;
            else if (r->len[i] == o->max_new_tokens)
                w->done[b] = 1;
            else if (t + 1 == L) /* the next token would sit past the positions */
                w->done[b] = r->hit_limit[i] = 1;
        }
    }
    return rc;
}

/* Greedy / sampling over every sequence, gm->rows at a time. */
static int run_rows(const gen_model *gm, const gen_opts *o, const int32_t *const *prefix,
                    const int *plen, gen_result *r)
{
    int B = gm->rows, V = gm->vocab_size;
    loop_bufs w = {0};
    w.ids = tg_malloc((size_t)B * sizeof *w.ids, "step ids");
    w.last = tg_calloc((size_t)B, sizeof *w.last, "step tokens");
    w.done = tg_malloc((size_t)B * sizeof *w.done, "step flags");
    w.src = tg_malloc((size_t)B * sizeof *w.src, "step sources");
    w.work = tg_malloc((size_t)V * sizeof *w.work, "sampling scratch");
    w.iwork = tg_malloc((size_t)V * sizeof *w.iwork, "sampling scratch");
    int rc = w.ids && w.last && w.done && w.src && w.work && w.iwork ? TG_OK : TG_ERR_NOMEM;
    for (size_t first = 0; !rc && first < r->n; first += (size_t)B) {
        int rows = r->n - first < (size_t)B ? (int)(r->n - first) : B;
        rc = run_chunk(gm, o, prefix, plen, first, rows, r, &w);
    }
    tg_free(w.ids), tg_free(w.last), tg_free(w.done), tg_free(w.src);
    tg_free(w.work), tg_free(w.iwork);
    return rc;
}

/* gen_run, by beam search when beams is set (else by o->num_beams). */
static int run(const gen_model *gm, const gen_opts *o, size_t n, const int32_t *const *prefix,
               const int *plen, int beams, gen_result *r)
{
    memset(r, 0, sizeof *r);
    if (gm->rows < 1 || gm->vocab_size < 1 || gm->max_len < 1 || !gm->begin || !gm->step ||
        !gm->reorder)
        return tg_error(TG_ERR_ARG, "gen_run: model with %d rows, vocabulary %d, %d positions (each must be >= 1) or without begin/step/reorder",
                        gm->rows, gm->vocab_size, gm->max_len);
    int rc = gen_opts_check(o, gm->vocab_size);
    if (rc)
        return rc;
    if (gm->rows < o->num_beams)
        return tg_error(TG_ERR_ARG, "gen_run: %d rows per step, beam search needs >= %d (--num_beams)",
                        gm->rows, o->num_beams);
    if (n > (size_t)INT32_MAX)
        return tg_error(TG_ERR_ARG, "gen_run: %zu sources (at most %d)", n, INT32_MAX);
    for (size_t p = 0; p < n; p++)
        if (plen[p] < 1 || plen[p] > gm->max_len)
            return tg_error(TG_ERR_ARG, "prompt %zu has %d tokens: must be 1..%d (positions)",
                            p + 1, plen[p], gm->max_len);
    size_t total = n * (size_t)o->num_return_sequences;
    if (total == 0)
        return TG_OK;
    r->n = total;
    r->tok = tg_calloc(total, sizeof *r->tok, "generated sequences");
    r->len = tg_calloc(total, sizeof *r->len, "generated lengths");
    r->hit_eos = tg_calloc(total, sizeof *r->hit_eos, "generated flags");
    r->hit_limit = tg_calloc(total, sizeof *r->hit_limit, "generated flags");
    r->score = tg_calloc(total, sizeof *r->score, "generated scores");
    rc = r->tok && r->len && r->hit_eos && r->hit_limit && r->score ? TG_OK : TG_ERR_NOMEM;
    for (size_t i = 0; !rc && i < total; i++)
        if (!(r->tok[i] = tg_malloc((size_t)o->max_new_tokens * sizeof **r->tok, "generated tokens")))
            rc = TG_ERR_NOMEM;
    if (!rc)
        rc = beams || o->num_beams > 1 ? gen_beam_run(gm, o, n, prefix, plen, r)
                                       : run_rows(gm, o, prefix, plen, r);
    if (rc)
        gen_result_free(r);
    return rc;
}

int gen_run(const gen_model *gm, const gen_opts *o, size_t n, const int32_t *const *prefix,
            const int *plen, gen_result *r)
{
    return run(gm, o, n, prefix, plen, 0, r);
}

int gen_run_beams(const gen_model *gm, const gen_opts *o, size_t n, const int32_t *const *prefix,
                  const int *plen, gen_result *r)
{
    if (o->do_sample)
        return tg_error(TG_ERR_ARG, "gen_run_beams: beam search does not sample (--do_sample)");
    return run(gm, o, n, prefix, plen, 1, r);
}

long gen_positions(const gen_opts *o, size_t n, const int *plen)
{
    int maxp = 0;
    for (size_t p = 0; p < n; p++)
        maxp = plen[p] > maxp ? plen[p] : maxp;
    return (long)maxp + o->max_new_tokens - 1;
}

int gen_rows(const gen_opts *o, size_t n, int batch)
{
    size_t per = o->num_beams > 1 ? (size_t)o->num_beams : 1;
    size_t units = o->num_beams > 1 ? n : n * (size_t)o->num_return_sequences;
    size_t b = batch < 1 ? 1 : (size_t)batch;
    if (b > units)
        b = units ? units : 1;
    return (int)(b * per);
}

int gen_run_gpt2(const g2_model *m, const gen_opts *o, size_t n, const int32_t *const *prompts,
                 const int *plen, int batch, gen_result *r)
{
    memset(r, 0, sizeof *r);
    const g2_config *c = &m->cfg;
    int rc = gen_opts_check(o, c->vocab_size);
    if (rc)
        return rc;
    if (batch < 1)
        return tg_error(TG_ERR_ARG, "gen_run: batch must be >= 1, got %d", batch);
    for (size_t p = 0; p < n; p++)
        if (plen[p] < 1 || plen[p] > c->n_positions)
            return tg_error(TG_ERR_ARG, "prompt %zu has %d tokens: must be 1..%d (n_positions)",
                            p + 1, plen[p], c->n_positions);
    if (n == 0)
        return TG_OK;
    long need = gen_positions(o, n, plen);
    gen_model gm;
    rc = gen_gpt2_new(m, gen_rows(o, n, batch), need > c->n_positions ? c->n_positions : (int)need,
                      &gm);
    if (rc)
        return rc;
    rc = gen_run(&gm, o, n, prompts, plen, r);
    gen_gpt2_free(&gm);
    return rc;
}
