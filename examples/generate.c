/* Generation with the KV cache: logits processing (bad words, greedy,
 * temperature, top-k, top-p, multinomial) and the step loop. */
#include "generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void gen_opts_default(gen_opts *o, const g2_config *c)
{
    memset(o, 0, sizeof *o);
    o->max_new_tokens = 128;
    o->temperature = 1.0;
    o->top_k = 50;
    o->top_p = 1.0;
    o->seed = 42;
    o->num_return_sequences = 1;
    o->num_beams = 1;
    o->bad_ids[0] = 4;
    o->n_bad = 1;
    o->eos_id = c->eos_token_id;
    o->pad_id = c->pad_token_id >= 0 ? c->pad_token_id : 0;
}

int gen_opts_check(const gen_opts *o, const g2_config *c)
{
    if (o->num_beams != 1)
        return tg_error(TG_ERR_ARG, o->num_beams > 1
                                        ? "--num_beams %d: beam search is not implemented yet (use greedy or --do_sample)"
                                        : "--num_beams must be >= 1, got %d",
                        o->num_beams);
    if (o->max_new_tokens < 1)
        return tg_error(TG_ERR_ARG, "--max_new_tokens must be >= 1, got %d", o->max_new_tokens);
    if (o->num_return_sequences < 1)
        return tg_error(TG_ERR_ARG, "--num_return_sequences must be >= 1, got %d",
                        o->num_return_sequences);
    if (o->num_return_sequences > 1 && !o->do_sample)
        return tg_error(TG_ERR_ARG, "--num_return_sequences %d needs --do_sample (greedy gives one sequence per prompt)",
                        o->num_return_sequences);
    if (!(o->temperature > 0) || !isfinite(o->temperature))
        return tg_error(TG_ERR_ARG, "--temperature must be a positive number, got %g", o->temperature);
    if (o->top_k < 0)
        return tg_error(TG_ERR_ARG, "--top_k must be >= 0, got %d", o->top_k);
    if (!(o->top_p > 0 && o->top_p <= 1))
        return tg_error(TG_ERR_ARG, "--top_p must be in (0, 1], got %g", o->top_p);
    for (int i = 0; i < o->n_bad; i++)
        if (o->bad_ids[i] < 0 || o->bad_ids[i] >= c->vocab_size)
            return tg_error(TG_ERR_ARG, "--bad_words_ids: id %d outside the vocabulary (0..%d)",
                            o->bad_ids[i], c->vocab_size - 1);
    if (o->n_bad >= c->vocab_size)
        return tg_error(TG_ERR_ARG, "--bad_words_ids: %d ids leave nothing to emit", o->n_bad);
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

void gen_result_free(gen_result *r)
{
    for (size_t i = 0; r->tok && i < r->n; i++)
        tg_free(r->tok[i]);
    tg_free(r->tok);
    tg_free(r->len);
    tg_free(r->hit_eos);
    tg_free(r->hit_limit);
    memset(r, 0, sizeof *r);
}

/* The key of sequence i's sampling stream under seed. */
static uint64_t stream_key(uint64_t seed, size_t i)
{
    return seed * 0x9e3779b97f4a7c15ULL + (uint64_t)i * 0xd1b54a32d192ed03ULL + 1;
}

/* One chunk: sequences first..first+rows-1 (sequence i has prompt
 * i / nrs) in a step graph of `batch` rows over the cache. */
static int run_chunk(const g2_model *m, const gen_opts *o, const int32_t *const *prompts,
                     const int *plen, size_t first, int rows, g2_cache *cache, g2_graph *st,
                     gen_result *r, int32_t *ids, int32_t *last, int *done, float *work,
                     int *iwork)
{
    int B = cache->batch, V = m->cfg.vocab_size, L = cache->max_len;
    size_t nrs = (size_t)o->num_return_sequences;
    for (int b = 0; b < B; b++)
        done[b] = b >= rows;
    for (int t = 0; t < L; t++) {
        int active = 0;
        for (int b = 0; b < B; b++) {
            size_t p = (first + (b < rows ? b : 0)) / nrs;
            ids[b] = t < plen[p] ? prompts[p][t] : done[b] ? o->pad_id : last[b];
            active |= !done[b];
        }
        if (!active)
            break;
        g2_set_step(st, ids, t);
        int rc = tg_forward(st->g);
        if (rc)
            return rc;
        for (int b = 0; b < rows; b++) {
            size_t i = first + b;
            int pl = plen[i / nrs];
            if (done[b] || t < pl - 1)
                continue;
            double u = tg_hash_uniform(stream_key(o->seed, i), (uint64_t)r->len[i]);
            int tok = gen_pick(tg_f32(st->logits) + (size_t)b * V, V, o, u, work, iwork);
            r->tok[i][r->len[i]++] = tok;
            last[b] = tok;
            if (tok == o->eos_id)
                done[b] = r->hit_eos[i] = 1;
            else if (r->len[i] == o->max_new_tokens)
                done[b] = 1;
            else if (t + 1 == L) /* the next token would sit past n_positions */
                done[b] = r->hit_limit[i] = 1;
        }
    }
    return TG_OK;
}

int gen_run(const g2_model *m, const gen_opts *o, size_t n, const int32_t *const *prompts,
            const int *plen, int batch, gen_result *r)
{
    memset(r, 0, sizeof *r);
    const g2_config *c = &m->cfg;
    int rc = gen_opts_check(o, c);
    if (rc)
        return rc;
    if (batch < 1)
        return tg_error(TG_ERR_ARG, "gen_run: batch must be >= 1, got %d", batch);
    int maxp = 0;
    for (size_t p = 0; p < n; p++) {
        if (plen[p] < 1 || plen[p] > c->n_positions)
            return tg_error(TG_ERR_ARG, "prompt %zu has %d tokens: must be 1..%d (n_positions)",
                            p + 1, plen[p], c->n_positions);
        maxp = plen[p] > maxp ? plen[p] : maxp;
    }
    size_t total = n * (size_t)o->num_return_sequences;
    if (total == 0)
        return TG_OK;
    /* positions fed: the prompt and every new token but the last */
    long need = (long)maxp + o->max_new_tokens - 1;
    int L = need > c->n_positions ? c->n_positions : (int)need;
    if ((size_t)batch > total)
        batch = (int)total;
    r->n = total;
    r->tok = tg_calloc(total, sizeof *r->tok, "generated sequences");
    r->len = tg_calloc(total, sizeof *r->len, "generated lengths");
    r->hit_eos = tg_calloc(total, sizeof *r->hit_eos, "generated flags");
    r->hit_limit = tg_calloc(total, sizeof *r->hit_limit, "generated flags");
    int32_t *ids = tg_malloc((size_t)batch * sizeof *ids, "step ids");
    int32_t *last = tg_calloc((size_t)batch, sizeof *last, "step tokens");
    int *done = tg_malloc((size_t)batch * sizeof *done, "step flags");
    float *work = tg_malloc((size_t)c->vocab_size * sizeof *work, "sampling scratch");
    int *iwork = tg_malloc((size_t)c->vocab_size * sizeof *iwork, "sampling scratch");
    rc = r->tok && r->len && r->hit_eos && r->hit_limit && ids && last && done && work && iwork
             ? TG_OK
             : TG_ERR_NOMEM;
    for (size_t i = 0; !rc && i < total; i++)
        if (!(r->tok[i] = tg_malloc((size_t)o->max_new_tokens * sizeof **r->tok, "generated tokens")))
            rc = TG_ERR_NOMEM;
    g2_cache cache = {0};
    g2_graph st = {0};
    if (!rc)
        rc = g2_cache_new(m, batch, L, &cache);
    if (!rc)
        rc = g2_build_step(m, &cache, 1, NULL, &st);
    for (size_t first = 0; !rc && first < total; first += (size_t)batch) {
        int rows = total - first < (size_t)batch ? (int)(total - first) : batch;
        rc = run_chunk(m, o, prompts, plen, first, rows, &cache, &st, r, ids, last, done, work,
                       iwork);
    }
    g2_graph_free(&st);
    g2_cache_free(&cache);
    tg_free(ids);
    tg_free(last);
    tg_free(done);
    tg_free(work);
    tg_free(iwork);
    if (rc)
        gen_result_free(r);
    return rc;
}
