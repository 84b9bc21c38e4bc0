/* The encoder-decoder (models/encdec): the golden test against the
 * independent PyTorch reference (tests/reference/make_encdec_golden.py: a
 * padded batch of sources and targets, enc_to_dec_proj, adapters), the
 * exact trainable sets of --adapters and --freeze_encoder, config.json
 * round trip and rejections, save/load round trip, building from a
 * RoBERTa and a GPT-2 directory, and cached generation steps equal to the
 * teacher-forced logits. */
#include "encdec.h"
#include "gen_encdec.h"
#include "safetensors.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fixture[4200];

static const char *fixture_path(const char *file)
{
    snprintf(fixture, sizeof fixture, "%s/tests/fixtures/encdec_tiny/%s", tu_source_dir(), file);
    return fixture;
}

static int notes;
static char all_notes[8192];
static void count_note(const char *msg)
{
    notes++;
    size_t n = strlen(all_notes);
    snprintf(all_notes + n, sizeof all_notes - n, "%s\n", msg);
}

static ed_model *fixture_model(int freeze, int adapters)
{
    ed_config c;
    ck_assert_msg(ed_config_load(fixture_path("config.json"), &c) == TG_OK, "%s", tg_last_error());
    if (!adapters)
        c.adapters = 0;
    ed_model *m;
    ck_assert_msg(ed_model_new(&c, freeze, &m) == TG_OK, "%s", tg_last_error());
    return m;
}

static float *load_f32(st_file *f, const char *name, size_t *n)
{
    float *x;
    ck_assert_msg(st_load_f32(f, name, &x, n) == TG_OK, "%s", tg_last_error());
    return x;
}

static int32_t *load_i32(st_file *f, const char *name)
{
    int32_t *x;
    ck_assert_msg(st_load_i32(f, name, &x, NULL) == TG_OK, "%s", tg_last_error());
    return x;
}

/* Relative L2 error of the gradient of every tensor of p against f. */
static double check_grads(st_file *f, tg_params *p)
{
    double worst = 0;
    for (int i = 0; i < tg_params_count(p); i++) {
        tg_tensor *t = tg_params_at(p, i);
        char name[256];
        snprintf(name, sizeof name, "grad.%s", t->name);
        size_t n;
        float *want = load_f32(f, name, &n);
        ck_assert_uint_eq(n, t->numel);
        ck_assert_ptr_nonnull(t->grad);
        double num = 0, den = 0;
        for (size_t j = 0; j < n; j++) {
            num += (t->grad[j] - want[j]) * (double)(t->grad[j] - want[j]);
            den += (double)want[j] * want[j];
        }
        double r = sqrt(num) / fmax(sqrt(den), 1e-12);
        /* the attention key bias has zero gradient in exact arithmetic
         * (softmax is shift invariant): there the error must be tiny in
         * absolute terms instead */
        int key_bias = strstr(t->name, "attention.self.key.bias") != NULL;
        ck_assert_msg(key_bias ? sqrt(num) <= 1e-6 : r <= 1e-3,
                      "gradient of %s: relative error %.3g > 1e-3 (abs %.3g)", t->name, r, sqrt(num));
        if (!key_bias)
            worst = fmax(worst, r);
        free(want);
    }
    return worst;
}

/* Logits within 1e-4 (absolute), loss 1e-5 relative, every gradient 1e-3
 * relative (L2) of the reference; the decoder inputs are the reference's
 * shift of the labels. */
