/* Residue tokenizer: vocabulary, encode edge cases with counted [UNK] and
 * truncation, decode, the Hugging Face files round trip / errors, and the
 * reference's published layout (tests/fixtures/ProteinTokenizer) encoded with
 * transformers' BertTokenizer rules. */
#define _POSIX_C_SOURCE 200809L
#include "fsutil.h"
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
    write_text(dir, "vocab.txt", "[CLS]\n[SEP]\n[PAD]\n[MASK]\n[UNK]\nY\nA\r\nC\nD\nE\nF\nG\n"
                                 "H\nI\nK\nL\nM\nN\nP\nQ\nR\nS\nT\nV\nW\n");
    unlink(strcat(strcpy(p, dir), "/tokenizer.json"));
    ck_assert_int_eq(tok_load(dir, &t), TG_OK);
    ck_assert_int_eq(tok_pad_id(t), 2);
    ck_assert_int_eq(tok_encode(t, "AYB", 3, 64, TOK_REJECT, a, &na, NULL), TG_OK);
    int32_t w[] = {0, 6, 5, 4, 1};
    ck_assert(memcmp(a, w, sizeof w) == 0);
    tok_free(t);
    /* A vocabulary that cannot encode the 20 residues is an error naming the file. */
    write_text(dir, "vocab.txt", "[CLS]\n[SEP]\n[PAD]\n[MASK]\n[UNK]\nY\nA\n");
    expect_load_error(dir, TG_ERR_FORMAT, "vocab.txt: no token for 18 of the 20 residues "
                                          "(CDEFGHIKLMNPQRSTVW) and ");

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
    /* The tokenizer.json ablm wrote before (WhitespaceSplit, BertNormalizer)
     * still loads; one that would split into words does not. */
    char fast[2048];
    size_t k = (size_t)snprintf(fast, sizeof fast, "{\"model\": {\"vocab\": {");
    for (int i = 0; i < 25; i++)
        k += (size_t)snprintf(fast + k, sizeof fast - k, "%s\"%s\": %d", i ? ", " : "",
                              tok_token(tok, i), i);
    snprintf(fast + k, sizeof fast - k, "}}, \"normalizer\": {\"type\": \"BertNormalizer\", "
             "\"clean_text\": true, \"handle_chinese_chars\": true, \"strip_accents\": null, "
             "\"lowercase\": false}, \"pre_tokenizer\": {\"type\": \"Sequence\", "
             "\"pretokenizers\": [{\"type\": \"WhitespaceSplit\"}, {\"type\": \"Split\", "
             "\"pattern\": {\"Regex\": \".\"}, \"behavior\": \"Isolated\", \"invert\": false}]}}");
    ck_assert_int_eq(tok_save(tok, dir, 513), TG_OK);
    write_text(dir, "tokenizer.json", fast);
    ck_assert_msg(tok_load(dir, &t) == TG_OK, "%s", tg_last_error());
    tok_free(t);
    char *ws = strstr(fast, "{\"type\": \"Sequence\", \"pretokenizers\"");
    ck_assert(ws != NULL);
    strcpy(ws, "{\"type\": \"BertPreTokenizer\"}}");
    write_text(dir, "tokenizer.json", fast);
    expect_load_error(dir, TG_ERR_FORMAT, "pre_tokenizer are not the ones ablm writes for this "
                                          "layout (one token per character)");
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

/* ---- the published layout (BertTokenizer, residues as added tokens) ---- */

static void fixture_dir(char *buf, size_t n)
{
    snprintf(buf, n, "%s/tests/fixtures/ProteinTokenizer", tu_source_dir());
}

/* Cases with transformers' ids for the published layout: what
 * BertTokenizer (and the fast tokenizer it converts to) gives: added tokens
 * split out first, then whitespace/punctuation words, each word not in
 * vocab.txt one [UNK]. Ids: [PAD]0 [UNK]1 [CLS]2 [SEP]3 [MASK]4 A5 C6 D7
 * E8 ... K13 L14 M15 ... Q18 ... S20 ... V22. */
