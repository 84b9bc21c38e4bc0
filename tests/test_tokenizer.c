/* Residue tokenizer: vocabulary, encode edge cases with counted [UNK] and
 * truncation, decode, and the Hugging Face files round trip / errors. */
#define _POSIX_C_SOURCE 200809L
#include "safetensors.h"
#include "tg.h"
#include "testutil.h"
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static tok_tokenizer *tok;

static void setup(void) { ck_assert_int_eq(tok_new(&tok), TG_OK); }
static void teardown(void) { tok_free(tok); }

/* Encodes s with max_len 64 and truncation; returns the count. */
static int enc(const char *s, int32_t *ids, tok_stats *st)
{
    int n;
    ck_assert_int_eq(tok_encode(tok, s, strlen(s), 64, TOK_TRUNCATE, ids, &n, st), TG_OK);
    return n;
}

START_TEST(vocabulary)
{
    ck_assert_int_eq(tok_vocab_size(tok), 25);
    const char *want[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "A", "C", "D", "E",
                          "F", "G", "H", "I", "K", "L", "M", "N", "P", "Q", "R", "S", "T",
                          "V", "W", "Y"};
    for (int i = 0; i < 25; i++) {
        ck_assert_str_eq(tok_token(tok, i), want[i]);
        ck_assert_int_eq(tok_token_id(tok, want[i]), i);
    }
    ck_assert_ptr_null(tok_token(tok, 25));
    ck_assert_ptr_null(tok_token(tok, -1));
    ck_assert_int_eq(tok_token_id(tok, "X"), -1);
    ck_assert_int_eq(tok_pad_id(tok), 0);
    ck_assert_int_eq(tok_unk_id(tok), 1);
    ck_assert_int_eq(tok_cls_id(tok), 2);
    ck_assert_int_eq(tok_sep_id(tok), 3);
    ck_assert_int_eq(tok_mask_id(tok), 4);
}
END_TEST

START_TEST(encode_edge_cases)
{
    int32_t ids[64];
    tok_stats st = {0};
    ck_assert_int_eq(enc("EVQL", ids, &st), 6);
    int32_t want[] = {2, 8, 22, 18, 14, 3};
    ck_assert(memcmp(ids, want, sizeof want) == 0);
    /* Spaces, tabs, CRLF and lowercase give the same ids. */
    int32_t b[64];
    ck_assert_int_eq(enc(" e V\tq l\r\n", b, &st), 6);
    ck_assert(memcmp(b, want, sizeof want) == 0);
    ck_assert_int_eq(st.lowercase, 3);
    /* Empty line: just [CLS] [SEP], counted. */
    ck_assert_int_eq(enc("", ids, &st), 2);
    ck_assert_int_eq(ids[0], 2);
    ck_assert_int_eq(ids[1], 3);
    ck_assert_int_eq(enc("   ", ids, &st), 2);
    ck_assert_int_eq(st.empty, 2);
    /* Non-standard residues and other characters become counted [UNK]s. */
    ck_assert_int_eq(enc("AXBZ1-", ids, &st), 8);
    int32_t w2[] = {2, 5, 1, 1, 1, 1, 1, 3};
    ck_assert(memcmp(ids, w2, sizeof w2) == 0);
    ck_assert_int_eq(st.unknown, 5);
    ck_assert_int_eq(st.unknown_char['X'], 1);
    ck_assert_int_eq(st.unknown_char['B'], 1);
    ck_assert_int_eq(st.unknown_char['1'], 1);
    ck_assert_int_eq(st.unknown_char['-'], 1);
    ck_assert_int_eq(enc("x u o", ids, &st), 5); /* lowercase non-standard too */
    ck_assert_int_eq(st.unknown_char['X'], 2);
    ck_assert_int_eq(st.unknown_char['U'], 1);
    /* A multi-byte UTF-8 character is one [UNK]. */
    ck_assert_int_eq(enc("A\xc3\xa9" "C", ids, &st), 5);
    ck_assert_int_eq(ids[2], 1);
    ck_assert_int_eq(ids[3], 6);
    ck_assert_int_eq(st.unknown_char[0], 1);
    /* Fill-mask input: "*" and "[MASK]"; a lone "[" is [UNK]. */
    ck_assert_int_eq(enc("A*C[MASK]D[", ids, &st), 8);
    int32_t w3[] = {2, 5, 4, 6, 4, 7, 1, 3};
    ck_assert(memcmp(ids, w3, sizeof w3) == 0);
    ck_assert_int_eq(st.masks, 2);
    ck_assert_int_eq(st.residues, 4 + 4 + 1 + 2 + 3);
    char sum[512];
    tok_stats_summary(&st, sum, sizeof sum);
    ck_assert_ptr_nonnull(strstr(sum, "X:2"));
    ck_assert_ptr_nonnull(strstr(sum, "non-ASCII:1"));
}
END_TEST

