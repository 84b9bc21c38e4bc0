/* RoBERTa-for-MLM: parameter counts of the shipped configs, Hugging Face
 * initialisation, checkpoint round trip and errors, and the golden test
 * against the independent PyTorch reference (tests/reference/). */
#include "roberta.h"
#include "safetensors.h"
#include "testutil.h"
#include "tokenizer.h"

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
    free(dir);
}
END_TEST

/* Reads a fixture tensor as float32. */
static float *fixture_f32(st_file *f, const char *name, size_t *n)
{
    float *x;
    ck_assert_msg(st_load_f32(f, name, &x, n) == TG_OK, "%s", tg_last_error());
    return x;
}

/* Loads a fixture directory's config (dropout off) and model.safetensors. */
static rb_model *fixture_model(const char *fixture, rb_config *c)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/fixtures/%s/config.json", tu_source_dir(), fixture);
    ck_assert_msg(rb_config_load(path, c) == TG_OK, "%s", tg_last_error());
    c->hidden_dropout_prob = c->attention_probs_dropout_prob = 0;
    rb_model *m;
    ck_assert_int_eq(rb_model_new(c, &m), TG_OK);
    snprintf(path, sizeof path, "%s/tests/fixtures/%s/model.safetensors", tu_source_dir(), fixture);
    ck_assert_msg(rb_model_load(m, path, NULL) == TG_OK, "%s", tg_last_error());
    return m;
}

static st_file *fixture_golden(const char *fixture)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/fixtures/%s/golden.safetensors", tu_source_dir(), fixture);
    st_file *f;
    ck_assert_msg(st_open(path, &f) == TG_OK, "%s", tg_last_error());
    return f;
}

/* Max abs difference between x[0..n) and the fixture tensor `name`. */
static double max_abs_diff(st_file *f, const char *name, const float *x, size_t n)
{
    size_t m;
    float *want = fixture_f32(f, name, &m);
    ck_assert_uint_eq(m, n);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(x[i] - want[i]));
    free(want);
    return worst;
}

/* The golden test: same weights and batch (input_ids, attention_mask,
 * labels) as tests/reference/make_golden.py, which builds the model from
 * torch.nn primitives: logits within 1e-4, loss relative 1e-5, every
 * parameter gradient relative (L2) 1e-3. Returns the graph (for more
 * checks; caller frees it and m). */
static rb_graph golden_check(rb_model *m, st_file *f, const char *fixture)
{
    const st_info *ii = st_find(f, "input_ids");
    ck_assert_ptr_nonnull(ii);
    int B = (int)ii->shape[0], T = (int)ii->shape[1];
    int32_t *ids, *attn, *labels;
    ck_assert_int_eq(st_load_i32(f, "input_ids", &ids, NULL), TG_OK);
    ck_assert_int_eq(st_load_i32(f, "attention_mask", &attn, NULL), TG_OK);
    ck_assert_int_eq(st_load_i32(f, "labels", &labels, NULL), TG_OK);
    rb_graph gr;
    ck_assert_msg(rb_build(m, B, T, RB_LOSS, &gr) == TG_OK, "%s", tg_last_error());
    rb_set_batch(&gr, ids, attn, labels);
    ck_assert_int_eq(tg_forward(gr.g), TG_OK);
    tg_params_zero_grad(m->params);
    ck_assert_int_eq(tg_backward(gr.g, gr.loss, NULL), TG_OK);

    double worst = max_abs_diff(f, "logits", tg_f32(gr.logits), gr.logits->numel);
    printf("%s: logits max abs error %.3g\n", fixture, worst);
    ck_assert_msg(worst <= 1e-4, "%s: logits: max abs error %.3g > 1e-4", fixture, worst);
    size_t n;
    float *want = fixture_f32(f, "loss", &n);
    double rel = fabs(tg_f32(gr.loss)[0] - want[0]) / fabs(want[0]);
    printf("%s: loss %.8g vs %.8g (relative %.3g)\n", fixture, tg_f32(gr.loss)[0], want[0], rel);
    ck_assert_msg(rel <= 1e-5, "%s: loss %.8g vs %.8g: relative error %.3g > 1e-5", fixture,
                  tg_f32(gr.loss)[0], want[0], rel);
    free(want);
    double worst_grad = 0;
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
        if (!key_bias)
            worst_grad = fmax(worst_grad, r);
        ck_assert_msg(key_bias ? sqrt(num) <= 1e-6 : r <= 1e-3,
                      "%s: gradient of %s: relative error %.3g > 1e-3 (abs %.3g)", fixture,
                      p->name, r, sqrt(num));
        free(want);
    }
    printf("%s: gradients worst relative (L2) error %.3g\n", fixture, worst_grad);
    free(ids);
    free(attn);
    free(labels);
    return gr;
}

