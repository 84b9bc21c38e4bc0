/* GPT-2 (GPT2LMHeadModel): parameter counts of the shipped configs,
 * Hugging Face initialisation, config.json round trip and rejections,
 * checkpoint round trip and the transformers variants, and the golden test
 * against the independent PyTorch reference (tests/reference/
 * make_gpt2_golden.py): a right-padded batch, causal and padding masks,
 * shifted labels. */
#include "gpt2.h"
#include "safetensors.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static g2_model *load_config(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/configs/%s", tu_source_dir(), name);
    g2_config c;
    ck_assert_msg(g2_config_load(path, &c) == TG_OK, "%s", tg_last_error());
    g2_model *m;
    ck_assert_msg(g2_model_new(&c, &m) == TG_OK, "%s", tg_last_error());
    return m;
}

static int64_t count_params(const g2_model *m)
{
    int64_t n = 0;
    for (int i = 0; i < tg_params_count(m->params); i++)
        n += (int64_t)tg_params_at(m->params, i)->numel;
    return n;
}

START_TEST(shipped_configs_have_the_stated_sizes)
{
    const struct {
        const char *file;
        int64_t n;
    } v[] = {{"light_gpt.json", 85861632}, {"light_gpt_small.json", 3231488},
             {"light_gpt_tiny.json", 16056}};
    for (int i = 0; i < 3; i++) {
        g2_model *m = load_config(v[i].file);
        ck_assert_msg(count_params(m) == v[i].n, "%s: %lld parameters", v[i].file,
                      (long long)count_params(m));
        ck_assert_int_eq(g2_config_param_count(&m->cfg), v[i].n);
        printf("%s: %lld parameters\n", v[i].file, (long long)count_params(m));
        g2_model_free(m);
    }
    /* the reference's LightGPT */
    g2_model *m = load_config("light_gpt.json");
    const g2_config *c = &m->cfg;
    ck_assert_int_eq(c->n_embd, 768);
    ck_assert_int_eq(c->n_layer, 12);
    ck_assert_int_eq(c->n_head, 12);
    ck_assert_int_eq(c->n_positions, 1024);
    ck_assert_int_eq(g2_config_inner(c), 3072);
    ck_assert_str_eq(c->activation_function, "gelu_new");
    ck_assert_double_eq(c->layer_norm_epsilon, 1e-5);
    ck_assert_double_eq(c->resid_pdrop, 0.1);
    ck_assert_int_eq(c->vocab_size, 25);
    g2_model_free(m);
}
END_TEST

/* The shipped configs are what g2_config_save writes: load + save gives
 * the same bytes. */
START_TEST(config_json_round_trip)
{
    const char *files[] = {"light_gpt.json", "light_gpt_small.json", "light_gpt_tiny.json"};
    for (int i = 0; i < 3; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/configs/%s", tu_source_dir(), files[i]);
        g2_config c;
        ck_assert_int_eq(g2_config_load(path, &c), TG_OK);
        ck_assert_str_eq(c.ignored, "");
        char *json, *want = tu_read_file(path);
        ck_assert_int_eq(g2_config_to_json(&c, &json), TG_OK);
        ck_assert_str_eq(json, want);
        tg_free(json);
        free(want);
    }
}
END_TEST

/* Writes text as DIR/config.json and loads it. */
static int load_text(const char *dir, const char *text, g2_config *c)
{
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return g2_config_load(dir, c);
}

