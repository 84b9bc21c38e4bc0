/* RobertaConfig: shipped configs load, parameter counts, transformers-style
 * output, and every invalid value rejected with the file and key named. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"
#include "safetensors.h"
#include "tg.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path_buf[4096];

static const char *src(const char *rel)
{
    const char *s = tu_source_dir();
    snprintf(path_buf, sizeof path_buf, "%s/%s", s ? s : "..", rel);
    return path_buf;
}

START_TEST(shipped_configs_and_param_counts)
{
    rb_config c;
    ck_assert_int_eq(rb_config_load(src("configs/heavy_small.json"), &c), TG_OK);
    ck_assert_int_eq(c.hidden_size, 512);
    ck_assert_int_eq(c.num_hidden_layers, 4);
    ck_assert_int_eq(c.num_attention_heads, 4);
    ck_assert_int_eq(c.intermediate_size, 2048);
    ck_assert_int_eq(c.vocab_size, 25);
    ck_assert_int_eq(c.max_position_embeddings, 514);
    ck_assert_int_eq(c.type_vocab_size, 1);
    ck_assert_int_eq(c.pad_token_id, 0);
    ck_assert_int_eq(c.bos_token_id, 2);
    ck_assert_int_eq(c.eos_token_id, 3);
    ck_assert_double_eq(c.layer_norm_eps, 1e-5);
    ck_assert_double_eq(c.hidden_dropout_prob, 0.1);
    ck_assert_str_eq(c.architectures[0], "RobertaForMaskedLM");
    ck_assert_int_eq(rb_config_param_count(&c), 13150745);

    ck_assert_int_eq(rb_config_load(src("configs/heavy_base.json"), &c), TG_OK);
    ck_assert_int_eq(rb_config_param_count(&c), 86062873);

    ck_assert_int_eq(rb_config_load(src("configs/heavy_tiny.json"), &c), TG_OK);
    ck_assert_int_eq(c.hidden_size, 24);
    ck_assert_int_eq(c.intermediate_size, 40);
    /* embeddings (25 + 66 + 1) * 24 + 48 = 2256; layer 4 * 600 + 48 + 1000 + 984 + 48 =
     * 4480; head 600 + 48 + 25 = 673 */
    ck_assert_int_eq(rb_config_param_count(&c), 2256 + 2 * 4480 + 673);

    /* RobertaConfig() defaults (roberta-base sized, vocab 50265, 512 positions, 2 types). */
    rb_config_default(&c);
    ck_assert_int_eq(rb_config_param_count(&c),
                     (50265 + 512 + 2) * 768 + 2 * 768 + 12 * 7087872 + 768 * 768 + 768 +
                         2 * 768 + 50265);
}
END_TEST

/* What we write is byte-identical to the shipped files (written by Python's
 * json.dumps(indent=2, sort_keys=True) as transformers does) and reloads. */
START_TEST(save_matches_transformers_layout)
{
    const char *names[] = {"configs/heavy_small.json", "configs/heavy_base.json",
                           "configs/heavy_tiny.json"};
    char *dir = tu_tmpdir();
    for (int i = 0; i < 3; i++) {
        rb_config c, back;
        char *want, *got;
        ck_assert_int_eq(rb_config_load(src(names[i]), &c), TG_OK);
        ck_assert_int_eq(st_read_text(src(names[i]), 1 << 16, &want, NULL), TG_OK);
        ck_assert_int_eq(rb_config_to_json(&c, &got), TG_OK);
        ck_assert_str_eq(got, want);
        ck_assert_int_eq(rb_config_save(&c, dir), TG_OK); /* directory -> DIR/config.json */
        ck_assert_int_eq(rb_config_load(dir, &back), TG_OK);
        ck_assert(memcmp(&back, &c, sizeof c) == 0);
        tg_free(want);
        tg_free(got);
    }
    rb_config c;
    rb_config_default(&c);
    c.initializer_range = 0.015625;
    c.layer_norm_eps = 1e-12;
    c.hidden_dropout_prob = 0;
    c.bos_token_id = -1;
    char *got;
    ck_assert_int_eq(rb_config_to_json(&c, &got), TG_OK);
    ck_assert_ptr_nonnull(strstr(got, "\"initializer_range\": 0.015625,"));
    ck_assert_ptr_nonnull(strstr(got, "\"layer_norm_eps\": 1e-12,"));
    ck_assert_ptr_nonnull(strstr(got, "\"hidden_dropout_prob\": 0.0,"));
    ck_assert_ptr_nonnull(strstr(got, "\"bos_token_id\": null,"));
    tg_free(got);
    snprintf(path_buf, sizeof path_buf, "%s/config.json", dir);
    unlink(path_buf);
    rmdir(dir);
    free(dir);
}
END_TEST

/* Writes text to DIR/config.json, loads it, expects TG_ERR_FORMAT whose
 * message names the file and contains needle. */
static void expect_bad(const char *dir, const char *text, const char *needle)
{
    char file[4096];
    snprintf(file, sizeof file, "%s/config.json", dir);
    ck_assert_int_eq(st_atomic_write_buf(file, text, strlen(text)), TG_OK);
    rb_config c;
    rb_config_default(&c);
    c.vocab_size = 7;
    int rc = rb_config_load(file, &c);
    ck_assert_msg(rc == TG_ERR_FORMAT, "%s: rc %d (%s)", needle, rc, tg_last_error());
    ck_assert_msg(strstr(tg_last_error(), file) && strstr(tg_last_error(), needle),
                  "message '%s' lacks '%s'", tg_last_error(), needle);
    ck_assert_int_eq(c.vocab_size, 7); /* untouched on failure */
    unlink(file);
}

