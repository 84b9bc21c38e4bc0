/* tg_attention_decode (ops/attention_decode.c) against tg_attention, the
 * general op, on the same numbers: KV-cached steps of 1-3 queries at
 * several positions over caches longer than one key block (128), head
 * sizes that fill the vector lanes and leave tails, trailing key padding
 * by lengths (tg_attention's key mask), rows that see no key; outputs and
 * the gradients of q, k and v; at every CPU level the machine has. Rows
 * of the cache past the visible keys hold NaN: never read. The GPT-2 step
 * graph uses it (its cached logits against the full forward are
 * test_generate's and test_encdec's). Shape and pos errors. */
#include "gpt2.h"
#include "cpu.h"
#include "tg_internal.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int B, Tq, Tk, nh, hd, pos, use_len;
} shape;

/* The worst |a - b| over n floats relative to max(1, |b|). */
static double worst_diff(const float *a, const float *b, size_t n)
{
    double w = 0;
    for (size_t i = 0; i < n; i++)
        w = fmax(w, fabs((double)a[i] - b[i]) / fmax(1.0, fabs((double)b[i])));
    return w;
}

/* Runs the decode op (decode = 1) or tg_attention with the equivalent key
 * mask on q [B, Tq, W] and one cache kv [B, Tk, 2W] (k | v), forward and
 * backward of sum(out * R); copies out, dq and dkv into res (their
 * sizes in that order). */
static void run(const shape *s, int decode, const float *vals, float *res)
{
    int W = s->nh * s->hd;
    tg_params *p = tg_params_new();
    tg_tensor *q = tg_params_add(p, "q", 3, (int[]){s->B, s->Tq, W}, 1);
    tg_tensor *kv = tg_params_add(p, "kv", 3, (int[]){s->B, s->Tk, 2 * W}, 1);
    tg_tensor *R = tg_params_add(p, "R", 3, (int[]){s->B, s->Tq, W}, 0);
    ck_assert_int_eq(tg_params_alloc(p), TG_OK);
    memcpy(q->data, vals, q->numel * sizeof(float));
    memcpy(kv->data, vals + q->numel, kv->numel * sizeof(float));
    memcpy(R->data, vals + q->numel + kv->numel, R->numel * sizeof(float));
    tg_graph *g = tg_graph_new();
    tg_tensor *P = tg_input(g, TG_I32, 1, (int[]){1}, "pos");
    tg_tensor *lens = NULL, *mask = NULL;
    if (decode && s->use_len)
        lens = tg_input(g, TG_I32, 1, (int[]){s->B}, "lengths");
    if (!decode && s->use_len)
        mask = tg_input(g, TG_I32, 2, (int[]){s->B, s->Tk}, "mask");
    tg_attn_args a = {.heads = s->nh, .dim = W, .v_col = W, .causal = 1, .pos = P};
    tg_tensor *out = decode ? tg_attention_decode(g, q, kv, kv, lens, &a)
                            : tg_attention(g, q, kv, kv, mask, &a);
    tg_tensor *loss = tg_sum(g, tg_mul(g, out, R));
    tg_graph_keep(g, out);
    ck_assert_msg(!tg_graph_error(g), "%s", tg_graph_error(g));
    ck_assert_int_eq(tg_graph_plan(g, loss, 0), TG_OK);
    tg_i32(P)[0] = s->pos;
    for (int b = 0; b < s->B; b++) { /* row b keeps Tk - 37 b keys, at least 1 */
        int n = s->Tk - 37 * b > 1 ? s->Tk - 37 * b : 1;
        if (lens)
            tg_i32(lens)[b] = b == 2 ? 0 : n; /* row 2: padding only */
        for (int j = 0; mask && j < s->Tk; j++)
            tg_i32(mask)[(size_t)b * s->Tk + j] = b != 2 && j < n;
    }
    if (decode) /* rows past what any query sees: never read */
        for (int b = 0; b < s->B; b++)
            for (int j = s->pos + s->Tq; j < s->Tk; j++)
                for (int c = 0; c < 2 * W; c++)
                    tg_f32(kv)[((size_t)b * s->Tk + j) * 2 * W + c] = NAN;
    ck_assert_msg(tg_forward(g) == TG_OK, "%s", tg_last_error());
    tg_params_zero_grad(p);
    ck_assert_int_eq(tg_backward(g, loss, NULL), TG_OK);
    memcpy(res, out->data, out->numel * sizeof(float));
    memcpy(res + out->numel, q->grad, q->numel * sizeof(float));
    memcpy(res + out->numel + q->numel, kv->grad, kv->numel * sizeof(float));
    tg_graph_free(g);
    tg_params_free(p);
}

