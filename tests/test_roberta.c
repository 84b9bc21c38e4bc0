/* RoBERTa-for-MLM: parameter counts of the shipped configs, Hugging Face
 * initialisation, checkpoint round trip and errors, and the golden test
 * against the independent PyTorch reference (tests/reference/). */
#include "roberta.h"
#include "safetensors.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rb_model *load_config(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/configs/%s", tu_source_dir(), name);
    rb_config c;
    ck_assert_msg(rb_config_load(path, &c) == TG_OK, "%s", tg_last_error());
    rb_model *m;
    ck_assert_msg(rb_model_new(&c, &m) == TG_OK, "%s", tg_last_error());
    return m;
}

static size_t count_params(const rb_model *m)
{
    size_t n = 0;
    for (int i = 0; i < tg_params_count(m->params); i++)
        n += tg_params_at(m->params, i)->numel;
    return n;
}

START_TEST(shipped_configs_have_the_stated_sizes)
{
    rb_model *m = load_config("heavy_small.json");
    ck_assert_uint_eq(count_params(m), 13150745);
    ck_assert_int_eq(rb_config_param_count(&m->cfg), 13150745);
    rb_model_free(m);
    m = load_config("heavy_base.json");
    ck_assert_uint_eq(count_params(m), 86062873);
    rb_model_free(m);
}
END_TEST

START_TEST(init_follows_hugging_face)
{
    rb_model *m = load_config("heavy_small.json");
    rb_model_init(m, 1);
    const float *w = tg_f32(m->layers[2].i_w);
    double s = 0, s2 = 0;
    size_t n = m->layers[2].i_w->numel;
    for (size_t i = 0; i < n; i++)
        s += w[i], s2 += (double)w[i] * w[i];
    ck_assert_double_eq_tol(s / n, 0.0, 1e-4);
    ck_assert_double_eq_tol(sqrt(s2 / n), 0.02, 2e-4);
    ck_assert_float_eq(tg_f32(m->layers[0].ln1_w)[7], 1.0f);
    ck_assert_float_eq(tg_f32(m->layers[0].ln1_b)[7], 0.0f);
    ck_assert_float_eq(tg_f32(m->lm_bias)[3], 0.0f);
    for (int i = 0; i < 512; i++) { /* padding rows */
        ck_assert_float_eq(tg_f32(m->word)[0 * 512 + i], 0.0f);
        ck_assert_float_eq(tg_f32(m->pos)[0 * 512 + i], 0.0f);
    }
    ck_assert_float_ne(tg_f32(m->word)[1 * 512 + 3], 0.0f);
    rb_model_free(m);
}
END_TEST

static int notes;
static void count_note(const char *msg)
{
    (void)msg;
    notes++;
}