START_TEST(invalid_configs_name_the_key)
{
    char *dir = tu_tmpdir();
    expect_bad(dir, "{\"hidden_size\": 512, \"num_attention_heads\": 5}",
               "key \"num_attention_heads\": 5 does not divide hidden_size 512");
    expect_bad(dir, "{\"hidden_size\": 0}", "key \"hidden_size\": must be > 0, got 0");
    expect_bad(dir, "{\"num_hidden_layers\": -1}", "key \"num_hidden_layers\": must be > 0");
    expect_bad(dir, "{\"vocab_size\": \"25\"}", "key \"vocab_size\": expected an integer");
    expect_bad(dir, "{\"hidden_size\": 51.5}", "key \"hidden_size\": expected an integer");
    expect_bad(dir, "{\"hidden_act\": \"relu\"}", "key \"hidden_act\": \"relu\" is not supported");
    expect_bad(dir, "{\"hidden_act\": 3}", "key \"hidden_act\": expected a string");
    expect_bad(dir, "{\"hidden_dropout_prob\": 1.5}", "key \"hidden_dropout_prob\": must be in");
    expect_bad(dir, "{\"layer_norm_eps\": 0}", "key \"layer_norm_eps\"");
    expect_bad(dir, "{\"vocab_size\": 25, \"pad_token_id\": 30}",
               "key \"pad_token_id\": 30 is outside the vocabulary [0, 25)");
    expect_bad(dir, "{\"pad_token_id\": null}", "key \"pad_token_id\": expected an integer");
    expect_bad(dir, "{\"max_position_embeddings\": 2}", "key \"max_position_embeddings\"");
    expect_bad(dir, "{\"model_type\": \"bert\"}", "key \"model_type\": \"bert\" is not supported");
    expect_bad(dir, "{\"position_embedding_type\": \"relative_key\"}",
               "key \"position_embedding_type\"");
    expect_bad(dir, "{\"tie_word_embeddings\": false}", "key \"tie_word_embeddings\"");
    expect_bad(dir, "{\"is_decoder\": true}", "key \"is_decoder\"");
    expect_bad(dir, "{\"architectures\": \"RobertaForMaskedLM\"}", "key \"architectures\"");
    /* a raw newline inside a class name (cJSON takes it; a save would not
     * give it back: found by fuzz/fuzz_model_config), a quote, a tab */
    expect_bad(dir, "{\"architectures\": [\"RobertaForMaskedL  M \n  \"]}",
               "key \"architectures\": entry 0 is not a class name");
    expect_bad(dir, "{\"architectures\": [\"A\", \"B\\\"C\"]}",
               "key \"architectures\": entry 1 is not a class name");
    expect_bad(dir, "{\"architectures\": [\"A\\tB\"]}", "entry 0 is not a class name");
    /* sizes whose parameter count overflowed int64 (found by fuzz/fuzz_config) */
    expect_bad(dir, "{\n   \"hidden_size\": 00539256576\n}\n",
               "x hidden_size 539256576 = 27105731792640 weights in one tensor");
    expect_bad(dir, "{\"vocab_size\": 2000000000}", "key \"vocab_size\": 2000000000 x hidden_size 768");
    expect_bad(dir, "{\"hidden_size\": 32768, \"num_hidden_layers\": 100000}",
               "key \"num_hidden_layers\": 100000 layers");
    expect_bad(dir, "[1, 2]", "not a JSON object");
    expect_bad(dir, "{\n\"hidden_size\": 512,\n\"vocab_size\": }", ":3: malformed JSON");
    /* Unknown keys and null bos/eos are fine. */
    char file[4096];
    snprintf(file, sizeof file, "%s/config.json", dir);
    const char *ok = "{\"vocab_size\": 25, \"pad_token_id\": 0, \"bos_token_id\": null, "
                     "\"whatever\": [1, {\"x\": 2}], \"_name_or_path\": \"x\"}";
    ck_assert_int_eq(st_atomic_write_buf(file, ok, strlen(ok)), TG_OK);
    rb_config c;
    ck_assert_int_eq(rb_config_load(file, &c), TG_OK);
    ck_assert_int_eq(c.bos_token_id, -1);
    ck_assert_int_eq(c.hidden_size, 768); /* default */
    unlink(file);
    ck_assert_int_eq(rb_config_load(file, &c), TG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), file));
    rmdir(dir);
    free(dir);
}
END_TEST

START_TEST(pad_token_trap_warning)
{
    tok_tokenizer *tok;
    ck_assert_int_eq(tok_new(&tok), TG_OK);
    rb_config c;
    ck_assert_int_eq(rb_config_load(src("configs/heavy_small.json"), &c), TG_OK);
    char buf[1024];
    ck_assert_ptr_null(rb_config_pad_warning(&c, tok, buf, sizeof buf));
    c.pad_token_id = 1; /* RoBERTa's default kept by the reference pipeline */
    const char *w = rb_config_pad_warning(&c, tok, buf, sizeof buf);
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_nonnull(strstr(w, "pad_token_id=1 ([UNK] in this tokenizer)"));
    ck_assert_ptr_nonnull(strstr(w, "[UNK] tokens take position 1 and do not advance"));
    ck_assert_ptr_nonnull(strstr(w, "attention mask comes from the tokenizer's [PAD] (0)"));
    tok_free(tok);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, shipped_configs_and_param_counts);
    tcase_add_test(tc, save_matches_transformers_layout);
    tcase_add_test(tc, invalid_configs_name_the_key);
    tcase_add_test(tc, pad_token_trap_warning);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
