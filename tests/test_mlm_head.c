/* The LM head on the masked positions only (rb_build_masked): loss and
 * every gradient as with the full head (rb_build) within float rounding,
 * in training mode with dropout, with padding rows and without; logits on
 * chosen rows (score); the bucket rule; too many labelled positions or a
 * row outside the batch is an error. */
#include "roberta.h"
#include "tg.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rb_model *tiny(void)
{
    const char *src = tu_source_dir();
    char path[4096];
    snprintf(path, sizeof path, "%s/configs/heavy_tiny.json", src ? src : "..");
    rb_config cfg;
    rb_model *m;
    ck_assert_int_eq(rb_config_load(path, &cfg), TG_OK);
    ck_assert_int_eq(rb_model_new(&cfg, &m), TG_OK);
    rb_model_init(m, 21);
    return m;
}

/* one training step's loss and gradients (copied into grads) */
static float step(rb_model *m, rb_graph *gr, const int32_t *ids, const int32_t *attn,
                  const int32_t *lab, float *grads)
{
    tg_graph_set_training(gr->g, 1);
    tg_graph_seed(gr->g, 77);
    tg_graph_set_rng_state(gr->g, 5);
    tg_params_zero_grad(m->params);
    ck_assert_int_eq(rb_set_batch(gr, ids, attn, lab), TG_OK);
    ck_assert_int_eq(tg_forward(gr->g), TG_OK);
    ck_assert_int_eq(tg_backward(gr->g, gr->loss, NULL), TG_OK);
    memcpy(grads, tg_params_grads(m->params), tg_params_numel(m->params) * sizeof(float));
    return tg_f32(gr->loss)[0];
}

START_TEST(masked_head_matches_full_head)
{
    rb_model *m = tiny();
    enum { B = 4, T = 29 };
    int32_t ids[B * T], lab[B * T], attn[B * T];
    tg_rng r;
    tg_rng_seed(&r, 4);
    int count = 0;
    for (int i = 0; i < B * T; i++) {
        int t = i % T, len = T - 3 * (i / T); /* padded rows */
        attn[i] = t < len;
        ids[i] = t < len ? 5 + (int)(tg_rng_next(&r) % 20) : 0;
        lab[i] = t < len && t > 0 && tg_rng_uniform(&r) < 0.15 ? ids[i] : -100;
        count += lab[i] != -100;
    }
    ck_assert_int_gt(count, 3);
    size_t np = tg_params_numel(m->params);
    float *g_full = malloc(np * sizeof(float)), *g_mask = malloc(np * sizeof(float));
    ck_assert(g_full && g_mask);
    rb_graph full, masked;
    ck_assert_int_eq(rb_build(m, B, T, RB_LOSS, &full), TG_OK);
    float loss_full = step(m, &full, ids, attn, lab, g_full);
    double gmax = 0;
    for (size_t i = 0; i < np; i++)
        gmax = fmax(gmax, fabs(g_full[i]));
    /* exactly as many rows as masked positions, then with 50 padding rows */
    int rows[2] = {count, count + 50};
    for (int q = 0; q < 2; q++) {
        ck_assert_int_eq(rb_build_masked(m, B, T, RB_LOSS, rows[q], NULL, &masked), TG_OK);
        ck_assert_int_eq(masked.logits->shape[0], rows[q]);
        float loss = step(m, &masked, ids, attn, lab, g_mask);
        ck_assert_msg(fabsf(loss - loss_full) <= 2e-6f * fabsf(loss_full), "loss %.9g vs full %.9g",
                      loss, loss_full);
        double worst = 0;
        for (size_t i = 0; i < np; i++)
            worst = fmax(worst, fabs(g_mask[i] - g_full[i]));
        printf("test_mlm_head: %d rows (%d masked): loss %.9g (full head %.9g), max grad diff %.3g (largest grad %.3g)\n",
               rows[q], count, loss, loss_full, worst, gmax);
        ck_assert_msg(worst <= 1e-5 * gmax, "gradients differ by %.3g (largest %.3g)", worst, gmax);
        rb_graph_free(&masked);
    }
    /* more labelled positions than rows: an error, not a silent drop */
    ck_assert_int_eq(rb_build_masked(m, B, T, RB_LOSS, count - 1, NULL, &masked), TG_OK);
    ck_assert_int_eq(rb_set_batch(&masked, ids, attn, lab), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "labelled positions"));
    rb_graph_free(&masked);
    ck_assert_int_ne(rb_build_masked(m, B, T, RB_LOSS, B * T + 1, NULL, &masked), TG_OK);
    ck_assert_int_ne(rb_build_masked(m, B, T, RB_LOSS, 0, NULL, &masked), TG_OK);
    rb_graph_free(&full);
    free(g_full), free(g_mask);
    rb_model_free(m);
}
END_TEST