START_TEST(matches_pytorch_reference)
{
    ed_model *m = fixture_model(ED_TRAIN_ALL, 1);
    notes = 0;
    ck_assert_msg(ed_model_load(m, fixture_path("model.safetensors"), count_note) == TG_OK, "%s",
                  tg_last_error());
    ck_assert_int_eq(notes, 0);
    ck_assert_int_eq(tg_params_count(m->frozen), 0);
    ck_assert_ptr_nonnull(m->proj_w);
    st_file *f;
    ck_assert_msg(st_open(fixture_path("golden.safetensors"), &f) == TG_OK, "%s", tg_last_error());
    const st_info *si = st_find(f, "input_ids"), *li = st_find(f, "labels");
    int B = (int)si->shape[0], S = (int)si->shape[1], T = (int)li->shape[1];
    int32_t *ids = load_i32(f, "input_ids"), *mask = load_i32(f, "attention_mask");
    int32_t *labels = load_i32(f, "labels"), *dec = load_i32(f, "decoder_input_ids");
    ed_graph gr;
    ck_assert_msg(ed_build(m, B, S, T, ED_LOSS, NULL, &gr) == TG_OK, "%s", tg_last_error());
    ed_set_batch(&gr, ids, mask, labels);
    ck_assert_int_eq(memcmp(gr.ids->data, dec, (size_t)B * T * sizeof(int32_t)), 0);
    ck_assert_int_eq(tg_forward(gr.g), TG_OK);
    tg_params_zero_grad(m->train);
    ck_assert_int_eq(tg_backward(gr.g, gr.loss, NULL), TG_OK);
    size_t n;
    float *want = load_f32(f, "logits", &n);
    ck_assert_uint_eq(n, gr.logits->numel);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs(tg_f32(gr.logits)[i] - want[i]));
    free(want);
    printf("encdec_tiny: logits max abs error %.3g\n", worst);
    ck_assert_msg(worst <= 1e-4, "logits: max abs error %.3g > 1e-4", worst);
    want = load_f32(f, "loss", &n);
    double rel = fabs(tg_f32(gr.loss)[0] - want[0]) / fabs(want[0]);
    printf("encdec_tiny: loss %.8g vs %.8g (relative %.3g)\n", tg_f32(gr.loss)[0], want[0], rel);
    ck_assert_msg(rel <= 1e-5, "loss relative error %.3g > 1e-5", rel);
    free(want);
    printf("encdec_tiny: gradients worst relative (L2) error %.3g\n", check_grads(f, m->train));
    ed_graph_free(&gr);
    st_close(f);
    free(ids);
    free(mask);
    free(labels);
    free(dec);
    ed_model_free(m);
}
END_TEST

/* A tensor new to the joined model (trainable under --adapters). */
static int is_new(const char *n)
{
    return strstr(n, ".adapters.heavy2light.") || strstr(n, ".crossattention.") ||
           strstr(n, ".ln_cross_attn.") || !strncmp(n, "enc_to_dec_proj.", 16);
}

/* --adapters: the trainable store holds exactly the adapters, the
 * cross-attention with its LayerNorm and enc_to_dec_proj; everything else
 * is frozen (no gradient). --freeze_encoder: exactly encoder.* frozen.
 * The gradients of a frozen model equal the full model's on the
 * trainable tensors. */