START_TEST(config_rejects_what_is_not_implemented)
{
    char *dir = tu_tmpdir();
    const struct {
        const char *json, *needle;
    } bad[] = {
        {"{\"add_cross_attention\": 1}", "add_cross_attention"},
        {"{\"scale_attn_by_inverse_layer_idx\": true}", "scale_attn_by_inverse_layer_idx"},
        {"{\"reorder_and_upcast_attn\": true}", "reorder_and_upcast_attn"},
        {"{\"scale_attn_weights\": false}", "scale_attn_weights"},
        {"{\"tie_word_embeddings\": false}", "tie_word_embeddings"},
        {"{\"activation_function\": \"relu\"}", "\"relu\" is not supported"},
        {"{\"model_type\": \"roberta\"}", "model_type"},
        {"{\"n_embd\": 10, \"n_head\": 4}", "does not divide"},
        {"{\"vocab_size\": 25, \"bos_token_id\": 50256}", "bos_token_id"},
        {"{\"n_inner\": 0}", "n_inner"},
        {"{\"resid_pdrop\": 1.0}", "resid_pdrop"},
        {"{\"n_layer\": 2.5}", "n_layer"},
        {"{\"n_layer\": 2,}", "malformed JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        g2_config c;
        ck_assert_msg(load_text(dir, bad[i].json, &c) == TG_ERR_FORMAT, "%s accepted", bad[i].json);
        ck_assert_msg(strstr(tg_last_error(), bad[i].needle) && strstr(tg_last_error(), "config.json"),
                      "%s: %s", bad[i].json, tg_last_error());
    }
    /* the defaults are GPT2Config()'s; gelu (erf) and null ids are accepted;
     * unknown keys are listed */
    g2_config c;
    ck_assert_int_eq(load_text(dir, "{\"activation_function\": \"gelu\", \"n_ctx\": 1024, "
                                    "\"bos_token_id\": null, \"task_specific_params\": {}}", &c),
                     TG_OK);
    ck_assert_int_eq(c.vocab_size, 50257);
    ck_assert_int_eq(c.n_positions, 1024);
    ck_assert_int_eq(c.eos_token_id, 50256);
    ck_assert_int_eq(c.bos_token_id, -1);
    ck_assert_int_eq(c.pad_token_id, -1);
    ck_assert_int_eq(c.n_inner, -1);
    ck_assert_str_eq(c.ignored, "n_ctx, task_specific_params");
    char buf[512];
    ck_assert_ptr_nonnull(strstr(g2_config_ignored_note(&c, "x.json", buf, sizeof buf),
                                 "not used by GPT2LMHeadModel, ignored: n_ctx"));
    free(dir);
}
END_TEST

START_TEST(init_follows_hugging_face)
{
    g2_model *m = load_config("light_gpt_small.json");
    g2_model_init(m, 1);
    /* std of a tensor's elements */
    struct {
        const tg_tensor *t;
        double sd;
    } v[] = {{m->layers[1].fc_w, 0.02},
             {m->layers[1].attn_w, 0.02},
             {m->wte, 0.02},
             {m->wpe, 0.02},
             {m->layers[1].aproj_w, 0.02 / sqrt(8.0)}, /* 2 * n_layer = 8 */
             {m->layers[2].mproj_w, 0.02 / sqrt(8.0)}};
    for (int k = 0; k < 6; k++) {
        const float *w = tg_f32((tg_tensor *)v[k].t);
        double s = 0, s2 = 0;
        size_t n = v[k].t->numel;
        for (size_t i = 0; i < n; i++)
            s += w[i], s2 += (double)w[i] * w[i];
        ck_assert_double_eq_tol(s / n, 0.0, v[k].sd * 0.02);
        ck_assert_msg(fabs(sqrt(s2 / n) - v[k].sd) < v[k].sd * 0.02, "%s: sd %g, want %g",
                      v[k].t->name, sqrt(s2 / n), v[k].sd);
    }
    ck_assert_float_eq(tg_f32(m->layers[0].ln1_w)[7], 1.0f);
    ck_assert_float_eq(tg_f32(m->layers[0].ln2_b)[7], 0.0f);
    ck_assert_float_eq(tg_f32(m->lnf_w)[3], 1.0f);
    ck_assert_float_eq(tg_f32(m->layers[3].attn_b)[100], 0.0f);
    ck_assert_float_eq(tg_f32(m->layers[3].fc_b)[100], 0.0f);
    ck_assert_float_ne(tg_f32(m->wte)[0], 0.0f); /* no padding_idx in GPT-2 */
    g2_model_free(m);
}
END_TEST

static int notes;
static char last_note[1024];
static void count_note(const char *msg)
{
    notes++;
    snprintf(last_note, sizeof last_note, "%s", msg);
}

START_TEST(save_load_round_trip_is_bit_exact)
{
    g2_model *a = load_config("light_gpt_tiny.json");
    g2_model_init(a, 3);
    tok_tokenizer *tok;
    ck_assert_int_eq(tok_new(&tok), TG_OK);
    char *dir = tu_tmpdir();
    ck_assert_int_eq(g2_save_pretrained(a, tok, dir), TG_OK);
    /* transformers' layout: no lm_head.weight (tied), Conv1D [in, out] */
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_file *f;
    ck_assert_int_eq(st_open(path, &f), TG_OK);
    ck_assert_ptr_null(st_find(f, "lm_head.weight"));
    const st_info *ca = st_find(f, "transformer.h.1.attn.c_attn.weight");
    ck_assert_ptr_nonnull(ca);
    ck_assert_int_eq(ca->shape[0], 24);
    ck_assert_int_eq(ca->shape[1], 72);
    ck_assert_int_eq(st_count(f), tg_params_count(a->params));
    st_close(f);
    g2_model *b;
    tok_tokenizer *tok2;
    notes = 0;
    ck_assert_msg(g2_load_pretrained(dir, &b, &tok2, count_note) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(notes, 0);
    ck_assert_int_eq(memcmp(tg_params_values(a->params), tg_params_values(b->params),
                            tg_params_numel(a->params) * sizeof(float)), 0);
    ck_assert_int_eq(tok_cls_id(tok2), b->cfg.bos_token_id);
    ck_assert_int_eq(tok_sep_id(tok2), b->cfg.eos_token_id);
    ck_assert_int_eq(tok_pad_id(tok2), b->cfg.pad_token_id);
    /* another size: the error names the tensor and both shapes */
    g2_config c = a->cfg;
    c.n_inner = 40;
    g2_model *w;
    ck_assert_int_eq(g2_model_new(&c, &w), TG_OK);
    ck_assert_int_ne(g2_model_load(w, path, NULL), TG_OK);
    ck_assert_msg(strstr(tg_last_error(), "transformer.h.0.mlp.c_fc.weight") &&
                      strstr(tg_last_error(), "[24, 96]") && strstr(tg_last_error(), "[24, 40]"),
                  "%s", tg_last_error());
    g2_model_free(w);
    /* ids of the config that are not the tokenizer's: a note */
    b->cfg.bos_token_id = 4;
    ck_assert_int_eq(g2_save_pretrained(b, tok, dir), TG_OK);
    g2_model_free(b);
    tok_free(tok2);
    notes = 0;
    ck_assert_int_eq(g2_load_pretrained(dir, &b, &tok2, count_note), TG_OK);
    ck_assert_int_eq(notes, 1);
    ck_assert_msg(strstr(last_note, "bos_token_id 4") != NULL, "%s", last_note);
    g2_model_free(b);
    tok_free(tok2);
    g2_model_free(a);
    tok_free(tok);
    free(dir);
}
END_TEST

static float *fixture_f32(st_file *f, const char *name, size_t *n)
{
    float *x;
    ck_assert_msg(st_load_f32(f, name, &x, n) == TG_OK, "%s", tg_last_error());
    return x;
}

static g2_model *fixture_model_in(const char *fixture, const char *file)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/fixtures/%s/config.json", tu_source_dir(), fixture);
    g2_config c;
    ck_assert_msg(g2_config_load(path, &c) == TG_OK, "%s", tg_last_error());
    c.resid_pdrop = c.embd_pdrop = c.attn_pdrop = 0;
    g2_model *m;
    ck_assert_int_eq(g2_model_new(&c, &m), TG_OK);
    snprintf(path, sizeof path, "%s/tests/fixtures/%s/%s", tu_source_dir(), fixture, file);
    notes = 0;
    ck_assert_msg(g2_model_load(m, path, count_note) == TG_OK, "%s", tg_last_error());
    return m;
}

static g2_model *fixture_model(const char *file) { return fixture_model_in("gpt2_tiny", file); }

/* After forward and backward of gr: logits within 1e-4 (absolute), loss
 * 1e-5 relative, every parameter gradient 1e-3 relative (L2) of golden
 * file f. */
static void check_against(st_file *f, const g2_graph *gr, tg_params *params, const char *what)
{
    size_t n;
    float *want = fixture_f32(f, "logits", &n);
    ck_assert_uint_eq(n, gr->logits->numel);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(tg_f32(gr->logits)[i] - want[i]));
    free(want);
    printf("%s: logits max abs error %.3g\n", what, worst);
    ck_assert_msg(worst <= 1e-4, "logits: max abs error %.3g > 1e-4", worst);
    want = fixture_f32(f, "loss", &n);
    double rel = fabs(tg_f32(gr->loss)[0] - want[0]) / fabs(want[0]);
    printf("%s: loss %.8g vs %.8g (relative %.3g)\n", what, tg_f32(gr->loss)[0], want[0], rel);
    ck_assert_msg(rel <= 1e-5, "loss relative error %.3g > 1e-5", rel);
    free(want);
    double worst_grad = 0;
    for (int i = 0; i < tg_params_count(params); i++) {
        tg_tensor *p = tg_params_at(params, i);
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
        worst_grad = fmax(worst_grad, r);
        ck_assert_msg(r <= 1e-3, "gradient of %s: relative error %.3g > 1e-3", p->name, r);
        free(want);
    }
    printf("%s: gradients worst relative (L2) error %.3g\n", what, worst_grad);
}