START_TEST(over_long_sequences)
{
    int32_t ids[8];
    int n;
    tok_stats st = {0};
    const char *s = "ACDEFGHIK"; /* 9 residues */
    ck_assert_int_eq(tok_encode(tok, s, 6, 8, TOK_REJECT, ids, &n, &st), TG_OK); /* fits */
    ck_assert_int_eq(n, 8);
    ck_assert_int_eq(tok_encode(tok, s, 9, 8, TOK_REJECT, ids, &n, &st), TG_ERR_ARG);
    ck_assert_str_eq(tg_last_error(), "sequence has 9 tokens, more than max_len - 2 = 6");
    ck_assert_int_eq(st.rejected, 1);
    ck_assert_int_eq(st.sequences, 1);
    ck_assert_int_eq(tok_encode(tok, s, 9, 8, TOK_TRUNCATE, ids, &n, &st), TG_OK);
    ck_assert_int_eq(n, 8);
    ck_assert_int_eq(ids[6], 10); /* G: first 6 residues kept */
    ck_assert_int_eq(ids[7], 3);  /* [SEP] kept */
    ck_assert_int_eq(st.truncated, 1);
    ck_assert_int_eq(st.truncated_tokens, 3);
    ck_assert_int_eq(tok_encode(tok, s, 9, 1, TOK_TRUNCATE, ids, &n, &st), TG_ERR_ARG);
}
END_TEST

START_TEST(decode)
{
    int32_t ids[64];
    char buf[128];
    int n = enc("EVQ*LX", ids, NULL);
    ck_assert_int_eq(tok_decode(tok, ids, n, 1, buf, sizeof buf), TG_OK);
    ck_assert_str_eq(buf, "EVQ[MASK]L[UNK]");
    ck_assert_int_eq(tok_decode(tok, ids, n, 0, buf, sizeof buf), TG_OK);
    ck_assert_str_eq(buf, "[CLS]EVQ[MASK]L[UNK][SEP]");
    ck_assert_int_eq(tok_decode(tok, ids, n, 0, buf, 10), TG_ERR_SHAPE);
    int32_t bad[2] = {5, 25};
    ck_assert_int_eq(tok_decode(tok, bad, 2, 0, buf, sizeof buf), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "id 25 is outside"));
}
END_TEST

static void write_text(const char *dir, const char *name, const char *text)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    ck_assert_int_eq(st_atomic_write_buf(p, text, strlen(text)), TG_OK);
}

static void expect_load_error(const char *dir, int code, const char *needle)
{
    tok_tokenizer *t = (tok_tokenizer *)1;
    int rc = tok_load(dir, &t);
    ck_assert_msg(rc == code, "%s: rc %d (%s)", needle, rc, tg_last_error());
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(tg_last_error(), needle), "message '%s' lacks '%s'", tg_last_error(),
                  needle);
}