START_TEST(trainable_sets_are_exact)
{
    struct {
        int freeze, adapters;
        int n_train; /* expected trainable tensors */
    } v[] = {{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {1, 1, 0}};
    int L = 2;
    /* decoder: wte, wpe, 2 x (12 base + 8 cross), ln_f 2 = 44; proj 2;
     * encoder: 5 + 2 x 16 = 37; adapters 4 per site, 2 sites per layer */
    v[0].n_train = 44 + 2 + 37;
    v[1].n_train = 44 + 2;
    v[2].n_train = L * 8 + 2 + 2 * L * 2 * 4;
    v[3].n_train = L * 8 + 2 + L * 2 * 4;
    for (int k = 0; k < 4; k++) {
        ed_model *m = fixture_model(v[k].freeze, v[k].adapters);
        ck_assert_int_eq(tg_params_count(m->train), v[k].n_train);
        for (int i = 0; i < tg_params_count(m->train); i++) {
            const char *n = tg_params_at(m->train, i)->name;
            int enc = !strncmp(n, "encoder.", 8);
            ck_assert_msg(!(v[k].freeze && enc), "%s trainable with freeze_encoder", n);
            ck_assert_msg(!v[k].adapters || is_new(n), "%s trainable with adapters", n);
            ck_assert(ed_is_trainable(m, n));
        }
        for (int i = 0; i < tg_params_count(m->frozen); i++) {
            tg_tensor *t = tg_params_at(m->frozen, i);
            int enc = !strncmp(t->name, "encoder.", 8);
            ck_assert_msg((v[k].freeze && enc) || (v[k].adapters && !is_new(t->name)),
                          "%s frozen", t->name);
            ck_assert_ptr_null(t->grad);
            ck_assert(!ed_is_trainable(m, t->name));
        }
        ed_model_free(m);
    }
    /* gradients: the frozen model's trainable tensors get the full model's */
    ed_model *full = fixture_model(0, 1), *part = fixture_model(1, 1);
    ck_assert_int_eq(ed_model_load(full, fixture_path("model.safetensors"), NULL), TG_OK);
    ck_assert_int_eq(ed_model_load(part, fixture_path("model.safetensors"), NULL), TG_OK);
    int32_t src[2 * 4] = {2, 7, 8, 3, 2, 9, 3, 0}, smask[8] = {1, 1, 1, 1, 1, 1, 1, 0};
    int32_t lab[2 * 3] = {11, 12, 3, 13, 3, -100};
    ed_graph a, b;
    ck_assert_int_eq(ed_build(full, 2, 4, 3, ED_LOSS, NULL, &a), TG_OK);
    ck_assert_int_eq(ed_build(part, 2, 4, 3, ED_LOSS, NULL, &b), TG_OK);
    ed_set_batch(&a, src, smask, lab);
    ed_set_batch(&b, src, smask, lab);
    tg_params_zero_grad(full->train);
    tg_params_zero_grad(part->train);
    ck_assert_int_eq(tg_forward(a.g), TG_OK);
    ck_assert_int_eq(tg_backward(a.g, a.loss, NULL), TG_OK);
    ck_assert_int_eq(tg_forward(b.g), TG_OK);
    ck_assert_int_eq(tg_backward(b.g, b.loss, NULL), TG_OK);
    ck_assert_float_eq(tg_f32(a.loss)[0], tg_f32(b.loss)[0]);
    for (int i = 0; i < tg_params_count(part->train); i++) {
        tg_tensor *t = tg_params_at(part->train, i), *u = tg_params_find(full->train, t->name);
        ck_assert_ptr_nonnull(u);
        for (size_t j = 0; j < t->numel; j++)
            ck_assert_float_eq_tol(t->grad[j], u->grad[j], 1e-6);
    }
    ed_graph_free(&a);
    ed_graph_free(&b);
    ed_model_free(full);
    ed_model_free(part);
}
END_TEST

/* Fresh adapters (up-projections zero) leave the base model's output
 * unchanged: the same weights with and without adapters give the same
 * logits. */
START_TEST(fresh_adapters_keep_the_base)
{
    ed_model *with = fixture_model(0, 1), *base = fixture_model(0, 0);
    ed_model_init(with, 5);
    for (int s = 0; s < 2; s++) {
        tg_params *p = s ? with->frozen : with->train;
        for (int i = 0; i < tg_params_count(p); i++) {
            tg_tensor *t = tg_params_at(p, i), *u = tg_params_find(base->train, t->name);
            double sum = 0;
            for (size_t j = 0; j < t->numel; j++)
                sum += fabs(tg_f32(t)[j]);
            if (strstr(t->name, "adapter_up"))
                ck_assert_msg(sum == 0, "%s not zero", t->name);
            if (strstr(t->name, "adapter_down.0.weight"))
                ck_assert_msg(sum > 0, "%s zero", t->name);
            if (u)
                memcpy(u->data, t->data, t->numel * sizeof(float));
        }
    }
    int32_t src[4] = {2, 7, 8, 3}, lab[3] = {11, 12, 3};
    ed_graph a, b;
    ck_assert_int_eq(ed_build(with, 1, 4, 3, ED_LOGITS, NULL, &a), TG_OK);
    ck_assert_int_eq(ed_build(base, 1, 4, 3, ED_LOGITS, NULL, &b), TG_OK);
    ed_set_batch(&a, src, NULL, lab);
    ed_set_batch(&b, src, NULL, lab);
    ck_assert_int_eq(tg_forward(a.g), TG_OK);
    ck_assert_int_eq(tg_forward(b.g), TG_OK);
    for (size_t i = 0; i < a.logits->numel; i++)
        ck_assert_float_eq(tg_f32(a.logits)[i], tg_f32(b.logits)[i]);
    ed_graph_free(&a);
    ed_graph_free(&b);
    ed_model_free(with);
    ed_model_free(base);
}
END_TEST

static int load_text(const char *dir, const char *text, ed_config *c)
{
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return ed_config_load(dir, c);
}

/* config.json: what ed_config_to_json writes loads back to the same text;
 * what is not implemented is rejected naming the key. */
START_TEST(config_round_trip_and_rejections)
{
    ed_config c, d;
    ck_assert_int_eq(ed_config_load(fixture_path("config.json"), &c), TG_OK);
    ck_assert_int_eq(c.adapters, 8);
    ck_assert_int_eq(c.decoder_start_token_id, 2);
    ck_assert_int_eq(c.enc.hidden_size, 32);
    ck_assert_int_eq(c.dec.add_cross_attention, 1);
    char *json, *again;
    ck_assert_int_eq(ed_config_to_json(&c, &json), TG_OK);
    char *dir = tu_tmpdir();
    ck_assert_int_eq(load_text(dir, json, &d), TG_OK);
    ck_assert_int_eq(ed_config_to_json(&d, &again), TG_OK);
    ck_assert_str_eq(json, again);
    ck_assert_ptr_nonnull(strstr(json, "\"model_type\": \"encoder-decoder\""));
    ck_assert_ptr_nonnull(strstr(json, "\"is_encoder_decoder\": true"));
    tg_free(again);
    const struct {
        const char *from, *to, *needle;
    } bad[] = {
        {"\"model_type\": \"encoder-decoder\"", "\"model_type\": \"t5\"", "model_type"},
        {"\"is_encoder_decoder\": true", "\"is_encoder_decoder\": false", "is_encoder_decoder"},
        {"\"tie_encoder_decoder\": false", "\"tie_encoder_decoder\": true", "tie_encoder_decoder"},
        {"\"add_cross_attention\": true", "\"add_cross_attention\": false", "add_cross_attention"},
        {"\"non_linearity\": \"relu\"", "\"non_linearity\": \"swish\"", "non_linearity"},
        {"\"reduction_factor\": 8", "\"reduction_factor\": 5", "reduction_factor"},
        {"\"config\": \"double_seq_bn\"", "\"config\": \"pfeiffer\"", "adapters.config"},
        {"\"decoder_start_token_id\": 2", "\"decoder_start_token_id\": 99", "decoder_start_token_id"},
        {"\"encoder\": {", "\"encoderX\": {", "\"encoder\""},
        {"\"is_decoder\": true", "\"is_decoder\": true, \"cross_attention_hidden_size\": 32",
         "cross_attention_hidden_size"},
        {"\"position_embedding_type\": \"absolute\"", "\"position_embedding_type\": \"relative_key\"",
         "encoder"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *p = strstr(json, bad[i].from);
        ck_assert_msg(p != NULL, "%s not in the config", bad[i].from);
        char text[16384];
        snprintf(text, sizeof text, "%.*s%s%s", (int)(p - json), json, bad[i].to,
                 p + strlen(bad[i].from));
        ck_assert_msg(load_text(dir, text, &d) == TG_ERR_FORMAT, "%s accepted", bad[i].to);
        ck_assert_msg(strstr(tg_last_error(), bad[i].needle) && strstr(tg_last_error(), "config.json"),
                      "%s: %s", bad[i].to, tg_last_error());
    }
    /* vocabularies must match */
    c.dec.vocab_size = 30;
    ck_assert_int_ne(ed_config_validate(&c, NULL), TG_OK);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "vocab_size"));
    tg_free(json);
    free(dir);
}
END_TEST

