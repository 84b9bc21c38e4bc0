/* AdamW against torch.optim.AdamW, the HF decay rule, clip_grad_norm_, and
 * optimizer state files. */
#include "adamw.h"
#include "safetensors.h"
#include "tg.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Expected values produced once with torch 1.13 (/usr/bin/python3):
 *   a = torch.tensor(P0[:4], requires_grad=True); b = torch.tensor(P0[4:], ...)
 *   opt = torch.optim.AdamW([{"params": [a], "weight_decay": 0.01},
 *                            {"params": [b], "weight_decay": 0.0}],
 *                           lr=1e-3, betas=(0.9, 0.999), eps=1e-8, foreach=False)
 *   for g, lr in zip(G, LR): set group lrs to lr; a.grad, b.grad = g[:4], g[4:]; opt.step()
 *   print a+b, state exp_avg, state exp_avg_sq with "%.9g". */
static const float P0[7] = {0.5f, -1.25f, 2.0f, 0.125f, -0.75f, 1.5f, 0.0f};
static const float G[3][7] = {{0.1f, -0.2f, 0.3f, -0.4f, 0.5f, -0.6f, 0.7f},
                              {-0.05f, 0.15f, 0.0f, 1.0f, -2.0f, 0.25f, 0.01f},
                              {0.3f, 0.3f, -0.3f, -0.3f, 0.001f, 10.0f, -0.5f}};
static const double LR[3] = {1e-3, 5e-4, 2e-3};
static const float P3[7] = {0.497508347f,  -1.24980497f,  1.99876666f,     0.125458941f,
                            -0.749855876f, 1.49992442f,   -0.00145325542f};
static const float M3[7] = {0.0336000025f, 0.0273000021f, -0.00570000196f, 0.0275999941f,
                            -0.13939999f,  0.97390002f,   0.00760000199f};
static const float V3[7] = {0.000102477519f, 0.000152397552f, 0.000179820112f,
                            0.00124868017f,  0.00424550148f,  0.100421727f,
                            0.000739120413f};

static void run_three_steps(opt_adamw *o, float *p)
{
    opt_adamw_config c = opt_adamw_defaults();
    c.weight_decay = 0.01;
    opt_segment seg[2] = {{4, 3, 0}, {0, 4, 1}}; /* out of order on purpose */
    ck_assert_int_eq(opt_adamw_init(o, &c, 7, seg, 2), TG_OK);
    memcpy(p, P0, sizeof P0);
    for (int s = 0; s < 3; s++)
        ck_assert_int_eq(opt_adamw_step(o, p, G[s], LR[s]), TG_OK);
}

START_TEST(matches_torch)
{
    opt_adamw o;
    float p[7];
    run_three_steps(&o, p);
    ck_assert_int_eq(o.step, 3);
    for (int i = 0; i < 7; i++) {
        ck_assert_float_eq_tol(p[i], P3[i], 2e-7 + 2e-7 * fabsf(P3[i]));
        ck_assert_float_eq_tol(o.m[i], M3[i], 1e-7 + 1e-6 * fabsf(M3[i]));
        ck_assert_float_eq_tol(o.v[i], V3[i], 1e-10 + 1e-6 * fabsf(V3[i]));
    }
    opt_adamw_free(&o);
}
END_TEST

/* First step in closed form (double): with m/bc1 = g and v/bc2 = g^2 the
 * update is lr * g / (|g| + eps) after the decay factor. Decay applies only
 * to segments flagged for it; uncovered elements stay put. */
START_TEST(first_step_closed_form_and_decay_exclusion)
{
    float p[6] = {1, 1, 1, 1, 1, 7}, g[6] = {0.5f, -0.5f, 0.5f, -0.5f, 0.5f, 3};
    opt_adamw_config c = opt_adamw_defaults();
    c.weight_decay = 0.1;
    opt_segment seg[2] = {{0, 2, 1}, {2, 3, 0}};
    opt_adamw o;
    ck_assert_int_eq(opt_adamw_init(&o, &c, 6, seg, 2), TG_OK);
    double lr = 0.01;
    ck_assert_int_eq(opt_adamw_step(&o, p, g, lr), TG_OK);
    for (int i = 0; i < 5; i++) {
        double decay = i < 2 ? 1 - lr * 0.1 : 1.0;
        double want = 1.0 * decay - lr * g[i] / (fabs(g[i]) + 1e-8);
        ck_assert_double_eq_tol(p[i], want, 1e-6);
    }
    ck_assert_float_eq(p[5], 7.0f);
    ck_assert_float_eq(o.m[5], 0.0f);
    opt_adamw_free(&o);
}
END_TEST