START_TEST(matches_pytorch_reference)
{
    rb_config c;
    rb_model *m = fixture_model("roberta_tiny", &c);
    st_file *f = fixture_golden("roberta_tiny");
    rb_graph gr = golden_check(m, f, "roberta_tiny");
    st_close(f);
    rb_graph_free(&gr);
    rb_model_free(m);
}
END_TEST

/* The reference's config4.json layout: pad_token_id 1 ([UNK] in the
 * tokenizer), bos 0, eos 2, extra keys max_seq_length and max_length; it
 * loads, and a fresh model zeroes row 1 (padding_idx), not the [PAD] row. */
START_TEST(config4_layout_loads)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/fixtures/roberta_pad1/config.json", tu_source_dir());
    rb_config c;
    ck_assert_msg(rb_config_load(path, &c) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(c.pad_token_id, 1);
    ck_assert_int_eq(c.bos_token_id, 0);
    ck_assert_int_eq(c.eos_token_id, 2);
    ck_assert_int_eq(c.max_position_embeddings, 66);
    ck_assert_int_eq(c.type_vocab_size, 1);
    ck_assert_double_eq(c.layer_norm_eps, 1e-5);
    ck_assert_double_eq(c.hidden_dropout_prob, 0.1);
    ck_assert_str_eq(c.architectures[0], "RobertaForMaskedLM"); /* the default: key absent */
    /* the extra keys load, and are named in a note */
    ck_assert_str_eq(c.ignored, "max_seq_length, max_length");
    char buf[512];
    ck_assert_str_eq(rb_config_ignored_note(&c, "config4.json", buf, sizeof buf),
                     "config4.json: keys not used by RobertaForMaskedLM, ignored: max_seq_length, "
                     "max_length");
    rb_config d;
    snprintf(path, sizeof path, "%s/configs/heavy_small.json", tu_source_dir());
    ck_assert_int_eq(rb_config_load(path, &d), TG_OK);
    ck_assert_ptr_null(rb_config_ignored_note(&d, NULL, buf, sizeof buf));
    rb_model *m;
    ck_assert_int_eq(rb_model_new(&c, &m), TG_OK);
    rb_model_init(m, 5);
    int H = c.hidden_size;
    double row0 = 0;
    for (int i = 0; i < H; i++) {
        ck_assert_float_eq(tg_f32(m->word)[1 * H + i], 0.0f);
        ck_assert_float_eq(tg_f32(m->pos)[1 * H + i], 0.0f);
        row0 += fabs(tg_f32(m->word)[i]) + fabs(tg_f32(m->pos)[i]);
    }
    ck_assert(row0 > 0);
    /* the longest input: positions run to pad_token_id + T <= 65 */
    rb_graph gr;
    ck_assert_int_ne(rb_build(m, 1, 65, RB_HIDDEN, &gr), TG_OK);
    ck_assert_int_eq(rb_build(m, 1, 64, RB_HIDDEN, &gr), TG_OK);
    rb_graph_free(&gr);
    rb_model_free(m);
}
END_TEST