/* save_pretrained + load_pretrained give the same tensors bit for bit
 * (adapters under their names), and a model directory is recognised. */
START_TEST(save_load_round_trip)
{
    ed_model *a = fixture_model(1, 1);
    ck_assert_int_eq(ed_model_load(a, fixture_path("model.safetensors"), NULL), TG_OK);
    tok_tokenizer *tok;
    ck_assert_int_eq(tok_new(&tok), TG_OK);
    char *dir = tu_tmpdir();
    ck_assert_int_eq(ed_save_pretrained(a, tok, dir), TG_OK);
    ck_assert(ed_is_encdec_dir(dir));
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/fixtures/gpt2_tiny", tu_source_dir());
    ck_assert(!ed_is_encdec_dir(path));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_file *f;
    ck_assert_int_eq(st_open(path, &f), TG_OK);
    ck_assert_int_eq(st_count(f), tg_params_count(a->train) + tg_params_count(a->frozen));
    ck_assert_ptr_nonnull(st_find(f, "decoder.transformer.h.1.output_adapters.adapters.heavy2light.adapter_up.weight"));
    ck_assert_ptr_nonnull(st_find(f, "encoder.encoder.layer.0.attention.output.adapters.heavy2light.adapter_down.0.weight"));
    ck_assert_ptr_nonnull(st_find(f, "decoder.transformer.h.0.crossattention.c_attn.weight"));
    ck_assert_ptr_null(st_find(f, "decoder.lm_head.weight"));
    st_close(f);
    ed_model *b;
    tok_tokenizer *tok2;
    notes = 0;
    ck_assert_msg(ed_load_pretrained(dir, 1, &b, &tok2, count_note) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(notes, 0);
    for (int s = 0; s < 2; s++) {
        tg_params *p = s ? a->frozen : a->train, *q = s ? b->frozen : b->train;
        ck_assert_int_eq(tg_params_count(p), tg_params_count(q));
        ck_assert_int_eq(memcmp(tg_params_values(p), tg_params_values(q),
                                tg_params_numel(p) * sizeof(float)), 0);
    }
    ed_model_free(b);
    tok_free(tok2);
    /* a wrong shape names the tensor */
    ed_config c = a->cfg;
    c.dec.n_inner = 40;
    ck_assert_int_eq(ed_model_new(&c, 0, &b), TG_OK);
    ck_assert_int_ne(ed_model_load(b, path, NULL), TG_OK);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "decoder.transformer.h.0.mlp.c_fc.weight"));
    ed_model_free(b);
    ed_model_free(a);
    tok_free(tok);
    free(dir);
}
END_TEST