/* A logits graph with the head on chosen rows (ablm score's path): each
 * row's logits as the full head's at that position. */
START_TEST(logits_on_chosen_rows)
{
    rb_model *m = tiny();
    enum { B = 3, T = 17 };
    int32_t ids[B * T];
    for (int i = 0; i < B * T; i++)
        ids[i] = 5 + (i * 7) % 20;
    rb_graph full, part;
    ck_assert_int_eq(rb_build(m, B, T, RB_LOGITS, &full), TG_OK);
    ck_assert_int_eq(rb_set_batch(&full, ids, NULL, NULL), TG_OK);
    ck_assert_int_eq(tg_forward(full.g), TG_OK);
    ck_assert_int_eq(rb_build_masked(m, B, T, RB_LOGITS, 5, NULL, &part), TG_OK);
    ck_assert_ptr_null(part.labels);
    ck_assert_int_eq(rb_set_batch(&part, ids, NULL, NULL), TG_OK);
    int32_t rows[4] = {3, 0, 2 * T + 16, 3}; /* any order, repeats; row 4 padding */
    ck_assert_int_eq(rb_set_head_rows(&part, rows, 4), TG_OK);
    ck_assert_int_eq(tg_forward(part.g), TG_OK);
    int V = m->cfg.vocab_size;
    for (int k = 0; k < 4; k++)
        for (int v = 0; v < V; v++) {
            float a = tg_f32(part.logits)[k * V + v], b = tg_f32(full.logits)[rows[k] * V + v];
            ck_assert_msg(fabsf(a - b) <= 1e-5f * fmaxf(1, fabsf(b)), "row %d vocab %d: %g vs %g", rows[k], v, a, b);
        }
    int32_t bad[2] = {0, B * T};
    ck_assert_int_eq(rb_set_head_rows(&part, bad, 2), TG_ERR_ARG);
    ck_assert_int_eq(rb_set_head_rows(&part, rows, 6), TG_ERR_ARG);
    ck_assert_int_eq(rb_set_head_rows(&full, rows, 1), TG_ERR_ARG);
    rb_graph_free(&part);
    rb_graph_free(&full);
    rb_model_free(m);
}
END_TEST

START_TEST(head_rows_rule)
{
    ck_assert_int_eq(rb_head_rows_for(0, 2080), 64);
    ck_assert_int_eq(rb_head_rows_for(1, 2080), 64);
    ck_assert_int_eq(rb_head_rows_for(64, 2080), 64);
    ck_assert_int_eq(rb_head_rows_for(65, 2080), 128);
    ck_assert_int_eq(rb_head_rows_for(300, 2080), 320);
    ck_assert_int_eq(rb_head_rows_for(2070, 2080), 2080);
    ck_assert_int_eq(rb_head_rows_for(10, 30), 30);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mlm_head");
    TCase *tc = tcase_create("mlm_head");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, masked_head_matches_full_head);
    tcase_add_test(tc, logits_on_chosen_rows);
    tcase_add_test(tc, head_rows_rule);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