static const struct {
    const char *text;
    int n;
    int32_t ids[12];
} bert_cases[] = {
    {"EVQLV", 7, {2, 8, 22, 18, 14, 22, 3}},
    {"E V\tQ L\r\n", 6, {2, 8, 22, 18, 14, 3}},
    {"evql", 3, {2, 1, 3}},                  /* added tokens are case-sensitive: one word */
    {"EVQ l", 6, {2, 8, 22, 18, 1, 3}},
    {"EVXXQL", 7, {2, 8, 22, 1, 18, 14, 3}}, /* "XX" is one word: one [UNK] */
    {"EVxQL", 7, {2, 8, 22, 1, 18, 14, 3}},
    {"A[MASK]C", 5, {2, 5, 4, 6, 3}},
    {"[mask]", 5, {2, 1, 1, 1, 3}},          /* "[" "mask" "]" */
    {"A*C", 5, {2, 5, 1, 6, 3}},             /* "*" is punctuation, not a mask */
    {"AB-CD", 7, {2, 5, 1, 1, 6, 7, 3}},
    {"[MxASK]", 9, {2, 1, 15, 1, 5, 20, 13, 1, 3}},
    {"[MA[MASK]", 6, {2, 1, 15, 5, 4, 3}},
    {"[CLS]A[SEP]", 5, {2, 2, 5, 3, 3}},
    {"xx[MASK]yy", 5, {2, 1, 4, 1, 3}},
    {"x\x01y", 3, {2, 1, 3}},               /* control character removed: one word */
    {"A\x01" "C", 4, {2, 5, 6, 3}},
    {"A\xc2\xa0" "C", 4, {2, 5, 6, 3}},     /* U+00A0 is whitespace */
    {"x\xe2\x80\x94y", 5, {2, 1, 1, 1, 3}}, /* U+2014 is punctuation */
    {"x\xe4\xb8\x80y", 5, {2, 1, 1, 1, 3}}, /* U+4E00 is CJK */
    {"x\xc3\xa9y", 3, {2, 1, 3}},           /* U+00E9 is a word character */
    {"A\xff" "C", 5, {2, 5, 1, 6, 3}},       /* not UTF-8: a word character here */
    {"", 2, {2, 3}},
};