/* from_encoder_decoder_pretrained: encoder weights from a RoBERTa
 * directory (roberta.* -> encoder.*), decoder weights from a GPT-2
 * directory (-> decoder.*), cross-attention and adapters fresh, the MLM
 * head noted as skipped; mismatched tokenizers rejected. */
START_TEST(from_two_pretrained_dirs)
{
    char path[4200];
    rb_config rc;
    snprintf(path, sizeof path, "%s/configs/heavy_tiny.json", tu_source_dir());
    ck_assert_int_eq(rb_config_load(path, &rc), TG_OK);
    g2_config gc;
    snprintf(path, sizeof path, "%s/configs/light_gpt_tiny.json", tu_source_dir());
    ck_assert_int_eq(g2_config_load(path, &gc), TG_OK);
    rb_model *r;
    g2_model *g;
    ck_assert_int_eq(rb_model_new(&rc, &r), TG_OK);
    ck_assert_int_eq(g2_model_new(&gc, &g), TG_OK);
    rb_model_init(r, 11);
    g2_model_init(g, 12);
    tok_tokenizer *tok;
    ck_assert_int_eq(tok_new(&tok), TG_OK);
    char *heavy = tu_tmpdir(), *light = tu_tmpdir();
    ck_assert_int_eq(rb_save_pretrained(r, tok, heavy), TG_OK);
    ck_assert_int_eq(g2_save_pretrained(g, tok, light), TG_OK);
    ed_model *m;
    tok_tokenizer *mt;
    notes = 0;
    all_notes[0] = 0;
    ed_from_opts o = {.adapters = 8, .seed = 3};
    ck_assert_msg(ed_from_pretrained(heavy, light, &o, &m, &mt, count_note) == TG_OK, "%s",
                  tg_last_error());
    ck_assert_ptr_nonnull(strstr(all_notes, "lm_head.dense.weight"));
    ck_assert_ptr_null(m->proj_w); /* both 24 wide */
    ck_assert_int_eq(m->cfg.decoder_start_token_id, 2);
    ck_assert_int_eq(m->cfg.pad_token_id, 0);
    ck_assert_int_eq(m->cfg.eos_token_id, 3);
    for (int i = 0; i < tg_params_count(r->params); i++) {
        tg_tensor *t = tg_params_at(r->params, i);
        if (strncmp(t->name, "roberta.", 8))
            continue;
        char n[TG_NAME_LEN + 8];
        snprintf(n, sizeof n, "encoder.%s", t->name + 8);
        tg_tensor *u = tg_params_find(m->frozen, n);
        ck_assert_msg(u != NULL, "%s missing", n);
        ck_assert_int_eq(memcmp(t->data, u->data, t->numel * sizeof(float)), 0);
    }
    for (int i = 0; i < tg_params_count(g->params); i++) {
        tg_tensor *t = tg_params_at(g->params, i);
        char n[TG_NAME_LEN + 8];
        snprintf(n, sizeof n, "decoder.%s", t->name);
        tg_tensor *u = tg_params_find(m->frozen, n);
        ck_assert_msg(u != NULL, "%s missing", n);
        ck_assert_int_eq(memcmp(t->data, u->data, t->numel * sizeof(float)), 0);
    }
    /* fresh cross-attention: GPT-2 init (sd 0.02 for c_attn) */
    const tg_tensor *x = m->dec.layers[1].xkv_w;
    double s2 = 0;
    for (size_t j = 0; j < x->numel; j++)
        s2 += (double)tg_f32(x)[j] * tg_f32(x)[j];
    ck_assert_msg(fabs(sqrt(s2 / x->numel) - 0.02) < 0.004, "cross c_attn sd %g", sqrt(s2 / x->numel));
    ck_assert_float_eq(tg_f32(m->dec.layers[1].lnx_w)[0], 1.0f);
    ed_model_free(m);
    tok_free(mt);
    /* another tokenizer in the decoder directory */
    tok_tokenizer *other;
    snprintf(path, sizeof path, "%s/vocab.txt", light);
    char *vocab = tu_read_file(path), *cls = strstr(vocab, "[CLS]"), *sep = strstr(vocab, "[SEP]");
    ck_assert(cls && sep);
    memcpy(cls, "[SEP]", 5); /* the two swapped */
    memcpy(sep, "[CLS]", 5);
    FILE *f = fopen(path, "w");
    fputs(vocab, f);
    fclose(f);
    free(vocab);
    snprintf(path, sizeof path, "%s/tokenizer.json", light);
    unlink(path);
    ck_assert_msg(tok_load(light, &other) == TG_OK, "%s", tg_last_error());
    ck_assert_int_ne(tok_cls_id(other), tok_cls_id(tok));
    tok_free(other);
    ck_assert_int_ne(ed_from_pretrained(heavy, light, &o, &m, &mt, NULL), TG_OK);
    ck_assert_msg(strstr(tg_last_error(), "tokenizers differ"), "%s", tg_last_error());
    ck_assert_ptr_null(m);
    rb_model_free(r);
    g2_model_free(g);
    tok_free(tok);
    free(heavy);
    free(light);
}
END_TEST