/* Logits within 1e-4 (absolute), loss 1e-5 relative, every parameter
 * gradient 1e-3 relative (L2) of the PyTorch reference. */
START_TEST(matches_pytorch_reference)
{
    g2_model *m = fixture_model("model.safetensors");
    ck_assert_int_eq(notes, 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/fixtures/gpt2_tiny/golden.safetensors", tu_source_dir());
    st_file *f;
    ck_assert_msg(st_open(path, &f) == TG_OK, "%s", tg_last_error());
    const st_info *ii = st_find(f, "input_ids");
    int B = (int)ii->shape[0], T = (int)ii->shape[1];
    int32_t *ids, *attn, *labels;
    ck_assert_int_eq(st_load_i32(f, "input_ids", &ids, NULL), TG_OK);
    ck_assert_int_eq(st_load_i32(f, "attention_mask", &attn, NULL), TG_OK);
    ck_assert_int_eq(st_load_i32(f, "labels", &labels, NULL), TG_OK);
    g2_graph gr;
    ck_assert_msg(g2_build(m, B, T, G2_LOSS, NULL, &gr) == TG_OK, "%s", tg_last_error());
    g2_set_batch(&gr, ids, attn, labels);
    ck_assert_int_eq(tg_forward(gr.g), TG_OK);
    tg_params_zero_grad(m->params);
    ck_assert_int_eq(tg_backward(gr.g, gr.loss, NULL), TG_OK);
    check_against(f, &gr, m->params, "gpt2_tiny");
    g2_graph_free(&gr);
    st_close(f);
    free(ids);
    free(attn);
    free(labels);
    g2_model_free(m);
}
END_TEST

/* add_cross_attention (GPT2Block: attn, ln_cross_attn + crossattention
 * over encoder states with their padding mask, mlp) against the PyTorch
 * reference (fixture gpt2_cross_tiny); the config keys round-trip, the
 * parameter count includes the cross-attention, and g2_build refuses the
 * model (it needs the encoder states of g2_build_cross). */
START_TEST(cross_attention_matches_pytorch_reference)
{
    g2_model *m = fixture_model_in("gpt2_cross_tiny", "model.safetensors");
    ck_assert_int_eq(notes, 0);
    ck_assert_int_eq(m->cfg.add_cross_attention, 1);
    int64_t count = 0;
    for (int i = 0; i < tg_params_count(m->params); i++)
        count += (int64_t)tg_params_at(m->params, i)->numel;
    ck_assert_int_eq(count, g2_config_param_count(&m->cfg));
    ck_assert_int_eq(count, 16056 + 2 * (2 * 24 + 24 * 24 + 24 + 24 * 48 + 48 + 24 * 24 + 24));
    char *json;
    ck_assert_int_eq(g2_config_to_json(&m->cfg, &json), TG_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"add_cross_attention\": true"));
    ck_assert_ptr_nonnull(strstr(json, "\"is_decoder\": true"));
    tg_free(json);
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/fixtures/gpt2_cross_tiny/golden.safetensors",
             tu_source_dir());
    st_file *f;
    ck_assert_msg(st_open(path, &f) == TG_OK, "%s", tg_last_error());
    const st_info *ii = st_find(f, "input_ids"), *ei = st_find(f, "encoder_hidden_states");
    int B = (int)ii->shape[0], T = (int)ii->shape[1], S = (int)ei->shape[1];
    int32_t *ids, *attn, *labels, *emask;
    ck_assert_int_eq(st_load_i32(f, "input_ids", &ids, NULL), TG_OK);
    ck_assert_int_eq(st_load_i32(f, "attention_mask", &attn, NULL), TG_OK);
    ck_assert_int_eq(st_load_i32(f, "labels", &labels, NULL), TG_OK);
    ck_assert_int_eq(st_load_i32(f, "encoder_attention_mask", &emask, NULL), TG_OK);
    size_t n;
    float *enc = fixture_f32(f, "encoder_hidden_states", &n);
    g2_graph gr;
    ck_assert_int_ne(g2_build(m, B, T, G2_LOSS, NULL, &gr), TG_OK);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "g2_build_cross"));
    ck_assert_msg(g2_build_cross(m, B, T, S, G2_LOSS, NULL, &gr) == TG_OK, "%s", tg_last_error());
    g2_set_batch(&gr, ids, attn, labels);
    g2_set_encoder(&gr, enc, emask);
    ck_assert_int_eq(tg_forward(gr.g), TG_OK);
    tg_params_zero_grad(m->params);
    ck_assert_int_eq(tg_backward(gr.g, gr.loss, NULL), TG_OK);
    check_against(f, &gr, m->params, "gpt2_cross_tiny");
    /* the encoder mask matters: without it the logits move */
    float *before = malloc(gr.logits->numel * sizeof(float));
    memcpy(before, gr.logits->data, gr.logits->numel * sizeof(float));
    g2_set_encoder(&gr, enc, NULL);
    ck_assert_int_eq(tg_forward(gr.g), TG_OK);
    double moved = 0;
    for (size_t i = 0; i < gr.logits->numel; i++)
        moved = fmax(moved, fabs(before[i] - tg_f32(gr.logits)[i]));
    ck_assert_msg(moved > 1e-3, "encoder mask ignored (logits move %.3g)", moved);
    free(before);
    g2_graph_free(&gr);
    st_close(f);
    free(ids);
    free(attn);
    free(labels);
    free(emask);
    free(enc);
    g2_model_free(m);
}
END_TEST