START_TEST(save_load_round_trip_is_bit_exact)
{
    rb_model *a = load_config("heavy_tiny.json"), *b = load_config("heavy_tiny.json");
    rb_model_init(a, 3);
    char *dir = tu_tmpdir();
    ck_assert_int_eq(rb_model_save(a, dir), TG_OK);
    char path[256];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    notes = 0;
    ck_assert_msg(rb_model_load(b, path, count_note) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(notes, 0);
    ck_assert_int_eq(memcmp(tg_params_values(a->params), tg_params_values(b->params),
                            tg_params_numel(a->params) * sizeof(float)), 0);
    /* a model of another size: the error names the tensor and both shapes */
    rb_config c = a->cfg;
    c.intermediate_size = 48;
    rb_model *w;
    ck_assert_int_eq(rb_model_new(&c, &w), TG_OK);
    ck_assert_int_ne(rb_model_load(w, path, NULL), TG_OK);
    ck_assert_msg(strstr(tg_last_error(), "roberta.encoder.layer.0.intermediate.dense.weight") &&
                      strstr(tg_last_error(), "[40, 24]") && strstr(tg_last_error(), "[48, 24]"),
                  "%s", tg_last_error());
    rb_model_free(w);
    rb_model_free(a);
    rb_model_free(b);
}
END_TEST

/* Reads a fixture tensor as float32. */
static float *fixture_f32(st_file *f, const char *name, size_t *n)
{
    float *x;
    ck_assert_msg(st_load_f32(f, name, &x, n) == TG_OK, "%s", tg_last_error());
    return x;
}

/* The golden test: same weights and batch as tests/reference/make_golden.py,
 * which builds the model from torch.nn primitives. */
START_TEST(matches_pytorch_reference)
{
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/roberta_tiny", tu_source_dir());
    snprintf(path, sizeof path, "%s/config.json", dir);
    rb_config c;
    ck_assert_msg(rb_config_load(path, &c) == TG_OK, "%s", tg_last_error());
    c.hidden_dropout_prob = c.attention_probs_dropout_prob = 0;
    rb_model *m;
    ck_assert_int_eq(rb_model_new(&c, &m), TG_OK);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ck_assert_msg(rb_model_load(m, path, NULL) == TG_OK, "%s", tg_last_error());
    snprintf(path, sizeof path, "%s/golden.safetensors", dir);
    st_file *f;
    ck_assert_msg(st_open(path, &f) == TG_OK, "%s", tg_last_error());
    const st_info *ii = st_find(f, "input_ids");
    ck_assert_ptr_nonnull(ii);
    int B = (int)ii->shape[0], T = (int)ii->shape[1];
    int32_t *ids, *labels;
    ck_assert_int_eq(st_load_i32(f, "input_ids", &ids, NULL), TG_OK);
    ck_assert_int_eq(st_load_i32(f, "labels", &labels, NULL), TG_OK);
    rb_graph gr;
    ck_assert_msg(rb_build(m, B, T, RB_LOSS, &gr) == TG_OK, "%s", tg_last_error());
    rb_set_batch(&gr, ids, labels);
    ck_assert_int_eq(tg_forward(gr.g), TG_OK);
    tg_params_zero_grad(m->params);
    ck_assert_int_eq(tg_backward(gr.g, gr.loss, NULL), TG_OK);

    size_t n;
    float *want = fixture_f32(f, "logits", &n);
    ck_assert_uint_eq(n, gr.logits->numel);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(tg_f32(gr.logits)[i] - want[i]));
    ck_assert_msg(worst <= 1e-4, "logits: max abs error %.3g > 1e-4", worst);
    free(want);
    want = fixture_f32(f, "loss", &n);
    double rel = fabs(tg_f32(gr.loss)[0] - want[0]) / fabs(want[0]);
    ck_assert_msg(rel <= 1e-5, "loss %.8g vs %.8g: relative error %.3g > 1e-5",
                  tg_f32(gr.loss)[0], want[0], rel);
    free(want);
    for (int i = 0; i < tg_params_count(m->params); i++) {
        tg_tensor *p = tg_params_at(m->params, i);
        char name[256];
        snprintf(name, sizeof name, "grad.%s", p->name);
        want = fixture_f32(f, name, &n);
        ck_assert_uint_eq(n, p->numel);
        double num = 0, den = 0;
        for (size_t j = 0; j < n; j++) {
            num += (p->grad[j] - want[j]) * (double)(p->grad[j] - want[j]);
            den += (double)want[j] * want[j];
        }
        double r = sqrt(num) / fmax(sqrt(den), 1e-12);
        /* the attention key bias has zero gradient in exact arithmetic
         * (softmax is shift invariant): there the error must be tiny in
         * absolute terms instead */
        int key_bias = strstr(p->name, "attention.self.key.bias") != NULL;
        ck_assert_msg(key_bias ? sqrt(num) <= 1e-6 : r <= 1e-3,
                      "gradient of %s: relative error %.3g > 1e-3 (abs %.3g)", p->name, r, sqrt(num));
        free(want);
    }
    free(ids);
    free(labels);
    st_close(f);
    rb_graph_free(&gr);
    rb_model_free(m);
}
END_TEST

START_TEST(build_rejects_overlong_input)
{
    rb_model *m = load_config("heavy_tiny.json");
    rb_graph gr;
    ck_assert_int_ne(rb_build(m, 2, 66, RB_LOGITS, &gr), TG_OK);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "length must be 1..65"));
    ck_assert_ptr_null(gr.g);
    ck_assert_int_eq(rb_build(m, 2, 65, RB_LOGITS, &gr), TG_OK);
    rb_graph_free(&gr);
    rb_model_free(m);
}
END_TEST

int main(void)
{
    tg_set_threads(2);
    Suite *s = suite_create("roberta");
    TCase *tc = tcase_create("roberta");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, shipped_configs_have_the_stated_sizes);
    tcase_add_test(tc, init_follows_hugging_face);
    tcase_add_test(tc, save_load_round_trip_is_bit_exact);
    tcase_add_test(tc, matches_pytorch_reference);
    tcase_add_test(tc, build_rejects_overlong_input);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