START_TEST(equals_the_general_attention)
{
    static const shape S[] = {
        {1, 1, 300, 4, 64, 299, 0}, /* GPT-2 small's head size, three key blocks */
        {3, 1, 200, 2, 20, 150, 1}, /* a 16-lane block and a tail of 4 */
        {3, 2, 140, 3, 7, 129, 1},  /* tails only; 2 queries straddle a block */
        {2, 3, 9, 1, 100, 0, 0},   /* pos 0: query 0 sees one key */
        {4, 1, 260, 2, 33, 200, 1}, /* rows 1 and 3 shorter than pos */
    };
    for (size_t c = 0; c < sizeof S / sizeof S[0]; c++) {
        const shape *s = &S[c];
        int W = s->nh * s->hd;
        size_t nq = (size_t)s->B * s->Tq * W, nkv = (size_t)s->B * s->Tk * 2 * W;
        size_t nvals = 2 * nq + nkv, nres = 2 * nq + nkv;
        float *vals = malloc(nvals * sizeof *vals), *want = malloc(nres * sizeof *want);
        float *got = malloc(nres * sizeof *got);
        tg_rng r;
        tg_rng_seed(&r, 7 + c);
        for (size_t i = 0; i < nvals; i++)
            vals[i] = (float)tg_rng_normal(&r);
        run(s, 0, vals, want);
        for (int level = TG_CPU_SCALAR; level <= TG_CPU_AVX512; level++) {
            if (tg_cpu_set_level(level) < 0)
                continue; /* the CPU lacks it */
            run(s, 1, vals, got);
            tg_cpu_set_level(-1);
            double wo = worst_diff(got, want, nq), wq = worst_diff(got + nq, want + nq, nq);
            double wk = worst_diff(got + 2 * nq, want + 2 * nq, nkv);
            printf("case %zu (B %d Tq %d Tk %d heads %d x %d pos %d) at %s: out %.2g, dq %.2g, dkv %.2g\n",
                   c, s->B, s->Tq, s->Tk, s->nh, s->hd, s->pos, tg_cpu_level_name(level), wo, wq,
                   wk);
            ck_assert_msg(wo <= 2e-5 && wq <= 2e-5 && wk <= 2e-5,
                          "case %zu at %s: out %g, dq %g, dkv %g", c, tg_cpu_level_name(level),
                          wo, wq, wk);
            if (s->use_len) /* row 2 sees no key: output and q gradient exactly 0 */
                for (size_t i = 2 * (size_t)s->Tq * W; i < 3 * (size_t)s->Tq * W; i++)
                    ck_assert(got[i] == 0 && got[nq + i] == 0);
        }
        free(vals), free(want), free(got);
    }
}
END_TEST

/* The GPT-2 step graph attends with the decode op, the full graph with
 * tg_attention. */
START_TEST(gpt2_step_graph_uses_it)
{
    g2_config c;
    g2_config_default(&c);
    c.vocab_size = 25, c.n_embd = 16, c.n_layer = 2, c.n_head = 2, c.n_positions = 20;
    c.bos_token_id = 2, c.eos_token_id = 3, c.pad_token_id = 0;
    g2_model *m;
    ck_assert_msg(g2_model_new(&c, &m) == TG_OK, "%s", tg_last_error());
    g2_cache cache;
    ck_assert_int_eq(g2_cache_new(m, 2, 20, &cache), TG_OK);
    g2_graph st, full;
    ck_assert_int_eq(g2_build_step(m, &cache, 1, NULL, &st), TG_OK);
    ck_assert_int_eq(g2_build(m, 2, 20, G2_LOGITS, NULL, &full), TG_OK);
    int n[2][2] = {{0}};
    for (int k = 0; k < 2; k++) {
        tg_graph *g = k ? full.g : st.g;
        for (int i = 0; i < tg_graph_nodes(g); i++) {
            int op = tg_graph_node(g, i)->op;
            n[k][0] += op == TG_OP_ATTENTION_DECODE, n[k][1] += op == TG_OP_ATTENTION;
        }
    }
    ck_assert_int_eq(n[0][0], 2);
    ck_assert_int_eq(n[0][1], 0);
    ck_assert_int_eq(n[1][0], 0);
    ck_assert_int_eq(n[1][1], 2);
    g2_graph_free(&st), g2_graph_free(&full);
    g2_cache_free(&cache);
    g2_model_free(m);
}
END_TEST