/* The step graph: encoder once, cross k | v cached, one token per step;
 * the logits at every position equal the teacher-forced graph's, for a
 * padded batch of sources. */
START_TEST(cached_steps_equal_teacher_forcing)
{
    ed_model *m = fixture_model(0, 1);
    ck_assert_int_eq(ed_model_load(m, fixture_path("model.safetensors"), NULL), TG_OK);
    enum { B = 3, S = 6, T = 5 };
    int32_t src[B * S] = {2, 7, 8, 9, 10, 3, 2, 11, 3, 0, 0, 0, 2, 12, 13, 14, 3, 0};
    int32_t smask[B * S];
    for (int i = 0; i < B * S; i++)
        smask[i] = src[i] != 0;
    int32_t lab[B * T] = {5, 6, 7, 8, 3, 9, 3, -100, -100, -100, 10, 11, 12, 3, -100};
    ed_graph full;
    ck_assert_int_eq(ed_build(m, B, S, T, ED_LOGITS, NULL, &full), TG_OK);
    ed_set_batch(&full, src, smask, lab);
    ck_assert_int_eq(tg_forward(full.g), TG_OK);
    ed_stepper st;
    ck_assert_msg(ed_build_step(m, B, S, T + 2, &st) == TG_OK, "%s", tg_last_error());
    int V = m->cfg.dec.vocab_size;
    double worst = 0;
    for (int round = 0; round < 2; round++) { /* the cache is reusable */
        ck_assert_int_eq(ed_step_begin(&st, src, smask), TG_OK);
        for (int t = 0; t < T; t++) {
            int32_t tok[B];
            for (int b = 0; b < B; b++)
                tok[b] = tg_i32(full.ids)[b * T + t];
            const float *lg;
            ck_assert_int_eq(ed_step(&st, tok, t, &lg), TG_OK);
            for (int b = 0; b < B; b++)
                for (int v = 0; v < V; v++)
                    worst = fmax(worst, fabs(lg[b * V + v] - tg_f32(full.logits)[(b * T + t) * V + v]));
        }
    }
    printf("encdec_tiny: cached step vs teacher-forced logits max abs %.3g\n", worst);
    ck_assert_msg(worst < 1e-5, "step logits differ by %.3g", worst);
    ed_stepper_free(&st);
    ed_graph_free(&full);
    ck_assert_int_ne(ed_build_step(m, B, S, 41, &st), TG_OK);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "1..40"));
    ed_model_free(m);
}
END_TEST