START_TEST(published_layout)
{
    char dir[4096];
    fixture_dir(dir, sizeof dir);
    tok_tokenizer *t;
    ck_assert_msg(tok_load(dir, &t) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(tok_get_layout(t), TOK_LAYOUT_BERT_ADDED);
    ck_assert_int_eq(tok_get_layout(tok), TOK_LAYOUT_ABLM);
    ck_assert_int_eq(tok_vocab_size(t), 25);
    for (int i = 0; i < 25; i++)
        ck_assert_str_eq(tok_token(t, i), tok_token(tok, i));
    ck_assert_int_eq(tok_mask_id(t), 4);
    tok_stats st = {0};
    int32_t ids[64];
    int n;
    for (size_t c = 0; c < sizeof bert_cases / sizeof bert_cases[0]; c++) {
        const char *s = bert_cases[c].text;
        ck_assert_int_eq(tok_encode(t, s, strlen(s), 64, TOK_REJECT, ids, &n, &st), TG_OK);
        ck_assert_msg(n == bert_cases[c].n &&
                          memcmp(ids, bert_cases[c].ids, (size_t)n * sizeof *ids) == 0,
                      "case %zu \"%s\": %d ids", c, s, n);
    }
    /* Every character inside an [UNK] is counted; lowercase residues and
     * removed control characters too. */
    ck_assert_int_eq(st.lowercase, 0);
    /* evql, l, mask, yy, then the y of four "x?y" cases (x is not a residue) */
    ck_assert_int_eq(st.lowercase_unk, 4 + 1 + 4 + 2 + 4);
    ck_assert_int_eq(st.removed, 2);
    ck_assert_int_eq(st.unknown_char['*'], 1);
    ck_assert_int_eq(st.unknown_char['X'], 2 + 1 + 1 + 2 + 4); /* XX, x, [MxASK], xx, four x?y */
    ck_assert_int_eq(st.masks, 3);
    char sum[1024];
    tok_stats_summary(&st, sum, sizeof sum);
    ck_assert_msg(strstr(sum, " [UNK] from ") && strstr(sum, "lowercase residue letters made "
                                                              "[UNK]") &&
                      strstr(sum, "2 control characters removed"), "%s", sum);
    /* Truncation counts tokens as the rules give them. */
    ck_assert_int_eq(tok_encode(t, "EVXXXQL", 7, 7, TOK_REJECT, ids, &n, &st), TG_OK);
    ck_assert_int_eq(tok_encode(t, "EVXXXQLS", 8, 7, TOK_REJECT, ids, &n, &st), TG_ERR_ARG);
    ck_assert_str_eq(tg_last_error(), "sequence has 6 tokens, more than max_len - 2 = 5");
    ck_assert_int_eq(tok_encode(t, "EVXXXQLS", 8, 7, TOK_TRUNCATE, ids, &n, &st), TG_OK);
    int32_t w[] = {2, 8, 22, 1, 18, 14, 3};
    ck_assert(n == 7 && memcmp(ids, w, sizeof w) == 0);
    tok_free(t);
}
END_TEST

static void copy_fixture(const char *to)
{
    char from[4096], p[4200], *text;
    fixture_dir(from, sizeof from);
    const char *files[] = {"vocab.txt", "added_tokens.json", "tokenizer_config.json",
                           "special_tokens_map.json"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", from, files[i]);
        ck_assert_int_eq(st_read_text(p, 1 << 16, &text, NULL), TG_OK);
        write_text(to, files[i], text);
        tg_free(text);
    }
}

/* noinline: inlined, GCC 12 warns a false -Wdangling-pointer on the caller. */
__attribute__((noinline)) static char *read_in(const char *dir, const char *name)
{
    char p[4200], *text = NULL;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    ck_assert_int_eq(st_read_text(p, 1 << 20, &text, NULL), TG_OK);
    return text;
}

START_TEST(published_layout_saved_back)
{
    char fx[4096];
    fixture_dir(fx, sizeof fx);
    tok_tokenizer *t, *u;
    ck_assert_int_eq(tok_load(fx, &t), TG_OK);
    char *dir = tu_tmpdir();
    ck_assert_int_eq(tok_save(t, dir, 512), TG_OK);
    /* vocab.txt and added_tokens.json as the reference's, byte for byte. */
    const char *same[] = {"vocab.txt", "added_tokens.json", "special_tokens_map.json"};
    for (int i = 0; i < 3; i++) {
        char *a = read_in(fx, same[i]), *b = read_in(dir, same[i]);
        ck_assert_msg(strcmp(a, b) == 0, "%s differs:\n%s\n%s", same[i], a, b);
        tg_free(a);
        tg_free(b);
    }
    char *cfg = read_in(dir, "tokenizer_config.json");
    ck_assert_ptr_nonnull(strstr(cfg, "\"tokenizer_class\": \"BertTokenizer\""));
    ck_assert_ptr_nonnull(strstr(cfg, "\"do_basic_tokenize\": true"));
    ck_assert_ptr_nonnull(strstr(cfg, "\"model_max_length\": 512"));
    tg_free(cfg);
    char *fast = read_in(dir, "tokenizer.json");
    ck_assert_ptr_nonnull(strstr(fast, "\"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}"));
    ck_assert_ptr_nonnull(strstr(fast, "{\"id\": 5, \"content\": \"A\", \"single_word\": "
                                       "false, \"lstrip\": false, \"rstrip\": false, "
                                       "\"normalized\": true, \"special\": false}"));
    ck_assert_ptr_nonnull(strstr(fast, "\"vocab\": {\"[PAD]\": 0, \"[UNK]\": 1, \"[CLS]\": 2, "
                                       "\"[SEP]\": 3, \"[MASK]\": 4}}"));
    tg_free(fast);
    /* Read back (tokenizer.json checked): same layout, same ids. */
    ck_assert_msg(tok_load(dir, &u) == TG_OK, "%s", tg_last_error());
    ck_assert_int_eq(tok_get_layout(u), TOK_LAYOUT_BERT_ADDED);
    for (size_t c = 0; c < sizeof bert_cases / sizeof bert_cases[0]; c++) {
        const char *s = bert_cases[c].text;
        int32_t a[64], b[64];
        int na, nb;
        ck_assert_int_eq(tok_encode(t, s, strlen(s), 64, TOK_REJECT, a, &na, NULL), TG_OK);
        ck_assert_int_eq(tok_encode(u, s, strlen(s), 64, TOK_REJECT, b, &nb, NULL), TG_OK);
        ck_assert(na == nb && memcmp(a, b, (size_t)na * sizeof *a) == 0);
    }
    tok_free(u);
    tok_free(t);
    ck_assert_int_eq(fs_remove_tree(dir), 0);
    free(dir);
}
END_TEST

START_TEST(published_layout_errors)
{
    char *dir = tu_tmpdir(), p[4096];
    tok_tokenizer *t;
    /* Without added_tokens.json every residue would be [UNK]: an error. */
    copy_fixture(dir);
    snprintf(p, sizeof p, "%s/added_tokens.json", dir);
    unlink(p);
    expect_load_error(dir, TG_ERR_FORMAT, "/vocab.txt: no token for 20 of the 20 residues "
                                          "(ACDEFGHIKLMNPQRSTVWY) and ");
    ck_assert_ptr_nonnull(strstr(tg_last_error(), "added_tokens.json is missing: every such "
                                                  "residue would be [UNK]"));
    static const struct {
        const char *text, *needle;
    } bad[] = {
        {"{}\n", "added_tokens.json adds none"},
        {"{\"A\": 5, \"C\": 7}", "added_tokens.json: no added token has id 6"},
        {"{\"A\": 5, \"C\": 6}", "added_tokens.json: no token for 18 of the 20 residues"},
        {"{\"a\": 5}", "added_tokens.json: added token \"a\" is neither"},
        {"{\"A\": 5.5}", "added_tokens.json: \"A\": id is not"},
        {"{\"[MASK]\": 3}", "\"[MASK]\" is not a vocab.txt token with that id"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(dir, "added_tokens.json", bad[i].text);
        expect_load_error(dir, TG_ERR_FORMAT, bad[i].needle);
    }
    /* A residue left in vocab.txt while the others are added. */
    copy_fixture(dir);
    write_text(dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nW\n");
    write_text(dir, "added_tokens.json",
               "{\"A\": 6, \"C\": 7, \"D\": 8, \"E\": 9, \"F\": 10, \"G\": 11, \"H\": 12, "
               "\"I\": 13, \"K\": 14, \"L\": 15, \"M\": 16, \"N\": 17, \"P\": 18, \"Q\": 19, "
               "\"R\": 20, \"S\": 21, \"T\": 22, \"V\": 23, \"Y\": 24}");
    expect_load_error(dir, TG_ERR_FORMAT, "residues W are vocab.txt tokens");
    /* BertTokenizer settings ablm does not reproduce. */
    copy_fixture(dir);
    write_text(dir, "tokenizer_config.json", "{\"do_basic_tokenize\": false}");
    expect_load_error(dir, TG_ERR_FORMAT, "\"do_basic_tokenize\" is false");
    write_text(dir, "tokenizer_config.json", "{\"strip_accents\": true}");
    expect_load_error(dir, TG_ERR_FORMAT, "\"strip_accents\" is true");
    write_text(dir, "tokenizer_config.json", "{\"never_split\": [\"XX\"]}");
    expect_load_error(dir, TG_ERR_FORMAT, "\"never_split\" is set");
    write_text(dir, "tokenizer_config.json", "{\"added_tokens_decoder\": {\"5\": {\"content\": "
                                             "\"C\"}}}");
    expect_load_error(dir, TG_ERR_FORMAT, "tokenizer_config.json: \"C\" (id 5) clashes");
    write_text(dir, "tokenizer_config.json", "{\"added_tokens_decoder\": {\"5\": {\"content\": "
                                             "\"A\", \"single_word\": true}}}");
    expect_load_error(dir, TG_ERR_FORMAT, "single_word true");
    /* Newer transformers: added_tokens_decoder agreeing with added_tokens.json. */
    write_text(dir, "tokenizer_config.json", "{\"added_tokens_decoder\": {\"0\": {\"content\": "
                                             "\"[PAD]\", \"special\": true}, \"5\": {\"content\": "
                                             "\"A\", \"normalized\": true}}}");
    ck_assert_msg(tok_load(dir, &t) == TG_OK, "%s", tg_last_error());
    tok_free(t);
    /* A tokenizer.json that would split differently. */
    tok_tokenizer *pub;
    ck_assert_int_eq(tok_load(dir, &pub), TG_OK);
    ck_assert_int_eq(tok_save(pub, dir, 512), TG_OK);
    tok_free(pub);
    char *fast = read_in(dir, "tokenizer.json");
    char *at = strstr(fast, "\"lowercase\": false");
    ck_assert(at != NULL);
    memcpy(at, "\"lowercase\": true ", 18);
    write_text(dir, "tokenizer.json", fast);
    tg_free(fast);
    expect_load_error(dir, TG_ERR_FORMAT, "tokenizer.json: normalizer / pre_tokenizer are not");
    ck_assert_int_eq(fs_remove_tree(dir), 0);
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
    tcase_add_test(tc, published_layout);
    tcase_add_test(tc, published_layout_saved_back);
    tcase_add_test(tc, published_layout_errors);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
