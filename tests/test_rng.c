/* The counter-based generator: reproducible, uniform and normal without
 * serial correlation, across the small seeds the CLI uses; dropout masks
 * independent across steps, layers (nodes) and seeds. */
#include "tg.h"
#include "tg_ops.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>

START_TEST(same_seed_same_stream)
{
    tg_rng a, b;
    tg_rng_seed(&a, 42);
    tg_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_eq(tg_rng_next(&a), tg_rng_next(&b));
    tg_rng_seed(&b, 43);
    ck_assert_uint_ne(tg_rng_next(&a), tg_rng_next(&b));
}
END_TEST

START_TEST(moments)
{
    tg_rng r;
    tg_rng_seed(&r, 7);
    double su = 0, sn = 0, sn2 = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double u = tg_rng_uniform(&r);
        ck_assert(u >= 0 && u < 1);
        su += u;
        double z = tg_rng_normal(&r);
        sn += z;
        sn2 += z * z;
    }
    ck_assert_double_eq_tol(su / n, 0.5, 0.005);
    ck_assert_double_eq_tol(sn / n, 0.0, 0.01);
    ck_assert_double_eq_tol(sn2 / n, 1.0, 0.02);
}
END_TEST

/* Normal draws as initialisation uses them (rb_model_init: one stream per
 * seed, tensors back to back): Gaussian tails and shape, no correlation at
 * short lags or at a weight matrix's row length, none between the streams of
 * neighbouring small seeds. n = 2^18 draws: a correlation's s.e. is 0.002. */
START_TEST(normal_shape_and_independence)
{
    enum { N = 1 << 18 };
    static double z[N], w[N];
    for (uint64_t seed = 1; seed <= 8; seed++) {
        tg_rng r, q;
        tg_rng_seed(&r, seed);
        tg_rng_seed(&q, seed + 1);
        double m2 = 0, m4 = 0;
        long tail = 0;
        for (int i = 0; i < N; i++) {
            z[i] = tg_rng_normal(&r);
            w[i] = tg_rng_normal(&q);
            m2 += z[i] * z[i];
            m4 += z[i] * z[i] * z[i] * z[i];
            tail += fabs(z[i]) > 3;
        }
        m2 /= N, m4 /= N;
        ck_assert_double_eq_tol(m2, 1.0, 0.012);
        ck_assert_double_eq_tol(m4 / (m2 * m2), 3.0, 0.08); /* kurtosis, s.e. 0.01 */
        ck_assert_double_eq_tol((double)tail / N, 0.0026998, 0.0006);
        const int lags[] = {1, 2, 3, 24, 128, 512};
        for (int k = 0; k < 6; k++) {
            double c = 0;
            for (int i = lags[k]; i < N; i++)
                c += z[i] * z[i - lags[k]];
            ck_assert_msg(fabs(c / N) < 0.01, "seed %d: lag-%d correlation %.4f", (int)seed, lags[k],
                          c / N);
        }
        double c = 0;
        for (int i = 0; i < N; i++)
            c += z[i] * w[i];
        ck_assert_msg(fabs(c / N) < 0.01, "seeds %d and %d correlate: %.4f", (int)seed,
                      (int)seed + 1, c / N);
    }
}
END_TEST

/* Dropout masks as training draws them: the graph seed is --seed, the rng
 * state is the micro-batch index before each forward. Each element drops
 * with probability p, independently of the same element at the next step,
 * in another dropout node (another layer) and under another seed; no
 * element drops more often than the binomial spread allows. */
START_TEST(dropout_masks_independent)
{
    enum { N = 1 << 16, STEPS = 64 };
    const float p = 0.1f;
    static uint8_t keep[2][2][STEPS][N]; /* seed, node, step, element */
    const uint64_t seeds[2] = {7, 42};
    for (int si = 0; si < 2; si++) {
        tg_graph *g = tg_graph_new();
        int n = N;
        tg_tensor *x = tg_input(g, TG_F32, 1, &n, "x");
        tg_tensor *d[2] = {tg_dropout(g, x, p), tg_dropout(g, x, p)};
        tg_graph_keep(g, d[0]), tg_graph_keep(g, d[1]);
        ck_assert_int_eq(tg_graph_plan(g, NULL, 0), TG_OK);
        tg_graph_set_training(g, 1);
        tg_graph_seed(g, seeds[si]);
        for (int i = 0; i < N; i++)
            tg_f32(x)[i] = 1.0f;
        for (int s = 0; s < STEPS; s++) {
            tg_graph_set_rng_state(g, (uint64_t)s);
            ck_assert_int_eq(tg_forward(g), TG_OK);
            for (int k = 0; k < 2; k++)
                for (int i = 0; i < N; i++)
                    keep[si][k][s][i] = tg_f32(d[k])[i] != 0.0f;
        }
        tg_graph_free(g);
    }
    double rate = 0, step_pair = 0, node_pair = 0, seed_pair = 0;
    for (int s = 0; s < STEPS; s++)
        for (int i = 0; i < N; i++) {
            int a = !keep[0][0][s][i];
            rate += a;
            step_pair += a && s + 1 < STEPS && !keep[0][0][s + 1][i];
            node_pair += a && !keep[0][1][s][i];
            seed_pair += a && !keep[1][0][s][i];
        }
    double cells = (double)STEPS * N; /* 4M: a rate's s.e. is 1.5e-4, a pair's 5e-5 */
    ck_assert_double_eq_tol(rate / cells, p, 1e-3);
    ck_assert_double_eq_tol(step_pair / (cells - N), p * p, 4e-4);
    ck_assert_double_eq_tol(node_pair / cells, p * p, 4e-4);
    ck_assert_double_eq_tol(seed_pair / cells, p * p, 4e-4);
    /* per element over the steps: binomial(STEPS, p) spread, no hot spots */
    double var = 0;
    int worst = 0;
    for (int i = 0; i < N; i++) {
        int c = 0;
        for (int s = 0; s < STEPS; s++)
            c += !keep[0][0][s][i];
        var += (c - STEPS * p) * (c - STEPS * p);
        worst = c > worst ? c : worst;
    }
    ck_assert_double_eq_tol(var / N, STEPS * p * (1 - p), 0.25);
    ck_assert_int_lt(worst, 24); /* P(>= 24 of 64) per element ~ 1e-7 */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("rng");
    tcase_add_test(tc, same_seed_same_stream);
    tcase_add_test(tc, moments);
    tcase_add_test(tc, normal_shape_and_independence);
    tcase_add_test(tc, dropout_masks_independent);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
