/* Generation with a KV cache (models/gpt2 step graphs, examples/generate):
 * the cached step's logits equal the full uncached forward's at every
 * position; the step graph has no dropout node; the generation loop's
 * greedy, sampling, top-k, bad-word and eos behaviour. */
#include "gpt2.h"
#include "testutil.h"

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

int main(void)
{
    tg_set_threads(2);
    Suite *s = suite_create("generate");
    TCase *tc = tcase_create("cache");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, cached_steps_equal_the_full_forward);
    tcase_add_test(tc, multi_token_steps_equal_the_full_forward);
    tcase_add_test(tc, cache_rejections);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