/* Many unknown keys: the list is cut with "..." inside its buffer. */
START_TEST(ignored_keys_list_is_bounded)
{
    char *dir = tu_tmpdir(), path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"vocab_size\": 25, \"pad_token_id\": 0");
    for (int i = 0; i < 40; i++)
        fprintf(f, ", \"unused_key_number_%02d\": %d", i, i);
    fprintf(f, "}\n");
    fclose(f);
    rb_config c;
    ck_assert_msg(rb_config_load(path, &c) == TG_OK, "%s", tg_last_error());
    size_t n = strlen(c.ignored);
    ck_assert_uint_lt(n, sizeof c.ignored);
    ck_assert_str_eq(c.ignored + n - 5, ", ...");
    ck_assert_int_eq(strncmp(c.ignored, "unused_key_number_00, unused_key_number_01, ", 44), 0);
    free(dir);
}
END_TEST

/* pad_token_id 1 as transformers runs it: position ids from id 1 (an [UNK]
 * residue takes position 1 and does not advance the count; [PAD] 0, also
 * as a random MLM replacement inside a sequence, advances it), attention
 * mask from the batch's padding, padding_idx rows without gradient. The
 * same logits, loss and gradients as torch, and the unmasked batch's
 * logits and hidden states. */
START_TEST(matches_pytorch_reference_pad_token_id_1)
{
    rb_config c;
    rb_model *m = fixture_model("roberta_pad1", &c);
    st_file *f = fixture_golden("roberta_pad1");
    rb_graph gr = golden_check(m, f, "roberta_pad1");
    int B = gr.batch, T = gr.seq_len, H = c.hidden_size;
    int32_t *pos;
    size_t n;
    ck_assert_int_eq(st_load_i32(f, "position_ids", &pos, &n), TG_OK);
    ck_assert_uint_eq(n, (size_t)B * T);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(tg_i32(gr.pos_ids)[i] == pos[i], "position %zu: %d, torch %d", i,
                      tg_i32(gr.pos_ids)[i], pos[i]);
    ck_assert_int_eq(pos[1 * T + 1], 1); /* an [UNK] residue: the padding position */
    free(pos);
    for (int i = 0; i < H; i++) /* padding_idx 1 of the position table: no gradient */
        ck_assert_float_eq(m->pos->grad[1 * H + i], 0.0f);
    rb_graph_free(&gr);

    /* the unmasked sequences, through the embeddings-and-encoder graph */
    int32_t *plain, *attn;
    ck_assert_int_eq(st_load_i32(f, "plain_ids", &plain, NULL), TG_OK);
    ck_assert_int_eq(st_load_i32(f, "attention_mask", &attn, NULL), TG_OK);
    ck_assert_int_eq(rb_build(m, B, T, RB_LOGITS, &gr), TG_OK);
    rb_set_batch(&gr, plain, attn, NULL);
    ck_assert_int_eq(tg_forward(gr.g), TG_OK);
    double dl = max_abs_diff(f, "plain_logits", tg_f32(gr.logits), gr.logits->numel);
    double dh = max_abs_diff(f, "plain_hidden", tg_f32(gr.hidden), gr.hidden->numel);
    printf("roberta_pad1: unmasked batch: logits max abs %.3g, hidden max abs %.3g\n", dl, dh);
    ck_assert_msg(dl <= 1e-4 && dh <= 1e-4, "unmasked: logits %.3g, hidden %.3g > 1e-4", dl, dh);
    /* the attention mask decides, not pad_token_id: masking ids == 1 instead
     * (what ablm's training did before) is far from torch */
    int32_t *wrong = malloc((size_t)B * T * sizeof *wrong);
    for (int i = 0; i < B * T; i++)
        wrong[i] = plain[i] != 1;
    rb_set_batch(&gr, plain, wrong, NULL);
    ck_assert_int_eq(tg_forward(gr.g), TG_OK);
    ck_assert(max_abs_diff(f, "plain_logits", tg_f32(gr.logits), gr.logits->numel) > 1e-2);
    free(wrong);
    free(plain);
    free(attn);
    st_close(f);
    rb_graph_free(&gr);
    rb_model_free(m);
}
END_TEST

