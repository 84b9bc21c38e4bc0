/* Generation with a KV cache (models/gpt2 step graphs, examples/generate):
 * the cached step's logits equal the full uncached forward's at every
 * position; the step graph has no dropout node; the generation loop's
 * greedy, sampling, top-k, bad-word and eos behaviour. */
#include "generate.h"
#include "gpt2.h"
#include "commands.h"
#include "testutil.h"

#include <stdarg.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A random tiny decoder: vocabulary of the protein tokenizer (25), 2
 * layers, 4 heads, 80 positions; initializer_range 0.3 so the logits are
 * far from uniform and greedy choices are not ties. */
static g2_model *tiny_model(uint64_t seed)
{
    g2_config c;
    g2_config_default(&c);
    c.vocab_size = 25, c.n_embd = 24, c.n_layer = 2, c.n_head = 4, c.n_positions = 80;
    c.bos_token_id = 2, c.eos_token_id = 3, c.pad_token_id = 0;
    c.initializer_range = 0.3;
    g2_model *m;
    ck_assert_msg(g2_model_new(&c, &m) == TG_OK, "%s", tg_last_error());
    g2_model_init(m, seed);
    return m;
}

/* Full forward logits [B, T, V] of ids [B, T] (no padding), into a new
 * array. */
static float *full_logits(const g2_model *m, const int32_t *ids, int B, int T)
{
    g2_graph gr;
    ck_assert_msg(g2_build(m, B, T, G2_LOGITS, NULL, &gr) == TG_OK, "%s", tg_last_error());
    g2_set_batch(&gr, ids, NULL, NULL);
    ck_assert_int_eq(tg_forward(gr.g), TG_OK);
    size_t n = gr.logits->numel;
    float *out = malloc(n * sizeof *out);
    memcpy(out, gr.logits->data, n * sizeof *out);
    g2_graph_free(&gr);
    return out;
}

START_TEST(cached_steps_equal_the_full_forward)
{
    enum { B = 3, T = 64 };
    g2_model *m = tiny_model(11);
    int V = m->cfg.vocab_size;
    int32_t ids[B * T];
    tg_rng r;
    tg_rng_seed(&r, 5);
    for (int i = 0; i < B * T; i++)
        ids[i] = 2 + (int)(tg_rng_uniform(&r) * (V - 2));
    float *ref = full_logits(m, ids, B, T);
    g2_cache cache;
    ck_assert_msg(g2_cache_new(m, B, T, &cache) == TG_OK, "%s", tg_last_error());
    g2_graph st;
    ck_assert_msg(g2_build_step(m, &cache, 1, NULL, &st) == TG_OK, "%s", tg_last_error());
    for (int i = 0; i < tg_graph_nodes(st.g); i++)
        ck_assert_msg(tg_graph_node(st.g, i)->op != TG_OP_DROPOUT, "step graph has a dropout node");
    tg_graph_set_training(st.g, 1); /* nothing to switch on: same logits */
    double worst = 0, spread = 0;
    for (int t = 0; t < T; t++) {
        int32_t step_ids[B];
        for (int b = 0; b < B; b++)
            step_ids[b] = ids[b * T + t];
        g2_set_step(&st, step_ids, t);
        ck_assert_msg(tg_forward(st.g) == TG_OK, "%s", tg_last_error());
        for (int b = 0; b < B; b++)
            for (int v = 0; v < V; v++) {
                double a = tg_f32(st.logits)[b * V + v], e = ref[((size_t)b * T + t) * V + v];
                worst = fmax(worst, fabs(a - e));
                spread = fmax(spread, fabs(e - ref[((size_t)b * T + t) * V]));
            }
    }
    printf("cached vs full forward, %d steps x batch %d: max |diff| %.3g (logit spread %.3g)\n", T,
           B, worst, spread);
    ck_assert_msg(worst <= 1e-5, "cached step logits differ by %g", worst);
    ck_assert_msg(spread > 1, "logits nearly uniform (%g): the test would not see a wrong cache", spread);
    /* a position past the cache fails naming the cache */
    g2_set_step(&st, ids, T);
    ck_assert_int_ne(tg_forward(st.g), TG_OK);
    ck_assert_msg(strstr(tg_last_error(), "cache.h.0.attn.kv"), "%s", tg_last_error());
    g2_graph_free(&st);
    g2_cache_free(&cache);
    free(ref);
    g2_model_free(m);
}
END_TEST

/* Two tokens per step (a prefill of 2) equal the full forward too. */
START_TEST(multi_token_steps_equal_the_full_forward)
{
    enum { B = 2, T = 20, N = 2 };
    g2_model *m = tiny_model(3);
    int V = m->cfg.vocab_size;
    int32_t ids[B * T];
    for (int i = 0; i < B * T; i++)
        ids[i] = 5 + (i * 7) % 20;
    float *ref = full_logits(m, ids, B, T);
    g2_cache cache;
    ck_assert_int_eq(g2_cache_new(m, B, T, &cache), TG_OK);
    g2_graph st;
    ck_assert_msg(g2_build_step(m, &cache, N, NULL, &st) == TG_OK, "%s", tg_last_error());
    double worst = 0;
    for (int t = 0; t < T; t += N) {
        int32_t step_ids[B * N];
        for (int b = 0; b < B; b++)
            for (int k = 0; k < N; k++)
                step_ids[b * N + k] = ids[b * T + t + k];
        g2_set_step(&st, step_ids, t);
        ck_assert_int_eq(tg_forward(st.g), TG_OK);
        for (int b = 0; b < B; b++)
            for (int k = 0; k < N; k++)
                for (int v = 0; v < V; v++)
                    worst = fmax(worst, fabs(tg_f32(st.logits)[(b * N + k) * V + v] -
                                             ref[((size_t)b * T + t + k) * V + v]));
    }
    ck_assert_msg(worst <= 1e-5, "2-token steps differ by %g", worst);
    g2_graph_free(&st);
    g2_cache_free(&cache);
    free(ref);
    g2_model_free(m);
}
END_TEST

/* A step graph cannot be planned for backward through a state cache, and
 * the cache is refused beyond n_positions. */