START_TEST(bad_arguments)
{
    opt_adamw o;
    opt_adamw_config c = opt_adamw_defaults();
    opt_segment over[2] = {{0, 4, 1}, {3, 2, 1}}, out[1] = {{5, 6, 1}};
    ck_assert_int_eq(opt_adamw_init(&o, &c, 10, out, 1), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "segment 0"));
    ck_assert_int_eq(opt_adamw_init(&o, &c, 10, over, 2), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "overlap"));
    c.beta1 = 1.0;
    ck_assert_int_eq(opt_adamw_init(&o, &c, 10, over, 1), TG_ERR_ARG);
    c = opt_adamw_defaults();
    tg_alloc_fail_after(2);
    ck_assert_int_eq(opt_adamw_init(&o, &c, 10, over, 1), TG_ERR_NOMEM);
    tg_alloc_fail_after(0);
    ck_assert_ptr_null(o.m);
    ck_assert_int_eq(opt_adamw_init(&o, &c, 10, over, 1), TG_OK);
    float p[10] = {0}, g[10] = {0};
    ck_assert_int_eq(opt_adamw_step(&o, p, g, NAN), TG_ERR_ARG);
    opt_adamw_free(&o);
}
END_TEST

START_TEST(hf_decay_rule)
{
    ck_assert_int_eq(opt_hf_decay("roberta.encoder.layer.0.attention.self.query.weight", 0), 1);
    ck_assert_int_eq(opt_hf_decay("roberta.encoder.layer.0.attention.self.query.bias", 0), 0);
    ck_assert_int_eq(opt_hf_decay("roberta.embeddings.LayerNorm.weight", 0), 0);
    ck_assert_int_eq(opt_hf_decay("roberta.encoder.layer.3.output.LayerNorm.bias", 0), 0);
    ck_assert_int_eq(opt_hf_decay("model.layers.0.input_rmsnorm.weight", 0), 0);
    ck_assert_int_eq(opt_hf_decay("roberta.embeddings.word_embeddings.weight", 0), 1);
    ck_assert_int_eq(opt_hf_decay("lm_head.dense.weight", 0), 1);
    ck_assert_int_eq(opt_hf_decay("lm_head.layer_norm.weight", 1), 0); /* by module type */
}
END_TEST

START_TEST(clip_like_torch)
{
    /* torch.nn.utils.clip_grad_norm_ on grads [3,4] and [12], max_norm 1:
     * returns 13.0, grads become [0.230769217, 0.307692289], [0.923076868]. */
    float g[3] = {3, 4, 12};
    double n = opt_clip_grad_norm(g, 3, 1.0);
    ck_assert_double_eq_tol(n, 13.0, 1e-12);
    ck_assert_float_eq_tol(g[0], 0.230769217f, 1e-7);
    ck_assert_float_eq_tol(g[1], 0.307692289f, 1e-7);
    ck_assert_float_eq_tol(g[2], 0.923076868f, 1e-7);
    /* Below the limit: unchanged. Disabled: unchanged, norm still returned. */
    float h[2] = {0.3f, 0.4f};
    ck_assert_double_eq_tol(opt_clip_grad_norm(h, 2, 1.0), 0.5, 1e-7);
    ck_assert_float_eq(h[0], 0.3f);
    float k[2] = {30, 40};
    ck_assert_double_eq_tol(opt_clip_grad_norm(k, 2, 0.0), 50.0, 1e-9);
    ck_assert_float_eq(k[1], 40.0f);
}
END_TEST

/* Bitwise identical results for 1 and 4 threads on a buffer big enough to
 * be split. */