/* Greedy generation through the gen_model adapter (encoder once, cached
 * steps) equals the uncached loop (the whole teacher-forced graph rerun on
 * the tokens so far, argmax of the last position, [MASK] never chosen, eos
 * stops); one beam equals greedy; a reorder that moves rows across sources
 * carries their cross-attention cache along. */
START_TEST(generation_cached_equals_uncached)
{
    ed_model *m = fixture_model(0, 1);
    ck_assert_int_eq(ed_model_load(m, fixture_path("model.safetensors"), NULL), TG_OK);
    enum { N = 3, MAXNEW = 9 };
    static const int32_t s0[] = {2, 7, 8, 9, 10, 3}, s1[] = {2, 11, 3}, s2[] = {2, 12, 13, 14, 3};
    const int32_t *const src[N] = {s0, s1, s2};
    const int slen[N] = {6, 3, 5};
    gen_opts o;
    gen_opts_default(&o, m->cfg.eos_token_id, m->cfg.pad_token_id);
    o.max_new_tokens = MAXNEW;
    gen_result r;
    ck_assert_msg(gen_run_encdec(m, &o, N, src, slen, 2, &r) == TG_OK, "%s", tg_last_error());
    ck_assert_uint_eq(r.n, N);
    int V = m->cfg.dec.vocab_size;
    for (int i = 0; i < N; i++) {
        int32_t lab[MAXNEW + 1];
        int n = 0, eos = 0;
        while (n < MAXNEW && !eos) {
            ed_graph g;
            ck_assert_int_eq(ed_build(m, 1, slen[i], n + 1, ED_LOGITS, NULL, &g), TG_OK);
            lab[n] = 0; /* the last label is not read by the logits */
            ed_set_batch(&g, src[i], NULL, lab);
            ck_assert_int_eq(tg_forward(g.g), TG_OK);
            const float *row = tg_f32(g.logits) + (size_t)n * V;
            int best = -1;
            for (int v = 0; v < V; v++)
                if (v != 4 && (best < 0 || row[v] > row[best]))
                    best = v;
            lab[n++] = best;
            eos = best == m->cfg.eos_token_id;
            ed_graph_free(&g);
        }
        ck_assert_int_eq(r.len[i], n);
        for (int t = 0; t < n; t++)
            ck_assert_msg(r.tok[i][t] == lab[t], "source %d token %d: %d cached, %d uncached", i, t,
                          r.tok[i][t], lab[t]);
        ck_assert_int_eq(r.hit_eos[i], eos);
    }
    /* one beam = greedy */
    gen_result b;
    const int32_t start = m->cfg.decoder_start_token_id, *pre[N] = {&start, &start, &start};
    const int plen[N] = {1, 1, 1};
    gen_model gm;
    ck_assert_int_eq(gen_encdec_new(m, src, slen, N, 2, MAXNEW, &gm), TG_OK);
    ck_assert_msg(gen_run_beams(&gm, &o, N, pre, plen, &b) == TG_OK, "%s", tg_last_error());
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(b.len[i], r.len[i]);
        ck_assert_int_eq(memcmp(b.tok[i], r.tok[i], r.len[i] * sizeof(int32_t)), 0);
    }
    gen_result_free(&b);
    /* rows 0, 1 on sources 0, 2; two steps; swap; the next step's logits
     * are the unswapped run's, swapped */
    ck_assert(r.len[0] >= 2 && r.len[2] >= 2);
    const float *lg;
    int32_t tok[2] = {start, start};
    float want[2][64];
    for (int pass = 0; pass < 2; pass++) {
        ck_assert_int_eq(gm.begin(gm.ctx, (int[]){0, 2}), TG_OK);
        ck_assert_int_eq(gm.step(gm.ctx, tok, 0, &lg), TG_OK);
        int32_t t1[2] = {r.tok[0][0], r.tok[2][0]};
        ck_assert_int_eq(gm.step(gm.ctx, t1, 1, &lg), TG_OK);
        int32_t t2[2] = {r.tok[0][1], r.tok[2][1]};
        if (pass == 1) {
            ck_assert_int_eq(gm.reorder(gm.ctx, (int[]){1, 0}, 2), TG_OK);
            int32_t sw[2] = {t2[1], t2[0]};
            ck_assert_int_eq(gm.step(gm.ctx, sw, 2, &lg), TG_OK);
            for (int v = 0; v < V; v++) {
                ck_assert_float_eq_tol(lg[v], want[1][v], 1e-5);
                ck_assert_float_eq_tol(lg[V + v], want[0][v], 1e-5);
            }
        } else {
            ck_assert_int_eq(gm.step(gm.ctx, t2, 2, &lg), TG_OK);
            memcpy(want[0], lg, V * sizeof(float));
            memcpy(want[1], lg + V, V * sizeof(float));
        }
    }
    gen_encdec_free(&gm);
    gen_result_free(&r);
    ed_model_free(m);
}
END_TEST

int main(void)
{
    tg_set_threads(2);
    Suite *s = suite_create("encdec");
    TCase *tc = tcase_create("encdec");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, matches_pytorch_reference);
    tcase_add_test(tc, trainable_sets_are_exact);
    tcase_add_test(tc, fresh_adapters_keep_the_base);
    tcase_add_test(tc, config_round_trip_and_rejections);
    tcase_add_test(tc, save_load_round_trip);
    tcase_add_test(tc, from_two_pretrained_dirs);
    tcase_add_test(tc, cached_steps_equal_teacher_forcing);
    tcase_add_test(tc, generation_cached_equals_uncached);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