/* Older exports carry lm_head.weight and the causal-mask buffers: each is
 * skipped with a note, the weights are the same. */
START_TEST(loads_transformers_variants)
{
    g2_model *a = fixture_model("model.safetensors");
    g2_model *b = fixture_model("model_legacy.safetensors");
    ck_assert_int_eq(notes, 1 + 2 * 2); /* lm_head + 2 layers x (bias, masked_bias) */
    ck_assert_int_eq(memcmp(tg_params_values(a->params), tg_params_values(b->params),
                            tg_params_numel(a->params) * sizeof(float)), 0);
    g2_model_free(a);
    g2_model_free(b);
}
END_TEST

/* The causal mask: logits at t do not depend on tokens after t, and a
 * padded row's real positions equal the row alone. */
START_TEST(causal_and_padding)
{
    g2_model *m = fixture_model("model.safetensors");
    int32_t ids[2 * 6] = {2, 7, 9, 11, 3, 0, 2, 7, 9, 20, 21, 3};
    int32_t attn[2 * 6] = {1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1};
    g2_graph gr, one;
    ck_assert_int_eq(g2_build(m, 2, 6, G2_LOGITS, NULL, &gr), TG_OK);
    g2_set_batch(&gr, ids, attn, NULL);
    ck_assert_int_eq(tg_forward(gr.g), TG_OK);
    const float *L = tg_f32(gr.logits);
    int V = m->cfg.vocab_size;
    for (int t = 0; t < 3; t++) /* rows agree up to their first difference (t = 3) */
        for (int v = 0; v < V; v++)
            ck_assert_float_eq_tol(L[t * V + v], L[(6 + t) * V + v], 1e-6);
    ck_assert_float_ne(L[3 * V], L[(6 + 3) * V]);
    ck_assert_int_eq(g2_build(m, 1, 5, G2_LOGITS, NULL, &one), TG_OK);
    g2_set_batch(&one, ids, NULL, NULL);
    ck_assert_int_eq(tg_forward(one.g), TG_OK);
    for (int i = 0; i < 5 * V; i++)
        ck_assert_float_eq_tol(tg_f32(one.logits)[i], L[i], 1e-6);
    g2_graph_free(&one);
    g2_graph_free(&gr);
    ck_assert_int_ne(g2_build(m, 1, 41, G2_LOGITS, NULL, &gr), TG_OK);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "length must be 1..40"));
    g2_model_free(m);
}
END_TEST

int main(void)
{
    tg_set_threads(2);
    Suite *s = suite_create("gpt2");
    TCase *tc = tcase_create("gpt2");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, shipped_configs_have_the_stated_sizes);
    tcase_add_test(tc, config_json_round_trip);
    tcase_add_test(tc, config_rejects_what_is_not_implemented);
    tcase_add_test(tc, init_follows_hugging_face);
    tcase_add_test(tc, save_load_round_trip_is_bit_exact);
    tcase_add_test(tc, matches_pytorch_reference);
    tcase_add_test(tc, cross_attention_matches_pytorch_reference);
    tcase_add_test(tc, loads_transformers_variants);
    tcase_add_test(tc, causal_and_padding);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