START_TEST(deterministic_across_threads)
{
    size_t n = 300001;
    float *p[2], *g = malloc(n * sizeof *g);
    double norms[2];
    tg_rng r;
    tg_rng_seed(&r, 3);
    for (size_t i = 0; i < n; i++)
        g[i] = (float)tg_rng_normal(&r);
    opt_segment seg[2] = {{0, 200000, 1}, {200000, n - 200000, 0}};
    opt_adamw_config c = opt_adamw_defaults();
    c.weight_decay = 0.01;
    opt_adamw o[2];
    for (int t = 0; t < 2; t++) {
        tg_set_threads(t ? 4 : 1);
        p[t] = calloc(n, sizeof(float));
        ck_assert_int_eq(opt_adamw_init(&o[t], &c, n, seg, 2), TG_OK);
        norms[t] = opt_grad_norm(g, n);
        for (int s = 0; s < 3; s++)
            opt_adamw_step(&o[t], p[t], g, 1e-3);
    }
    ck_assert(norms[0] == norms[1]);
    ck_assert_mem_eq(p[0], p[1], n * sizeof(float));
    ck_assert_mem_eq(o[0].m, o[1].m, 2 * n * sizeof(float));
    for (int t = 0; t < 2; t++) {
        opt_adamw_free(&o[t]);
        free(p[t]);
    }
    free(g);
    tg_set_threads(0);
}
END_TEST

START_TEST(state_round_trip_and_errors)
{
    char *dir = tu_tmpdir(), path[256], bad[256];
    snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
    opt_adamw a, b;
    float p[7];
    run_three_steps(&a, p);
    ck_assert_int_eq(opt_adamw_save(&a, path), TG_OK);
    opt_adamw_config c = opt_adamw_defaults();
    opt_segment seg[2] = {{0, 4, 1}, {4, 3, 0}};
    ck_assert_int_eq(opt_adamw_init(&b, &c, 7, seg, 2), TG_OK);
    ck_assert_int_eq(opt_adamw_load(&b, path), TG_OK);
    ck_assert_int_eq(b.step, 3);
    ck_assert_mem_eq(a.m, b.m, 14 * sizeof(float));
    /* Continuing from the loaded state equals continuing the original. */
    float q[7];
    memcpy(q, p, sizeof p);
    b.cfg.weight_decay = 0.01;
    opt_adamw_step(&a, p, G[0], 1e-3);
    opt_adamw_step(&b, q, G[0], 1e-3);
    ck_assert_mem_eq(p, q, sizeof p);
    opt_adamw_free(&b);

    /* Mismatched layout is refused, naming what differs. */
    opt_segment seg2[1] = {{0, 7, 1}};
    ck_assert_int_eq(opt_adamw_init(&b, &c, 7, seg2, 1), TG_OK);
    ck_assert_int_eq(opt_adamw_load(&b, path), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "segments"));
    opt_adamw_free(&b);
    ck_assert_int_eq(opt_adamw_init(&b, &c, 8, seg2, 1), TG_OK);
    ck_assert_int_eq(opt_adamw_load(&b, path), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "7 parameters"));
    opt_adamw_free(&b);

    /* A damaged header or a truncated file is reported, naming the file. */
    FILE *f = fopen(path, "rb");
    unsigned char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    snprintf(bad, sizeof bad, "%s/corrupt.safetensors", dir);
    buf[8] = 'z'; /* header must start with '{' */
    f = fopen(bad, "wb");
    fwrite(buf, 1, n, f);
    fclose(f);
    ck_assert_int_eq(opt_adamw_init(&b, &c, 7, seg, 2), TG_OK);
    ck_assert_int_eq(opt_adamw_load(&b, bad), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), bad));
    f = fopen(bad, "wb");
    fwrite(buf, 1, n / 2, f);
    fclose(f);
    ck_assert_int_eq(opt_adamw_load(&b, bad), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), bad));
    /* Another safetensors file (e.g. model weights) is not an optimizer state. */
    ck_assert_int_eq(st_write(bad, NULL, 0, (const char *const[]){"format", "pt"}, 1), TG_OK);
    ck_assert_int_eq(opt_adamw_load(&b, bad), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "not an ablm AdamW state"));
    ck_assert_int_eq(b.step, 0); /* unchanged on failure */
    snprintf(bad, sizeof bad, "%s/missing.safetensors", dir);
    ck_assert_int_eq(opt_adamw_load(&b, bad), TG_ERR_IO);
    opt_adamw_free(&b);
    opt_adamw_free(&a);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("adamw");
    TCase *tc = tcase_create("adamw");
    tcase_add_test(tc, matches_torch);
    tcase_add_test(tc, first_step_closed_form_and_decay_exclusion);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, hf_decay_rule);
    tcase_add_test(tc, clip_like_torch);
    tcase_add_test(tc, deterministic_across_threads);
    tcase_add_test(tc, state_round_trip_and_errors);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