START_TEST(cache_rejections)
{
    g2_model *m = tiny_model(1);
    g2_cache cache;
    ck_assert_int_ne(g2_cache_new(m, 2, 81, &cache), TG_OK);
    ck_assert_msg(strstr(tg_last_error(), "n_positions"), "%s", tg_last_error());
    ck_assert_int_eq(g2_cache_new(m, 2, 8, &cache), TG_OK);
    tg_graph *g = tg_graph_new();
    tg_tensor *x = tg_input(g, TG_F32, 3, (int[]){2, 1, 72}, "x");
    tg_tensor *pos = tg_input(g, TG_I32, 1, (int[]){1}, "pos");
    tg_tensor *kv = tg_cache_write(g, cache.kv[0], tg_add(g, x, m->layers[0].attn_b), 24, pos);
    tg_tensor *loss = tg_sum(g, kv);
    ck_assert_int_ne(tg_graph_plan(g, loss, 0), TG_OK);
    ck_assert_msg(strstr(tg_last_error(), "not trainable"), "%s", tg_last_error());
    tg_graph_free(g);
    /* a graph node is no cache */
    g = tg_graph_new();
    x = tg_input(g, TG_F32, 3, (int[]){2, 4, 48}, "x");
    pos = tg_input(g, TG_I32, 1, (int[]){1}, "pos");
    ck_assert_ptr_null(tg_cache_write(g, x, x, 0, pos));
    ck_assert_msg(strstr(tg_graph_error(g), "parameter (state) store"), "%s", tg_graph_error(g));
    tg_graph_free(g);
    g2_cache_free(&cache);
    g2_model_free(m);
}
END_TEST


/* Greedy by the definition: the full uncached graph over the sequence so
 * far, argmax of the last position's logits (bad ids masked), until eos
 * or max_new tokens. Returns the number of new tokens in out. */
static int greedy_uncached(const g2_model *m, const gen_opts *o, const int32_t *prompt, int pl,
                           int32_t *out)
{
    int32_t seq[128];
    memcpy(seq, prompt, pl * sizeof *seq);
    int n = 0, V = m->cfg.vocab_size;
    while (n < o->max_new_tokens) {
        float *lg = full_logits(m, seq, 1, pl + n);
        float *row = lg + (size_t)(pl + n - 1) * V;
        for (int i = 0; i < o->n_bad; i++)
            row[o->bad_ids[i]] = -INFINITY;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (row[v] > row[best])
                best = v;
        free(lg);
        seq[pl + n] = best;
        out[n++] = best;
        if (best == o->eos_id)
            break;
    }
    return n;
}

/* Prompts: bos alone, bos + 3 residues, bos + 1 residue. */
static const int32_t P0[] = {2}, P1[] = {2, 10, 11, 12}, P2[] = {2, 7};
static const int32_t *const PROMPTS[] = {P0, P1, P2};
static const int PLEN[] = {1, 4, 2};