/* Checkpoints as transformers writes them: F16 and BF16 weights, the tied
 * lm_head.decoder copies present, an extra pooler. Each loads, skipped
 * tensors are noted, and the values match the F32 checkpoint to the
 * precision of their dtype. */
START_TEST(loads_transformers_variants)
{
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/roberta_tiny", tu_source_dir());
    snprintf(path, sizeof path, "%s/config.json", dir);
    rb_config c;
    ck_assert_int_eq(rb_config_load(path, &c), TG_OK);
    rb_model *ref, *m;
    ck_assert_int_eq(rb_model_new(&c, &ref), TG_OK);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ck_assert_int_eq(rb_model_load(ref, path, NULL), TG_OK);
    struct {
        const char *file;
        int notes;
        double rel; /* relative precision of the dtype */
    } v[] = {{"model_f16.safetensors", 0, 1e-3},
             {"model_bf16.safetensors", 0, 8e-3},
             {"model_with_decoder.safetensors", 1, 0},
             {"model_with_pooler.safetensors", 2, 0}}; /* pooler.dense.weight and .bias */
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(rb_model_new(&c, &m), TG_OK);
        snprintf(path, sizeof path, "%s/%s", dir, v[i].file);
        notes = 0;
        ck_assert_msg(rb_model_load(m, path, count_note) == TG_OK, "%s", tg_last_error());
        ck_assert_msg(notes == v[i].notes, "%s: %d notes, want %d", v[i].file, notes, v[i].notes);
        const float *a = tg_params_values(ref->params), *b = tg_params_values(m->params);
        for (size_t j = 0; j < tg_params_numel(ref->params); j++)
            ck_assert_msg(fabs(a[j] - b[j]) <= v[i].rel * fabs(a[j]) + 1e-7, "%s: element %zu: %g vs %g",
                          v[i].file, j, a[j], b[j]);
        rb_model_free(m);
    }
    rb_model_free(ref);
}
END_TEST

/* As in transformers, a model directory whose tokenizer is smaller than
 * the embedding (what `ablm train` accepts and saves) loads; a tokenizer
 * larger than vocab_size is an error naming the directory. */
START_TEST(tokenizer_may_be_smaller_than_vocab)
{
    rb_model *tiny = load_config("heavy_tiny.json");
    int sizes[2] = {32, 20};
    for (int k = 0; k < 2; k++) {
        rb_config c = tiny->cfg;
        c.vocab_size = sizes[k];
        rb_model *m, *back;
        tok_tokenizer *tok, *tback;
        ck_assert_int_eq(rb_model_new(&c, &m), TG_OK);
        rb_model_init(m, 3);
        ck_assert_int_eq(tok_new(&tok), TG_OK);
        char *dir = tu_tmpdir();
        ck_assert_msg(rb_save_pretrained(m, tok, dir) == TG_OK, "%s", tg_last_error());
        int rc = rb_load_pretrained(dir, &back, &tback, NULL);
        if (k == 0) {
            ck_assert_msg(rc == TG_OK, "%s", tg_last_error());
            ck_assert_int_eq(back->cfg.vocab_size, 32);
            ck_assert_int_eq(tok_vocab_size(tback), 25);
            rb_model_free(back);
            tok_free(tback);
        } else {
            ck_assert_int_eq(rc, TG_ERR_FORMAT);
            ck_assert_msg(strstr(tg_last_error(), dir) && strstr(tg_last_error(), "vocab_size 20"),
                          "%s", tg_last_error());
        }
        rb_model_free(m);
        tok_free(tok);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
        free(dir);
    }
    rb_model_free(tiny);
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
    tcase_add_test(tc, config4_layout_loads);
    tcase_add_test(tc, ignored_keys_list_is_bounded);
    tcase_add_test(tc, matches_pytorch_reference_pad_token_id_1);
    tcase_add_test(tc, loads_transformers_variants);
    tcase_add_test(tc, build_rejects_overlong_input);
    tcase_add_test(tc, tokenizer_may_be_smaller_than_vocab);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