START_TEST(errors_name_the_tensor)
{
    tg_params *p = tg_params_new();
    tg_tensor *q = tg_params_add(p, "q", 3, (int[]){2, 1, 8}, 1);
    tg_tensor *kv = tg_params_add(p, "kv", 3, (int[]){2, 5, 16}, 1);
    tg_tensor *k3 = tg_params_add(p, "k3", 3, (int[]){3, 5, 8}, 1);
    ck_assert_int_eq(tg_params_alloc(p), TG_OK);
    struct {
        const char *want;
        int heads, v_col, causal, use_pos, bad_len, dropout, bad_k;
    } E[] = {
        {"width 8 must be a positive multiple of heads 3", 3, 8, 1, 1, 0, 0, 0},
        {"v columns 9..17 outside 'kv'", 2, 9, 1, 1, 0, 0, 0},
        {"lengths 'len' must be int32 [B] = [2]", 2, 8, 1, 1, 1, 0, 0},
        {"pos 'pos' must be an int32 [1] of a causal attention", 2, 8, 0, 1, 0, 0, 0},
        {"no dropout", 2, 8, 1, 1, 0, 1, 0},
        {"must agree", 2, 8, 1, 1, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof E / sizeof E[0]; i++) {
        tg_graph *g = tg_graph_new();
        tg_tensor *P = tg_input(g, TG_I32, 1, (int[]){1}, "pos");
        tg_tensor *L = E[i].bad_len ? tg_input(g, TG_I32, 1, (int[]){3}, "len") : NULL;
        tg_attn_args a = {.heads = E[i].heads, .dim = 8, .v_col = E[i].v_col,
                          .causal = E[i].causal, .pos = E[i].use_pos ? P : NULL,
                          .dropout = E[i].dropout ? 0.1f : 0};
        ck_assert_ptr_null(tg_attention_decode(g, q, E[i].bad_k ? k3 : kv, kv, L, &a));
        ck_assert_msg(tg_graph_error(g) && strstr(tg_graph_error(g), E[i].want), "case %zu: %s",
                      i, tg_graph_error(g) ? tg_graph_error(g) : "(no error)");
        tg_graph_free(g);
    }
    /* pos past the cache fails at forward, naming pos */
    tg_graph *g = tg_graph_new();
    tg_tensor *P = tg_input(g, TG_I32, 1, (int[]){1}, "cache_pos");
    tg_attn_args a = {.heads = 2, .dim = 8, .v_col = 8, .causal = 1, .pos = P};
    tg_tensor *out = tg_attention_decode(g, q, kv, kv, NULL, &a);
    tg_graph_keep(g, out);
    ck_assert_int_eq(tg_graph_plan(g, NULL, 0), TG_OK);
    tg_i32(P)[0] = 5;
    ck_assert_int_ne(tg_forward(g), TG_OK);
    ck_assert_msg(strstr(tg_last_error(), "pos 'cache_pos' is 5"), "%s", tg_last_error());
    tg_i32(P)[0] = 4;
    ck_assert_int_eq(tg_forward(g), TG_OK);
    tg_graph_free(g);
    tg_params_free(p);
}
END_TEST

int main(void)
{
    tg_set_threads(2);
    Suite *s = suite_create("attention_decode");
    TCase *tc = tcase_create("op");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, equals_the_general_attention);
    tcase_add_test(tc, gpt2_step_graph_uses_it);
    tcase_add_test(tc, errors_name_the_tensor);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