START_TEST(greedy_equals_the_uncached_loop)
{
    g2_model *m = tiny_model(11);
    gen_opts o;
    gen_opts_default(&o, m->cfg.eos_token_id, m->cfg.pad_token_id);
    o.max_new_tokens = 30;
    o.eos_id = -1; /* full length: every step compared */
    gen_result r;
    ck_assert_msg(gen_run_gpt2(m, &o, 3, PROMPTS, PLEN, 2, &r) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(r.n, 3);
    int distinct = 0;
    for (int p = 0; p < 3; p++) {
        int32_t want[64];
        int n = greedy_uncached(m, &o, PROMPTS[p], PLEN[p], want);
        ck_assert_int_eq(r.len[p], n);
        for (int i = 0; i < n; i++) {
            ck_assert_msg(r.tok[p][i] == want[i], "prompt %d token %d: cached %d, uncached %d", p,
                          i, r.tok[p][i], want[i]);
            ck_assert_int_ne(r.tok[p][i], 4); /* the default bad word */
            distinct |= i && r.tok[p][i] != r.tok[p][0];
        }
    }
    ck_assert_msg(distinct, "greedy output is one repeated token: a weak test");
    /* batch 1 and batch 3 give the same sequences */
    gen_result r1;
    ck_assert_int_eq(gen_run_gpt2(m, &o, 3, PROMPTS, PLEN, 1, &r1), TG_OK);
    for (int p = 0; p < 3; p++) {
        ck_assert_int_eq(r1.len[p], r.len[p]);
        ck_assert_mem_eq(r1.tok[p], r.tok[p], r.len[p] * sizeof(int32_t));
    }
    gen_result_free(&r1);
    gen_result_free(&r);
    g2_model_free(m);
}
END_TEST

/* 1 if sequences a and b of two results are equal. */
static int same_seq(const gen_result *a, const gen_result *b, size_t i)
{
    return a->len[i] == b->len[i] && !memcmp(a->tok[i], b->tok[i], a->len[i] * sizeof(int32_t));
}

START_TEST(sampling_is_reproducible_by_seed)
{
    g2_model *m = tiny_model(11);
    gen_opts o;
    gen_opts_default(&o, m->cfg.eos_token_id, m->cfg.pad_token_id);
    o.max_new_tokens = 25;
    o.do_sample = 1;
    o.num_return_sequences = 4;
    o.temperature = 1.3;
    o.eos_id = -1;
    gen_result a, b, c, d;
    ck_assert_int_eq(gen_run_gpt2(m, &o, 3, PROMPTS, PLEN, 5, &a), TG_OK);
    ck_assert_int_eq(gen_run_gpt2(m, &o, 3, PROMPTS, PLEN, 12, &b), TG_OK); /* other batching */
    o.seed = 43;
    ck_assert_int_eq(gen_run_gpt2(m, &o, 3, PROMPTS, PLEN, 5, &c), TG_OK);
    ck_assert_int_eq(a.n, 12);
    int differ_seed = 0, differ_rows = 0;
    for (size_t i = 0; i < a.n; i++) {
        ck_assert_msg(same_seq(&a, &b, i), "sequence %zu differs between two runs of one seed", i);
        differ_seed += !same_seq(&a, &c, i);
        differ_rows += i % 4 && memcmp(a.tok[i], a.tok[i - 1], 25 * sizeof(int32_t));
    }
    ck_assert_msg(differ_seed >= 10, "only %d of 12 sequences change with the seed", differ_seed);
    ck_assert_msg(differ_rows >= 8, "return sequences of one prompt are mostly equal (%d)", differ_rows);
    /* top_k 1 is greedy */
    o.top_k = 1;
    o.num_return_sequences = 1;
    ck_assert_int_eq(gen_run_gpt2(m, &o, 3, PROMPTS, PLEN, 3, &d), TG_OK);
    gen_opts g;
    gen_opts_default(&g, m->cfg.eos_token_id, m->cfg.pad_token_id);
    g.max_new_tokens = 25;
    g.eos_id = -1;
    gen_result e;
    ck_assert_int_eq(gen_run_gpt2(m, &g, 3, PROMPTS, PLEN, 3, &e), TG_OK);
    for (size_t i = 0; i < 3; i++)
        ck_assert_msg(same_seq(&d, &e, i), "top_k 1 differs from greedy at prompt %zu", i);
    gen_result_free(&a), gen_result_free(&b), gen_result_free(&c), gen_result_free(&d);
    gen_result_free(&e);
    g2_model_free(m);
}
END_TEST

START_TEST(bad_words_and_eos)
{
    g2_model *m = tiny_model(11);
    gen_opts o;
    gen_opts_default(&o, m->cfg.eos_token_id, m->cfg.pad_token_id);
    o.max_new_tokens = 30;
    o.eos_id = -1;
    gen_result r;
    ck_assert_int_eq(gen_run_gpt2(m, &o, 3, PROMPTS, PLEN, 3, &r), TG_OK);
    int count[25] = {0}, top = 0;
    for (size_t i = 0; i < r.n; i++)
        for (int k = 0; k < r.len[i]; k++)
            count[r.tok[i][k]]++;
    for (int v = 0; v < 25; v++)
        top = count[v] > count[top] ? v : top;
    int first = r.tok[0][0];
    gen_result_free(&r);
    /* the most frequent greedy token as a bad word: never emitted, greedy
     * or sampled */
    o.bad_ids[o.n_bad++] = top;
    for (int sample = 0; sample < 2; sample++) {
        o.do_sample = sample;
        o.num_return_sequences = sample ? 8 : 1;
        ck_assert_int_eq(gen_run_gpt2(m, &o, 3, PROMPTS, PLEN, 8, &r), TG_OK);
        for (size_t i = 0; i < r.n; i++)
            for (int k = 0; k < r.len[i]; k++)
                ck_assert_msg(r.tok[i][k] != top && r.tok[i][k] != 4,
                              "bad word emitted: sequence %zu token %d is %d", i, k, r.tok[i][k]);
        gen_result_free(&r);
    }
    /* eos: the first greedy token of prompt 0 as eos stops that row at once */
    gen_opts_default(&o, m->cfg.eos_token_id, m->cfg.pad_token_id);
    o.max_new_tokens = 30;
    o.eos_id = first;
    ck_assert_int_eq(gen_run_gpt2(m, &o, 3, PROMPTS, PLEN, 3, &r), TG_OK);
    ck_assert_int_eq(r.len[0], 1);
    ck_assert_int_eq(r.hit_eos[0], 1);
    for (size_t i = 0; i < r.n; i++) { /* eos only ever as the last token */
        for (int k = 0; k + 1 < r.len[i]; k++)
            ck_assert_int_ne(r.tok[i][k], first);
        ck_assert_int_eq(r.hit_eos[i], r.len[i] < 30);
    }
    gen_result_free(&r);
    /* sampled with many rows: those that hit eos end there, the rest run full length */
    o.do_sample = 1, o.num_return_sequences = 16, o.eos_id = 3;
    ck_assert_int_eq(gen_run_gpt2(m, &o, 1, PROMPTS, PLEN, 16, &r), TG_OK);
    int stopped = 0;
    for (size_t i = 0; i < r.n; i++) {
        for (int k = 0; k + 1 < r.len[i]; k++)
            ck_assert_int_ne(r.tok[i][k], 3);
        ck_assert_int_eq(r.hit_eos[i], r.tok[i][r.len[i] - 1] == 3);
        ck_assert(r.hit_eos[i] || r.len[i] == 30);
        stopped += r.hit_eos[i];
    }
    printf("sampling, 16 rows x 30 tokens: %d stopped at eos\n", stopped);
    gen_result_free(&r);
    g2_model_free(m);
}
END_TEST

/* n_positions stops a row; the refusals of gen_opts_check. */
START_TEST(limits_and_refusals)
{
    g2_model *m = tiny_model(11);
    gen_opts o;
    gen_opts_default(&o, m->cfg.eos_token_id, m->cfg.pad_token_id);
    o.max_new_tokens = 200;
    o.eos_id = -1;
    gen_result r;
    ck_assert_int_eq(gen_run_gpt2(m, &o, 3, PROMPTS, PLEN, 3, &r), TG_OK);
    for (int p = 0; p < 3; p++) { /* the last new token sits at position 80 */
        ck_assert_int_eq(PLEN[p] + r.len[p], 81);
        ck_assert_int_eq(r.hit_limit[p], 1);
    }
    gen_result_free(&r);
    gen_opts_default(&o, m->cfg.eos_token_id, m->cfg.pad_token_id);
    o.num_beams = 3, o.do_sample = 1;
    ck_assert_int_ne(gen_run_gpt2(m, &o, 3, PROMPTS, PLEN, 3, &r), TG_OK);
    ck_assert_msg(strstr(tg_last_error(), "beam-sample is not implemented"), "%s", tg_last_error());
    o.do_sample = 0;
    o.num_beams = 1, o.num_return_sequences = 2;
    ck_assert_int_ne(gen_opts_check(&o, m->cfg.vocab_size), TG_OK);
    ck_assert_msg(strstr(tg_last_error(), "--do_sample"), "%s", tg_last_error());
    o.num_return_sequences = 1, o.do_sample = 1, o.top_p = 0;
    ck_assert_int_ne(gen_opts_check(&o, m->cfg.vocab_size), TG_OK);
    o.top_p = 1, o.bad_ids[0] = 25;
    ck_assert_int_ne(gen_opts_check(&o, m->cfg.vocab_size), TG_OK);
    ck_assert_msg(strstr(tg_last_error(), "--bad_words_ids"), "%s", tg_last_error());
    g2_model_free(m);
}
END_TEST

/* The filters on hand-made logits: HF's order and tie rules. */
START_TEST(pick_filters)
{
    g2_config c;
    g2_config_default(&c);
    c.vocab_size = 5;
    gen_opts o;
    gen_opts_default(&o, c.eos_token_id, c.pad_token_id);
    o.n_bad = 0;
    float l[5] = {0, (float)log(0.5), (float)log(0.3), (float)log(0.15), (float)log(0.05)};
    l[0] = -INFINITY; /* probabilities .5 .3 .15 .05 over ids 1..4 */
    float w[5];
    int iw[5];
    ck_assert_int_eq(gen_pick(l, 5, &o, 0.99, w, iw), 1); /* greedy */
    o.do_sample = 1, o.top_k = 0;
    ck_assert_int_eq(gen_pick(l, 5, &o, 0.0, w, iw), 1);
    ck_assert_int_eq(gen_pick(l, 5, &o, 0.6, w, iw), 2);  /* .5 <= .6 < .8 */
    ck_assert_int_eq(gen_pick(l, 5, &o, 0.97, w, iw), 4);
    o.top_k = 2; /* ids 1, 2 left: .5/.8 and .3/.8 */
    ck_assert_int_eq(gen_pick(l, 5, &o, 0.6, w, iw), 1);
    ck_assert_int_eq(gen_pick(l, 5, &o, 0.99, w, iw), 2);
    o.top_k = 0, o.top_p = 0.8; /* tail .05 + .15 = .2 <= .2 removed: ids 1, 2 */
    ck_assert_int_eq(gen_pick(l, 5, &o, 0.99, w, iw), 2);
    o.top_p = 0.81; /* .2 > .19: id 3 stays */
    ck_assert_int_eq(gen_pick(l, 5, &o, 0.99, w, iw), 3);
    o.top_p = 0.01; /* the top token is always kept */
    ck_assert_int_eq(gen_pick(l, 5, &o, 0.99, w, iw), 1);
    o.top_p = 1, o.temperature = 1e-3; /* near-greedy */
    ck_assert_int_eq(gen_pick(l, 5, &o, 0.99, w, iw), 1);
    o.temperature = 1, o.bad_ids[0] = 1, o.n_bad = 1; /* .3 .15 .05 renormalised */
    ck_assert_int_eq(gen_pick(l, 5, &o, 0.0, w, iw), 2);
    ck_assert_int_eq(gen_pick(l, 5, &o, 0.7, w, iw), 3);  /* .6 <= .7 < .9 */
}
END_TEST

/* ---- beam search ---------------------------------------------------------- */

/* The model of tests/fixtures/beam_tiny (beam_reference.py). */
static g2_model *beam_model(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/fixtures/beam_tiny/config.json", tu_source_dir());
    g2_config c;
    ck_assert_msg(g2_config_load(path, &c) == TG_OK, "%s", tg_last_error());
    g2_model *m;
    ck_assert_int_eq(g2_model_new(&c, &m), TG_OK);
    snprintf(path, sizeof path, "%s/tests/fixtures/beam_tiny/model.safetensors", tu_source_dir());
    ck_assert_msg(g2_model_load(m, path, NULL) == TG_OK, "%s", tg_last_error());
    return m;
}

/* Sum of the log-softmax (bad ids -inf) of the new tokens of a sequence
 * from the full uncached forward: the beam score's numerator. */
static double seq_logprob(const g2_model *m, const gen_opts *o, const int32_t *prompt, int pl,
                          const int32_t *tok, int n)
{
    int32_t seq[128];
    memcpy(seq, prompt, pl * sizeof *seq);
    memcpy(seq + pl, tok, n * sizeof *seq);
    int V = m->cfg.vocab_size;
    float *lg = full_logits(m, seq, 1, pl + n), lp[64];
    double sum = 0;
    for (int k = 0; k < n; k++) {
        gen_log_softmax(lg + (size_t)(pl - 1 + k) * V, V, lp);
        for (int i = 0; i < o->n_bad; i++)
            lp[o->bad_ids[i]] = -INFINITY;
        sum += lp[tok[k]];
    }
    free(lg);
    return sum;
}

/* Beam search with one beam is greedy, eos included; its score is the
 * mean log-probability of the new tokens (length_penalty 1). */
START_TEST(one_beam_equals_greedy)
{
    g2_model *m = tiny_model(11);
    for (int with_eos = 0; with_eos < 2; with_eos++) {
        gen_opts o;
        gen_opts_default(&o, m->cfg.eos_token_id, m->cfg.pad_token_id);
        o.max_new_tokens = 30;
        gen_result g, b;
        if (!with_eos)
            o.eos_id = -1;
        else { /* an eos greedy emits: the third new token of prompt 1 */
            o.eos_id = -1;
            ck_assert_int_eq(gen_run_gpt2(m, &o, 3, PROMPTS, PLEN, 3, &g), TG_OK);
            o.eos_id = g.tok[1][2];
            gen_result_free(&g);
        }
        ck_assert_int_eq(gen_run_gpt2(m, &o, 3, PROMPTS, PLEN, 3, &g), TG_OK);
        gen_model gm;
        ck_assert_int_eq(gen_gpt2_new(m, 2, 40, &gm), TG_OK);
        ck_assert_msg(gen_run_beams(&gm, &o, 3, PROMPTS, PLEN, &b) == TG_OK, "%s", tg_last_error());
        int stopped = 0;
        for (int p = 0; p < 3; p++) {
            ck_assert_msg(same_seq(&g, &b, p), "prompt %d: one beam differs from greedy", p);
            ck_assert_int_eq(b.hit_eos[p], g.hit_eos[p]);
            stopped += b.hit_eos[p];
            double want = seq_logprob(m, &o, PROMPTS[p], PLEN[p], b.tok[p], b.len[p]) / b.len[p];
            ck_assert_msg(fabs(b.score[p] - want) < 1e-5, "prompt %d: score %.7f, want %.7f", p,
                          b.score[p], want);
        }
        ck_assert_int_eq(b.hit_eos[1], with_eos); /* prompt 1 stops at its third token */
        ck_assert_int_eq(b.len[1], with_eos ? 3 : 30);
        ck_assert(stopped >= with_eos);
        gen_result_free(&g), gen_result_free(&b);
        gen_gpt2_free(&gm);
    }
    g2_model_free(m);
}
END_TEST

/* Every case of tests/fixtures/beam_tiny/golden.txt (beam_reference.py: a
 * plain-torch re-implementation of HF's beam search and group beam search)
 * with 1, 2 and 3 sources per chunk: tokens exact, flags equal, scores
 * within 1e-4. */
START_TEST(beam_search_matches_reference)
{
    g2_model *m = beam_model();
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/fixtures/beam_tiny/golden.txt", tu_source_dir());
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    char line[4096];
    int cases = 0, seqs = 0, diverse = 0;
    gen_opts o;
    gen_result r[3];
    memset(r, 0, sizeof r);
    double worst = 0;
    while (fgets(line, sizeof line, f)) {
        char name[64];
        int nb, G, early, nrs, max_new, eos, nbad, off;
        double div, lp;
        if (sscanf(line, "case %63s %d %d %lf %lf %d %d %d %d %d%n", name, &nb, &G, &div, &lp,
                   &early, &nrs, &max_new, &eos, &nbad, &off) == 10) {
            for (int k = 0; k < 3; k++)
                gen_result_free(&r[k]);
            gen_opts_default(&o, eos, 0);
            o.num_beams = nb, o.num_beam_groups = G, o.diversity_penalty = div;
            o.length_penalty = lp, o.early_stopping = early, o.num_return_sequences = nrs;
            o.max_new_tokens = max_new, o.n_bad = nbad;
            char *q = line + off;
            for (int i = 0; i < nbad; i++)
                o.bad_ids[i] = (int)strtol(q, &q, 10);
            for (int k = 0; k < 3; k++)
                ck_assert_msg(gen_run_gpt2(m, &o, 3, PROMPTS, PLEN, k + 1, &r[k]) == TG_OK,
                              "%s: %s", name, tg_last_error());
            cases++;
            diverse += G > 1;
            continue;
        }
        int p, j, e, lim, n;
        double score;
        if (sscanf(line, "seq %d %d %lf %d %d %d%n", &p, &j, &score, &e, &lim, &n, &off) != 6)
            continue;
        ck_assert_int_gt(cases, 0);
        int32_t want[128];
        char *q = line + off;
        for (int i = 0; i < n; i++)
            want[i] = (int32_t)strtol(q, &q, 10);
        size_t i = (size_t)p * o.num_return_sequences + j;
        for (int k = 0; k < 3; k++) {
            ck_assert_msg(r[k].len[i] == n && !memcmp(r[k].tok[i], want, n * sizeof *want),
                          "case %d, prompt %d, hypothesis %d, %d sources per chunk: tokens differ (length %d vs %d)",
                          cases, p, j, k + 1, r[k].len[i], n);
            ck_assert_int_eq(r[k].hit_eos[i], e);
            ck_assert_int_eq(r[k].hit_limit[i], lim);
            worst = fmax(worst, fabs(r[k].score[i] - score));
            ck_assert_msg(fabs(r[k].score[i] - score) < 1e-4, "case %d, prompt %d, hypothesis %d: score %.7f vs %.7f",
                          cases, p, j, r[k].score[i], score);
        }
        seqs++;
    }
    fclose(f);
    for (int k = 0; k < 3; k++)
        gen_result_free(&r[k]);
    printf("beam search vs reference: %d cases (%d diverse), %d hypotheses, max |score diff| %.3g\n",
           cases, diverse, seqs, worst);
    ck_assert_int_ge(cases, 9);
    ck_assert_int_ge(diverse, 3);
    ck_assert_int_ge(seqs, 90);
    g2_model_free(m);
}
END_TEST

/* A gen_model without a cache: every step runs the full graph over the
 * row's tokens so far; reorder copies token histories. */
typedef struct {
    const g2_model *m;
    int rows, max_len;
    int32_t *hist, *tmp;
    float *logits;
    int beams;           /* rows per source */
    int cross, reorders; /* reorders across sources (never), calls */
    int next_pos;        /* the position the next step must have */
} uncached;

static int unc_begin(void *ctx, const int *src)
{
    uncached *u = ctx;
    memset(u->hist, 0, (size_t)u->rows * u->max_len * sizeof *u->hist);
    for (int r = 0; r < u->rows; r++) /* a source's rows adjacent, unused rows last */
        ck_assert_int_eq(src[r], src[r - r % u->beams]);
    u->next_pos = 0;
    return TG_OK;
}

static int unc_step(void *ctx, const int32_t *tok, int pos, const float **logits)
{
    uncached *u = ctx;
    int V = u->m->cfg.vocab_size, T = pos + 1;
    ck_assert_int_eq(pos, u->next_pos);
    u->next_pos = pos + 1;
    int32_t *ids = malloc((size_t)u->rows * T * sizeof *ids);
    for (int r = 0; r < u->rows; r++) {
        u->hist[(size_t)r * u->max_len + pos] = tok[r];
        memcpy(ids + (size_t)r * T, u->hist + (size_t)r * u->max_len, T * sizeof *ids);
    }
    float *lg = full_logits(u->m, ids, u->rows, T);
    for (int r = 0; r < u->rows; r++)
        memcpy(u->logits + (size_t)r * V, lg + ((size_t)r * T + pos) * V, V * sizeof *lg);
    free(lg);
    free(ids);
    *logits = u->logits;
    return TG_OK;
}

static int unc_reorder(void *ctx, const int *from, int pos)
{
    uncached *u = ctx;
    size_t L = u->max_len;
    ck_assert_int_eq(pos, u->next_pos);
    u->reorders++;
    memcpy(u->tmp, u->hist, (size_t)u->rows * L * sizeof *u->tmp);
    for (int r = 0; r < u->rows; r++)
        u->cross += from[r] / u->beams != r / u->beams;
    for (int r = 0; r < u->rows; r++)
        memcpy(u->hist + r * L, u->tmp + from[r] * L, pos * sizeof *u->tmp);
    return TG_OK;
}

/* Beam search and diverse beam search over the cached GPT-2 (reordering
 * cache rows) equal the same search over the uncached recomputation. */
START_TEST(cached_reorder_equals_uncached)
{
    g2_model *m = tiny_model(11);
    uncached u = {m, 8, 40, NULL, NULL, NULL, 4, 0, 0, 0};
    u.hist = calloc(8 * 40, sizeof *u.hist);
    u.tmp = calloc(8 * 40, sizeof *u.tmp);
    u.logits = calloc(8 * 25, sizeof *u.logits);
    gen_model um = {&u, 25, 40, 8, unc_begin, unc_step, unc_reorder}, cm;
    ck_assert_int_eq(gen_gpt2_new(m, 8, 40, &cm), TG_OK);
    for (int c = 0; c < 2; c++) {
        gen_opts o;
        gen_opts_default(&o, m->cfg.eos_token_id, m->cfg.pad_token_id);
        o.max_new_tokens = 25, o.num_beams = 4, o.num_return_sequences = 4;
        if (c)
            o.num_beam_groups = 2, o.diversity_penalty = 0.5;
        gen_result a, b;
        ck_assert_msg(gen_run(&cm, &o, 3, PROMPTS, PLEN, &a) == TG_OK, "%s", tg_last_error());
        ck_assert_msg(gen_run(&um, &o, 3, PROMPTS, PLEN, &b) == TG_OK, "%s", tg_last_error());
        int distinct = 0;
        for (size_t i = 0; i < a.n; i++) {
            ck_assert_msg(same_seq(&a, &b, i), "case %d sequence %zu: cached differs from uncached", c, i);
            ck_assert_msg(fabs(a.score[i] - b.score[i]) < 1e-5, "%g vs %g", a.score[i], b.score[i]);
            distinct += i % 4 && (a.len[i] != a.len[i - 1] ||
                                  memcmp(a.tok[i], a.tok[i - 1], a.len[i] * sizeof(int32_t)));
        }
        ck_assert_msg(distinct >= 6, "case %d: hypotheses of a source mostly equal (%d)", c, distinct);
        ck_assert_int_gt(u.reorders, 10);
        ck_assert_msg(u.cross == 0, "%d rows reordered from another source", u.cross);
        gen_result_free(&a), gen_result_free(&b);
    }
    gen_gpt2_free(&cm);
    free(u.hist), free(u.tmp), free(u.logits);
    g2_model_free(m);
}
END_TEST

/* gen_gpt2's reorder alone: rows with a cycle, a duplicate and a fixed row
 * continue exactly as the source rows' histories fed afresh. */
START_TEST(reorder_moves_cache_rows)
{
    enum { R = 5, T = 6 };
    g2_model *m = tiny_model(5);
    int V = m->cfg.vocab_size;
    gen_model gm;
    ck_assert_int_eq(gen_gpt2_new(m, R, 16, &gm), TG_OK);
    int32_t hist[R][T];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++)
            hist[r][t] = 5 + (r * 7 + t * 3) % 20;
    const int from[R] = {2, 0, 1, 1, 4};
    const int src[R] = {0, 0, 0, 0, 0};
    const float *lg;
    float a[R * 25], b[R * 25];
    int32_t tok[R];
    for (int pass = 0; pass < 2; pass++) {
        ck_assert_int_eq(gm.begin(gm.ctx, src), TG_OK);
        for (int t = 0; t < T; t++) {
            for (int r = 0; r < R; r++)
                tok[r] = hist[pass ? from[r] : r][t];
            ck_assert_int_eq(gm.step(gm.ctx, tok, t, &lg), TG_OK);
        }
        if (!pass)
            ck_assert_msg(gm.reorder(gm.ctx, from, T) == TG_OK, "%s", tg_last_error());
        for (int r = 0; r < R; r++)
            tok[r] = 9;
        ck_assert_int_eq(gm.step(gm.ctx, tok, T, &lg), TG_OK);
        memcpy(pass ? b : a, lg, sizeof a);
    }
    double worst = 0, moved = 0;
    for (int i = 0; i < R * V; i++)
        worst = fmax(worst, fabs(a[i] - b[i]));
    for (int v = 0; v < V; v++) /* rows 0 and 1 hold different histories */
        moved = fmax(moved, fabs(b[v] - b[V + v]));
    ck_assert_msg(worst < 1e-5, "reordered rows differ from the fresh run by %g", worst);
    ck_assert_msg(moved > 1e-2, "rows barely differ (%g): a weak test", moved);
    /* bad arguments name the problem */
    const int bad[R] = {0, 1, 7, 3, 4};
    ck_assert_int_ne(gm.reorder(gm.ctx, bad, T), TG_OK);
    ck_assert_msg(strstr(tg_last_error(), "row 2 from row 7"), "%s", tg_last_error());
    ck_assert_int_ne(gm.reorder(gm.ctx, from, 17), TG_OK);
    gen_gpt2_free(&gm);
    g2_model_free(m);
}
END_TEST