START_TEST(hf_files_round_trip_and_errors)
{
    char *dir = tu_tmpdir();
    ck_assert_int_eq(tok_save(tok, dir, 513), TG_OK);
    char p[4096], *text;
    snprintf(p, sizeof p, "%s/vocab.txt", dir);
    ck_assert_int_eq(st_read_text(p, 4096, &text, NULL), TG_OK);
    ck_assert(strncmp(text, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nA\nC\n", 34) == 0);
    ck_assert_int_eq(strlen(text), 5 * 6 + 20 * 2 + 1);
    tg_free(text);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    ck_assert_int_eq(st_read_text(p, 4096, &text, NULL), TG_OK);
    ck_assert_ptr_nonnull(strstr(text, "\"tokenizer_class\": \"BertTokenizer\""));
    ck_assert_ptr_nonnull(strstr(text, "\"do_lower_case\": false"));
    ck_assert_ptr_nonnull(strstr(text, "\"model_max_length\": 513"));
    tg_free(text);

    tok_tokenizer *t;
    ck_assert_int_eq(tok_load(dir, &t), TG_OK);
    ck_assert_int_eq(tok_vocab_size(t), 25);
    for (int i = 0; i < 25; i++)
        ck_assert_str_eq(tok_token(t, i), tok_token(tok, i));
    int32_t a[64], b[64];
    int na, nb;
    ck_assert_int_eq(tok_encode(t, "QVQLX*", 6, 64, TOK_REJECT, a, &na, NULL), TG_OK);
    ck_assert_int_eq(tok_encode(tok, "QVQLX*", 6, 64, TOK_REJECT, b, &nb, NULL), TG_OK);
    ck_assert_int_eq(na, nb);
    ck_assert(memcmp(a, b, (size_t)na * 4) == 0);
    tok_free(t);

    /* A vocabulary in another order is honoured (ids come from vocab.txt). */
    write_text(dir, "vocab.txt", "[CLS]\n[SEP]\n[PAD]\n[MASK]\n[UNK]\nY\nA\r\n");
    unlink(strcat(strcpy(p, dir), "/tokenizer.json"));
    ck_assert_int_eq(tok_load(dir, &t), TG_OK);
    ck_assert_int_eq(tok_pad_id(t), 2);
    ck_assert_int_eq(tok_encode(t, "AYC", 3, 64, TOK_REJECT, a, &na, NULL), TG_OK);
    int32_t w[] = {0, 6, 5, 4, 1};
    ck_assert(memcmp(a, w, sizeof w) == 0);
    tok_free(t);

    /* Garbled files. */
    write_text(dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nA\n");
    expect_load_error(dir, TG_ERR_FORMAT, "special token [MASK] missing");
    write_text(dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nA\n\nC\n");
    expect_load_error(dir, TG_ERR_FORMAT, "vocab.txt:7: empty token");
    write_text(dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nA\n##A\n");
    expect_load_error(dir, TG_ERR_FORMAT, "vocab.txt:7: token \"##A\" is neither");
    write_text(dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nA\nA\n");
    expect_load_error(dir, TG_ERR_FORMAT, "vocab.txt:7: duplicate token A");
    ck_assert_int_eq(tok_save(tok, dir, 513), TG_OK);
    write_text(dir, "special_tokens_map.json", "{\"pad_token\": \"<pad>\"}");
    expect_load_error(dir, TG_ERR_FORMAT, "special_tokens_map.json: \"pad_token\" is \"<pad>\"");
    write_text(dir, "special_tokens_map.json",
               "{\"mask_token\": {\"content\": \"[MASK]\", \"lstrip\": true}}");
    ck_assert_int_eq(tok_load(dir, &t), TG_OK); /* newer transformers' object form */
    tok_free(t);
    write_text(dir, "tokenizer_config.json", "{\"do_lower_case\": true}");
    expect_load_error(dir, TG_ERR_FORMAT, "do_lower_case is true");
    write_text(dir, "tokenizer_config.json", "{\"tokenizer_class\": \"RobertaTokenizer\"}");
    expect_load_error(dir, TG_ERR_FORMAT, "tokenizer_class must be");
    write_text(dir, "tokenizer_config.json", "{\"do_lower_case\": fal");
    expect_load_error(dir, TG_ERR_FORMAT, "tokenizer_config.json: not a JSON object");
    ck_assert_int_eq(tok_save(tok, dir, 513), TG_OK);
    write_text(dir, "added_tokens.json", "{\"[MASK]\": 7}");
    expect_load_error(dir, TG_ERR_FORMAT, "added_tokens.json: \"[MASK]\"");
    ck_assert_int_eq(tok_save(tok, dir, 513), TG_OK);
    write_text(dir, "tokenizer.json", "{\"model\": {\"vocab\": {\"[PAD]\": 1}}}");
    expect_load_error(dir, TG_ERR_FORMAT, "tokenizer.json: token \"[PAD]\" does not match");
    ck_assert_int_eq(tok_save(tok, dir, 513), TG_OK);
    const char *files[] = {"tokenizer.json", "added_tokens.json", "special_tokens_map.json",
                           "tokenizer_config.json", "vocab.txt"};
    snprintf(p, sizeof p, "%s/special_tokens_map.json", dir);
    unlink(p);
    expect_load_error(dir, TG_ERR_IO, "special_tokens_map.json: missing");
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    expect_load_error(dir, TG_ERR_IO, "vocab.txt: missing");
    rmdir(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("tokenizer");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, vocabulary);
    tcase_add_test(tc, encode_edge_cases);
    tcase_add_test(tc, over_long_sequences);
    tcase_add_test(tc, decode);
    tcase_add_test(tc, hf_files_round_trip_and_errors);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