/* Invalid beam options and run shapes are refused naming the option. */
START_TEST(beam_refusals)
{
    g2_model *m = tiny_model(11);
    const struct {
        int beams, groups, sample, nrs, early;
        double div, lp;
        const char *msg;
    } bad[] = {
        {0, 1, 0, 1, 0, 0, 1, "--num_beams must be >= 1"},
        {4, 3, 0, 1, 0, 1, 1, "divisible by --num_beam_groups 3"},
        {4, 5, 0, 1, 0, 1, 1, "--num_beam_groups must be 1..4"},
        {4, 2, 0, 1, 0, 0, 1, "needs --diversity_penalty > 0"},
        {4, 1, 0, 1, 0, 0.5, 1, "needs --num_beam_groups > 1"},
        {4, 2, 0, 1, 0, -1, 1, "--diversity_penalty must be a number >= 0"},
        {3, 1, 1, 1, 0, 0, 1, "beam-sample is not implemented"},
        {3, 1, 0, 4, 0, 0, 1, "--num_return_sequences 4 must be <= --num_beams 3"},
        {1, 1, 0, 1, 0, 0, 0.5, "--length_penalty only applies to beam search"},
        {1, 1, 0, 1, 1, 0, 1, "--early_stopping only applies to beam search"},
        {3, 1, 0, 1, 3, 0, 1, "--early_stopping must be false, true or never"},
        {3, 1, 0, 1, 0, 0, NAN, "--length_penalty must be a finite number"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        gen_opts o;
        gen_opts_default(&o, 3, 0);
        o.num_beams = bad[k].beams, o.num_beam_groups = bad[k].groups, o.do_sample = bad[k].sample;
        o.num_return_sequences = bad[k].nrs, o.early_stopping = bad[k].early;
        o.diversity_penalty = bad[k].div, o.length_penalty = bad[k].lp;
        ck_assert_int_ne(gen_opts_check(&o, 25), TG_OK);
        ck_assert_msg(strstr(tg_last_error(), bad[k].msg), "case %zu: %s", k, tg_last_error());
    }
    /* a step graph with fewer rows than beams; a prefix longer than the positions */
    gen_opts o;
    gen_opts_default(&o, 3, 0);
    o.num_beams = 3;
    gen_model gm;
    ck_assert_int_eq(gen_gpt2_new(m, 2, 10, &gm), TG_OK);
    gen_result r;
    ck_assert_int_ne(gen_run(&gm, &o, 3, PROMPTS, PLEN, &r), TG_OK);
    ck_assert_msg(strstr(tg_last_error(), "needs >= 3"), "%s", tg_last_error());
    ck_assert_ptr_null(r.tok);
    gen_gpt2_free(&gm);
    ck_assert_int_eq(gen_gpt2_new(m, 3, 3, &gm), TG_OK);
    ck_assert_int_ne(gen_run(&gm, &o, 3, PROMPTS, PLEN, &r), TG_OK);
    ck_assert_msg(strstr(tg_last_error(), "prompt 2 has 4 tokens: must be 1..3"), "%s", tg_last_error());
    gen_model none = gm;
    none.rows = 0;
    ck_assert_int_ne(gen_run(&none, &o, 3, PROMPTS, PLEN, &r), TG_OK);
    ck_assert_msg(strstr(tg_last_error(), "0 rows"), "%s", tg_last_error());
    /* a source that fits with room for one new token: stops at the positions */
    const int32_t *one[] = {P2};
    int pl[] = {2};
    o.max_new_tokens = 5;
    gen_gpt2_free(&gm);
    ck_assert_int_eq(gen_gpt2_new(m, 3, 2, &gm), TG_OK);
    o.eos_id = -1;
    ck_assert_msg(gen_run(&gm, &o, 1, one, pl, &r) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(r.len[0], 1);
    ck_assert_int_eq(r.hit_limit[0], 1);
    gen_result_free(&r);
    gen_gpt2_free(&gm);
    g2_model_free(m);
}
END_TEST

/* Runs ablm generate with the NULL-terminated arguments; stdout and
 * stderr to files in dir. Returns the exit status. */
static int run_generate(const char *dir, ...)
{
    char out[4200], err[4200];
    snprintf(out, sizeof out, "%s/stdout", dir);
    snprintf(err, sizeof err, "%s/stderr", dir);
    va_list ap;
    va_start(ap, dir);
    int rc = tu_run_cmd_va(cmd_generate, out, err, "generate", ap);
    va_end(ap);
    return rc;
}

static char *read_in(const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return tu_read_file(path);
}

/* 1 if two beam TSVs have the same lines but for the last column (the
 * score), which may differ by tol: oneDNN's AVX2 kernels (CI's
 * ONEDNN_MAX_CPU_ISA=AVX2 run) round a row's products differently with its
 * place in the batch (in a GPT-2 step, up to 2e-6 in the logits of the
 * same rows at 0..3 of a batch of 4 and at 4..7 of a batch of 8, before
 * and after tg_attention_decode), and a printed score can then move in
 * its 6th decimal. */
static int same_beam_tsv(const char *pa, const char *pb, double tol)
{
    char *a = tu_read_file(pa), *b = tu_read_file(pb);
    int same = a && b;
    for (char *x = a, *y = b; same && *x && *y;) {
        char *ex = strchr(x, '\n'), *ey = strchr(y, '\n');
        char *tx = ex ? ex : x + strlen(x), *ty = ey ? ey : y + strlen(y);
        char *cx = tx, *cy = ty; /* the last tab of each line */
        while (cx > x && cx[-1] != '\t')
            cx--;
        while (cy > y && cy[-1] != '\t')
            cy--;
        same = cx - x == cy - y && !memcmp(x, y, (size_t)(cx - x));
        if (same && strncmp(cx, "score", 5))
            same = fabs(strtod(cx, NULL) - strtod(cy, NULL)) <= tol;
        x = ex ? ex + 1 : tx, y = ey ? ey + 1 : ty;
        same = same && !*x == !*y;
    }
    free(a), free(b);
    return same;
}

START_TEST(command_writes_fasta_and_tsv)
{
    char *dir = tu_tmpdir(), model[4200], in[4200], fa[4200], fa2[4200], tsv[4200], tsv2[4200];
    snprintf(model, sizeof model, "%s/model", dir);
    snprintf(in, sizeof in, "%s/prompts.fasta", dir);
    snprintf(fa, sizeof fa, "%s/greedy.fasta", dir);
    snprintf(fa2, sizeof fa2, "%s/greedy2.fasta", dir);
    snprintf(tsv, sizeof tsv, "%s/s.tsv", dir);
    snprintf(tsv2, sizeof tsv2, "%s/s2.tsv", dir);
    g2_model *m = tiny_model(11);
    tok_tokenizer *tok;
    ck_assert_int_eq(tok_new(&tok), TG_OK);
    ck_assert_msg(g2_save_pretrained(m, tok, model) == TG_OK, "%s", tg_last_error());
    FILE *f = fopen(in, "w");
    fputs(">a some light chain\nDIQ\n>b\nEIV\n", f);
    fclose(f);
    /* greedy: deterministic, equal to gen_run on the same prompts */
    ck_assert_int_eq(run_generate(dir, "--model", model, "--input", in, "--output", fa,
                                  "--max_new_tokens", "12", NULL), 0);
    ck_assert_int_eq(run_generate(dir, "--model", model, "--input", in, "--output", fa2,
                                  "--max_new_tokens", "12", "--batch_size", "1", NULL), 0);
    ck_assert(tu_same_file(fa, fa2));
    gen_opts o;
    gen_opts_default(&o, m->cfg.eos_token_id, m->cfg.pad_token_id);
    o.max_new_tokens = 12;
    int32_t pa[] = {2, tok_token_id(tok, "D"), tok_token_id(tok, "I"), tok_token_id(tok, "Q")};
    int32_t pb[] = {2, tok_token_id(tok, "E"), tok_token_id(tok, "I"), tok_token_id(tok, "V")};
    const int32_t *pr[] = {pa, pb};
    int pl[] = {4, 4};
    gen_result r;
    ck_assert_int_eq(gen_run_gpt2(m, &o, 2, pr, pl, 2, &r), TG_OK);
    char want[512], sa[128], sb[128];
    int32_t all[32];
    memcpy(all, pa, sizeof pa);
    memcpy(all + 4, r.tok[0], r.len[0] * sizeof *all);
    ck_assert_int_eq(tok_decode(tok, all, 4 + r.len[0], 1, sa, sizeof sa), TG_OK);
    memcpy(all, pb, sizeof pb);
    memcpy(all + 4, r.tok[1], r.len[1] * sizeof *all);
    ck_assert_int_eq(tok_decode(tok, all, 4 + r.len[1], 1, sb, sizeof sb), TG_OK);
    snprintf(want, sizeof want, ">a\n%s\n>b\n%s\n", sa, sb);
    char *got = tu_read_file(fa);
    ck_assert_str_eq(got, want);
    ck_assert(!strncmp(sa, "DIQ", 3));
    free(got);
    gen_result_free(&r);
    /* sampling, 3 per prompt, TSV: reproducible by seed, ids with _N */
    ck_assert_int_eq(run_generate(dir, "--model", model, "--input", in, "--output", tsv,
                                  "--do_sample", "--num_return_sequences", "3", "--top_p", "0.9",
                                  "--temperature", "0.8", "--seed", "7", NULL), 0);
    ck_assert_int_eq(run_generate(dir, "--model", model, "--input", in, "--output", tsv2,
                                  "--do_sample", "--num_return_sequences", "3", "--top_p", "0.9",
                                  "--temperature", "0.8", "--seed", "7", "--batch_size", "4", NULL), 0);
    ck_assert(tu_same_file(tsv, tsv2));
    got = tu_read_file(tsv);
    ck_assert_msg(!strncmp(got, "id\tprompt\tsequence\tnew_tokens\tstop\na_1\tDIQ\tDIQ", 36), "%s", got);
    ck_assert_msg(strstr(got, "\na_3\t") && strstr(got, "\nb_1\tEIV\t") && strstr(got, "\nb_3\t"), "%s", got);
    ck_assert_ptr_null(strstr(got, "\nb_4\t"));
    ck_assert_int_eq(run_generate(dir, "--model", model, "--input", in, "--output", tsv2,
                                  "--do_sample", "--num_return_sequences", "3", "--top_p", "0.9",
                                  "--temperature", "0.8", "--seed", "8", NULL), 0);
    ck_assert(!tu_same_file(tsv, tsv2));
    free(got);
    /* unconditional without --input */
    ck_assert_int_eq(run_generate(dir, "--model", model, "--output", fa, "--max_new_tokens", "5", NULL), 0);
    got = tu_read_file(fa);
    ck_assert_msg(!strncmp(got, ">unconditional\n", 15), "%s", got);
    free(got);
    /* refusals: beams, greedy with several sequences, a bad flag value */
    ck_assert_int_eq(run_generate(dir, "--model", model, "--output", fa, "--num_beams", "3", "--do_sample", NULL), 2);
    got = read_in(dir, "stderr");
    ck_assert_msg(strstr(got, "beam-sample is not implemented"), "%s", got);
    free(got);
    /* beam search: TSV with the score, best first, equal to gen_run_gpt2; batching does not matter */
    ck_assert_int_eq(run_generate(dir, "--model", model, "--input", in, "--output", tsv,
                                  "--num_beams", "4", "--num_beam_groups", "2", "--diversity_penalty", "0.5",
                                  "--num_return_sequences", "3", "--max_new_tokens", "10", NULL), 0);
    ck_assert_int_eq(run_generate(dir, "--model", model, "--input", in, "--output", tsv2,
                                  "--num_beams", "4", "--num_beam_groups", "2", "--diversity_penalty", "0.5",
                                  "--num_return_sequences", "3", "--max_new_tokens", "10",
                                  "--batch_size", "1", NULL), 0);
    ck_assert(same_beam_tsv(tsv, tsv2, 2e-6));
    o.num_beams = 4, o.num_beam_groups = 2, o.diversity_penalty = 0.5, o.num_return_sequences = 3;
    o.max_new_tokens = 10;
    ck_assert_int_eq(gen_run_gpt2(m, &o, 2, pr, pl, 2, &r), TG_OK);
    got = tu_read_file(tsv);
    ck_assert_msg(!strncmp(got, "id\tprompt\tsequence\tnew_tokens\tstop\tscore\n", 41), "%s", got);
    char *line = strchr(got, '\n') + 1;
    for (size_t i = 0; i < r.n; i++) {
        memcpy(all, i < 3 ? pa : pb, sizeof pa);
        memcpy(all + 4, r.tok[i], r.len[i] * sizeof *all);
        ck_assert_int_eq(tok_decode(tok, all, 4 + r.len[i], 1, sa, sizeof sa), TG_OK);
        snprintf(want, sizeof want, "%s_%d\t%s\t%s\t%d\t%s\t%.6f\n", i < 3 ? "a" : "b", (int)(i % 3) + 1,
                 i < 3 ? "DIQ" : "EIV", sa, r.len[i], r.hit_eos[i] ? "eos" : "max_new_tokens", r.score[i]);
        ck_assert_msg(!strncmp(line, want, strlen(want)), "line %zu: %s, want %s", i, line, want);
        ck_assert(i % 3 == 0 || r.score[i] <= r.score[i - 1]);
        line += strlen(want);
    }
    ck_assert_str_eq(line, "");
    free(got);
    gen_result_free(&r);
    ck_assert_int_eq(run_generate(dir, "--model", model, "--output", fa, "--num_beams", "4", "--num_beam_groups", "3",
                                  "--diversity_penalty", "1", NULL), 2);
    got = read_in(dir, "stderr");
    ck_assert_msg(strstr(got, "--num_beams 4 must be divisible by --num_beam_groups 3"), "%s", got);
    free(got);
    ck_assert_int_eq(run_generate(dir, "--model", model, "--output", fa, "--num_beams", "2", "--early_stopping", "maybe", NULL), 2);
    got = read_in(dir, "stderr");
    ck_assert_msg(strstr(got, "--early_stopping 'maybe'"), "%s", got);
    free(got);
    ck_assert_int_eq(run_generate(dir, "--model", model, "--output", fa, "--num_beams", "2", "--length_penalty", "x", NULL), 2);
    ck_assert_int_eq(run_generate(dir, "--model", model, "--output", fa, "--num_beams", "2", "--num_return_sequences", "3", NULL), 2);
    ck_assert_int_eq(run_generate(dir, "--model", model, "--output", fa, "--num_beams", "3", "--num_return_sequences", "3",
                                  "--early_stopping", "never", "--length_penalty", "0.8", NULL), 0);
    got = tu_read_file(fa);
    ck_assert_msg(strstr(got, ">unconditional_1\n") && strstr(got, ">unconditional_3\n"), "%s", got);
    free(got);
    ck_assert_int_eq(run_generate(dir, "--model", model, "--output", fa, "--num_return_sequences", "2", NULL), 2);
    ck_assert_int_eq(run_generate(dir, "--model", model, "--output", fa, "--do_sample", "--top_p", "x", NULL), 2);
    ck_assert_int_eq(run_generate(dir, "--model", model, "--output", fa, "--bad_words_ids", "[[40]]", NULL), 2);
    got = read_in(dir, "stderr");
    ck_assert_msg(strstr(got, "--bad_words_ids: id 40"), "%s", got);
    free(got);
    tok_free(tok);
    g2_model_free(m);
    free(dir);
}
END_TEST

int main(void)
{
    tg_set_threads(2);
    Suite *s = suite_create("generate");
    TCase *tc = tcase_create("cache");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, cached_steps_equal_the_full_forward);
    tcase_add_test(tc, multi_token_steps_equal_the_full_forward);
    tcase_add_test(tc, cache_rejections);
    tcase_add_test(tc, greedy_equals_the_uncached_loop);
    tcase_add_test(tc, sampling_is_reproducible_by_seed);
    tcase_add_test(tc, bad_words_and_eos);
    tcase_add_test(tc, limits_and_refusals);
    tcase_add_test(tc, pick_filters);
    tcase_add_test(tc, one_beam_equals_greedy);
    tcase_add_test(tc, beam_search_matches_reference);
    tcase_add_test(tc, cached_reorder_equals_uncached);
    tcase_add_test(tc, reorder_moves_cache_rows);
    tcase_add_test(tc, beam_refusals);
    tcase_add_test(tc, command_writes_fasta_and_tsv);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
